package detect

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

var t0 = time.Date(2026, 11, 22, 4, 46, 4, 0, time.UTC)

// collector is a pipeline for tests: an alert path and a publisher that
// keep what they are given, and when each alert arrived.
type collector struct {
	mu      sync.Mutex
	events  []event.Event
	alerts  []event.Event
	arrived []time.Time
	refuse  bool // refuse alerts
}

func (c *collector) OfferAlert(ev event.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return false
	}
	c.alerts = append(c.alerts, ev)
	c.arrived = append(c.arrived, time.Now())
	return true
}

func (c *collector) Offer(ev event.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	return true
}

func (c *collector) Publish(_ context.Context, ev event.Event) error {
	c.Offer(ev)
	return nil
}

// sids returns the alerts' signature ids in order.
func (c *collector) sids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, a := range c.alerts {
		out = append(out, a.Alert.SignatureID)
	}
	return out
}

// uniqueSIDs returns the distinct signature ids, sorted.
func (c *collector) uniqueSIDs() []int {
	out := slices.Compact(sortedCopy(c.sids()))
	if out == nil {
		return []int{}
	}
	return out
}

// lines returns the alerts as EVE JSON lines.
func (c *collector) lines() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b []byte
	for i := range c.alerts {
		b = append(c.alerts[i].AppendJSON(b), '\n')
	}
	return b
}

// metaValue returns the first value of a metadata key of an alert.
func metaValue(a event.Event, key string) string {
	for _, m := range a.Alert.Metadata {
		if m.Key == key && len(m.Values) > 0 {
			return m.Values[0]
		}
	}
	return ""
}

func metaValues(a event.Event, key string) []string {
	for _, m := range a.Alert.Metadata {
		if m.Key == key {
			return m.Values
		}
	}
	return nil
}

// newTestEngine builds an engine with cfg (defaults when zero) and a
// collector.
func newTestEngine(t testing.TB, mutate func(*Config)) (*Engine, *collector, *metrics.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	col := &collector{}
	reg := metrics.New()
	e, err := New(cfg, col, reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e, col, reg
}

var (
	task     = netip.MustParseAddr("10.0.193.10")
	resolver = netip.MustParseAddr("10.0.0.2")
)

func dnsQuery(ts time.Time, name, rrtype string) event.Event {
	return event.Event{Timestamp: event.At(ts), FlowID: 77, EventType: event.TypeDNS, SrcIP: task, SrcPort: 40000, DestIP: resolver, DestPort: 53,
		Proto: "UDP", IPVersion: 4, DNS: &event.DNS{Version: 3, Type: "request", Queries: []event.DNSQuery{{RRName: name, RRType: rrtype}}}}
}

func dnsAnswer(ts time.Time, name, rrtype, rdata string) event.Event {
	return event.Event{Timestamp: event.At(ts), FlowID: 78, EventType: event.TypeDNS, SrcIP: resolver, SrcPort: 53, DestIP: task, DestPort: 40001,
		Proto: "UDP", IPVersion: 4, DNS: &event.DNS{Version: 3, Type: "response", Rcode: "NOERROR", QR: true,
			Queries: []event.DNSQuery{{RRName: name, RRType: rrtype}}, Answers: []event.DNSAnswer{{RRName: name, RRType: rrtype, TTL: 60, RData: rdata}}}}
}

func tlsEvent(ts time.Time, dst netip.Addr, sni, ja3, ja4 string) event.Event {
	ev := event.Event{Timestamp: event.At(ts), FlowID: 79, EventType: event.TypeTLS, SrcIP: task, SrcPort: 40002, DestIP: dst, DestPort: 443,
		Proto: "TCP", IPVersion: 4, TLS: &event.TLS{SNI: sni, Version: "TLS 1.3", JA4: ja4}}
	if ja3 != "" {
		ev.TLS.JA3 = &event.TLSHash{Hash: ja3, String: "771,4865,0,29,0"}
	}
	return ev
}

func httpEvent(ts time.Time, src, dst netip.Addr, method, host, url, ua string, status int) event.Event {
	return event.Event{Timestamp: event.At(ts), FlowID: 80, EventType: event.TypeHTTP, SrcIP: src, SrcPort: 40003, DestIP: dst, DestPort: 80,
		Proto: "TCP", IPVersion: 4, HTTP: &event.HTTP{Hostname: host, URL: url, HTTPMethod: method, HTTPUserAgent: ua, Protocol: "HTTP/1.1", Status: status}}
}

func logEvent(ts time.Time, container, msg string) event.Event {
	return event.Event{Timestamp: event.At(ts), EventType: event.TypeLog, Log: &event.Log{Message: msg, Format: "rfc3164", Transport: "tcp"},
		ECS: event.ECS{Container: event.Container{Name: container}}}
}

// tcpPkt builds a TCP packet of a flow from client to server.
type flowSim struct {
	id             uint64
	client, server netip.Addr
	cport, sport   uint16
	proto          uint8
	toServer       uint64
	toClient       uint64
}

func newFlow(id uint64, client, server string, cport, sport uint16, proto uint8) *flowSim {
	return &flowSim{id: id, client: netip.MustParseAddr(client), server: netip.MustParseAddr(server), cport: cport, sport: sport, proto: proto}
}

// send returns the next packet of the flow in one direction.
func (f *flowSim) send(ts time.Time, toServer bool, flags uint8, payload string) *packet {
	p := &packet{ts: ts.UnixNano(), flowID: f.id, iface: "eth1", client: f.client, server: f.server, cport: f.cport, sport: f.sport,
		proto: f.proto, toServer: toServer, tcpFlags: flags, payload: []byte(payload)}
	p.first = f.toServer+f.toClient == 0
	if toServer {
		f.toServer++
		p.dirPackets = f.toServer
	} else {
		f.toClient++
		p.dirPackets = f.toClient
		p.firstReply = f.toClient == 1
	}
	return p
}

// checkNoSecret fails if any alert line contains s.
func checkNoSecret(t *testing.T, lines []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && bytes.Contains(lines, []byte(s)) {
			t.Errorf("alert copies the secret %q:\n%s", s, lines)
		}
	}
}

func sameSIDs(got, want []int) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func joinLines(evs []event.Event) string {
	var b strings.Builder
	for i := range evs {
		b.Write(evs[i].AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.String()
}

func netip4(s string) netip.Addr { return netip.MustParseAddr(s) }
