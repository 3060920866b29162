package syslog

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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

// collector is a Publisher that keeps what it gets.
type collector struct {
	mu     sync.Mutex
	events []event.Event
}

func (c *collector) Publish(_ context.Context, ev event.Event) error {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	return nil
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

// serve listens and runs Run in a goroutine; stop cancels it and
// returns Run's result.
func serve(t testing.TB, cfg Config, pub Publisher, reg *metrics.Registry, now func() time.Time) (r *Receiver, stop func() error) {
	t.Helper()
	r, err := listen(cfg, pub, reg, now)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return r, func() error { cancel(); return <-done }
}

// start runs a receiver until the test ends.
func start(t testing.TB, cfg Config, now func() time.Time) *harness {
	t.Helper()
	h := &harness{col: &collector{}, reg: metrics.New()}
	r, stop := serve(t, cfg, h.col, h.reg, now)
	h.r = r
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
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
	return m.closedEOF.Load() + m.closedError.Load() + m.closedIdle.Load() + m.closedShutdown.Load() + m.tlsHandshake.Load()
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
	if err := stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got, want := col.messages(), []string{"held\n\tcontinued"}; !cmp.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
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

func TestConnectionLimit(t *testing.T) {
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
	}
	waitFor(t, "two open connections", func() bool { return h.r.m.open.Load() == 2 })
	extra, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitFor(t, "the refusal", func() bool { return h.r.m.refusedLimit.Load() == 1 })
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil {
		t.Errorf("Read on a refused connection = %d, nil; want an error (closed)", n)
	}
	// Room again once one closes.
	held[0].Close()
	waitFor(t, "one open connection", func() bool { return h.r.m.open.Load() == 1 })
	h.sendTCP(t, []byte("<14>Nov 14 22:13:20 abc123 web[1]: after\n"))
	if got := h.col.messages(); !cmp.Equal(got, []string{"after"}) {
		t.Errorf("messages = %q, want [after]", got)
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
