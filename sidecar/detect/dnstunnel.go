package detect

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// DNSTunnelConfig tunes the DNS tunnelling detection. Queries are grouped
// by registered domain (public suffix list + one label), the unit an
// attacker controls: a tunnel needs the authoritative server of its
// domain.
type DNSTunnelConfig struct {
	Enabled    bool          `name:"detect-dns-tunnel" env:"SIDEWATCH_DETECT_DNS_TUNNEL" default:"true" negatable:"" help:"Alert on DNS tunnelling and exfiltration: many long, high-entropy names, NULL/private-type queries, or many TXT/CNAME/MX/SRV names under one registered domain."`
	Window     time.Duration `name:"detect-dns-tunnel-window" env:"SIDEWATCH_DETECT_DNS_TUNNEL_WINDOW" default:"5m" help:"Window over which queries to one registered domain are counted."`
	Names      int           `name:"detect-dns-tunnel-names" env:"SIDEWATCH_DETECT_DNS_TUNNEL_NAMES" default:"20" help:"Distinct long, high-entropy names under one registered domain within the window that make a tunnel."`
	MinLength  int           `name:"detect-dns-tunnel-min-length" env:"SIDEWATCH_DETECT_DNS_TUNNEL_MIN_LENGTH" default:"24" help:"Characters before the registered domain from which a name is long."`
	Entropy    float64       `name:"detect-dns-tunnel-entropy" env:"SIDEWATCH_DETECT_DNS_TUNNEL_ENTROPY" default:"3.5" help:"Shannon entropy (bits per character) of the part before the registered domain from which a long name counts (encoded data: 3.8-5.5; words: 3-3.8)."`
	RareTypes  int           `name:"detect-dns-tunnel-rare-types" env:"SIDEWATCH_DETECT_DNS_TUNNEL_RARE_TYPES" default:"5" help:"Distinct names queried as NULL or a private-use type (65280-65534) under one registered domain within the window that make a tunnel (iodine's default)."`
	TypedNames int           `name:"detect-dns-tunnel-typed-names" env:"SIDEWATCH_DETECT_DNS_TUNNEL_TYPED_NAMES" default:"20" help:"Distinct names queried as TXT, NULL, CNAME, MX or SRV under one registered domain within the window that make a tunnel."`
	Allow      []string      `name:"detect-dns-tunnel-allow" env:"SIDEWATCH_DETECT_DNS_TUNNEL_ALLOW" sep:"," default:"amazonaws.com,amazonaws.com.cn,aws,on.aws,amazon.com,cloudfront.net,awsglobalaccelerator.com,api.aws" placeholder:"DOMAIN" help:"Domains (and their subdomains) never counted: zones no attacker can answer for. The default lists AWS's own."`
	MaxDomains int           `name:"detect-dns-tunnel-max-domains" env:"SIDEWATCH_DETECT_DNS_TUNNEL_MAX_DOMAINS" default:"4096" help:"Registered domains tracked at once; when full, expired ones and then the oldest are forgotten (counted)."`
}

func defaultDNSTunnelConfig() DNSTunnelConfig {
	return DNSTunnelConfig{Enabled: true, Window: 5 * time.Minute, Names: 20, MinLength: 24, Entropy: 3.5, RareTypes: 5, TypedNames: 20,
		Allow:      []string{"amazonaws.com", "amazonaws.com.cn", "aws", "on.aws", "amazon.com", "cloudfront.net", "awsglobalaccelerator.com", "api.aws"},
		MaxDomains: 4096}
}

// maxNameSet bounds the thresholds, and so each per-domain set of names.
const maxNameSet = 256

func (c *DNSTunnelConfig) bounds() []bound {
	return []bound{
		durationBound("detect-dns-tunnel-window", c.Window, time.Second, 24*time.Hour),
		intBound("detect-dns-tunnel-names", c.Names, 1, maxNameSet),
		intBound("detect-dns-tunnel-min-length", c.MinLength, 1, 253),
		intBound("detect-dns-tunnel-rare-types", c.RareTypes, 1, maxNameSet),
		intBound("detect-dns-tunnel-typed-names", c.TypedNames, 1, maxNameSet),
		intBound("detect-dns-tunnel-max-domains", c.MaxDomains, 1, 1<<20),
	}
}

func (c *DNSTunnelConfig) validate() error {
	if c.Entropy < 0 || c.Entropy > 8 || math.IsNaN(c.Entropy) {
		return errors.New("--detect-dns-tunnel-entropy (SIDEWATCH_DETECT_DNS_TUNNEL_ENTROPY) must be between 0 and 8 bits per character")
	}
	return nil
}

