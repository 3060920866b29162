package detect

import (
	"context"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// BenchmarkTapLog is the detections' cost per ordinary log record on the
// Publish path (secrets and JNDI search).
func BenchmarkTapLog(b *testing.B) {
	e, col, _ := newTestEngine(b, nil)
	next := &discard{}
	tap := e.Tap(next)
	ev := logEvent(t0, "web", `2026-11-22T04:46:04.123Z INFO  [http-nio-8080-exec-7] c.e.api.OrderController - GET /api/v1/orders/8812?expand=items status=200 duration_ms=12 user=alice@example.com trace=4bf92f3577b34da6a3ce929d0e0e4736`)
	b.ReportAllocs()
	for b.Loop() {
		tap.Offer(ev)
	}
	if len(col.alerts) != 0 {
		b.Fatalf("alerts on a benign line: %v", col.sids())
	}
}

// BenchmarkTapLogHostile is the worst case a container can make: a 64 KiB
// record full of lookup openings and key prefixes.
func BenchmarkTapLogHostile(b *testing.B) {
	e, _, _ := newTestEngine(b, nil)
	tap := e.Tap(&discard{})
	msg := strings.Repeat("${AKIA${lower:%24%7B", 64<<10/20)
	ev := logEvent(t0, "web", msg)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		tap.Offer(ev)
	}
}

type discard struct{}

func (discard) Publish(_ context.Context, _ event.Event) error { return nil }
func (discard) Offer(event.Event) bool                         { return true }
