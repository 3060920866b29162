package flow

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// testInspector records what the table shows it, keeps one state per flow
// through Entry.AppState (an index into its own slice, 0 meaning none, as
// an app-layer parser would) and, on Expire, names the flow's app_proto and
// marks it alerted.
type testInspector struct {
	name   string
	log    *[]string // shared with the emitter, to check the order of calls
	states []flowState
	// byID keys the states by flow_id instead of AppState, for a second
	// inspector (AppState is one slot).
	byID map[uint64]int
}

// state returns e's state, creating it on first sight.
func (in *testInspector) state(e *Entry) *flowState {
	if in.byID != nil {
		i, ok := in.byID[e.ID()]
		if !ok {
			in.states = append(in.states, flowState{id: e.ID()})
			i = len(in.states) - 1
			in.byID[e.ID()] = i
		}
		return &in.states[i]
	}
	if e.AppState == 0 {
		in.states = append(in.states, flowState{id: e.ID()})
		e.AppState = uint32(len(in.states))
	}
	return &in.states[e.AppState-1]
}

type flowState struct {
	id       uint64
	packets  []string
	expired  int
	toServer int // payload bytes seen each way
	toClient int
}

func (in *testInspector) Inspect(e *Entry, p *Packet) {
	st := in.state(e)
	if st.id != e.ID() {
		panic(fmt.Sprintf("AppState %d of flow %d holds flow %d", e.AppState, e.ID(), st.id))
	}
	st.packets = append(st.packets, fmt.Sprintf("%s flags=%02x seq=%d ack=%d payload=%d/%d iface=%s", p.Direction, p.TCPFlags, p.Seq, p.Ack, len(p.Payload), p.PayloadLen, p.Iface))
	if p.Direction == ToServer {
		st.toServer += len(p.Payload)
	} else {
		st.toClient += len(p.Payload)
	}
	*in.log = append(*in.log, in.name+" inspect")
}

func (in *testInspector) Expire(e *Entry) {
	in.state(e).expired++
	e.AppProto, e.Alerted = in.name, true
	*in.log = append(*in.log, in.name+" expire")
}

// logEmitter records events and their order relative to the inspectors.
type logEmitter struct {
	log    *[]string
	events []event.Event
}

func (l *logEmitter) Offer(ev event.Event) bool {
	l.events = append(l.events, ev)
	*l.log = append(*l.log, "emit "+string(ev.EventType))
	return true
}

func TestInspectorSeesEveryTCPPacket(t *testing.T) {
	var log []string
	in := &testInspector{name: "http", log: &log}
	out := &logEmitter{log: &log}
	tab := NewTable(DefaultConfig(), out, nil, in)
	last := feed(t, tab, t0, tcpSession(cli, srv, 40000, 80))
	tab.Flush(last, ReasonShutdown)

	if len(in.states) != 1 {
		t.Fatalf("inspector saw %d flows, want 1", len(in.states))
	}
	st := in.states[0]
	want := []string{
		"to_server flags=02 seq=1000 ack=0 payload=0/0 iface=eth1",
		"to_client flags=12 seq=5000 ack=1001 payload=0/0 iface=eth1",
		"to_server flags=10 seq=1001 ack=5001 payload=0/0 iface=eth1",
		"to_server flags=18 seq=1001 ack=5001 payload=100/100 iface=eth1",
		"to_client flags=18 seq=5001 ack=1101 payload=100/100 iface=eth1",
		"to_server flags=11 seq=1101 ack=5101 payload=0/0 iface=eth1",
		"to_client flags=11 seq=5101 ack=1102 payload=0/0 iface=eth1",
		"to_server flags=10 seq=1102 ack=5102 payload=0/0 iface=eth1",
	}
	if diff := cmp.Diff(want, st.packets); diff != "" {
		t.Errorf("packets inspected (-want +got):\n%s", diff)
	}
	if st.expired != 1 {
		t.Errorf("Expire called %d times, want once", st.expired)
	}
	// Expire comes after the last packet and before the flow's event,
	// which carries what it set.
	if got := log[len(log)-2:]; !cmp.Equal(got, []string{"http expire", "emit flow"}) {
		t.Errorf("last calls %q, want expire then emit", got)
	}
	if len(out.events) != 1 {
		t.Fatalf("%d events, want 1", len(out.events))
	}
	ev := out.events[0]
	if ev.AppProto != "http" || !ev.Flow.Alerted {
		t.Errorf("app_proto %q alerted %v, want http and true from the inspector", ev.AppProto, ev.Flow.Alerted)
	}
}