// Signatures of the DNS tunnelling detection.
var (
	sigTunnelNames = &Signature{GID: 1, ID: 9000301, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH DNS tunnel: many long high-entropy names under one domain",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011,TA0010", "mitre_technique_id", "T1071.004,T1048",
			"guardduty_finding_type", "Trojan:EC2/DNSDataExfiltration", "sidewatch_detection", "dns_tunnel")}
	sigTunnelRare = &Signature{GID: 1, ID: 9000302, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH DNS tunnel: NULL or private-type queries",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011,TA0010", "mitre_technique_id", "T1071.004,T1048",
			"guardduty_finding_type", "Trojan:EC2/DNSDataExfiltration", "sidewatch_detection", "dns_tunnel")}
	sigTunnelTyped = &Signature{GID: 1, ID: 9000303, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH DNS tunnel: many TXT/CNAME/MX/SRV names under one domain",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011,TA0010", "mitre_technique_id", "T1071.004,T1048",
			"guardduty_finding_type", "Trojan:EC2/DNSDataExfiltration", "sidewatch_detection", "dns_tunnel")}
)

// dnsTunnel counts, per registered domain and window, distinct suspicious
// names of three kinds.
type dnsTunnel struct {
	cfg     DNSTunnelConfig
	out     *Alerts
	allow   map[string]bool
	mu      sync.Mutex
	domains map[string]*tunnelDomain
	evicted *metrics.Counter
	size    *metrics.Gauge
}

// tunnelDomain is one registered domain's window.
type tunnelDomain struct {
	start   int64
	long    nameSet // long, high-entropy names
	rare    nameSet // NULL and private-use types
	typed   nameSet // TXT, NULL, CNAME, MX, SRV
	types   []string
	maxLen  int
	example string
	entropy float64
	alerted [3]bool // per signature, within the window
}

// nameSet is a small set of name hashes. It stops growing at its
// threshold: past it, the alert has been raised for the window.
type nameSet []uint64

func (s *nameSet) add(h uint64, max int) bool {
	if len(*s) >= max {
		return false
	}
	for _, x := range *s {
		if x == h {
			return false
		}
	}
	*s = append(*s, h)
	return true
}

func newDNSTunnel(cfg DNSTunnelConfig, m *engineMetrics, out *Alerts) *dnsTunnel {
	d := &dnsTunnel{cfg: cfg, out: out, allow: map[string]bool{}, domains: map[string]*tunnelDomain{},
		evicted: m.evictions("dns_tunnel"), size: m.size("dns_tunnel")}
	for _, a := range cfg.Allow {
		if a = strings.Trim(strings.ToLower(strings.TrimSpace(a)), "."); a != "" {
			d.allow[a] = true
		}
	}
	return d
}

func (d *dnsTunnel) dns(ev *event.Event) {
	for i := range ev.DNS.Queries {
		q := &ev.DNS.Queries[i]
		d.query(ev, q.RRName, q.RRType)
	}
}

// allowed reports whether name is an allowed domain or under one.
func (d *dnsTunnel) allowed(name string) bool {
	for i := 0; ; {
		if d.allow[name[i:]] {
			return true
		}
		j := strings.IndexByte(name[i:], '.')
		if j < 0 {
			return false
		}
		i += j + 1
	}
}

func (d *dnsTunnel) query(ev *event.Event, name, rrtype string) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || d.allowed(name) {
		return
	}
	rare, typed := rareType(rrtype), typedQuery(rrtype)
	// The part before the registered domain is shorter than the name:
	// an ordinary query too short to be long never reaches the public
	// suffix lookup, which allocates (its IP address check).
	if !rare && !typed && len(name) <= d.cfg.MinLength {
		return
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil || len(reg) >= len(name) {
		return // a public suffix itself, or the registered domain alone
	}
	sub := name[:len(name)-len(reg)-1]
	long := false
	var entropy float64
	if len(sub) >= d.cfg.MinLength {
		entropy = shannon(sub)
		long = entropy >= d.cfg.Entropy
	}
	if !long && !rare && !typed {
		return
	}
	h := hashName(sub)
	ts := ev.Timestamp.UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	td := d.domain(reg, ts)
	if long && td.long.add(h, d.cfg.Names) {
		if len(sub) > td.maxLen {
			td.maxLen, td.example, td.entropy = len(sub), strings.Clone(name), entropy
		}
		if len(td.long) == d.cfg.Names {
			d.raise(ev, td, reg, 0, sigTunnelNames, "high_entropy_names")
		}
	}
	if rare && td.rare.add(h, d.cfg.RareTypes) && len(td.rare) == d.cfg.RareTypes {
		td.note(name, rrtype)
		d.raise(ev, td, reg, 1, sigTunnelRare, "null_or_private_type")
	}
	if typed && td.typed.add(h, d.cfg.TypedNames) {
		td.note(name, rrtype)
		if len(td.typed) == d.cfg.TypedNames {
			d.raise(ev, td, reg, 2, sigTunnelTyped, "record_type_volume")
		}
	}
}

