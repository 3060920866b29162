package flow

import (
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// step is one input of a table scenario: a segment at an offset from t0,
// or (flush set) a Flush at that offset. Expire runs at every whole second
// in between, as a packet source does.
type step struct {
	at    time.Duration
	seg   seg
	flush bool
}

func at(d time.Duration, s seg) step { return step{at: d, seg: s} }

// runSteps drives a table through steps and returns the events.
func runSteps(t *testing.T, cfg Config, steps []step) ([]summary, *Table, *metrics.Registry) {
	t.Helper()
	rec := &recorder{}
	reg := metrics.New()
	tab := NewTable(cfg, rec, reg)
	next := t0.Add(time.Second)
	for _, s := range steps {
		ts := t0.Add(s.at)
		for ; !ts.Before(next); next = next.Add(time.Second) {
			tab.Expire(next)
		}
		if s.flush {
			tab.Flush(ts, ReasonShutdown)
			continue
		}
		b := ethFrame(t, s.seg)
		tab.Packet(ts, "eth1", LinkTypeEthernet, b, len(b))
	}
	return summaries(rec.events), tab, reg
}

const (
	cli  = "10.0.0.1"
	srv  = "10.0.0.2"
	cli6 = "fd00::1"
	srv6 = "fd00::2"
)

func udp(src, dst string, sport, dport uint16) seg {
	return seg{src: src, dst: dst, sport: sport, dport: dport, proto: protoUDP, payload: 20}
}

func tcpSeg(src, dst string, sport, dport uint16, flags uint8, seq, ack uint32) seg {
	return seg{src: src, dst: dst, sport: sport, dport: dport, proto: protoTCP, flags: flags, seq: seq, ack: ack}
}

// Frame sizes of the helpers: UDP with 20 bytes of payload is 62 bytes over
// IPv4, 82 over IPv6; bare TCP is padded to 60 (IPv4) or 74 (IPv6); ICMP
// and ICMPv6 without payload are padded to 60.
func TestTableScenarios(t *testing.T) {
	def := DefaultConfig()
	small := DefaultConfig()
	small.MaxFlows = 2
	session := tcpSession(cli, srv, 40000, 80)
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  []summary
	}{{
		name: "udp_exchange_times_out",
		cfg:  def,
		steps: []step{
			at(0, udp(cli, srv, 5000, 53)),
			at(time.Second, udp(srv, cli, 53, 5000)),
			at(61*time.Second, udp(cli, srv, 5000, 54)), // another flow keeps the clock going
		},
		want: []summary{{Src: "10.0.0.1:5000", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 1, PktsTC: 1, BytesTS: 62, BytesTC: 62, State: "established", Reason: "timeout"}},
	}, {
		name: "udp_not_before_timeout",
		cfg:  def,
		steps: []step{
			at(0, udp(cli, srv, 5000, 53)),
			at(59*time.Second, udp(cli, srv, 5000, 54)),
		},
	}, {
		name: "udp_one_way_is_new",
		cfg:  def,
		steps: []step{
			at(0, udp(cli, srv, 5000, 53)),
			at(time.Second, udp(cli, srv, 5000, 53)),
			{at: 2 * time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:5000", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 2, BytesTS: 124, State: "new", Reason: "shutdown"}},
	}, {
		name: "icmp_echo_pairs_request_and_reply",
		cfg:  def,
		steps: []step{
			at(0, seg{src: cli, dst: srv, proto: protoICMP, icmpType: 8}),
			at(time.Millisecond, seg{src: srv, dst: cli, proto: protoICMP, icmpType: 0}),
			at(31*time.Second, udp(cli, srv, 1, 2)),
		},
		want: []summary{{Src: "10.0.0.1:0", Dst: "10.0.0.2:0", Proto: "ICMP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "established", Reason: "timeout"}},
	}, {
		name: "icmpv6_echo_and_one_way_error",
		cfg:  def,
		steps: []step{
			at(0, seg{src: cli6, dst: srv6, proto: protoICMPv6, icmpType: 128}),
			at(time.Millisecond, seg{src: srv6, dst: cli6, proto: protoICMPv6, icmpType: 129}),
			at(2*time.Millisecond, seg{src: srv6, dst: cli6, proto: protoICMPv6, icmpType: 1, icmpCode: 4}),
			{at: time.Second, flush: true},
		},
		want: []summary{
			{Src: "[fd00::1]:0", Dst: "[fd00::2]:0", Proto: "IPv6-ICMP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "established", Reason: "shutdown"},
			{Src: "[fd00::2]:0", Dst: "[fd00::1]:0", Proto: "IPv6-ICMP", PktsTS: 1, BytesTS: 60, State: "new", Reason: "shutdown"},
		},
	}, {
		name: "tcp_syn_ack_first_makes_its_receiver_the_client",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(srv, cli, 80, 40000, tcpSYN|tcpACK, 5000, 1001)),
			at(time.Millisecond, tcpSeg(cli, srv, 40000, 80, tcpACK, 1001, 5001)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "established", Reason: "shutdown", TCPState: "established", FlagsTS: tcpACK, FlagsTC: tcpSYN | tcpACK}},
	}, {
		name: "tcp_midstream_both_sides",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(cli, srv, 40000, 443, tcpACK|tcpPSH, 1, 1)),
			at(time.Millisecond, tcpSeg(srv, cli, 443, 40000, tcpACK, 1, 2)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:443", Proto: "TCP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "established", Reason: "shutdown", TCPState: "established", FlagsTS: tcpACK | tcpPSH, FlagsTC: tcpACK}},
	}, {
		name: "tcp_midstream_server_first_by_port",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(srv, cli, 443, 40000, tcpACK|tcpPSH, 1, 1)),
			at(time.Millisecond, tcpSeg(cli, srv, 40000, 443, tcpACK, 1, 2)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:443", Proto: "TCP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "established", Reason: "shutdown", TCPState: "established", FlagsTS: tcpACK, FlagsTC: tcpACK | tcpPSH}},
	}, {
		name: "udp_reply_first_by_port",
		cfg:  def,
		steps: []step{
			at(0, udp(srv, cli, 53, 5000)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:5000", Dst: "10.0.0.2:53", Proto: "UDP", PktsTC: 1, BytesTC: 62, State: "new", Reason: "shutdown"}},
	}, {
		name: "udp_between_high_ports_keeps_first_sender",
		cfg:  def,
		steps: []step{
			at(0, udp(srv, cli, 8080, 5000)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.2:8080", Dst: "10.0.0.1:5000", Proto: "UDP", PktsTS: 1, BytesTS: 62, State: "new", Reason: "shutdown"}},
	}, {
		name: "tcp_missed_syn_ack_still_establishes",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(cli, srv, 40000, 80, tcpSYN, 100, 0)),
			at(time.Millisecond, tcpSeg(cli, srv, 40000, 80, tcpACK, 101, 501)),
			at(2*time.Millisecond, tcpSeg(srv, cli, 80, 40000, tcpACK|tcpPSH, 501, 101)),
			at(3*time.Millisecond, tcpSeg(cli, srv, 40000, 80, tcpACK, 101, 601)),
			{at: time.Second, flush: true},
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 3, PktsTC: 1, BytesTS: 180, BytesTC: 60, State: "established", Reason: "shutdown", TCPState: "established", FlagsTS: tcpSYN | tcpACK, FlagsTC: tcpACK | tcpPSH}},
	}, {
		name: "tcp_refused_closes_after_closed_timeout",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(cli, srv, 40000, 9, tcpSYN, 1000, 0)),
			at(time.Millisecond, tcpSeg(srv, cli, 9, 40000, tcpRST|tcpACK, 0, 1001)),
			at(31*time.Second, udp(cli, srv, 1, 2)),
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:9", Proto: "TCP", PktsTS: 1, PktsTC: 1, BytesTS: 60, BytesTC: 60, State: "closed", Reason: "timeout", TCPState: "closed", FlagsTS: tcpSYN, FlagsTC: tcpRST | tcpACK}},
	}, {
		name: "tcp_lone_syn_times_out_as_new",
		cfg:  def,
		steps: []step{
			at(0, tcpSeg(cli, srv, 40000, 22, tcpSYN, 1000, 0)),
			at(59*time.Second, udp(cli, srv, 1, 2)),
			at(61*time.Second, udp(cli, srv, 1, 3)),
		},
		want: []summary{{Src: "10.0.0.1:40000", Dst: "10.0.0.2:22", Proto: "TCP", PktsTS: 1, BytesTS: 60, State: "new", Reason: "timeout", TCPState: "syn_sent", FlagsTS: tcpSYN}},
	}, {
		name: "tcp_established_survives_an_idle_half_hour",
		cfg:  def,
		steps: []step{
			at(0, session[0]), at(time.Millisecond, session[1]), at(2*time.Millisecond, session[2]),
			at(30*time.Minute, udp(cli, srv, 1, 2)),
			at(30*time.Minute+time.Second, session[3]),
			{at: 30*time.Minute + 2*time.Second, flush: true},
		},
		want: []summary{
			// One flow_update at 5:00; none after while the flow is
			// silent, and a final one for its last packet.
			{Update: true, Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 2, PktsTC: 1, BytesTS: 120, BytesTC: 60, State: "established"},
			{Src: "10.0.0.1:1", Dst: "10.0.0.2:2", Proto: "UDP", PktsTS: 1, BytesTS: 62, State: "new", Reason: "shutdown"},
			{Update: true, Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 1, BytesTS: 154, State: "established", Reason: "final"},
			{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 3, PktsTC: 1, BytesTS: 60 + 60 + 154, BytesTC: 60, State: "established", Reason: "shutdown", TCPState: "established", FlagsTS: tcpSYN | tcpACK | tcpPSH, FlagsTC: tcpSYN | tcpACK},
		},
	}, {
		name: "tcp_reuse_of_a_closed_tuple",
		cfg:  def,
		steps: append(stepsOf(session, 0), []step{
			at(2*time.Second, tcpSeg(cli, srv, 40000, 80, tcpSYN, 9000, 0)),
			{at: 3 * time.Second, flush: true},
		}...),
		want: []summary{
			{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 5, PktsTC: 3, BytesTS: 4*60 + 154, BytesTC: 2*60 + 154, State: "closed", Reason: "tcp_reuse", TCPState: "closed", FlagsTS: tcpSYN | tcpACK | tcpPSH | tcpFIN, FlagsTC: tcpSYN | tcpACK | tcpPSH | tcpFIN},
			{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 1, BytesTS: 60, State: "new", Reason: "shutdown", TCPState: "syn_sent", FlagsTS: tcpSYN},
		},
	}, {
		name: "full_table_evicts_least_recently_seen",
		cfg:  small,
		steps: []step{
			at(0, udp(cli, srv, 1, 53)),
			at(time.Millisecond, udp(cli, srv, 2, 53)),
			// Seen again a second later: a flow's place in its idle list
			// moves at most once a second (Table.touch).
			at(time.Second+2*time.Millisecond, udp(cli, srv, 1, 53)),
			at(time.Second+3*time.Millisecond, udp(cli, srv, 3, 53)),
			{at: 2 * time.Second, flush: true},
		},
		want: []summary{
			{Src: "10.0.0.1:2", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 1, BytesTS: 62, State: "new", Reason: "forced"},
			{Src: "10.0.0.1:1", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 2, BytesTS: 124, State: "new", Reason: "shutdown"},
			{Src: "10.0.0.1:3", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 1, BytesTS: 62, State: "new", Reason: "shutdown"},
		},
	}, {
		name:  "ipv6_tcp_session",
		cfg:   def,
		steps: append(stepsOf(tcpSession(cli6, srv6, 40000, 443), 0), step{at: time.Second, flush: true}),
		want:  []summary{{Src: "[fd00::1]:40000", Dst: "[fd00::2]:443", Proto: "TCP", PktsTS: 5, PktsTC: 3, BytesTS: 4*74 + 174, BytesTC: 2*74 + 174, State: "closed", Reason: "shutdown", TCPState: "closed", FlagsTS: tcpSYN | tcpACK | tcpPSH | tcpFIN, FlagsTC: tcpSYN | tcpACK | tcpPSH | tcpFIN}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := runSteps(t, tt.cfg, tt.steps)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("flow events (-want +got):\n%s", diff)
			}
		})
	}
}

