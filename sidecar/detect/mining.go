package detect

import (
	"bytes"
	"strconv"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// MiningConfig switches the crypto-mining detection.
type MiningConfig struct {
	Enabled   bool     `name:"detect-mining" env:"SIDEWATCH_DETECT_MINING" default:"true" negatable:"" help:"Alert on crypto-mining: the Stratum protocol on any port (by content), and DNS queries and TLS SNI for mining pools (a built-in list plus --detect-mining-pools)."`
	PoolFiles []string `name:"detect-mining-pools" env:"SIDEWATCH_DETECT_MINING_POOLS" sep:"," type:"path" placeholder:"FILE" help:"More mining-pool domain lists, in the intel file formats, added to the built-in list."`
}

// Signatures of the crypto-mining detection.
var (
	sigStratum = &Signature{GID: 1, ID: 9000201, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH crypto-mining: Stratum protocol",
		Category: "Crypto Currency Mining Activity Detected",
		Metadata: meta("mitre_tactic_id", "TA0040", "mitre_technique_id", "T1496",
			"guardduty_finding_type", "CryptoCurrency:Runtime/BitcoinTool.B", "sidewatch_detection", "mining")}
	sigPoolDNS = &Signature{GID: 1, ID: 9000202, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH crypto-mining: DNS query for a mining pool",
		Category: "Crypto Currency Mining Activity Detected",
		Metadata: meta("mitre_tactic_id", "TA0040", "mitre_technique_id", "T1496",
			"guardduty_finding_type", "CryptoCurrency:Runtime/BitcoinTool.B!DNS", "sidewatch_detection", "mining")}
	sigPoolTLS = &Signature{GID: 1, ID: 9000203, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH crypto-mining: TLS connection to a mining pool",
		Category: "Crypto Currency Mining Activity Detected",
		Metadata: meta("mitre_tactic_id", "TA0040", "mitre_technique_id", "T1496",
			"guardduty_finding_type", "Impact:Runtime/BitcoinDomainRequest.Reputation", "sidewatch_detection", "mining")}
)

// builtinPools lists the registered domains of well-known public mining
// pools (their subdomains match too). Domains that also serve other
// purposes (exchanges, block explorers) are left out.
const builtinPools = `# sidewatch built-in mining pools
2miners.com
antpool.com
c3pool.com
c3pool.org
crazypool.org
dwarfpool.com
emcd.io
ethermine.org
ezil.me
f2pool.com
flexpool.io
hashcity.org
hashvault.pro
herominers.com
hiveon.net
k1pool.com
kryptex.network
luckpool.net
minergate.com
minexmr.com
mining-dutch.nl
miningpoolhub.com
moneroocean.stream
monerohash.com
nanopool.org
nicehash.com
p2pool.io
poolin.com
rplant.xyz
skypool.org
slushpool.com
solo-pool.org
supportxmr.com
unmineable.com
viabtc.com
woolypooly.com
xmrpool.eu
xmrpool.net
zergpool.com
zpool.ca
`

// stratumScanPackets is how many packets of each direction (handshake
// included) are searched for Stratum: the miner's subscribe or login and
// the pool's first answers are its first data.
const stratumScanPackets = 8

// mining finds Stratum by content and pool names by list.
type mining struct {
	e   *Engine
	out *Alerts
}

func newMining(e *Engine, out *Alerts) *mining { return &mining{e: e, out: out} }

func (m *mining) packet(p *packet) {
	if p.proto != protoTCP || p.dirPackets > stratumScanPackets {
		return
	}
	// Stratum messages are JSON objects, one per line: a segment that
	// starts a message starts with '{' (TLS, HTTP and the rest never do).
	if i := skipSpace(p.payload, 0); i >= len(p.payload) || p.payload[i] != '{' {
		return
	}
	st, ok := findStratum(p.payload)
	if !ok {
		return
	}
	h := m.e.header(p)
	dir := "to_server"
	if !p.toServer {
		dir = "to_client"
	}
	evidence := []event.AlertMeta{Evidence("method", st.method), Evidence("direction", dir), Evidence("server_port", strconv.Itoa(int(p.sport)))}
	if st.agent != "" {
		evidence = append(evidence, Evidence("agent", st.agent))
	}
	if st.login != "" {
		evidence = append(evidence, Evidence("login", st.login))
	}
	m.out.Raise(sigStratum, &h, evidence...)
}

func (m *mining) dns(ev *event.Event) {
	raiseListedQuery(m.e.intel.Set(), ev, tagMining, sigPoolDNS, m.out)
}

func (m *mining) tls(ev *event.Event) {
	raiseListedName(m.e.intel.Set(), ev, ev.TLS.SNI, tagMining, sigPoolTLS, m.out)
}

// stratum is what a Stratum message says.
type stratum struct {
	method, agent, login string
}

// findStratum looks for a Stratum JSON-RPC message: a "method" that is
// mining.* (Stratum v1: subscribe, authorize, submit from the miner;
// notify, set_difficulty from the pool), XMRig's login (with "pass" or
// "agent"), submit (with "job_id") or keepalived, a pool's job push (with
// "blob"), or the Ethereum stratum-proxy methods. It allocates only when
// it finds one.
func findStratum(b []byte) (stratum, bool) {
	for rest := b; ; {
		i := bytes.Index(rest, []byte(`"method"`))
		if i < 0 {
			return stratum{}, false
		}
		rest = rest[i+len(`"method"`):]
		v, ok := jsonValueAfterKey(rest)
		if !ok {
			continue
		}
		if stratumMethod(v, b) {
			return stratum{method: string(v), agent: string(jsonField(b, `"agent"`, 100)), login: string(jsonField(b, `"login"`, 120))}, true
		}
	}
}

func stratumMethod(v, msg []byte) bool {
	if bytes.HasPrefix(v, []byte("mining.")) && len(v) > len("mining.") {
		return true
	}
	switch string(v) {
	case "login":
		return bytes.Contains(msg, []byte(`"pass"`)) || bytes.Contains(msg, []byte(`"agent"`))
	case "submit":
		return bytes.Contains(msg, []byte(`"job_id"`)) && bytes.Contains(msg, []byte(`"nonce"`))
	case "job":
		return bytes.Contains(msg, []byte(`"blob"`))
	case "keepalived", "eth_submitLogin", "eth_submitWork", "eth_getWork", "eth_submitHashrate":
		return true
	}
	return false
}

// jsonValueAfterKey reads the string value after a key: `  :  "value"`.
func jsonValueAfterKey(b []byte) ([]byte, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != ':' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 || end > 64 {
		return nil, false
	}
	return b[i+1 : i+1+end], true
}

// jsonField returns the string value of key in b, cut to max bytes.
func jsonField(b []byte, key string, max int) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	rest := b[i+len(key):]
	j := skipSpace(rest, 0)
	if j >= len(rest) || rest[j] != ':' {
		return nil
	}
	j = skipSpace(rest, j+1)
	if j >= len(rest) || rest[j] != '"' {
		return nil
	}
	v := rest[j+1:]
	if end := bytes.IndexByte(v, '"'); end >= 0 {
		v = v[:end]
	}
	if len(v) > max {
		v = v[:max]
	}
	return v
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
