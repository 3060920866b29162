package rules

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// BenchmarkRuleset measures a real rule set that cannot be committed (ET
// Open is third-party): SIDEWATCH_BENCH_RULES names its files or
// directory. Each event is timed against 10 generated rules and the set, in
// alternating batches, as in BenchmarkMatchRatio.
func BenchmarkRuleset(b *testing.B) {
	dir := os.Getenv("SIDEWATCH_BENCH_RULES")
	if dir == "" {
		b.Skip("set SIDEWATCH_BENCH_RULES to a rule file or directory (e.g. ET Open's rules/)")
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	set, err := Load([]string{dir}, Options{Vars: DefaultVars("[" + taskIP + "]")})
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.Logf("loaded %d rules in %v; the set holds %.1f MiB of heap", set.Report.Loaded, took, float64(m1.HeapAlloc-m0.HeapAlloc)/(1<<20))
	large := NewEngine(EngineConfig{MaxThresholds: 1 << 16, MaxFlows: 1 << 16}, metrics.New())
	large.Swap(set)
	small := benchEngine(b, 10)
	evs := []struct {
		kind string
		ev   *event.Event
	}{
		{"dns", dnsEvent("request", "sts.us-east-1.amazonaws.com")},
		{"tls", tlsEvent(&event.TLS{SNI: "sts.us-east-1.amazonaws.com", Version: "TLS 1.3", JA3: &event.TLSHash{Hash: "c000e2caf3a25423f9de6c8a4b12a975"}, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"})},
		{"http", httpEvent(&event.HTTP{Hostname: "api.internal.example", URL: "/v1/items?page=2&id=7", HTTPMethod: "GET", HTTPUserAgent: "Mozilla/5.0 (X11; Linux x86_64) curl-like/8.5.0", Status: 200, HTTPContentType: "application/json"})},
		{"flow", flowEvent(taskIP, remoteIP, 443)},
	}
	for _, x := range evs {
		b.Run(x.kind, func(b *testing.B) {
			n, alerts := 0, 0
			emit := func(event.Event) { alerts++ }
			per := alternate(b, func() { small.Event(x.ev, emit) }, func() { x.ev.FlowID++; n++; large.Event(x.ev, emit) })
			b.ReportMetric(per[0], "ns/event-10")
			b.ReportMetric(per[1], "ns/event-set")
			b.ReportMetric(per[1]/per[0], "ratio")
			b.ReportMetric(float64(alerts)/float64(n), "alerts/event")
		})
	}
	// The same events through the detection engine, as in `sidewatch run`.
	alerts := 0
	tapSmall, tapLarge := benchTap(b, small, &alerts), benchTap(b, large, &alerts)
	for _, x := range evs {
		b.Run("engine/"+x.kind, func(b *testing.B) {
			per := alternate(b, func() { tapSmall.Offer(*x.ev) }, func() { x.ev.FlowID++; tapLarge.Offer(*x.ev) })
			b.ReportMetric(per[0], "ns/event-10")
			b.ReportMetric(per[1], "ns/event-set")
			b.ReportMetric(per[1]/per[0], "ratio")
		})
	}
}