// stepsOf spaces segs 1 ms apart from start.
func stepsOf(segs []seg, start time.Duration) []step {
	var out []step
	for i, s := range segs {
		out = append(out, at(start+time.Duration(i)*time.Millisecond, s))
	}
	return out
}

func TestTableTCPCloseStates(t *testing.T) {
	const c, s = cli, srv
	syn := []seg{
		tcpSeg(c, s, 40000, 80, tcpSYN, 100, 0),
		tcpSeg(s, c, 80, 40000, tcpSYN|tcpACK, 500, 101),
		tcpSeg(c, s, 40000, 80, tcpACK, 101, 501),
	}
	tests := []struct {
		name  string
		close []seg
		want  string
	}{
		{"client_fin", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501)}, "fin_wait1"},
		{"client_fin_acked", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501), tcpSeg(s, c, 80, 40000, tcpACK, 501, 102)}, "fin_wait2"},
		{"client_fin_ack_not_covering_it", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501), tcpSeg(s, c, 80, 40000, tcpACK, 501, 101)}, "fin_wait1"},
		{"simultaneous_close", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501), tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 101)}, "closing"},
		{"server_fin_acking_client_fin", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501), tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 102)}, "time_wait"},
		{"full_close_from_client", []seg{tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 501), tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 102), tcpSeg(c, s, 40000, 80, tcpACK, 102, 502)}, "closed"},
		{"server_fin", []seg{tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 101)}, "close_wait"},
		{"server_fin_then_client_fin", []seg{tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 101), tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 502)}, "last_ack"},
		{"full_close_from_server", []seg{tcpSeg(s, c, 80, 40000, tcpFIN|tcpACK, 501, 101), tcpSeg(c, s, 40000, 80, tcpFIN|tcpACK, 101, 502), tcpSeg(s, c, 80, 40000, tcpACK, 502, 102)}, "closed"},
		{"reset_by_client", []seg{tcpSeg(c, s, 40000, 80, tcpRST, 101, 0)}, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := stepsOf(append(append([]seg{}, syn...), tt.close...), 0)
			steps = append(steps, step{at: time.Second, flush: true})
			got, _, _ := runSteps(t, DefaultConfig(), steps)
			if len(got) != 1 || got[0].TCPState != tt.want {
				t.Errorf("tcp.state = %+v, want one flow in %s", got, tt.want)
			}
		})
	}
}

func TestTableActiveTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ActiveTimeout = 5 * time.Minute
	var steps []step
	for i := range 24 { // every 30 s, within the UDP timeout
		steps = append(steps, at(time.Duration(i)*30*time.Second, udp(cli, srv, 5000, 514)))
	}
	steps = append(steps, step{at: 12 * time.Minute, flush: true})
	got, _, reg := runSteps(t, cfg, steps)
	want := []summary{
		// Expire at 5:00 runs before the packet of 5:00. The updates
		// add up to the flow record.
		{Update: true, Src: "10.0.0.1:5000", Dst: "10.0.0.2:514", Proto: "UDP", PktsTS: 10, BytesTS: 10 * 62, State: "new"},
		{Update: true, Src: "10.0.0.1:5000", Dst: "10.0.0.2:514", Proto: "UDP", PktsTS: 10, BytesTS: 10 * 62, State: "new"},
		{Update: true, Src: "10.0.0.1:5000", Dst: "10.0.0.2:514", Proto: "UDP", PktsTS: 4, BytesTS: 4 * 62, State: "new", Reason: "final"},
		{Src: "10.0.0.1:5000", Dst: "10.0.0.2:514", Proto: "UDP", PktsTS: 24, BytesTS: 24 * 62, State: "new", Reason: "shutdown"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flow events (-want +got):\n%s", diff)
	}
	if n := reg.Stats()["flow"].(map[string]any)["updates_total"]; n != uint64(3) {
		t.Errorf("updates_total = %v, want 3", n)
	}

	cfg.ActiveTimeout = 0
	got, _, _ = runSteps(t, cfg, steps)
	if len(got) != 1 || got[0].Reason != "shutdown" {
		t.Errorf("with --flow-active-timeout 0: events %+v, want only the final one", got)
	}
}

