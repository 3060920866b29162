package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// fakePipe is the pipeline as the receiver sees it: events are encoded
// only at Sync, as the real consumer does, so an event whose memory the
// receiver reused too early shows up garbled.
type fakePipe struct {
	mu      sync.Mutex
	pending []event.Event
	lines   []string
	gate    chan struct{} // Sync waits for it when set
	failPub error
}

func (p *fakePipe) Publish(ctx context.Context, ev event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failPub != nil {
		return p.failPub
	}
	p.pending = append(p.pending, ev)
	return nil
}

func (p *fakePipe) Sync(ctx context.Context) error {
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.pending {
		p.lines = append(p.lines, string(p.pending[i].AppendJSON(nil)))
	}
	p.pending = p.pending[:0]
	return nil
}

func (p *fakePipe) written() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	c := DefaultConfig()
	c.TCPAddr = "127.0.0.1:0"
	c.UnixPath = filepath.Join(dir, SocketName)
	c.KeyFile = filepath.Join(dir, KeyName)
	c.MaxMessageSize = 1 << 20
	c.FrameTimeout = 500 * time.Millisecond
	c.HandshakeTimeout = 500 * time.Millisecond
	return c
}

// serveReceiver starts a receiver and stops it at cleanup.
func serveReceiver(t *testing.T, cfg Config, pub Publisher) (*Receiver, *metrics.Registry) {
	t.Helper()
	r, reg, stop := startReceiver(t, cfg, pub)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return r, reg
}

