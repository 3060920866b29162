package capture

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// stopAfter passes packets on to next and cancels the run after n.
type stopAfter struct {
	next   Table
	n      int
	cancel context.CancelFunc
}

func (s *stopAfter) Packet(ts time.Time, iface string, link flow.LinkType, data []byte, wireLen int) {
	s.next.Packet(ts, iface, link, data, wireLen)
	if s.n--; s.n == 0 {
		s.cancel()
	}
}
func (s *stopAfter) Expire(now time.Time)               { s.next.Expire(now) }
func (s *stopAfter) Flush(now time.Time, reason string) { s.next.Flush(now, reason) }

type discard struct{}

func (discard) Packet(time.Time, string, flow.LinkType, []byte, int) {}
func (discard) Expire(time.Time)                                     {}
func (discard) Flush(time.Time, string)                              {}

type dropEvents struct{}

func (dropEvents) Offer(event.Event) bool { return true }

// BenchmarkRun reads b.N UDP packets sent over lo from the ring: the cost
// per packet of the live path (ring, interface lookup, counters), alone and
// with the flow table. Its ns/op is bounded by the sender sharing the CPUs;
// reader-cpu-ns/op is the CPU time of the reading thread alone, and
// allocs/op must be 0 (the sender's writes allocate nothing).
func BenchmarkRun(b *testing.B) {
	requireNetns(b)
	for _, bc := range []struct {
		name  string
		table func() Table
	}{
		{"discard", func() Table { return discard{} }},
		{"flow_table", func() Table { return flow.NewTable(flow.DefaultConfig(), dropEvents{}, metrics.New()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ns := newNetns(b)
			sink := listenUDP(b, ns, "127.0.0.1:9999")
			sink.SetReadBuffer(1 << 16)
			var c *Capture
			var err error
			inNetns(b, ns, func() { c, err = Open(DefaultConfig(), metrics.New()) })
			if err != nil {
				b.Fatal(err)
			}
			var conns []*net.UDPConn
			for i := range 4 {
				inNetns(b, ns, func() {
					conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000 + i}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9999})
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, conn)
				})
			}
			ctx, cancel := context.WithCancel(context.Background())
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				payload := make([]byte, 100)
				for i := 0; ctx.Err() == nil; i++ {
					conns[i%len(conns)].Write(payload)
				}
			}()
			// The reader's own CPU time, apart from the sender's: Run stays
			// on this locked thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var t0, t1 unix.Timespec
			b.ReportAllocs()
			b.ResetTimer()
			unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0)
			if err := c.Run(ctx, &stopAfter{next: bc.table(), n: b.N, cancel: cancel}); err != nil {
				b.Fatal(err)
			}
			unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1)
			b.StopTimer()
			b.ReportMetric(float64(t1.Nano()-t0.Nano())/float64(b.N), "reader-cpu-ns/op")
			cancel()
			<-sent
			for _, conn := range conns {
				conn.Close()
			}
		})
	}
}
