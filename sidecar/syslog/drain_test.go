package syslog

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard/connguardtest"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// lines returns n newline-terminated RFC 3164 lines numbered from 0.
func lines(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "<14>Nov 14 22:13:20 abc123 web[1]: line %06d %s\n", i, strings.Repeat(".", 100))
	}
	return []byte(b.String())
}

// TestDrainReadsUntilSenderCloses is row 1 of issue 10 at the receiver:
// shutdown begins while a sender is mid-stream behind backpressure; every
// line it wrote before closing must still be published, none truncated.
func TestDrainReadsUntilSenderCloses(t *testing.T) {
	col := &collector{gate: make(chan struct{})}
	r, stop := serve(t, testConfig(), col, metrics.New(), fixedNow)
	c := dial(t, r)
	const n = 20000
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(lines(n)) // blocks until the receiver reads
		c.Close()
		sent <- err
	}()
	waitFor(t, "the receiver to block on the pipeline", func() bool { return r.m.tcpBytes.Load() > 0 })
	// SIGTERM now; the pipeline frees up a little later.
	go func() { time.Sleep(100 * time.Millisecond); close(col.gate) }()
	if err := stop(20 * time.Second); err != nil {
		t.Fatalf("Run and Drain = %v, want nil", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sender: %v", err)
	}
	evs := col.snapshot()
	if len(evs) != n {
		t.Fatalf("published %d of %d lines the sender wrote before closing", len(evs), n)
	}
	for i, ev := range evs {
		if want := fmt.Sprintf("line %06d", i); !strings.HasPrefix(ev.Log.Message, want) || ev.Log.Truncated {
			t.Fatalf("event %d = %q (truncated %v), want %q…", i, ev.Log.Message, ev.Log.Truncated, want)
		}
	}
}

// TestDrainDeadlineCutsAndCounts: a sender that never closes, with the
// pipeline stalled: at the drain deadline the line in progress is published
// flagged truncated, the unread bytes are counted, and Drain says so.
func TestDrainDeadlineCutsAndCounts(t *testing.T) {
	col := &collector{gate: make(chan struct{})}
	r, stop := serve(t, testConfig(), col, metrics.New(), fixedNow)
	c := dial(t, r)
	// A partial line first (the receiver holds it), then the pipeline
	// frees up and the sender fills the socket buffers behind a stall.
	if _, err := c.Write([]byte("<14>Nov 14 22:13:20 abc123 web[1]: first whole\n<14>Nov 14 22:13:20 abc123 web[1]: cut he")); err != nil {
		t.Fatal(err)
	}
	close(col.gate)
	waitFor(t, "the first record", func() bool { return col.len() == 1 })
	col.mu.Lock()
	col.gate = make(chan struct{}) // stall again
	col.mu.Unlock()
	go c.Write(lines(50000)) // more than the socket buffers hold
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	err := stop(300 * time.Millisecond)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("drain took %s with a 300ms budget", d)
	}
	if err == nil || !strings.Contains(err.Error(), "bytes left unread") {
		t.Errorf("Drain = %v, want it to report the unread bytes", err)
	}
	if r.m.unreadBytes.Load() == 0 {
		t.Errorf("unread_bytes_total = 0, want the bytes left in the socket")
	}
	if r.m.publishLost.Load() == 0 {
		t.Errorf("dropped_total{publish_failed} = 0, want the record stuck at the stalled pipeline counted")
	}
	if r.m.closedShutdown.Load() != 1 {
		t.Errorf("connections closed at shutdown = %d, want 1", r.m.closedShutdown.Load())
	}
}

// TestDrainCutLineFlaggedTruncated: the line being read at the deadline is
// published whole as far as it came, flagged truncated (it was published
// as a complete record before issue 10).
func TestDrainCutLineFlaggedTruncated(t *testing.T) {
	col := &collector{}
	r, stop := serve(t, testConfig(), col, metrics.New(), fixedNow)
	c := dial(t, r)
	if _, err := c.Write([]byte("<14>Jan  2 0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bytes", func() bool { return r.m.tcpBytes.Load() == 12 })
	err := stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 records cut") {
		t.Errorf("Drain = %v, want it to report the cut record", err)
	}
	evs := col.snapshot()
	if len(evs) != 1 || evs[0].Log.Message != "<14>Jan  2 0" || !evs[0].Log.Truncated {
		t.Fatalf("events = %+v, want the cut line flagged truncated", evs)
	}
}