// startReceiver starts a receiver; stop ends Run and returns its error
// (calling it again returns nil).
func startReceiver(t *testing.T, cfg Config, pub Publisher) (r *Receiver, reg *metrics.Registry, stop func() error) {
	t.Helper()
	reg = metrics.New()
	r, err := listen(cfg, pub, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	return r, reg, func() (err error) {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// client is a forward client doing what Fluent Bit's out_forward does.
type client struct {
	t  *testing.T
	nc net.Conn
	rd []byte
}

func dial(t *testing.T, network, addr string) *client {
	t.Helper()
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc}
}

// readMsg reads one msgpack object.
func (c *client) readMsg(timeout time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		if len(c.rd) > 0 {
			if end, _, _, err := scan(c.rd, 0, 1); err == nil {
				msg := c.rd[:end]
				c.rd = c.rd[end:]
				return msg, nil
			}
		}
		n, err := c.nc.Read(buf)
		c.rd = append(c.rd, buf[:n]...)
		if err != nil {
			return nil, err
		}
	}
}

// handshake answers HELO with key and checks the server's PONG digest.
func (c *client) handshake(key string) (ok bool) {
	c.t.Helper()
	ok, err := c.authenticate(key)
	if err != nil {
		c.t.Fatal(err)
	}
	return ok
}

// authenticate is handshake without the test's Fatal, for peers running
// in their own goroutines.
func (c *client) authenticate(key string) (ok bool, err error) {
	helo, err := c.readMsg(2 * time.Second)
	if err != nil {
		return false, fmt.Errorf("HELO: %w", err)
	}
	r := reader{b: helo}
	r.arrayLen()
	if s, _ := r.bytes(); string(s) != "HELO" {
		return false, fmt.Errorf("first message %x, want HELO", helo)
	}
	r.mapLen()
	r.bytes()
	nonce, _ := r.bytes()
	salt := []byte("0123456789abcdef")
	ping := (&mp{}).arr(6).str("PING").str("log_router").str(string(salt)).str(string(digest(salt, []byte("log_router"), nonce, key))).str("").str("").b
	if _, err := c.nc.Write(ping); err != nil {
		return false, err
	}
	pong, err := c.readMsg(2 * time.Second)
	if err != nil {
		return false, fmt.Errorf("PONG: %w", err)
	}
	r = reader{b: pong}
	if n, _ := r.arrayLen(); n != 5 {
		return false, fmt.Errorf("PONG %x: want 5 elements", pong)
	}
	r.bytes()
	ok = r.b[r.off] == 0xc3
	r.off++
	r.bytes()
	host, _ := r.bytes()
	dig, _ := r.bytes()
	if ok && !bytes.Equal(dig, digest(salt, host, nonce, key)) {
		return false, errors.New("PONG digest does not prove the server holds the key")
	}
	return ok, nil
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// closedByServer reports whether the server closed the connection.
func (c *client) closedByServer() bool {
	_, err := c.readMsg(3 * time.Second)
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (err != nil && strings.Contains(err.Error(), "reset"))
}

func readKey(t *testing.T, cfg Config) string {
	key, err := firelens.ReadSharedKey(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestReceiverAcksOnlyAfterSync(t *testing.T) {
	cfg := testConfig(t)
	pipe := &fakePipe{gate: make(chan struct{})}
	r, reg := serveReceiver(t, cfg, pipe)
	addr, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	if !c.handshake(readKey(t, cfg)) {
		t.Fatal("handshake refused with the right key")
	}
	chunk := "0123456789abcdef0123456789abcdef"
	m := &mp{wide: true}
	m.arr(3).str("web-firelens-1").arr(2)
	m.entry(1700000000, 1, dockerRecord("one")...)
	m.entry(1700000000, 2, dockerRecord("two")...)
	c.write(m.options(chunk, 2).b)
	if ack, err := c.readMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("ack %x before the pipeline wrote the records", ack)
	}
	close(pipe.gate)
	ack, err := c.readMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("no ack after the write: %v", err)
	}
	want := append([]byte{0x81, 0xa3, 'a', 'c', 'k', 0xd9, 32}, chunk...)
	if !bytes.Equal(ack, want) {
		t.Errorf("ack = %x, want %x", ack, want)
	}
	lines := pipe.written()
	if len(lines) != 2 || !strings.Contains(lines[0], `"message":"one"`) || !strings.Contains(lines[1], `"message":"two"`) {
		t.Errorf("written = %q, want records one and two", lines)
	}
	// The same connection keeps working: memory reused for the next one.
	m = &mp{}
	m.arr(3).str("web-firelens-1").arr(1).entry(1700000001, 0, dockerRecord("three")...).options("ffff", 1)
	c.write(m.b)
	if _, err := c.readMsg(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	lines = pipe.written()
	if len(lines) != 3 || !strings.Contains(lines[2], `"message":"three"`) || !strings.Contains(lines[1], `"message":"two"`) {
		t.Errorf("written = %q", lines)
	}
	// Counted once written, which may be a moment after the peer reads it.
	acks := func() any { return reg.Stats()["forward"].(map[string]any)["acks_total"] }
	for deadline := time.Now().Add(2 * time.Second); acks() != uint64(2) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := acks(); got != uint64(2) {
		t.Errorf("acks_total = %v, want 2", got)
	}
}

func TestReceiverRefusesWrongKey(t *testing.T) {
	cfg := testConfig(t)
	pipe := &fakePipe{}
	r, reg := serveReceiver(t, cfg, pipe)
	addr, _ := r.Addrs()
	c := dial(t, "tcp", addr)
	if c.handshake("not the key") {
		t.Fatal("handshake accepted a wrong key")
	}
	if !c.closedByServer() {
		t.Error("connection still open after a refused handshake")
	}
	// A message without handshake is never read as records.
	c2 := dial(t, "tcp", addr)
	if _, err := c2.readMsg(time.Second); err != nil {
		t.Fatalf("HELO: %v", err)
	}
	c2.write((&mp{}).arr(3).str("admin-firelens-1").uint(1).record("log", "forged").b)
	if !c2.closedByServer() {
		t.Error("connection without handshake still open")
	}
	if len(pipe.written()) != 0 {
		t.Errorf("published %q from unauthenticated peers", pipe.written())
	}
	st := reg.Stats()["forward"].(map[string]any)["handshakes_total"].(map[string]any)
	if st["bad_key"] != uint64(1) || st["failed"] != uint64(1) {
		t.Errorf("handshakes_total = %v, want bad_key 1, failed 1", st)
	}
}

// Hostile input over the unix socket (no handshake there): every case is
// counted and closes the connection; nothing is published; the receiver
// keeps serving.
func TestReceiverBadInputCloses(t *testing.T) {
	bomb := gzipBytes(t, make([]byte, 4<<20))
	tests := []struct {
		name   string
		send   []byte
		reason string
	}{
		{"two_gb_size_claim", (&mp{}).arr(3).str("t").raw(0xc6, 0x7f, 0xff, 0xff, 0xff).b, "too_large"},
		{"never_ending_array", append((&mp{}).arr(2).str("t").raw(0xdd, 0xff, 0xff, 0xff, 0xff).b, bytes.Repeat((&mp{}).entry(1, 1, "log", strings.Repeat("x", 100)).b, 20000)...), "too_large"},
		{"gzip_bomb", (&mp{}).arr(3).str("t").bin(bomb).record("compressed", "gzip").b, "too_large"},
		{"wrong_types", (&mp{}).arr(3).str("t").str("yesterday").record("log", "x").b, "wrong_type"},
		{"time_wrong_type", (&mp{}).arr(2).str("t").arr(1).arr(2).str("yesterday").record("log", "x").b, "wrong_type"},
		{"reserved_byte", []byte{0xc1}, "malformed"},
		{"truncated_then_stall", (&mp{}).arr(3).str("t").uint(1).b, "frame_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			pipe := &fakePipe{}
			r, reg := serveReceiver(t, cfg, pipe)
			_, path := r.Addrs()
			c := dial(t, "unix", path)
			go c.nc.Write(tt.send) // may block on a full socket once the server stops reading
			if !c.closedByServer() {
				t.Fatal("connection still open")
			}
			if got := reg.Stats()["forward"].(map[string]any)["protocol_errors_total"].(map[string]any)[tt.reason]; got != uint64(1) {
				t.Errorf("protocol_errors_total{reason=%q} = %v, want 1", tt.reason, got)
			}
			if len(pipe.written()) != 0 {
				t.Errorf("published %d events from a rejected message", len(pipe.written()))
			}
			// Still serving.
			c2 := dial(t, "unix", path)
			c2.write((&mp{}).arr(4).str("t").uint(1).record("log", "ok").options("c", 1).b)
			if _, err := c2.readMsg(2 * time.Second); err != nil {
				t.Errorf("next sender: %v", err)
			}
		})
	}
}

func TestReceiverEvictsIdlestAtCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConns = 2
	pipe := &fakePipe{}
	r, reg := serveReceiver(t, cfg, pipe)
	addr, path := r.Addrs()
	key := readKey(t, cfg)
	old := dial(t, "tcp", addr)
	old.handshake(key)
	time.Sleep(20 * time.Millisecond)
	newer := dial(t, "tcp", addr)
	newer.handshake(key)
	stranger := dial(t, "unix", path) // unix peers are trusted: authenticated, idle
	_ = stranger
	if !old.closedByServer() {
		t.Error("the idlest connection was kept at the cap")
	}
	// The newcomer is served.
	stranger.write((&mp{}).arr(4).str("t").uint(1).record("log", "x").options("c", 1).b)
	if _, err := stranger.readMsg(2 * time.Second); err != nil {
		t.Errorf("newcomer at the cap not served: %v", err)
	}
	if ev := reg.Stats()["forward"].(map[string]any)["connections_closed_total"].(map[string]any)["evicted"]; ev != uint64(1) {
		t.Errorf("evicted = %v, want 1", ev)
	}
}

func TestReceiverShutdownClosesIdle(t *testing.T) {
	cfg := testConfig(t)
	reg := metrics.New()
	r, err := listen(cfg, &fakePipe{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	_, path := r.Addrs()
	c := dial(t, "unix", path)
	c.write((&mp{}).arr(4).str("t").uint(1).record("log", "x").options("c", 1).b)
	if _, err := c.readMsg(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(shutdownGrace + time.Second):
		t.Fatal("Run did not return")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("shutdown with only idle connections took %v", took)
	}
}

// A stalled pipeline: the message is not acknowledged, the connection
// closes after the ack timeout, and the next message is refused at once,
// so Fluent Bit fails fast and buffers on disk as when the sidecar is down.
func TestReceiverClosesWhenThePipelineStalls(t *testing.T) {
	cfg := testConfig(t)
	cfg.AckTimeout = 200 * time.Millisecond
	pipe := &fakePipe{gate: make(chan struct{})} // never opened: the sink hangs
	r, reg := serveReceiver(t, cfg, pipe)
	_, path := r.Addrs()
	msg := (&mp{}).arr(4).str("t").uint(1).record("log", "x").options("c", 1).b
	c := dial(t, "unix", path)
	c.write(msg)
	start := time.Now()
	if !c.closedByServer() {
		t.Fatal("connection kept open with the pipeline stalled")
	}
	if took := time.Since(start); took < cfg.AckTimeout || took > 2*time.Second {
		t.Errorf("closed after %v, want about the ack timeout %v", took, cfg.AckTimeout)
	}
	c2 := dial(t, "unix", path)
	c2.write(msg)
	start = time.Now()
	if !c2.closedByServer() || time.Since(start) > cfg.AckTimeout/2 {
		t.Errorf("a message during the stall was not refused at once (%v)", time.Since(start))
	}
	st := reg.Stats()["forward"].(map[string]any)
	if st["ack_timeouts_total"] != uint64(1) || st["stall_refused_total"] != uint64(1) || st["acks_total"] != uint64(0) {
		t.Errorf("ack_timeouts %v, stall_refused %v, acks %v; want 1, 1, 0", st["ack_timeouts_total"], st["stall_refused_total"], st["acks_total"])
	}
}
