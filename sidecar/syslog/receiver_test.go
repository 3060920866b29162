package syslog

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedNow is the clock of golden tests: a day after the fixtures'
// records, so that RFC 3164 stamps get the year 2023.
func fixedNow() time.Time { return time.Date(2023, 11, 15, 0, 0, 0, 0, time.UTC) }

// collector is a Publisher that keeps a copy of what it gets (the event's
// strings are views of the receiver's buffers: see logEvent). gate, when
// set, makes Publish wait until it is closed or ctx ends.
type collector struct {
	mu     sync.Mutex
	events []event.Event
	gate   chan struct{}
}

func (c *collector) Publish(ctx context.Context, ev event.Event) error {
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	c.events = append(c.events, cloneEvent(ev))
	c.mu.Unlock()
	return nil
}

// cloneEvent copies what a log event points to, as the pipeline's encoding
// does, so that the receiver may reuse its buffers.
func cloneEvent(ev event.Event) event.Event {
	l := *ev.Log
	for _, f := range []*string{&l.Message, &l.Source, &l.Facility, &l.Severity, &l.ProcID, &l.Format, &l.Transport, &l.ParseError} {
		*f = strings.Clone(*f)
	}
	ev.Log = &l
	ev.ECS.Container.ID = strings.Clone(ev.ECS.Container.ID)
	ev.ECS.Container.Name = strings.Clone(ev.ECS.Container.Name)
	return ev
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *collector) snapshot() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Event(nil), c.events...)
}

// messages returns the log messages received, in order.
func (c *collector) messages() []string {
	var out []string
	for _, ev := range c.snapshot() {
		out = append(out, ev.Log.Message)
	}
	return out
}

func jsonLines(evs []event.Event) []byte {
	var b []byte
	for i := range evs {
		b = evs[i].AppendJSON(b)
		b = append(b, '\n')
	}
	return b
}

type harness struct {
	r   *Receiver
	col *collector
	reg *metrics.Registry
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.UDPAddr = "127.0.0.1:0"
	return cfg
}

// serve listens and runs Run in a goroutine; stop cancels it, drains
// within drain, and returns Run's and Drain's results.
func serve(t testing.TB, cfg Config, pub Publisher, reg *metrics.Registry, now func() time.Time) (r *Receiver, stop func(drain time.Duration) error) {
	t.Helper()
	r, err := listen(cfg, pub, reg, now)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return r, func(drain time.Duration) error {
		cancel()
		err := <-done
		dctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		return errors.Join(err, r.Drain(dctx), r.Close())
	}
}

// start runs a receiver until the test ends.
func start(t testing.TB, cfg Config, now func() time.Time) *harness {
	t.Helper()
	h := &harness{col: &collector{}, reg: metrics.New()}
	r, stop := serve(t, cfg, h.col, h.reg, now)
	h.r = r
	t.Cleanup(func() {
		if err := stop(5 * time.Second); err != nil {
			t.Errorf("Run and Drain: %v", err)
		}
	})
	return h
}

// waitFor polls cond for up to 20 s (generous for CI; it returns as soon
// as cond holds).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dial connects to the receiver's TCP listener; the connection is closed
// when the test ends.
func dial(t testing.TB, r *Receiver) net.Conn {
	t.Helper()
	tcp, _ := r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendTCP writes b on a new connection, closes it, and waits until the
// receiver has finished with the connection.
func (h *harness) sendTCP(t testing.TB, b []byte) {
	t.Helper()
	closed := h.closed()
	tcp, _ := h.r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the connection to end", func() bool { return h.closed() > closed })
}

func (h *harness) closed() uint64 {
	m := h.r.m
	return m.closedEOF.Load() + m.closedError.Load() + m.closedIdle.Load() + m.closedShutdown.Load() + m.tlsHandshake.Load() +
		m.closedEvicted.Load() + m.closedFrameTimeout.Load()
}

// sendUDP sends one datagram and waits for its event.
func (h *harness) sendUDP(t testing.TB, b []byte) {
	t.Helper()
	n := h.col.len()
	_, udp := h.r.Addrs()
	c, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the datagram's event", func() bool { return h.col.len() > n })
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestGoldenFluentBitTCP feeds every TCP capture of Fluent Bit's syslog
// output through a TCP connection.
func TestGoldenFluentBitTCP(t *testing.T) {
	files, err := filepath.Glob("testdata/fluent-bit/*-tcp*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bin")
		t.Run(strings.ReplaceAll(name, "-", "_"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := start(t, testConfig(), fixedNow)
			h.sendTCP(t, b)
			checkGolden(t, name+".jsonl", jsonLines(h.col.snapshot()))
		})
	}
}

// TestGoldenFluentBitUDP sends the UDP captures, one datagram each.
func TestGoldenFluentBitUDP(t *testing.T) {
	files, err := filepath.Glob("testdata/fluent-bit/rfc3164-udp-*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sort.Strings(files)
	h := start(t, testConfig(), fixedNow)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.sendUDP(t, b)
	}
	checkGolden(t, "rfc3164-udp.jsonl", jsonLines(h.col.snapshot()))
}

// TestFluentBitRecordsWhole checks the golden files' key property without
// reading them: each of the 8 records of input-records.conf is one event
// with the exact message, over every transport and format.
func TestFluentBitRecordsWhole(t *testing.T) {
	want := []string{"hello", "line1\nline2", "<html>starts with lt", "no container_name", "no container_id", "", "", "héllo ☃ tab\there"}
	for _, f := range []string{"rfc3164-tcp.bin", "rfc5424-tcp.bin", "fb1.9.10-rfc3164-tcp.bin", "fb1.9.10-rfc5424-tcp.bin"} {
		t.Run(strings.TrimSuffix(strings.ReplaceAll(f, "-", "_"), ".bin"), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "fluent-bit", f))
			if err != nil {
				t.Fatal(err)
			}
			h := start(t, testConfig(), fixedNow)
			h.sendTCP(t, b)
			if diff := cmp.Diff(want, h.col.messages()); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListenWarnsWhenNotLoopback(t *testing.T) {
	cfg := testConfig()
	cfg.TCPAddr = "0.0.0.0:0"
	h := start(t, cfg, fixedNow)
	w := h.r.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "not loopback") || !strings.Contains(w[0], "--syslog-tls-cert") {
		t.Errorf("Warnings() = %q, want one non-loopback TCP warning naming --syslog-tls-cert", w)
	}
	if w := start(t, testConfig(), fixedNow).r.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() on loopback = %q, want none", w)
	}
}

