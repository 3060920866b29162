package rules

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// genRules writes n rules in ET Open's proportions for the buffers
// sidewatch matches: DNS query names (half), TLS SNI, HTTP hosts, URIs and
// user agents, JA3 hashes, and IP-only address lists.
func genRules(n int) string {
	var b strings.Builder
	for i := range n {
		sid := 4000000 + i
		dom := fmt.Sprintf("x%dq%s.example", i, strings.Repeat("k", i%7))
		switch i % 10 {
		case 0, 1, 2, 3:
			fmt.Fprintf(&b, `alert dns $HOME_NET any -> any any (msg:"BENCH DNS Query to %s"; dns.query; content:"%s"; nocase; endswith; classtype:trojan-activity; sid:%d; rev:1; metadata:created_at 2026_01_01;)`+"\n", dom, dom, sid)
		case 4:
			fmt.Fprintf(&b, `alert dns $HOME_NET any -> any any (msg:"BENCH DNS dotprefix %s"; dns.query; dotprefix; content:".%s"; nocase; endswith; sid:%d;)`+"\n", dom, dom, sid)
		case 5:
			fmt.Fprintf(&b, `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"BENCH TLS SNI %s"; flow:established,to_server; tls.sni; content:"%s"; startswith; endswith; fast_pattern; sid:%d;)`+"\n", dom, dom, sid)
		case 6:
			fmt.Fprintf(&b, `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"BENCH HTTP host"; flow:established,to_server; http.host; content:"%s"; bsize:%d; sid:%d;)`+"\n", dom, len(dom), sid)
		case 7:
			fmt.Fprintf(&b, `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"BENCH HTTP URI"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"/gate%d.php?"; startswith; fast_pattern; content:"id="; distance:0; sid:%d;)`+"\n", i, sid)
		case 8:
			fmt.Fprintf(&b, `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"BENCH UA"; flow:established,to_server; http.user_agent; content:"EvilAgent/%d"; startswith; sid:%d;)`+"\n", i, sid)
		case 9:
			h := md5.Sum([]byte(dom))
			fmt.Fprintf(&b, `alert tls $HOME_NET any -> any any (msg:"BENCH JA3"; ja3.hash; content:"%s"; sid:%d;)`+"\n", hex.EncodeToString(h[:]), sid)
		}
		if i%100 == 99 {
			fmt.Fprintf(&b, `alert ip $HOME_NET any -> [198.51.%d.0/24,192.0.2.%d] any (msg:"BENCH IP list"; sid:%d;)`+"\n", i/100%256, i/100%256, 5000000+i)
		}
	}
	return b.String()
}

func benchEngine(b *testing.B, n int) *Engine {
	b.Helper()
	set, err := LoadReader("bench.rules", "", strings.NewReader(genRules(n)), Options{Vars: DefaultVars("[" + taskIP + "]")})
	if err != nil {
		b.Fatal(err)
	}
	if len(set.Report.Errors)+len(set.Report.Unsupported) > 0 {
		b.Fatalf("bench rules: %v %v", set.Report.Errors, set.Report.Unsupported)
	}
	e := NewEngine(EngineConfig{MaxThresholds: 1 << 16, MaxFlows: 1 << 16}, metrics.New())
	e.Swap(set)
	return e
}

// BenchmarkMatch measures the cost of one clean event (no rule matches, the
// common case) with 10 and 10,000 rules loaded: the goal is within 2×.
func BenchmarkMatch(b *testing.B) {
	evs := map[string]*event.Event{
		"dns":  dnsEvent("request", "sts.us-east-1.amazonaws.com"),
		"tls":  tlsEvent(&event.TLS{SNI: "sts.us-east-1.amazonaws.com", Version: "TLS 1.3", JA3: &event.TLSHash{Hash: "c000e2caf3a25423f9de6c8a4b12a975"}, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"}),
		"http": httpEvent(&event.HTTP{Hostname: "api.internal.example", URL: "/v1/items?page=2&id=7", HTTPMethod: "GET", HTTPUserAgent: "Mozilla/5.0 (X11; Linux x86_64) curl-like/8.5.0", Status: 200, HTTPContentType: "application/json"}),
	}
	for _, kind := range []string{"dns", "tls", "http"} {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", kind, n), func(b *testing.B) {
				e := benchEngine(b, n)
				ev := evs[kind]
				alerts := 0
				emit := func(event.Event) { alerts++ }
				b.ReportAllocs()
				for b.Loop() {
					e.Event(ev, emit)
				}
				if alerts != 0 {
					b.Fatalf("%d alerts on a clean event", alerts)
				}
			})
		}
	}
}

// BenchmarkMatchHit measures an event that one of 10,000 rules matches.
func BenchmarkMatchHit(b *testing.B) {
	e := benchEngine(b, 10000)
	ev := dnsEvent("request", "a.x40q"+strings.Repeat("k", 40%7)+".example")
	alerts := 0
	for b.Loop() {
		e.Event(ev, func(event.Event) { alerts++ })
	}
	if alerts == 0 {
		b.Fatal("no alert")
	}
}

// BenchmarkLoad measures loading and indexing 10,000 rules, and the heap
// the set keeps (reported as set-bytes).
func BenchmarkLoad(b *testing.B) {
	text := genRules(10000)
	b.SetBytes(int64(len(text)))
	var set *Set
	for b.Loop() {
		var err error
		set, err = LoadReader("bench.rules", "", strings.NewReader(text), Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(set)
	// The heap one set holds: live heap after loading it, minus before.
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	set, _ = LoadReader("bench.rules", "", strings.NewReader(text), Options{})
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(set)
	b.ReportMetric(float64(m1.HeapAlloc)-float64(m0.HeapAlloc), "set-bytes")
}

// BenchmarkMatchRatio times the same clean event against 10 and 10,000
// rules in alternating batches, so that load from other processes hits
// both alike, and reports both costs and their ratio (the goal is ≤ 2).
func BenchmarkMatchRatio(b *testing.B) {
	evs := []struct {
		kind string
		ev   *event.Event
	}{
		{"dns", dnsEvent("request", "sts.us-east-1.amazonaws.com")},
		{"tls", tlsEvent(&event.TLS{SNI: "sts.us-east-1.amazonaws.com", Version: "TLS 1.3", JA3: &event.TLSHash{Hash: "c000e2caf3a25423f9de6c8a4b12a975"}, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"})},
		{"http", httpEvent(&event.HTTP{Hostname: "api.internal.example", URL: "/v1/items?page=2&id=7", HTTPMethod: "GET", HTTPUserAgent: "Mozilla/5.0 (X11; Linux x86_64) curl-like/8.5.0", Status: 200, HTTPContentType: "application/json"})},
	}
	small, large := benchEngine(b, 10), benchEngine(b, 10000)
	emit := func(event.Event) { b.Fatal("alert on a clean event") }
	for _, x := range evs {
		b.Run(x.kind, func(b *testing.B) {
			per := alternate(b, func() { small.Event(x.ev, emit) }, func() { large.Event(x.ev, emit) })
			b.ReportMetric(per[0], "ns/event-10")
			b.ReportMetric(per[1], "ns/event-10000")
			b.ReportMetric(per[1]/per[0], "ratio")
		})
	}
}
