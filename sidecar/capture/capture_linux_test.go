package capture

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// recorder is a Table that keeps a one-line summary of every TCP and UDP
// packet ("lo udp 127.0.0.1:40000>127.0.0.1:9999 len=42").
type recorder struct {
	mu      sync.Mutex
	packets []string
	flushes []string
	expires int
}

func (r *recorder) Packet(ts time.Time, iface string, link flow.LinkType, data []byte, wireLen int) {
	p := gopacket.NewPacket(data, layers.LinkType(link), gopacket.Default)
	var src, dst string
	if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
		src, dst = ip.SrcIP.String(), ip.DstIP.String()
	} else {
		return
	}
	var line string
	switch l4 := p.TransportLayer().(type) {
	case *layers.UDP:
		line = fmt.Sprintf("%s udp %s:%d>%s:%d len=%d", iface, src, l4.SrcPort, dst, l4.DstPort, wireLen)
	case *layers.TCP:
		line = fmt.Sprintf("%s tcp %s:%d>%s:%d", iface, src, l4.SrcPort, dst, l4.DstPort)
	default:
		return
	}
	r.mu.Lock()
	r.packets = append(r.packets, line)
	r.mu.Unlock()
}

func (r *recorder) Expire(now time.Time) { r.mu.Lock(); r.expires++; r.mu.Unlock() }

func (r *recorder) Flush(now time.Time, reason string) {
	r.mu.Lock()
	r.flushes = append(r.flushes, reason)
	r.mu.Unlock()
}

// matching returns the recorded lines containing substr.
func (r *recorder) matching(substr string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.packets {
		if strings.Contains(p, substr) {
			out = append(out, p)
		}
	}
	return out
}

// session is a Capture running in a namespace, feeding a recorder.
type session struct {
	rec    *recorder
	reg    *metrics.Registry
	cancel context.CancelFunc
	done   chan error
}

