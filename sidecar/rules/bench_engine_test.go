package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// discard is a pipeline that keeps nothing and counts the alerts offered.
type discard struct{ alerts *int }

func (discard) Publish(context.Context, event.Event) error { return nil }
func (discard) Offer(event.Event) bool                     { return true }
func (d discard) OfferAlert(event.Event) bool              { *d.alerts++; return true }

// benchTap is the detection engine as `sidewatch run` builds it (every
// built-in detection on) with the rules of re added (none for nil), and
// its tap in front of a pipeline that discards.
func benchTap(b *testing.B, re *Engine, alerts *int) *detect.Tap {
	b.Helper()
	eng, err := detect.New(detect.DefaultConfig(), discard{alerts}, nil, detect.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if re != nil {
		eng.Add("rules", NewDetector(re))
	}
	return eng.Tap(discard{alerts})
}

// alternate runs each of offers on batches of 256 events in turn until
// the benchmark ends, so that load from other processes hits them alike,
// and returns the cost per event of each.
func alternate(b *testing.B, offers ...func()) []float64 {
	const batch = 256
	total := make([]time.Duration, len(offers))
	n := 0
	for b.Loop() {
		for i, offer := range offers {
			t := time.Now()
			for range batch {
				offer()
			}
			total[i] += time.Since(t)
		}
		n += batch
	}
	per := make([]float64, len(offers))
	for i, d := range total {
		per[i] = float64(d.Nanoseconds()) / float64(n)
	}
	return per
}

// benchEvents are clean events (no rule matches: the common case).
func benchEvents() []struct {
	kind string
	ev   *event.Event
} {
	return []struct {
		kind string
		ev   *event.Event
	}{
		{"dns", dnsEvent("request", "sts.us-east-1.amazonaws.com")},
		{"tls", tlsEvent(&event.TLS{SNI: "sts.us-east-1.amazonaws.com", Version: "TLS 1.3", JA3: &event.TLSHash{Hash: "c000e2caf3a25423f9de6c8a4b12a975"}, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"})},
		{"http", httpEvent(&event.HTTP{Hostname: "api.internal.example", URL: "/v1/items?page=2&id=7", HTTPMethod: "GET", HTTPUserAgent: "Mozilla/5.0 (X11; Linux x86_64) curl-like/8.5.0", Status: 200, HTTPContentType: "application/json"})},
	}
}

// BenchmarkEngineRatio is BenchmarkMatchRatio through the detection
// engine, as events reach the rules in `sidewatch run`: each clean event
// is offered to the engine's tap with no rules, 10 and 10,000 rules, in
// alternating batches so that load from other processes hits all alike.
// It reports the three costs per event, the ratio 10,000 / 10 rules (the
// goal is ≤ 2) and the rules' share of the 10,000-rule cost.
func BenchmarkEngineRatio(b *testing.B) {
	alerts := 0
	none, small, large := benchTap(b, nil, &alerts), benchTap(b, benchEngine(b, 10), &alerts), benchTap(b, benchEngine(b, 10000), &alerts)
	for _, x := range benchEvents() {
		b.Run(x.kind, func(b *testing.B) {
			b.ReportAllocs()
			per := alternate(b, func() { none.Offer(*x.ev) }, func() { small.Offer(*x.ev) }, func() { large.Offer(*x.ev) })
			if alerts != 0 {
				b.Fatalf("%d alerts on clean events", alerts)
			}
			b.ReportMetric(per[0], "ns/event-0")
			b.ReportMetric(per[1], "ns/event-10")
			b.ReportMetric(per[2], "ns/event-10000")
			b.ReportMetric(per[2]/per[1], "ratio")
			b.ReportMetric(per[2]-per[0], "ns/event-rules")
		})
	}
}

// BenchmarkEngine is the engine path per event kind and rule count, with
// its allocations (b.N events, each timed alone).
func BenchmarkEngine(b *testing.B) {
	alerts := 0
	for _, x := range benchEvents() {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", x.kind, n), func(b *testing.B) {
				tap := benchTap(b, benchEngine(b, n), &alerts)
				b.ReportAllocs()
				for b.Loop() {
					tap.Offer(*x.ev)
				}
				if alerts != 0 {
					b.Fatalf("%d alerts on a clean event", alerts)
				}
			})
		}
	}
}