func TestTableFlowIDStable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ActiveTimeout = time.Minute
	rec := &recorder{}
	tab := NewTable(cfg, rec, nil)
	feed(t, tab, t0, tcpSession(cli, srv, 40000, 80)[:3])
	tab.Expire(t0.Add(time.Minute))
	feed(t, tab, t0.Add(61*time.Second), tcpSession(cli, srv, 40001, 80)[:1])
	tab.Flush(t0.Add(2*time.Minute), ReasonShutdown)
	if len(rec.events) != 3 {
		t.Fatalf("%d events, want 3 (flow_update, flow, other flow)", len(rec.events))
	}
	ids := []uint64{rec.events[0].FlowID, rec.events[1].FlowID, rec.events[2].FlowID}
	if ids[0] != ids[1] || ids[0] == ids[2] || ids[0] == 0 || ids[0] >= 1<<53 {
		t.Errorf("flow ids %v: want the flow_update and flow records of one flow equal, another flow's different, all in (0, 2^53)", ids)
	}
}

// TestTableFINAckedWhenSnapped checks that a FIN whose data a snap length
// cut off is still known to be acknowledged, from the IP length.
func TestTableFINAckedWhenSnapped(t *testing.T) {
	for _, c := range []struct{ name, cli, srv string }{{"ipv4", cli, srv}, {"ipv6", cli6, srv6}} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			tab := NewTable(DefaultConfig(), rec, nil)
			feed(t, tab, t0, []seg{
				tcpSeg(c.cli, c.srv, 40000, 80, tcpSYN, 100, 0),
				tcpSeg(c.srv, c.cli, 80, 40000, tcpSYN|tcpACK, 500, 101),
				tcpSeg(c.cli, c.srv, 40000, 80, tcpACK, 101, 501),
			})
			fin := tcpSeg(c.cli, c.srv, 40000, 80, tcpFIN|tcpACK|tcpPSH, 101, 501)
			fin.payload = 1000
			b := ethFrame(t, fin)
			tab.Packet(t0.Add(time.Second), "eth1", LinkTypeEthernet, b[:len(b)-900], len(b))
			// An ACK of part of the data does not acknowledge the FIN; the
			// captured 100 bytes must not make it look so.
			partial := ethFrame(t, tcpSeg(c.srv, c.cli, 80, 40000, tcpACK, 501, 101+500))
			tab.Packet(t0.Add(2*time.Second), "eth1", LinkTypeEthernet, partial, len(partial))
			if got := tab.entry(tab.idle[classTCPEstablished].head).tcp; got != tcpFinWait1 {
				t.Errorf("after a partial ACK: tcp.state %s, want fin_wait1", got)
			}
			ack := ethFrame(t, tcpSeg(c.srv, c.cli, 80, 40000, tcpACK, 501, 101+1000+1))
			tab.Packet(t0.Add(3*time.Second), "eth1", LinkTypeEthernet, ack, len(ack))
			tab.Flush(t0.Add(4*time.Second), ReasonShutdown)
			if len(rec.events) != 1 || rec.events[0].TCP.State != "fin_wait2" {
				t.Errorf("events %+v, want one flow in fin_wait2", summaries(rec.events))
			}
		})
	}
}