func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"tcp_port_in_use", func(c *Config) { c.TCPAddr = busy.Addr().String() }, "syslog tcp listen"},
		{"missing_tls_files", func(c *Config) { c.TLSCert, c.TLSKey = "/nonexistent/cert.pem", "/nonexistent/key.pem" }, "--syslog-tls-cert"},
		{"invalid_config", func(c *Config) { c.MaxConns = 0 }, "--syslog-max-conns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.cfg(&cfg)
			_, err := Listen(cfg, &collector{}, metrics.New())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Listen() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestServeDrainsOnShutdown checks that a record held for continuation
// lines and a connection still open are flushed when Run's ctx ends.
func TestServeDrainsOnShutdown(t *testing.T) {
	reg := metrics.New()
	col := &collector{}
	cfg := testConfig()
	cfg.MultilineWait = time.Hour // only shutdown can flush
	r, stop := serve(t, cfg, col, reg, fixedNow)
	tcp, _ := r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("<14>Nov 14 22:13:20 abc123 web[1]: held\n\tcontinued\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bytes to be read", func() bool { return r.m.tcpBytes.Load() > 0 })
	// The sender keeps its connection open: the drain reads it until the
	// deadline, then emits the held record, which is complete (not cut).
	if err := stop(200 * time.Millisecond); err != nil {
		t.Fatalf("Run and Drain = %v, want nil (nothing cut or unread)", err)
	}
	evs := col.snapshot()
	if len(evs) != 1 || evs[0].Log.Message != "held\n\tcontinued" || evs[0].Log.Truncated {
		t.Errorf("events = %+v, want the held record, not truncated", evs)
	}
	if got := r.m.closedShutdown.Load(); got != 1 {
		t.Errorf("connections closed at shutdown = %d, want 1", got)
	}
}

func TestMultilineFlushAfterQuiet(t *testing.T) {
	cfg := testConfig()
	cfg.MultilineWait = 20 * time.Millisecond
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	trace := "<14>Nov 14 22:13:20 abc123 web[1]: Exception in thread \"main\" java.lang.IllegalStateException: boom\n" +
		"\tat com.example.App.run(App.java:42)\n\tat com.example.App.main(App.java:7)\n"
	if _, err := c.Write([]byte(trace)); err != nil {
		t.Fatal(err)
	}
	// The connection stays open: only the quiet period can emit the record.
	waitFor(t, "the held record", func() bool { return h.col.len() == 1 })
	want := "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:42)\n\tat com.example.App.main(App.java:7)"
	if got := h.col.messages()[0]; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if _, err := c.Write([]byte("<14>Nov 14 22:13:21 abc123 web[1]: next\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second record", func() bool { return h.col.len() == 2 })
}

func TestConnectionCapEvictsIdlest(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 2
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		waitFor(t, "the connection to be admitted", func() bool { return h.r.guard.Open() == len(held) })
	}
	// Both idle: a real sender still gets in, in place of the idlest.
	h.sendTCP(t, []byte("<14>Nov 14 22:13:20 abc123 web[1]: after\n"))
	if got := h.col.messages(); !cmp.Equal(got, []string{"after"}) {
		t.Errorf("messages = %q, want [after]", got)
	}
	if got := h.r.m.closedEvicted.Load(); got != 1 {
		t.Errorf("evicted = %d, want 1", got)
	}
	held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Read on the evicted (first, idlest) connection = %v, want a reset", err)
	}
}

func TestMessagesBoundedAndTruncated(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = minMessageSize
	h := start(t, cfg, fixedNow)
	long := bytes.Repeat([]byte("x"), 5000)
	line := append([]byte("<14>Nov 14 22:13:20 abc123 web[1]: "), long...)
	h.sendTCP(t, append(append(line, '\n'), "<14>Nov 14 22:13:20 abc123 web[1]: short\n"...))
	evs := h.col.snapshot()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	if !evs[0].Log.Truncated || evs[1].Log.Truncated {
		t.Errorf("truncated flags = %v, %v; want true, false", evs[0].Log.Truncated, evs[1].Log.Truncated)
	}
	if got, want := len(evs[0].Log.Message), cfg.maxFrame()-len("<14>Nov 14 22:13:20 abc123 web[1]: "); got != want {
		t.Errorf("truncated message length = %d, want %d", got, want)
	}
	if got := h.r.m.truncated.Load(); got != 1 {
		t.Errorf("truncated counter = %d, want 1", got)
	}
}
