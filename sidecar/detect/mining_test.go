package detect

import (
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Stratum messages as miners and pools send them (newline-delimited
// JSON-RPC), written from the protocol's public description.
const (
	stratumSubscribe = `{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}` + "\n"
	stratumAuthorize = `{"params": ["wallet.worker1", "x"], "id": 2, "method": "mining.authorize"}` + "\n"
	stratumNotify    = `{"id":null,"method":"mining.set_difficulty","params":[1024]}` + "\n" +
		`{"id":null,"method":"mining.notify","params":["4d16b6f8","a1b2","01000000","ff",[],"20000000","1d00ffff","5f5e1000",true]}` + "\n"
	xmrigLogin  = `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0","cn/r"]}}` + "\n"
	xmrigSubmit = `{"id":4,"jsonrpc":"2.0","method":"submit","params":{"id":"ac1","job_id":"775","nonce":"4a000000","result":"00e6e2"}}` + "\n"
	poolJob     = `{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0ed8f6","job_id":"776","target":"b88d0600","algo":"rx/0","height":3000000,"seed_hash":"aa"}}` + "\n"
	ethProxy    = `{"id":1,"method":"eth_submitLogin","params":["0x52bc44d5378309ee2abf1539bf71de1b7d7be3b5"],"worker":"rig1"}` + "\n"

	jsonRPCLogin = `{"jsonrpc":"2.0","method":"login","params":{"user":"alice","password":"s3cret"},"id":7}` + "\n"
	jsonRPCOther = `{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}` + "\n"
	httpPost     = "POST /rpc HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\n\r\n" + `{"method":"mining.subscribe"}`
)

func TestStratum(t *testing.T) {
	tests := []struct {
		name       string
		toServer   bool
		payload    string
		want       []int
		method     string
		agent      string
		afterFirst int // data packets before this one in its direction
	}{
		{"v1_subscribe", true, stratumSubscribe, []int{9000201}, "mining.subscribe", "", 0},
		{"v1_authorize", true, stratumAuthorize, []int{9000201}, "mining.authorize", "", 0},
		{"pool_notify", false, stratumNotify, []int{9000201}, "mining.set_difficulty", "", 0},
		{"xmrig_login", true, xmrigLogin, []int{9000201}, "login", "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", 0},
		{"xmrig_submit", true, xmrigSubmit, []int{9000201}, "submit", "", 0},
		{"pool_job", false, poolJob, []int{9000201}, "job", "", 0},
		{"eth_proxy", true, ethProxy, []int{9000201}, "eth_submitLogin", "", 0},
		{"http_body_is_not_stratum", true, httpPost, nil, "", "", 0},
		{"leading_whitespace", true, "\r\n " + stratumSubscribe, []int{9000201}, "mining.subscribe", "", 0},
		{"generic_json_rpc_login", true, jsonRPCLogin, nil, "", "", 0},
		{"ethereum_node_call", true, jsonRPCOther, nil, "", "", 0},
		{"tls_client_hello", true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", nil, "", "", 0},
		{"late_in_flow", true, stratumSubscribe, nil, "", "", stratumScanPackets},
		{"method_without_value", true, `{"method": 5, "mining.subscribe"}`, nil, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			f := newFlow(9, "10.0.193.10", "203.0.113.50", 45000, 3333, protoTCP)
			e.inspectPacket(f.send(t0, true, tcpSYN, ""))
			e.inspectPacket(f.send(t0, false, tcpSYN|tcpACK, ""))
			e.inspectPacket(f.send(t0, true, tcpACK, ""))
			for range tt.afterFirst {
				e.inspectPacket(f.send(t0, tt.toServer, tcpACK, "x"))
			}
			e.inspectPacket(f.send(t0, tt.toServer, tcpACK|0x08, tt.payload))
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v\n%s", got, tt.want, col.lines())
			}
			if len(tt.want) > 0 {
				a := col.alerts[0]
				if metaValue(a, "method") != tt.method || metaValue(a, "agent") != tt.agent || a.DestPort != 3333 || a.FlowID != 9 {
					t.Errorf("alert = %s", a.AppendJSON(nil))
				}
			}
		})
	}
}

func TestMiningPools(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	for _, ev := range []*event.Event{
		ptr(dnsQuery(t0, "gulf.moneroocean.stream", "A")),
		ptr(tlsEvent(t0, netip4("203.0.113.9"), "xmr-eu1.nanopool.org", "", "")),
		ptr(dnsQuery(t0, "moneroocean.stream.evil.example", "A")),
		ptr(dnsQuery(t0, "www.nicehash.com.example", "A")),
	} {
		e.observe(ev)
	}
	if got := col.sids(); !sameSIDs(got, []int{9000202, 9000203}) {
		t.Fatalf("alerts %v, want [9000202 9000203]\n%s", got, col.lines())
	}
}

func TestMiningOff(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.Mining.Enabled = false })
	f := newFlow(9, "10.0.193.10", "203.0.113.50", 45000, 3333, protoTCP)
	e.inspectPacket(f.send(t0, true, tcpACK, xmrigLogin))
	ev := dnsQuery(t0, "pool.supportxmr.com", "A")
	e.observe(&ev)
	if len(col.alerts) != 0 || e.Intel() != nil {
		t.Errorf("alerts with --no-detect-mining: %v", col.sids())
	}
}

func FuzzFindStratum(f *testing.F) {
	for _, s := range []string{stratumSubscribe, xmrigLogin, poolJob, `"method"`, `"method":"`, `{"method" : "mining.`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := findStratum(b)
		if ok && st.method == "" {
			t.Errorf("match without a method in %q", b)
		}
	})
}
