package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard/connguardtest"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// stat returns a sidewatch_forward_* series from the stats: a number, or
// a map by label value.
func stat(reg *metrics.Registry, name string) any {
	return reg.Stats()["forward"].(map[string]any)[name]
}

// labelled returns one label value's count of a labelled series.
func labelled(reg *metrics.Registry, name, value string) uint64 {
	n, _ := stat(reg, name).(map[string]any)[value].(uint64)
	return n
}

// waitStat polls cond on the stats for up to 20 s.
func waitStat(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// closedTotal sums connections_closed_total over its reasons.
func closedTotal(reg *metrics.Registry) uint64 {
	var n uint64
	for _, v := range stat(reg, "connections_closed_total").(map[string]any) {
		n += v.(uint64)
	}
	return n
}

// fluentBit sends chunks as Fluent Bit's out_forward does: on one
// connection while it works, waiting for each chunk's ack, and on a failure
// (reset, no ack) reconnecting and sending the same chunk again.
type fluentBit struct {
	network, addr, key string
	c                  *client
	reconnects         int
}

// send delivers chunk (one record, log text) and returns once it is
// acknowledged, or an error after the deadline.
func (f *fluentBit) send(t *testing.T, chunk, text string, deadline time.Time) error {
	msg := (&mp{}).arr(4).str("web-firelens-1").uint(1700000000).record(dockerRecord(text)...).options(chunk, 1).b
	var last error
	for time.Now().Before(deadline) {
		if f.c == nil {
			if err := f.connect(t); err != nil {
				last = err
				f.reconnects++
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		_, err := f.c.nc.Write(msg)
		if err == nil {
			var ack []byte
			if ack, err = f.c.readMsg(2 * time.Second); err == nil && strings.Contains(string(ack), chunk) {
				return nil
			}
		}
		last = err
		f.c.nc.Close()
		f.c = nil
		f.reconnects++
	}
	return fmt.Errorf("chunk %s not acknowledged: %w", chunk, last)
}

func (f *fluentBit) connect(t *testing.T) error {
	nc, err := net.Dial(f.network, f.addr)
	if err != nil {
		return err
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc}
	if f.network == "tcp" {
		if ok, err := c.authenticate(f.key); err != nil || !ok {
			nc.Close()
			return fmt.Errorf("handshake: ok %v, %w", ok, err)
		}
	}
	f.c = c
	return nil
}

// Slow-loris peers on either listener, with or without the shared key,
// hold every slot; a Fluent Bit-like sender on either listener still has
// each of its chunks acknowledged within seconds (the frame and handshake
// timeouts are a minute: only eviction can make room), and every
// connection is counted once when it ends.
func TestSlowPeersCannotBlindForward(t *testing.T) {
	// A PackedForward message announcing 1,000,000 bytes of entries, sent
	// one byte at a time: it never ends.
	endless := (&mp{}).arr(3).str("t").raw(0xc6, 0x00, 0x0f, 0x42, 0x40).b
	// A PING whose hostname never ends.
	endlessPing := (&mp{}).arr(6).str("PING").raw(0xd9, 0xff).b
	tests := []struct {
		name   string
		attack string // unix, tcp (no key) or tcp_key
		sender string // unix or tcp
		head   []byte
	}{
		{"unix_peers_unix_sender", "unix", "unix", endless},
		{"unix_peers_tcp_sender", "unix", "tcp", endless},
		{"keyless_tcp_peers_tcp_sender", "tcp", "tcp", endlessPing},
		{"keyless_tcp_peers_unix_sender", "tcp", "unix", endlessPing},
		{"authenticated_tcp_peers_tcp_sender", "tcp_key", "tcp", endless},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxConns = 4
			cfg.FrameTimeout = time.Minute
			cfg.HandshakeTimeout = time.Minute
			pipe := &fakePipe{}
			r, reg, stop := startReceiver(t, cfg, pipe)
			defer stop()
			tcp, unix := r.Addrs()
			key := readKey(t, cfg)
			addr := map[string]string{"unix": unix, "tcp": tcp}
			network := strings.TrimSuffix(tt.attack, "_key")
			attack := connguardtest.Slowloris{
				Dial: func() (net.Conn, error) {
					nc, err := net.Dial(network, addr[network])
					if err != nil || tt.attack != "tcp_key" {
						return nc, err
					}
					if ok, err := (&client{nc: nc}).authenticate(key); err != nil || !ok {
						nc.Close()
						return nil, errors.Join(errors.New("handshake refused"), err)
					}
					return nc, nil
				},
				Head:  tt.head,
				Fill:  'x',
				Every: 100 * time.Millisecond,
			}.Start(t, 3*cfg.MaxConns)
			connguardtest.WaitHolding(t, r.guard, cfg.MaxConns)

			fb := &fluentBit{network: tt.sender, addr: addr[tt.sender], key: key}
			const chunks = 5
			for i := range chunks {
				start := time.Now()
				if err := fb.send(t, fmt.Sprintf("chunk%d", i), fmt.Sprintf("record %d", i), start.Add(10*time.Second)); err != nil {
					t.Fatalf("with every slot held by slow peers: %v (%d reconnects)", err, fb.reconnects)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("chunk %d took %s to be acknowledged", i, d)
				}
			}
			written := strings.Join(pipe.written(), "\n")
			for i := range chunks {
				if !strings.Contains(written, fmt.Sprintf(`"message":"record %d"`, i)) {
					t.Errorf("record %d acknowledged but not written", i)
				}
			}
			if ev := labelled(reg, "connections_closed_total", "evicted"); ev == 0 {
				t.Errorf("evicted %d, want slow peers reset", ev)
			}
			// Reset peers notice at their next byte and come back.
			waitStat(t, "a reset slow peer to come back", func() bool { return attack.Connections() > int64(3*cfg.MaxConns) })
			if got := labelled(reg, "handshakes_total", "ok"); tt.attack == "tcp" && tt.sender == "unix" && got != 0 {
				t.Errorf("handshakes_total{ok} = %d with keyless peers and a unix sender, want 0", got)
			}

			attack.Stop()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if open := stat(reg, "connections_open"); open != uint64(0) {
				t.Errorf("connections_open = %v after Run returned, want 0", open)
			}
			if acc, closed := stat(reg, "connections_total").(uint64), closedTotal(reg); acc != closed {
				t.Errorf("connections_total %d, connections_closed_total summed %d (%v); want every connection counted once", acc, closed, stat(reg, "connections_closed_total"))
			}
		})
	}
}

// atCap starts a receiver with one slot, held by a connection whose
// chunk the pipeline has not written (its gate closed), and a newcomer
// waiting for the slot.
func atCap(t *testing.T) (r *Receiver, reg *metrics.Registry, stop func() error, pipe *fakePipe, busy, newcomer *client) {
	cfg := testConfig(t)
	cfg.MaxConns = 1
	cfg.AckTimeout = time.Minute
	pipe = &fakePipe{gate: make(chan struct{})}
	r, reg, stop = startReceiver(t, cfg, pipe)
	t.Cleanup(func() { stop() })
	_, unix := r.Addrs()
	busy = dial(t, "unix", unix)
	busy.write(chunkMsg("first"))
	connguardtest.WaitHolding(t, r.guard, 1)
	newcomer = dial(t, "unix", unix)
	newcomer.write(chunkMsg("second"))
	waitStat(t, "the newcomer to wait", func() bool { return stat(reg, "connections_waited_total") == uint64(1) })
	return r, reg, stop, pipe, busy, newcomer
}

// chunkMsg is a one-record message whose chunk id and log are chunk.
func chunkMsg(chunk string) []byte {
	return (&mp{}).arr(4).str("t").uint(1).record("log", chunk).options(chunk, 1).b
}

// At the cap with every connection busy (its chunk not yet written by the
// pipeline), a newcomer waits, counted, and is served once a slot frees:
// no busy connection is reset, so no chunk is lost between read and ack.
func TestForwardAtCapWaitsForABusyConnection(t *testing.T) {
	_, reg, _, pipe, busy, newcomer := atCap(t)
	if _, err := newcomer.readMsg(200 * time.Millisecond); err == nil {
		t.Fatal("newcomer acknowledged while the only slot was busy")
	}
	close(pipe.gate) // the pipeline writes: the busy chunk is acknowledged
	if ack, err := busy.readMsg(2 * time.Second); err != nil || !strings.Contains(string(ack), "first") {
		t.Fatalf("busy connection's ack = %q, %v; want it acknowledged, not reset", ack, err)
	}
	// Now idle, it makes room for the newcomer.
	if ack, err := newcomer.readMsg(5 * time.Second); err != nil || !strings.Contains(string(ack), "second") {
		t.Fatalf("newcomer's ack = %q, %v", ack, err)
	}
	if got := labelled(reg, "connections_closed_total", "evicted"); got != 1 {
		t.Errorf("evicted = %d, want 1 (the idle connection, for the newcomer)", got)
	}
	if !busy.closedByServer() {
		t.Error("the evicted connection is still open")
	}
}

// A newcomer still waiting for a slot when shutdown begins is closed and
// counted as refused.
func TestForwardAtCapShutdownRefusesTheWaiting(t *testing.T) {
	_, reg, stop, pipe, busy, newcomer := atCap(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(pipe.gate)
	}()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := labelled(reg, "connections_rejected_total", "shutdown"); got != 1 {
		t.Errorf("connections_rejected_total{shutdown} = %d, want 1", got)
	}
	if !newcomer.closedByServer() {
		t.Error("the refused connection is still open")
	}
	if ack, err := busy.readMsg(time.Second); err != nil || !strings.Contains(string(ack), "first") {
		t.Errorf("busy connection's ack = %q, %v; want its chunk acknowledged during shutdown", ack, err)
	}
}

// A peer that sends only heartbeats is as idle as a silent one: at the cap
// it is reset, not the sender whose message came after it connected.
func TestHeartbeatsDoNotKeepASlot(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConns = 2
	r, reg := serveReceiver(t, cfg, &fakePipe{})
	_, unix := r.Addrs()
	beating := dial(t, "unix", unix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := beating.nc.Write([]byte{0xc0}); err != nil {
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()
	sender := dial(t, "unix", unix)
	connguardtest.WaitHolding(t, r.guard, 2)
	sender.write(chunkMsg("a"))
	if _, err := sender.readMsg(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // heartbeats after the sender's message
	newcomer := dial(t, "unix", unix)
	newcomer.write(chunkMsg("b"))
	if _, err := newcomer.readMsg(5 * time.Second); err != nil {
		t.Fatalf("newcomer: %v", err)
	}
	if !beating.closedByServer() {
		t.Error("the heartbeat-only peer kept its slot")
	}
	sender.write(chunkMsg("c"))
	if _, err := sender.readMsg(2 * time.Second); err != nil {
		t.Errorf("the sender was reset instead of the heartbeat-only peer: %v", err)
	}
	if got := labelled(reg, "connections_closed_total", "evicted"); got != 1 {
		t.Errorf("evicted = %d, want 1", got)
	}
}