// TestFlowUpdateTotals checks a long flow's events: flow_update deltas add
// up to the flow record, each update's total is the sum so far, since
// follows the previous update, and only the last update is final.
func TestFlowUpdateTotals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ActiveTimeout = time.Minute
	rec := &recorder{}
	tab := NewTable(cfg, rec, nil)
	ts := t0
	for i := range 10 { // a datagram each way every 25 s, for 4 minutes
		ts = t0.Add(time.Duration(i) * 25 * time.Second)
		tab.Expire(ts)
		for _, s := range []seg{udp(cli, srv, 5000, 514), udp(srv, cli, 514, 5000)} {
			b := ethFrame(t, s)
			tab.Packet(ts, "eth1", LinkTypeEthernet, b, len(b)+i)
		}
	}
	tab.Flush(ts.Add(time.Second), ReasonShutdown)
	var sum event.FlowCounter
	var updates []*event.FlowUpdate
	var flows []*event.Flow
	for _, ev := range rec.events {
		if u := ev.FlowUpdate; u != nil {
			sum.PktsToServer += u.PktsToServer
			sum.PktsToClient += u.PktsToClient
			sum.BytesToServer += u.BytesToServer
			sum.BytesToClient += u.BytesToClient
			if u.Total != sum {
				t.Errorf("update %d: total %+v, want the sum of the deltas so far %+v", len(updates), u.Total, sum)
			}
			if n := len(updates); n > 0 && !u.Since.After(updates[n-1].Since.Time) {
				t.Errorf("update %d: since %v, want after the previous one's %v", n, u.Since.Time, updates[n-1].Since.Time)
			}
			updates = append(updates, u)
		}
		if ev.Flow != nil {
			flows = append(flows, ev.Flow)
		}
	}
	if len(updates) != 4 || len(flows) != 1 {
		t.Fatalf("got %d flow_update and %d flow events, want 4 (at 1, 2 and 3 minutes, and a final one) and 1", len(updates), len(flows))
	}
	f := flows[0]
	if want := (event.FlowCounter{PktsToServer: f.PktsToServer, PktsToClient: f.PktsToClient, BytesToServer: f.BytesToServer, BytesToClient: f.BytesToClient}); sum != want {
		t.Errorf("deltas add up to %+v, want the flow record's %+v", sum, want)
	}
	for i, u := range updates {
		if u.Final != (i == len(updates)-1) {
			t.Errorf("update %d: final %v, want only the last one final", i, u.Final)
		}
		if !u.Start.Equal(f.Start.Time) {
			t.Errorf("update %d: start %v, want the flow's %v", i, u.Start.Time, f.Start.Time)
		}
	}
}