func TestInspectorEntryView(t *testing.T) {
	var log []string
	var seen []string
	view := inspectFunc(func(e *Entry, p *Packet) {
		seen = append(seen, fmt.Sprint(e.Client(), " ", e.Server(), " ", e.IPVersion(), " ", e.Proto(), " ", e.Start().Equal(t0), " ", e.Iface(), " ", e.CommunityID()))
	})
	out := &logEmitter{log: &log}
	tab := NewTable(DefaultConfig(), out, nil, view)
	// The server's reply comes first: the client is still the receiver.
	feed(t, tab, t0, []seg{udp(srv6, cli6, 53, 5000), udp(cli6, srv6, 5000, 53)})
	tab.Flush(t0.Add(time.Second), ReasonShutdown)
	ev := out.events[0]
	wantLine := fmt.Sprint(netip.AddrPortFrom(ev.SrcIP, ev.SrcPort), " ", netip.AddrPortFrom(ev.DestIP, ev.DestPort), " 6 17 true eth1 ", ev.CommunityID)
	if diff := cmp.Diff([]string{wantLine, wantLine}, seen); diff != "" {
		t.Errorf("entry as inspected vs the flow event (-event +inspected):\n%s", diff)
	}
	if ev.SrcPort != 5000 || ev.CommunityID == "" || out.events[0].FlowID == 0 {
		t.Errorf("event %+v: want the client on port 5000, a Community ID and a flow_id", ev)
	}
}

// inspectFunc is an Inspector from a function; Expire does nothing.
type inspectFunc func(*Entry, *Packet)

func (f inspectFunc) Inspect(e *Entry, p *Packet) { f(e, p) }
func (inspectFunc) Expire(*Entry)                 {}

func TestInspectorPayload(t *testing.T) {
	var got [][2]int
	in := inspectFunc(func(e *Entry, p *Packet) { got = append(got, [2]int{len(p.Payload), p.PayloadLen}) })
	tab := NewTable(DefaultConfig(), &recorder{}, nil, in)
	data := tcpSeg(cli, srv, 40000, 443, tcpACK|tcpPSH, 1, 1)
	data.payload = 1000
	b := ethFrame(t, data)
	// A snap length of 200 bytes cuts the payload; the IP length does not.
	tab.Packet(t0, "eth1", LinkTypeEthernet, b[:200], len(b))
	u := udp(cli6, srv6, 5000, 53)
	ub := ethFrame(t, u)
	tab.Packet(t0, "eth1", LinkTypeEthernet, ub, len(ub))
	// Neither ICMP nor other protocols are shown.
	ib := ethFrame(t, seg{src: cli, dst: srv, proto: protoICMP, icmpType: 8, payload: 56})
	tab.Packet(t0, "eth1", LinkTypeEthernet, ib, len(ib))
	want := [][2]int{{200 - 14 - 20 - 20, 1000}, {20, 20}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload captured/declared (-want +got):\n%s", diff)
	}
}

func TestInspectorsInOrderAndExpiredOnEveryEnd(t *testing.T) {
	var log []string
	a := &testInspector{name: "a", log: &log}
	b := &testInspector{name: "b", log: &log, byID: map[uint64]int{}}
	cfg := DefaultConfig()
	cfg.MaxFlows = 2
	out := &logEmitter{log: &log}
	tab := NewTable(cfg, out, nil, a, b)
	session := tcpSession(cli, srv, 40000, 80)
	steps := []seg{
		udp(cli, srv, 1, 53),
		udp(cli, srv, 2, 53),
		udp(cli, srv, 3, 53), // evicts the first (forced)
	}
	feed(t, tab, t0, steps)
	if got := log[:2]; !cmp.Equal(got, []string{"a inspect", "b inspect"}) {
		t.Errorf("first calls %q, want a then b", got)
	}
	feed(t, tab, t0.Add(time.Second), session)
	// A SYN on the closed session's tuple ends it (tcp_reuse).
	feed(t, tab, t0.Add(2*time.Second), []seg{tcpSeg(cli, srv, 40000, 80, tcpSYN, 9000, 0)})
	tab.Expire(t0.Add(time.Hour)) // the rest time out
	var reasons []string
	for _, ev := range out.events {
		reasons = append(reasons, ev.Flow.Reason)
		if ev.AppProto != "b" || !ev.Flow.Alerted {
			t.Errorf("%s flow: app_proto %q, want b (the last inspector's word)", ev.Flow.Reason, ev.AppProto)
		}
	}
	for _, in := range []*testInspector{a, b} {
		for _, st := range in.states {
			if st.expired != 1 {
				t.Errorf("inspector %s: flow %d expired %d times, want once", in.name, st.id, st.expired)
			}
		}
	}
	if tab.Len() != 0 || len(out.events) != 5 {
		t.Errorf("%d open, events %q; want 0 open and 5 events", tab.Len(), reasons)
	}
}

// BenchmarkPacketInspector is BenchmarkPacket's mix with an inspector that
// does nothing: the hook's own cost (compare with BenchmarkPacket).
func BenchmarkPacketInspector(b *testing.B) {
	benchPacket(b, inspectFunc(func(*Entry, *Packet) {}))
}
