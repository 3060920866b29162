package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// summary is the part of a flow or flow_update event the tests compare.
type summary struct {
	Update           bool // a flow_update event
	Src, Dst         string
	Proto            string
	PktsTS, PktsTC   uint64
	BytesTS, BytesTC uint64
	State, Reason    string
	TCPState         string
	FlagsTS, FlagsTC event.HexByte
}

func summarize(ev event.Event) summary {
	s := summary{
		Src:   netip.AddrPortFrom(ev.SrcIP, ev.SrcPort).String(),
		Dst:   netip.AddrPortFrom(ev.DestIP, ev.DestPort).String(),
		Proto: ev.Proto,
	}
	if u := ev.FlowUpdate; u != nil {
		s.Update = true
		s.PktsTS, s.PktsTC, s.BytesTS, s.BytesTC, s.State = u.PktsToServer, u.PktsToClient, u.BytesToServer, u.BytesToClient, u.State
		if u.Final {
			s.Reason = "final"
		}
		return s
	}
	s.PktsTS, s.PktsTC, s.BytesTS, s.BytesTC = ev.Flow.PktsToServer, ev.Flow.PktsToClient, ev.Flow.BytesToServer, ev.Flow.BytesToClient
	s.State, s.Reason = ev.Flow.State, ev.Flow.Reason
	if ev.TCP != nil {
		s.TCPState, s.FlagsTS, s.FlagsTC = ev.TCP.State, ev.TCP.TCPFlagsTS, ev.TCP.TCPFlagsTC
	}
	return s
}

func summaries(evs []event.Event) []summary {
	var out []summary
	for _, ev := range evs {
		out = append(out, summarize(ev))
	}
	return out
}

func TestTableTCPSession(t *testing.T) {
	rec := &recorder{}
	reg := metrics.New()
	tab := NewTable(DefaultConfig(), rec, reg)
	last := feed(t, tab, t0, tcpSession("10.0.0.1", "10.0.0.2", 40000, 80))
	if len(rec.events) != 0 {
		t.Fatalf("events before expiry: %v", summaries(rec.events))
	}
	tab.Expire(last.Add(29 * time.Second))
	if len(rec.events) != 0 {
		t.Fatalf("events before the closed timeout: %v", summaries(rec.events))
	}
	tab.Expire(last.Add(30 * time.Second))
	// Frames: 14 + 20 + 20 bytes plus payload, padded to Ethernet's 60.
	want := []summary{{
		Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP",
		PktsTS: 5, PktsTC: 3, BytesTS: 4*60 + 154, BytesTC: 2*60 + 154,
		State: "closed", Reason: "timeout", TCPState: "closed",
		FlagsTS: tcpSYN | tcpACK | tcpPSH | tcpFIN, FlagsTC: tcpSYN | tcpACK | tcpPSH | tcpFIN,
	}}
	if diff := cmp.Diff(want, summaries(rec.events)); diff != "" {
		t.Errorf("flow events (-want +got):\n%s", diff)
	}
	if tab.Len() != 0 {
		t.Errorf("Len() = %d after expiry, want 0", tab.Len())
	}
	ev := rec.events[0]
	if got, want := ev.CommunityID, CommunityID(0, protoTCP, ev.SrcIP, ev.DestIP, 40000, 80); got != want {
		t.Errorf("community_id = %s, want %s", got, want)
	}
	if ev.FlowID == 0 || ev.InIface != "eth1" || ev.IPVersion != 4 {
		t.Errorf("flow_id = %d, in_iface = %q, ip_v = %d; want nonzero, eth1, 4", ev.FlowID, ev.InIface, ev.IPVersion)
	}
	if got, want := ev.Flow.Start.Time, t0; !got.Equal(want) {
		t.Errorf("flow.start = %v, want %v", got, want)
	}
	if got, want := ev.Flow.End.Time, last; !got.Equal(want) {
		t.Errorf("flow.end = %v, want %v", got, want)
	}
}

func TestTableFlushShutdown(t *testing.T) {
	rec := &recorder{}
	tab := NewTable(DefaultConfig(), rec, nil)
	last := feed(t, tab, t0, tcpSession("10.0.0.1", "10.0.0.2", 40000, 80)[:4])
	tab.Flush(last, ReasonShutdown)
	want := []summary{{
		Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP",
		PktsTS: 3, PktsTC: 1, BytesTS: 2*60 + 154, BytesTC: 60,
		State: "established", Reason: "shutdown", TCPState: "established",
		FlagsTS: tcpSYN | tcpACK | tcpPSH, FlagsTC: tcpSYN | tcpACK,
	}}
	if diff := cmp.Diff(want, summaries(rec.events)); diff != "" {
		t.Errorf("flow events (-want +got):\n%s", diff)
	}
}