func startCapture(t *testing.T, ns string, cfg Config) *session {
	t.Helper()
	s := &session{rec: &recorder{}, reg: metrics.New(), done: make(chan error, 1)}
	var c *Capture
	var err error
	inNetns(t, ns, func() { c, err = Open(cfg, s.reg) })
	if err != nil {
		t.Fatalf("Open(%+v) = %v", cfg, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- c.Run(ctx, s.rec) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// waitFor waits until n lines match substr, then for one more poll period
// so that duplicates would have arrived too.
func (s *session) waitFor(t *testing.T, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.rec.matching(substr)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("captured %q lines %q, want %d", substr, s.rec.matching(substr), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * pollTimeout)
}

func (s *session) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after cancel")
	}
}

// udpSend sends n datagrams of payload bytes from address from to address
// to, from a socket opened in namespace ns.
func udpSend(t testing.TB, ns, from, to string, n int, payload int) {
	t.Helper()
	inNetns(t, ns, func() {
		laddr, err := net.ResolveUDPAddr("udp4", from)
		if err != nil {
			t.Fatal(err)
		}
		raddr, err := net.ResolveUDPAddr("udp4", to)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialUDP("udp4", laddr, raddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for range n {
			if _, err := conn.Write(make([]byte, payload)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func listenUDP(t testing.TB, ns, addr string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	inNetns(t, ns, func() {
		a, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err = net.ListenUDP("udp4", a); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tcpRoundTrip connects to addr in ns, writes one byte, reads it echoed and
// closes.
func tcpRoundTrip(t *testing.T, ns, addr string) {
	t.Helper()
	var conn net.Conn
	inNetns(t, ns, func() {
		var err error
		if conn, err = net.Dial("tcp4", addr); err != nil {
			t.Fatal(err)
		}
	})
	defer conn.Close()
	if _, err := conn.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

func echoTCP(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() {
		var err error
		if ln, err = net.Listen("tcp4", addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					c.Write(b)
				}
			}()
		}
	}()
}

func TestRunLoopbackCountedOnce(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	listenUDP(t, ns, "127.0.0.1:9999")
	s := startCapture(t, ns, DefaultConfig())
	udpSend(t, ns, "127.0.0.1:40000", "127.0.0.1:9999", 10, 100)
	s.waitFor(t, ":9999", 10)
	s.stop(t)

	want := make([]string, 10)
	for i := range want {
		// 14 Ethernet + 20 IPv4 + 8 UDP + 100 payload
		want[i] = "lo udp 127.0.0.1:40000>127.0.0.1:9999 len=142"
	}
	if diff := cmp.Diff(want, s.rec.matching(":9999")); diff != "" {
		t.Errorf("captured loopback packets mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shutdown"}, s.rec.flushes); diff != "" {
		t.Errorf("flushes mismatch (-want +got):\n%s", diff)
	}
	stats := s.reg.Stats()["capture"].(map[string]any)
	if got := stats["kernel_packets_total"].(uint64); got < 10 {
		t.Errorf("kernel_packets_total = %d, want >= 10", got)
	}
	if got := stats["kernel_drops_total"].(uint64); got != 0 {
		t.Errorf("kernel_drops_total = %d, want 0", got)
	}
	if got := stats["packets_total"].(uint64); got < 10 {
		t.Errorf("packets_total = %d, want >= 10", got)
	}
}

func TestRunIgnoresOwnReceivers(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	echoTCP(t, ns, "127.0.0.1:1514")
	echoTCP(t, ns, "127.0.0.1:1515")
	listenUDP(t, ns, "127.0.0.1:1514")
	s := startCapture(t, ns, DefaultConfig())
	tcpRoundTrip(t, ns, "127.0.0.1:1514")
	udpSend(t, ns, "127.0.0.1:40001", "127.0.0.1:1514", 3, 10)
	tcpRoundTrip(t, ns, "127.0.0.1:1515")
	// SYN, SYN-ACK, ACK, data, ACK, data, ACK, FIN/ACK ... at least 6
	s.waitFor(t, ":1515", 6)
	s.stop(t)
	if got := s.rec.matching(":1514"); len(got) != 0 {
		t.Errorf("captured %d packets of port 1514, want none: %q", len(got), got)
	}
}

func TestRunVethAndInterfaceSelection(t *testing.T) {
	requireNetns(t)
	for _, tc := range []struct {
		name       string
		interfaces []string
		wantLo     bool
	}{
		{"all_interfaces", nil, true},
		{"veth_only", []string{"swv0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, peer := newNetns(t), newNetns(t)
			vethPair(t, ns, "swv0", "10.99.0.1/24", peer, "swv1", "10.99.0.2/24")
			listenUDP(t, ns, "10.99.0.1:7000")
			listenUDP(t, ns, "127.0.0.1:7001")
			cfg := DefaultConfig()
			cfg.Interfaces = tc.interfaces
			s := startCapture(t, ns, cfg)
			udpSend(t, peer, "10.99.0.2:41000", "10.99.0.1:7000", 4, 58)
			udpSend(t, ns, "127.0.0.1:41001", "127.0.0.1:7001", 2, 58)
			s.waitFor(t, ":7000", 4)
			if tc.wantLo {
				s.waitFor(t, ":7001", 2)
			}
			s.stop(t)

			want := []string{}
			for range 4 {
				want = append(want, "swv0 udp 10.99.0.2:41000>10.99.0.1:7000 len=100")
			}
			if diff := cmp.Diff(want, s.rec.matching(":7000")); diff != "" {
				t.Errorf("veth packets mismatch (-want +got):\n%s", diff)
			}
			if got, wantN := len(s.rec.matching(":7001")), map[bool]int{true: 2, false: 0}[tc.wantLo]; got != wantN {
				t.Errorf("captured %d loopback packets, want %d", got, wantN)
			}
		})
	}
}

// TestRunInterfaceAddedLater checks that a packet from an interface created
// after Open is named after a refresh of the interface list.
func TestRunInterfaceAddedLater(t *testing.T) {
	requireNetns(t)
	ns, peer := newNetns(t), newNetns(t)
	s := startCapture(t, ns, DefaultConfig())
	vethPair(t, ns, "swlate0", "10.98.0.1/24", peer, "swlate1", "10.98.0.2/24")
	listenUDP(t, peer, "10.98.0.2:7002")
	udpSend(t, ns, "10.98.0.1:42000", "10.98.0.2:7002", 1, 10)
	s.waitFor(t, ":7002", 1)
	s.stop(t)
	if diff := cmp.Diff([]string{"swlate0 udp 10.98.0.1:42000>10.98.0.2:7002 len=52"}, s.rec.matching(":7002")); diff != "" {
		t.Errorf("packets mismatch (-want +got):\n%s", diff)
	}
	stats := s.reg.Stats()["capture"].(map[string]any)
	if got := stats["interface_refreshes_total"].(uint64); got < 1 {
		t.Errorf("interface_refreshes_total = %d, want >= 1", got)
	}
}

func TestOpenErrors(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	cfg := DefaultConfig()
	cfg.Interfaces = []string{"nosuch0"}
	var err error
	inNetns(t, ns, func() { _, err = Open(cfg, metrics.New()) })
	if err == nil || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("Open(interfaces nosuch0) = %v, want an error naming the interface", err)
	}
}

// seqTable records the sequence numbers that udpBlast puts in its datagrams.
type seqTable struct {
	discard
	seen map[uint32]int
}

func (s *seqTable) Packet(ts time.Time, iface string, link flow.LinkType, data []byte, wireLen int) {
	// Ethernet 14 + IPv4 20 + UDP 8, then the number; port 9998 only.
	if len(data) >= 46 && data[36] == 9998>>8 && data[37] == 9998&0xff {
		s.seen[binary.BigEndian.Uint32(data[42:46])]++
	}
}

// dialLoopbackUDP connects a UDP socket in ns to 127.0.0.1:9998, closed at
// the test's end.
func dialLoopbackUDP(t *testing.T, ns string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		conn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9998})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRunNoDuplicatesAtStart opens the capture while loopback traffic is
// already flowing: packets that reached the ring before the filter was
// attached (both copies of a loopback packet) must not be counted.
func TestRunNoDuplicatesAtStart(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	listenUDP(t, ns, "127.0.0.1:9998")
	conn := dialLoopbackUDP(t, ns)
	for round := range 20 {
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			buf := make([]byte, 8)
			for i := uint32(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				binary.BigEndian.PutUint32(buf, i)
				conn.Write(buf)
			}
		}()
		table := &seqTable{seen: map[uint32]int{}}
		var c *Capture
		var err error
		inNetns(t, ns, func() { c, err = Open(DefaultConfig(), metrics.New()) })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if err := c.Run(ctx, table); err != nil {
			t.Fatal(err)
		}
		cancel()
		close(stop)
		<-sent
		for seq, n := range table.seen {
			if n != 1 {
				t.Fatalf("round %d: datagram %d counted %d times (of %d datagrams seen)", round, seq, n, len(table.seen))
			}
		}
		if len(table.seen) == 0 {
			t.Fatalf("round %d: no datagram captured", round)
		}
	}
}

// TestRunRingWraps sends many times what a two-block ring holds: every
// block must go back to the kernel once read (or the ring fills and the
// kernel drops the rest), each datagram must be counted once, and the
// packets read must be exactly what the kernel passed to the socket
// minus what it dropped.
func TestRunRingWraps(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	listenUDP(t, ns, "127.0.0.1:9998")
	conn := dialLoopbackUDP(t, ns)
	cfg := DefaultConfig()
	cfg.RingMiB, cfg.BlockKiB, cfg.BlockTimeout = 1, 512, time.Millisecond
	reg := metrics.New()
	var c *Capture
	var err error
	inNetns(t, ns, func() { c, err = Open(cfg, reg) })
	if err != nil {
		t.Fatal(err)
	}
	table := &seqTable{seen: map[uint32]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, table) }()

	// About 1,100 bytes of ring per datagram: the ring holds under a
	// thousand, so 20,000 wrap it more than twenty times.
	const sent = 20000
	buf := make([]byte, 1000)
	for i := range uint32(sent) {
		binary.BigEndian.PutUint32(buf, i)
		if _, err := conn.Write(buf); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // let the reader keep up
		}
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for seq, n := range table.seen {
		if n != 1 || seq >= sent {
			t.Fatalf("datagram %d counted %d times", seq, n)
		}
	}
	stats := reg.Stats()["capture"].(map[string]any)
	kernel, drops, read := stats["kernel_packets_total"].(uint64), stats["kernel_drops_total"].(uint64), stats["packets_total"].(uint64)
	if read != kernel-drops {
		t.Errorf("packets_total = %d, want kernel_packets_total - kernel_drops_total = %d - %d", read, kernel, drops)
	}
	if got := len(table.seen); got < sent/2 {
		t.Errorf("got %d of %d datagrams (kernel drops %d), want at least half", got, sent, drops)
	}
	t.Logf("%d of %d datagrams read, %d kernel drops", len(table.seen), sent, drops)
}

// TestRunIdleWakesOncePerSecond checks that a quiet link costs one wakeup
// per expiry period, and that cancellation still ends Run at once plus
// the drain (a block timeout and a poll period), not after a whole period.
func TestRunIdleWakesOncePerSecond(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	s := startCapture(t, ns, DefaultConfig())
	const idle = 3500 * time.Millisecond
	time.Sleep(idle)
	wakeups := s.reg.Stats()["capture"].(map[string]any)["wakeups_total"].(uint64)
	start := time.Now()
	s.stop(t)
	took := time.Since(start)
	// 3 expiry periods; the old 200 ms poll woke 17 times.
	if wakeups > 5 {
		t.Errorf("wakeups_total = %d after %v idle, want at most 5 (one per second)", wakeups, idle)
	}
	if limit := DefaultConfig().BlockTimeout + pollTimeout + 500*time.Millisecond; took > limit {
		t.Errorf("Run returned %v after cancellation, want within %v", took, limit)
	}
	if len(s.rec.flushes) != 1 || s.rec.expires < 2 {
		t.Errorf("flushes %q and %d expiries, want one shutdown flush and at least 2 expiries", s.rec.flushes, s.rec.expires)
	}
}