// TestExpireWithinTheQueuedSecond checks that flows end exactly when their
// timeout has passed since their last packet, although a flow's place in
// its idle list moves at most once a second: a flow seen again within its
// queued second stays ahead of one queued after it, and is passed over
// while not due.
func TestExpireWithinTheQueuedSecond(t *testing.T) {
	cfg := DefaultConfig()
	rec := &recorder{}
	tab := NewTable(cfg, rec, nil)
	send := func(d time.Duration, sport uint16) {
		b := ethFrame(t, udp(cli, srv, sport, 53))
		tab.Packet(t0.Add(d), "eth1", LinkTypeEthernet, b, len(b))
	}
	send(0, 1)                    // A, queued at 0
	send(500*time.Millisecond, 2) // B, queued at 0.5 s: behind A
	send(900*time.Millisecond, 1) // A again: stays ahead of B
	checkInvariants(t, tab)
	if d, ok := tab.NextDeadline(); !ok || !d.Equal(t0.Add(500*time.Millisecond+cfg.UDPTimeout)) {
		t.Fatalf("NextDeadline() = %v, %v, want B's last packet + %v", d.Sub(t0), ok, cfg.UDPTimeout)
	}
	tests := []struct {
		at   time.Duration
		want []string
	}{
		{cfg.UDPTimeout + 499*time.Millisecond, nil},
		{cfg.UDPTimeout + 500*time.Millisecond, []string{"10.0.0.1:2"}},
		{cfg.UDPTimeout + 899*time.Millisecond, []string{"10.0.0.1:2"}},
		{cfg.UDPTimeout + 900*time.Millisecond, []string{"10.0.0.1:2", "10.0.0.1:1"}},
	}
	for _, tt := range tests {
		tab.Expire(t0.Add(tt.at))
		checkInvariants(t, tab)
		var got []string
		for _, s := range summaries(rec.events) {
			got = append(got, s.Src)
		}
		if !cmp.Equal(got, tt.want) {
			t.Fatalf("after Expire at %v: ended %v, want %v", tt.at, got, tt.want)
		}
	}
}

// TestEntryHotFields pins the layout that keeps a packet's work to two
// cache lines of its entry: every field the packet path reads or writes
// lies in the first 128 bytes, and entries are 256 bytes apart, so a
// chunk (page-aligned) never splits those two lines.
func TestEntryHotFields(t *testing.T) {
	var e Entry
	if got := unsafe.Sizeof(e); got != 256 {
		t.Errorf("Entry is %d bytes, want 256", got)
	}
	hot := []struct {
		name      string
		off, size uintptr
	}{
		{"key", unsafe.Offsetof(e.key), unsafe.Sizeof(e.key)},
		{"class", unsafe.Offsetof(e.class), 1},
		{"tcp", unsafe.Offsetof(e.tcp), unsafe.Sizeof(e.tcp)},
		{"seen", unsafe.Offsetof(e.seen), unsafe.Sizeof(e.seen)},
		{"flags", unsafe.Offsetof(e.flags), unsafe.Sizeof(e.flags)},
		{"AppState", unsafe.Offsetof(e.AppState), unsafe.Sizeof(e.AppState)},
		{"links", unsafe.Offsetof(e.links), unsafe.Sizeof(e.links)},
		{"last", unsafe.Offsetof(e.last), unsafe.Sizeof(e.last)},
		{"queued", unsafe.Offsetof(e.queued), unsafe.Sizeof(e.queued)},
		{"pkts", unsafe.Offsetof(e.pkts), unsafe.Sizeof(e.pkts)},
		{"bytes", unsafe.Offsetof(e.bytes), unsafe.Sizeof(e.bytes)},
		{"finSeq", unsafe.Offsetof(e.finSeq), unsafe.Sizeof(e.finSeq)},
	}
	for _, f := range hot {
		if f.off+f.size > 128 {
			t.Errorf("%s ends at byte %d, want within the first 128", f.name, f.off+f.size)
		}
	}
}