// note keeps a query's type and an example name for the evidence.
func (td *tunnelDomain) note(name, rrtype string) {
	if td.example == "" {
		td.example = strings.Clone(name)
	}
	for _, t := range td.types {
		if t == rrtype {
			return
		}
	}
	if len(td.types) < 8 {
		td.types = append(td.types, strings.Clone(rrtype))
	}
}

// domain returns reg's window, starting a new one when the last expired.
func (d *dnsTunnel) domain(reg string, ts int64) *tunnelDomain {
	td := d.domains[reg]
	if td != nil && ts-td.start <= int64(d.cfg.Window) {
		return td
	}
	if td == nil && len(d.domains) >= d.cfg.MaxDomains {
		d.evict(ts)
	}
	td = &tunnelDomain{start: ts}
	d.domains[strings.Clone(reg)] = td
	d.size.Set(int64(len(d.domains)))
	return td
}

// evict makes room: it forgets the windows that ended and, if that frees
// less than a sixteenth of the table, more in the map's (random) order, so
// that a flood of new domains costs O(1) per query on average.
func (d *dnsTunnel) evict(ts int64) {
	want := max(1, len(d.domains)/16)
	freed := 0
	for k, td := range d.domains {
		if ts-td.start > int64(d.cfg.Window) {
			delete(d.domains, k)
			freed++
		}
	}
	for k := range d.domains {
		if freed >= want {
			break
		}
		delete(d.domains, k)
		freed++
		d.evicted.Inc()
	}
}

func (d *dnsTunnel) raise(ev *event.Event, td *tunnelDomain, reg string, which int, sig *Signature, reason string) {
	if td.alerted[which] {
		return
	}
	td.alerted[which] = true
	evidence := []event.AlertMeta{
		Evidence("reason", reason),
		Evidence("registered_domain", reg),
		Evidence("window_seconds", strconv.FormatInt(int64(d.cfg.Window/time.Second), 10)),
		Evidence("long_high_entropy_names", strconv.Itoa(len(td.long))),
		Evidence("null_or_private_type_names", strconv.Itoa(len(td.rare))),
		Evidence("txt_cname_mx_srv_null_names", strconv.Itoa(len(td.typed))),
	}
	if len(td.types) > 0 {
		evidence = append(evidence, Evidence("rrtypes", td.types...))
	}
	if td.example != "" {
		evidence = append(evidence, Evidence("example", cutString(td.example, 120)))
	}
	if td.maxLen > 0 {
		evidence = append(evidence, Evidence("max_subdomain_length", strconv.Itoa(td.maxLen)),
			Evidence("entropy", strconv.FormatFloat(td.entropy, 'f', 2, 64)))
	}
	d.out.Raise(sig, ev, evidence...)
}

// rareType reports NULL and the private-use range, which ordinary
// resolvers never ask for (iodine's first choices).
func rareType(t string) bool {
	if t == "NULL" || t == "PRIVATE" {
		return true
	}
	n, ok := typeNumber(t)
	return ok && (n == 10 || n >= 65280 && n <= 65534)
}

// typedQuery reports the types that carry data in tunnels.
func typedQuery(t string) bool {
	switch t {
	case "TXT", "NULL", "CNAME", "MX", "SRV", "PRIVATE":
		return true
	}
	n, ok := typeNumber(t)
	return ok && (n == 16 || n == 10 || n == 5 || n == 15 || n == 33 || n >= 65280 && n <= 65534)
}

// typeNumber reads a numeric type written as "65399" or "TYPE65399".
func typeNumber(t string) (int, bool) {
	t = strings.TrimPrefix(t, "TYPE")
	if t == "" || len(t) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, false
		}
		n = n*10 + int(t[i]-'0')
	}
	return n, true
}

// shannon is the entropy in bits per character, dots left out.
func shannon(s string) float64 {
	var counts [256]uint16
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			counts[s[i]]++
			n++
		}
	}
	if n == 0 {
		return 0
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(n)
			h -= p * math.Log2(p)
		}
	}
	return h
}

// hashName is FNV-1a: names only need telling apart within one window.
func hashName(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
