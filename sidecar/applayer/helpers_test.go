package applayer

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// testFlow stands in for the flow table's entry.
type testFlow struct {
	id             uint64
	client, server netip.AddrPort
	proto          uint8
	state          uint32
	app            string
	cid            string
}

func (f *testFlow) ID() uint64             { return f.id }
func (f *testFlow) Client() netip.AddrPort { return f.client }
func (f *testFlow) Server() netip.AddrPort { return f.server }
func (f *testFlow) Proto() uint8           { return f.proto }
func (f *testFlow) Iface() string          { return "eth1" }
func (f *testFlow) IPVersion() uint8 {
	if f.client.Addr().Is4() {
		return 4
	}
	return 6
}

// CommunityID is computed once, as flow.Entry does.
func (f *testFlow) CommunityID() string {
	if f.cid == "" {
		f.cid = flow.CommunityID(0, f.proto, f.client.Addr(), f.server.Addr(), f.client.Port(), f.server.Port())
	}
	return f.cid
}

// recorder keeps every event.
type recorder struct{ events []event.Event }

func (r *recorder) Offer(ev event.Event) bool {
	r.events = append(r.events, ev)
	return true
}

// lines encodes the events as JSON lines.
func (r *recorder) lines() []byte {
	var b []byte
	for i := range r.events {
		b = append(r.events[i].AppendJSON(b), '\n')
	}
	return b
}

var t0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// conn drives a TCP connection through an engine: it keeps each side's
// next sequence number, acknowledges what the other side sent and splits
// writes into segments of mss bytes.
type conn struct {
	t   testing.TB
	en  *Engine
	f   *testFlow
	seq [2]uint32
	ts  time.Time
	mss int
}

func newEngine(t testing.TB, cfg Config) (*Engine, *recorder, *metrics.Registry) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out := &recorder{}
	reg := metrics.New()
	return New(cfg, out, reg), out, reg
}

func newConn(t testing.TB, en *Engine, client, server string, id uint64) *conn {
	return &conn{t: t, en: en, f: &testFlow{id: id, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), proto: ipTCP},
		seq: [2]uint32{1000, 50000}, ts: t0, mss: 1448}
}

// packet hands the engine one segment.
func (c *conn) packet(dir int, flags uint8, seq uint32, payload []byte) {
	c.ts = c.ts.Add(time.Millisecond)
	p := flow.Packet{Timestamp: c.ts, Iface: "eth1", Direction: direction(dir), TCPFlags: flags, Seq: seq, Ack: c.seq[1-dir],
		Payload: payload, PayloadLen: len(payload)}
	c.en.inspect(c.f, &c.f.state, &c.f.app, &p)
}

func (c *conn) handshake() {
	c.packet(toServer, flagSYN, c.seq[toServer]-1, nil)
	c.packet(toClient, flagSYN|flagACK, c.seq[toClient]-1, nil)
	c.packet(toServer, flagACK, c.seq[toServer], nil)
}

// send writes data from one side in segments.
func (c *conn) send(dir int, data []byte) {
	for len(data) > 0 {
		n := min(c.mss, len(data))
		c.packet(dir, flagACK|0x08, c.seq[dir], data[:n])
		c.seq[dir] += uint32(n)
		data = data[n:]
	}
}

// close sends FINs both ways and the last ACK.
func (c *conn) close() {
	c.packet(toServer, flagFIN|flagACK, c.seq[toServer], nil)
	c.seq[toServer]++
	c.packet(toClient, flagFIN|flagACK, c.seq[toClient], nil)
	c.seq[toClient]++
	c.packet(toServer, flagACK, c.seq[toServer], nil)
}

func (c *conn) expire() { c.en.expire(c.f, &c.f.state, &c.f.app) }

func direction(dir int) flow.Direction {
	if dir == toServer {
		return flow.ToServer
	}
	return flow.ToClient
}

// datagram hands the engine one UDP datagram of flow f.
func datagram(en *Engine, f *testFlow, dir int, ts time.Time, payload []byte) {
	p := flow.Packet{Timestamp: ts, Iface: "eth1", Direction: direction(dir), Payload: payload, PayloadLen: len(payload)}
	en.inspect(f, &f.state, &f.app, &p)
}

// counterValue reads a counter (labelled ones by their label values, in
// the registry's nesting) from reg's stats.
func counterValue(t testing.TB, reg *metrics.Registry, sub string, path ...string) uint64 {
	t.Helper()
	var v any = reg.Stats()[sub]
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("stats %s %v: no %q in %v", sub, path, p, v)
		}
		v = m[p]
	}
	n, ok := v.(uint64)
	if !ok {
		t.Fatalf("stats %s %v = %v, not a counter", sub, path, v)
	}
	return n
}

func split(b []byte) [][]byte { return bytes.Split(bytes.TrimSpace(b), []byte("\n")) }