// TestFrameTimeoutClosesSlowSender is row 5: a sender trickling one byte
// at a time is closed once its frame has taken the frame timeout, and what
// it sent is published flagged truncated.
func TestFrameTimeoutClosesSlowSender(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	h := start(t, cfg, fixedNow)
	c := dial(t, h.r)
	go func() {
		for _, b := range []byte("<14>Nov 14 22:13:20 abc123 web[1]: never ends") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(30 * time.Millisecond)
		}
	}()
	waitFor(t, "the frame timeout", func() bool { return h.r.m.closedFrameTimeout.Load() == 1 })
	evs := h.col.snapshot()
	if len(evs) != 1 || !evs[0].Log.Truncated || !strings.HasPrefix("<14>Nov 14 22:13:20 abc123 web[1]: never ends", evs[0].Log.Message) && !strings.HasPrefix("never ends", evs[0].Log.Message) {
		t.Errorf("events = %+v, want the partial frame flagged truncated", evs)
	}
}

// TestSlowSendersCannotBlindReceiver is row 5: far more trickling
// connections than slots; a real sender still gets in and delivers.
func TestSlowSendersCannotBlindReceiver(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 8
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()
	// Each holds a slot with a frame that never ends ("<<<…").
	connguardtest.Slowloris{
		Dial:  func() (net.Conn, error) { return net.Dial("tcp", tcp.String()) },
		Fill:  '<',
		Every: 200 * time.Millisecond,
	}.Start(t, 30)
	connguardtest.WaitHolding(t, h.r.guard, cfg.MaxConns)
	for range 3 {
		start := time.Now()
		h.stillWorks(t)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("a real sender took %s to deliver", d)
		}
	}
	if h.r.m.closedEvicted.Load() == 0 {
		t.Errorf("no connection evicted, want the idlest ones reset for the real sender")
	}
}

// TestPeerClosedConnectionsDoNotRefuse is row 8: one client at a time
// connects, sends and closes while the pipeline is slow; none is refused
// and every message arrives.
func TestPeerClosedConnectionsDoNotRefuse(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 4
	col := &collector{gate: make(chan struct{})}
	r, stop := serve(t, cfg, col, metrics.New(), fixedNow)
	defer stop(5 * time.Second)
	tcp, _ := r.Addrs()
	const n = 300
	for i := range n {
		c, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc123 web[1]: msg %d\n", i)
		c.Close()
		if i == 50 {
			close(col.gate) // the pipeline was stalled for the first 50
		}
	}
	waitFor(t, "every message", func() bool { return col.len() == n })
	if e := r.m.closedEvicted.Load(); e != 0 {
		t.Errorf("%d connections evicted, want 0", e)
	}
}

// TestUDPKernelDropsCounted is row 6: datagrams the kernel drops because
// the socket buffer is full are counted, so that received + dropped = sent.
func TestUDPKernelDropsCounted(t *testing.T) {
	cfg := testConfig()
	cfg.UDPReadBuffer = 8 << 10 // below the user minimum; listen skips Validate
	col := &collector{gate: make(chan struct{})}
	r, stop := serve(t, cfg, col, metrics.New(), fixedNow)
	defer stop(5 * time.Second)
	_, udp := r.Addrs()
	c, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	const n = 2000
	for i := range n {
		fmt.Fprintf(w, "<14>Nov 14 22:13:20 abc123 web[1]: datagram %d", i)
		w.Flush()
	}
	close(col.gate)
	// The count arrives with the next datagram read.
	time.Sleep(50 * time.Millisecond)
	fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc123 web[1]: marker")
	waitFor(t, "the marker", func() bool {
		msgs := col.messages()
		return len(msgs) > 0 && msgs[len(msgs)-1] == "marker"
	})
	got, dropped := col.len(), r.m.udpKernelDrops.Load()
	if dropped == 0 || uint64(got)+dropped != n+1 {
		t.Errorf("received %d + kernel dropped %d != %d sent; want the drops counted", got, dropped, n+1)
	}
}
