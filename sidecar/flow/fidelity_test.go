package flow

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// run feeds frames (ts offset, frame) to a fresh table, flushes it and
// returns the events and the registry.
type frameAt struct {
	at   time.Duration
	data []byte
	wire int // original length; 0: len(data)
}

func runFrames(t *testing.T, frames []frameAt) ([]event.Event, *Table, *metrics.Registry) {
	t.Helper()
	rec := &recorder{}
	reg := metrics.New()
	tab := NewTable(DefaultConfig(), rec, reg)
	last := t0
	for _, f := range frames {
		ts := t0.Add(f.at)
		wire := f.wire
		if wire == 0 {
			wire = len(f.data)
		}
		tab.Packet(ts, "eth1", LinkTypeEthernet, f.data, wire)
		last = ts
	}
	tab.Flush(last, ReasonShutdown)
	return rec.events, tab, reg
}

// quote is what an ICMP error carries of the packet it answers: its IP
// header and the first 8 bytes after it.
func quote(t *testing.T, s seg, v6 bool) []byte {
	b := ethFrame(t, s)[14:]
	if v6 {
		return append([]byte{0, 0, 0, 0}, b[:40+8]...) // ICMPv6: 4 unused bytes first
	}
	return b[:20+8]
}

func TestICMPEchoResponseType(t *testing.T) {
	evs, _, _ := runFrames(t, []frameAt{
		{at: 0, data: ethFrame(t, seg{src: cli, dst: srv, proto: protoICMP, icmpType: 8, payload: 56})},
		{at: time.Millisecond, data: ethFrame(t, seg{src: srv, dst: cli, proto: protoICMP, icmpType: 0, payload: 56})},
		{at: time.Second, data: ethFrame(t, seg{src: cli6, dst: srv6, proto: protoICMPv6, icmpType: 128, payload: 56})},
	})
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	v4, v6 := evs[0], evs[1]
	if v4.ResponseICMPType == nil || *v4.ResponseICMPType != 0 || *v4.ResponseICMPCode != 0 || *v4.ICMPType != 8 {
		t.Errorf("echo with a reply: icmp_type %v response_icmp_type %v, want 8 and 0", v4.ICMPType, v4.ResponseICMPType)
	}
	if v6.ResponseICMPType != nil || *v6.ICMPType != 128 {
		t.Errorf("echo without a reply: response_icmp_type %v, want none", v6.ResponseICMPType)
	}
}

func TestICMPErrorsJoinTheirFlow(t *testing.T) {
	probe := udp(cli, srv, 40000, 9)
	probe6 := udp(cli6, srv6, 40001, 9)
	unreach := seg{src: srv, dst: cli, proto: protoICMP, icmpType: 3, icmpCode: 3, data: quote(t, probe, false)}
	unreach6 := seg{src: srv6, dst: cli6, proto: protoICMPv6, icmpType: 1, icmpCode: 4, data: quote(t, probe6, true)}
	// A router's time exceeded about the client's packet also joins it.
	ttl := seg{src: "10.0.9.1", dst: cli, proto: protoICMP, icmpType: 11, data: quote(t, probe, false)}
	// An unreachable quoting a packet never seen is a flow of its own.
	stray := seg{src: srv, dst: cli, proto: protoICMP, icmpType: 3, icmpCode: 1, data: quote(t, udp(cli, srv, 50000, 53), false)}
	frames := []frameAt{
		{at: 0, data: ethFrame(t, probe)},
		{at: time.Millisecond, data: ethFrame(t, unreach)},
		{at: 2 * time.Millisecond, data: ethFrame(t, ttl)},
		{at: 3 * time.Millisecond, data: ethFrame(t, probe6)},
		{at: 4 * time.Millisecond, data: ethFrame(t, unreach6)},
		{at: 5 * time.Millisecond, data: ethFrame(t, stray)},
	}
	evs, tab, reg := runFrames(t, frames)
	var got []summary
	for _, ev := range evs {
		got = append(got, summarize(ev))
	}
	n := func(i int) uint64 { return uint64(len(frames[i].data)) }
	want := []summary{
		// The errors count toward the client, but do not make the flow
		// answered: it stays new, as in Suricata.
		{Src: "10.0.0.1:40000", Dst: "10.0.0.2:9", Proto: "UDP", PktsTS: 1, PktsTC: 2, BytesTS: n(0), BytesTC: n(1) + n(2), State: "new", Reason: "shutdown"},
		{Src: "[fd00::1]:40001", Dst: "[fd00::2]:9", Proto: "UDP", PktsTS: 1, PktsTC: 1, BytesTS: n(3), BytesTC: n(4), State: "new", Reason: "shutdown"},
		{Src: "10.0.0.2:0", Dst: "10.0.0.1:0", Proto: "ICMP", PktsTS: 1, BytesTS: n(5), State: "new", Reason: "shutdown"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	if st := flowStats(tab, reg); st["icmp_errors_attributed_total"] != uint64(3) {
		t.Errorf("icmp_errors_attributed_total = %v, want 3", st["icmp_errors_attributed_total"])
	}
}

func TestFragmentsJoinTheFlowOfTheirFirst(t *testing.T) {
	// A 3000-byte UDP datagram in three fragments (ids 7), and a lone
	// trailing fragment of another (id 8).
	first := ethFrame(t, seg{src: srv, dst: cli, sport: 53, dport: 5000, proto: protoUDP, payload: 1472})
	ip := first[14:]
	binary.BigEndian.PutUint16(ip[4:], 7)
	ip[6] = 0x20 // MF, offset 0
	rest := func(id uint16, off int, more bool) []byte {
		return setFrag(ethFrame(t, seg{src: srv, dst: cli, proto: protoUDP, payload: 1000}), id, off, more)
	}
	query := ethFrame(t, udp(cli, srv, 5000, 53))
	evs, tab, reg := runFrames(t, []frameAt{
		{at: 0, data: query},
		{at: time.Millisecond, data: first},
		{at: 2 * time.Millisecond, data: rest(7, 1480, true)},
		{at: 3 * time.Millisecond, data: rest(7, 2480, false)},
		{at: 4 * time.Millisecond, data: rest(8, 1480, false)},
	})
	if len(evs) != 1 {
		t.Fatalf("%d flows, want the DNS flow alone: %v", len(evs), summaries(evs))
	}
	got := summarize(evs[0])
	want := summary{Src: "10.0.0.1:5000", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 1, PktsTC: 3,
		BytesTS: uint64(len(query)), BytesTC: uint64(len(first) + 2*len(rest(7, 0, false))), State: "established", Reason: "shutdown"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flow (-want +got):\n%s", diff)
	}
	st := flowStats(tab, reg)
	if st["fragments_attributed_total"] != uint64(2) || st["packets_skipped_total"].(map[string]any)["fragment"] != uint64(1) {
		t.Errorf("stats %v: want 2 fragments attributed, 1 skipped", st)
	}
	eve := reg.EVEStats()["defrag"].(map[string]any)["ipv4"].(map[string]any)["fragments"]
	if eve != uint64(4) {
		t.Errorf("defrag.ipv4.fragments = %v, want 4", eve)
	}
}

func TestTCPOneSidedNeverEstablished(t *testing.T) {
	tests := []struct {
		name      string
		segs      []seg
		state     string
		tcpState  string
		flagsSeen event.HexByte
	}{
		{"fin_scan", []seg{tcpSeg(cli, srv, 40000, 22, tcpFIN, 1, 0)}, "new", "none", tcpFIN},
		{"xmas_scan", []seg{tcpSeg(cli, srv, 40000, 22, tcpFIN|tcpPSH|tcpURG, 1, 0)}, "new", "none", tcpFIN | tcpPSH | tcpURG},
		{"lone_rst", []seg{tcpSeg(srv, cli, 22, 40000, tcpRST|tcpACK, 1, 1)}, "new", "none", tcpRST | tcpACK},
		{"syn_then_fin", []seg{tcpSeg(cli, srv, 40000, 22, tcpSYN, 1, 0), tcpSeg(cli, srv, 40000, 22, tcpFIN, 2, 0)}, "new", "syn_sent", tcpSYN | tcpFIN},
		{"client_side_only_with_fin", []seg{
			tcpSeg(cli, srv, 40000, 80, tcpACK|tcpPSH, 1, 1),
			tcpSeg(cli, srv, 40000, 80, tcpACK|tcpFIN, 2, 1),
		}, "new", "none", tcpACK | tcpPSH | tcpFIN},
		{"syn_refused", []seg{tcpSeg(cli, srv, 40000, 22, tcpSYN, 1, 0), tcpSeg(srv, cli, 22, 40000, tcpRST|tcpACK, 0, 2)}, "closed", "closed", tcpSYN | tcpRST | tcpACK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frames []frameAt
			for i, s := range tt.segs {
				frames = append(frames, frameAt{at: time.Duration(i) * time.Millisecond, data: ethFrame(t, s)})
			}
			evs, _, _ := runFrames(t, frames)
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			ev := evs[0]
			if ev.Flow.State != tt.state || ev.TCP.State != tt.tcpState || ev.TCP.TCPFlags != tt.flagsSeen {
				t.Errorf("flow.state %s tcp.state %s flags %02x, want %s %s %02x", ev.Flow.State, ev.TCP.State, ev.TCP.TCPFlags, tt.state, tt.tcpState, tt.flagsSeen)
			}
		})
	}
}

// TestTCPFlowStateAsSuricata checks flow.state against tcp.state for the
// closing sequences: established until last_ack/time_wait/closed.
func TestTCPFlowStateAsSuricata(t *testing.T) {
	want := map[tcpState]string{
		tcpNone: "new", tcpSynSent: "new", tcpSynRecv: "new", tcpEstablished: "established",
		tcpFinWait1: "established", tcpFinWait2: "established", tcpClosing: "established", tcpCloseWait: "established",
		tcpLastAck: "closed", tcpTimeWait: "closed", tcpClosed: "closed",
	}
	for st := tcpNone; st < numTCPStates; st++ {
		if got := st.flowState(); got != want[st] {
			t.Errorf("tcp.state %s: flow.state %s, want %s", st, got, want[st])
		}
	}
}

func TestFlowIDDiffersByIPVersion(t *testing.T) {
	// The same 16 address bytes as IPv4 (10.0.0.1 in the first four) and
	// IPv6 (0a00:0001::).
	k4 := key{a: [16]byte{10, 0, 0, 1}, b: [16]byte{10, 0, 0, 2}, aport: 1, bport: 2, proto: protoUDP, ipv: 4}
	k6 := k4
	k6.ipv = 6
	if flowID(&k4, 1) == flowID(&k6, 1) {
		t.Error("an IPv4 and an IPv6 flow with the same numbers got the same flow_id")
	}
}

func TestTimestampsGoingBack(t *testing.T) {
	evs, _, _ := runFrames(t, []frameAt{
		{at: time.Second, data: ethFrame(t, udp(cli, srv, 5000, 53))},
		{at: 0, data: ethFrame(t, udp(srv, cli, 53, 5000))},
		{at: 500 * time.Millisecond, data: ethFrame(t, udp(cli, srv, 5000, 53))},
	})
	f := evs[0].Flow
	if !f.Start.Equal(t0) || !f.End.Equal(t0.Add(time.Second)) {
		t.Errorf("start %v end %v, want the earliest and the latest packet (%v, %v)", f.Start.Time, f.End.Time, t0, t0.Add(time.Second))
	}
}

func TestAgeAsSuricata(t *testing.T) {
	start := 900 * time.Millisecond
	evs, _, _ := runFrames(t, []frameAt{
		{at: start, data: ethFrame(t, udp(cli, srv, 5000, 53))},
		{at: start + 200*time.Millisecond, data: ethFrame(t, udp(srv, cli, 53, 5000))},
	})
	// 0.2 s apart, but across a second boundary: Suricata's age is 1.
	if age := evs[0].Flow.Age; age != 1 {
		t.Errorf("flow.age = %d, want secs(end) - secs(start) = 1", age)
	}
}

func TestIPv6PayloadLengthZero(t *testing.T) {
	// Payload length 0 as segmentation offload (BIG TCP) leaves it: the
	// frame is counted, its ports read.
	tests := []struct {
		name  string
		seg   seg
		proto string
	}{
		{"udp", udp(cli6, srv6, 5000, 53), "UDP"},
		{"tcp_syn", tcpSeg(cli6, srv6, 40000, 443, tcpSYN, 1, 0), "TCP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ethFrame(t, tt.seg)
			b[14+4], b[14+5] = 0, 0
			evs, _, _ := runFrames(t, []frameAt{{at: 0, data: b}})
			if len(evs) != 1 || evs[0].Proto != tt.proto || evs[0].SrcPort != tt.seg.sport || evs[0].Flow.BytesToServer != uint64(len(b)) {
				t.Errorf("events %v, want the %s flow with its frame counted", summaries(evs), tt.proto)
			}
		})
	}
}

func TestSnapLengthCutsHeaders(t *testing.T) {
	// A SYN with 20 bytes of options, captured with snaplen 68 as
	// tcpdump -s 68 does: 14 + 20 + 34 of the 40 bytes of TCP header.
	syn := tcpSeg(cli, srv, 40000, 80, tcpSYN, 100, 0)
	syn.data = make([]byte, 0)
	full := ethFrame(t, syn)
	withOpts := append(append([]byte(nil), full[:14+20+20]...), make([]byte, 20)...)
	withOpts[14+20+12] = 10 << 4 // data offset: 40 bytes
	binary.BigEndian.PutUint16(withOpts[14+2:], 20+40)
	synack := ethFrame(t, tcpSeg(srv, cli, 80, 40000, tcpSYN|tcpACK, 500, 101))
	evs, _, reg := runFrames(t, []frameAt{
		{at: 0, data: withOpts[:68], wire: len(withOpts)},
		{at: time.Millisecond, data: synack},
		// Cut right after the ports: counted, flags unknown.
		{at: 2 * time.Millisecond, data: full[:14+20+4], wire: len(full)},
	})
	if len(evs) != 1 {
		t.Fatalf("events %v, want one flow", summaries(evs))
	}
	got := summarize(evs[0])
	want := summary{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 2, PktsTC: 1,
		BytesTS: uint64(len(withOpts) + len(full)), BytesTC: uint64(len(synack)), State: "new", Reason: "shutdown",
		TCPState: "syn_recv", FlagsTS: tcpSYN, FlagsTC: tcpSYN | tcpACK}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flow (-want +got):\n%s", diff)
	}
	if !evs[0].Flow.Start.Equal(t0) {
		t.Errorf("flow.start %v, want the cut SYN's time", evs[0].Flow.Start.Time)
	}
	if d := reg.EVEStats()["decoder"].(map[string]any)["invalid"]; d != uint64(0) {
		t.Errorf("decoder.invalid = %v, want 0", d)
	}
}

func TestProtoNames(t *testing.T) {
	for p, want := range map[uint8]string{
		1: "ICMP", 2: "IGMP", 4: "IP-in-IP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH",
		58: "IPv6-ICMP", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP", 136: "UDPLite", 143: "Ethernet",
		144: "144", 253: "253", 255: "255",
	} {
		if got := ProtoName(p); got != want {
			t.Errorf("ProtoName(%d) = %q, want %q", p, got, want)
		}
	}
}

func TestNextDeadline(t *testing.T) {
	cfg := DefaultConfig()
	tab := NewTable(cfg, &recorder{}, nil)
	if _, ok := tab.NextDeadline(); ok {
		t.Error("an empty table has a deadline")
	}
	feed(t, tab, t0, []seg{udp(cli, srv, 1, 2)})
	d, ok := tab.NextDeadline()
	if want := t0.Add(cfg.UDPTimeout); !ok || !d.Equal(want) {
		t.Errorf("NextDeadline() = %v, %v; want the UDP timeout %v", d, ok, want)
	}
	feed(t, tab, t0, []seg{tcpSeg(cli, srv, 3, 4, tcpSYN, 1, 0)})
	cfg.ActiveTimeout = 10 * time.Second
	tab2 := NewTable(cfg, &recorder{}, nil)
	feed(t, tab2, t0, []seg{udp(cli, srv, 1, 2)})
	if d, _ := tab2.NextDeadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("NextDeadline() = %v, want the flow_update due at %v", d, t0.Add(10*time.Second))
	}
}

// frag4 is an IPv4 fragment of a UDP datagram from src to dst with IP id
// id at byte offset off: the first (off 0) has the UDP header.
func frag4(t testing.TB, src, dst string, id uint16, off int, more bool) []byte {
	return setFrag(ethFrame(t, seg{src: src, dst: dst, sport: 53, dport: 5000, proto: protoUDP, payload: 200}), id, off, more)
}

// setFrag makes the IPv4 packet of Ethernet frame b a fragment: IP id id,
// byte offset off, more fragments following when more. The header
// checksum is left as it was: the decoder does not check it.
func setFrag(b []byte, id uint16, off int, more bool) []byte {
	binary.BigEndian.PutUint16(b[14+4:], id)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(b[14+6:], fo)
	return b
}

// TestFragmentCacheIndependentOfSeed checks which trailing fragments find
// their first: the same ones whatever the tables' hash seeds (a replay
// gives the same flows every time), all of them while at most fragSlots
// packets are in flight, and never one pushed out by fragSlots newer first
// fragments.
func TestFragmentCacheIndependentOfSeed(t *testing.T) {
	// trains returns n fragmented datagrams from distinct hosts: every
	// first fragment, at most inFlight at a time, before the rest of the
	// earliest; ids repeat across hosts.
	trains := func(n, inFlight int) []frameAt {
		var out []frameAt
		add := func(b []byte) { out = append(out, frameAt{at: time.Duration(len(out)) * time.Millisecond, data: b}) }
		host := func(i int) string { return fmt.Sprintf("10.%d.%d.1", 1+i/250, i%250) }
		for i := range n + inFlight {
			if i < n {
				add(frag4(t, host(i), srv, uint16(i%7), 0, true))
			}
			if j := i - inFlight + 1; j >= 0 && j < n {
				add(frag4(t, host(j), srv, uint16(j%7), 208, false))
			}
		}
		return out
	}
	tests := []struct {
		name                  string
		frames                []frameAt
		attributed, fragments uint64 // fragments attributed, skipped
	}{
		{"one_at_a_time", trains(2000, 1), 2000, 0},
		{"interleaved_pairs", trains(2000, 2), 2000, 0},
		{"fragslots_in_flight", trains(600, fragSlots), 600, 0},
		// Each first fragment is pushed out by the fragSlots after it
		// before its rest comes, but for the last fragSlots, which no
		// first fragment follows.
		{"more_than_fragslots_in_flight", trains(600, fragSlots+1), fragSlots, 600 - fragSlots},
	}
	seeds := []uint64{0, 1, 0x9e3779b97f4a7c15, ^uint64(0)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first []summary
			for si, seed := range seeds {
				rec := &recorder{}
				reg := metrics.New()
				tab := NewTable(DefaultConfig(), rec, reg)
				for i := range tab.ix.seed {
					tab.ix.seed[i] = seed * uint64(i+1)
					tab.frags.ix.seed[i] = seed * uint64(i+7)
				}
				for _, f := range tt.frames {
					tab.Packet(t0.Add(f.at), "eth1", LinkTypeEthernet, f.data, len(f.data))
				}
				st := flowStats(tab, reg)
				got := [2]uint64{st["fragments_attributed_total"].(uint64), st["packets_skipped_total"].(map[string]any)["fragment"].(uint64)}
				if want := [2]uint64{tt.attributed, tt.fragments}; got != want {
					t.Errorf("seed %#x: got %d fragments attributed, %d skipped; want %d, %d", seed, got[0], got[1], want[0], want[1])
				}
				tab.Flush(t0.Add(time.Hour), ReasonShutdown)
				sums := summaries(rec.events)
				if si == 0 {
					first = sums
				} else if diff := cmp.Diff(first, sums); diff != "" {
					t.Errorf("seed %#x: flows differ from seed %#x's (-first +got):\n%s", seed, seeds[0], diff)
				}
			}
		})
	}
}

// rawFrag is an Ethernet frame carrying one IP fragment, built byte by
// byte: from 10.0.0.1 to 10.0.0.2 (fd00::1 to fd00::2 when v6, with a
// fragment header), IP id 0x1234, fragment offset off (8-byte units),
// carrying l4, a piece of a proto datagram.
func rawFrag(v6 bool, proto uint8, off uint16, more bool, l4 []byte) []byte {
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	if !v6 {
		fo := off
		if more {
			fo |= 0x2000
		}
		b = append(b, 0x08, 0x00, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+len(l4)))
		b = append(b, 0x12, 0x34)
		b = binary.BigEndian.AppendUint16(b, fo)
		b = append(b, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
		return append(b, l4...)
	}
	fo := off << 3
	if more {
		fo |= 1
	}
	b = append(b, 0x86, 0xdd, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(l4)))
	b = append(b, 44, 64)
	b = append(b, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2)
	b = append(b, proto, 0)
	b = binary.BigEndian.AppendUint16(b, fo)
	b = append(b, 0, 0, 0x12, 0x34)
	return append(b, l4...)
}

// synWithOptions is a TCP SYN header with 8 bytes of options (28 bytes):
// ports 40000 and 80, sequence number 1.
func synWithOptions() []byte {
	return []byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 7 << 4, tcpSYN, 0x20, 0, 0, 0, 0, 0,
		2, 4, 5, 0xb4, 1, 1, 1, 0}
}

// TestTinyFirstFragment checks that a first fragment shorter than its
// transport header (the tiny-fragment evasion) counts into its flow with
// what it holds, ports if any, and that its later fragments join it.
func TestTinyFirstFragment(t *testing.T) {
	syn := synWithOptions()
	udpHdr := []byte{0x13, 0x88, 0, 53, 0, 40, 0, 0} // 5000 -> 53, length 40
	sctpHdr := []byte{0x1f, 0x90, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0}
	tests := []struct {
		name   string
		frames [][]byte
		want   summary // but for the bytes (the frames'), state and reason
	}{
		{"tcp_ports_and_seq_only", [][]byte{
			rawFrag(false, protoTCP, 0, true, syn[:8]),
			rawFrag(false, protoTCP, 1, true, syn[8:16]),
			rawFrag(false, protoTCP, 2, false, syn[16:]),
		}, summary{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 3, TCPState: "none"}},
		{"tcp_options_in_next_fragment", [][]byte{
			rawFrag(false, protoTCP, 0, true, syn[:24]),
			rawFrag(false, protoTCP, 3, false, syn[24:]),
		}, summary{Src: "10.0.0.1:40000", Dst: "10.0.0.2:80", Proto: "TCP", PktsTS: 2, TCPState: "syn_sent", FlagsTS: tcpSYN}},
		// The ports in the next fragment: counted without them (port 0),
		// as tshark shows it.
		{"tcp_ports_in_next_fragment", [][]byte{
			rawFrag(false, protoTCP, 0, true, syn[:2]),
			rawFrag(false, protoTCP, 1, false, syn[8:]),
		}, summary{Src: "10.0.0.1:0", Dst: "10.0.0.2:0", Proto: "TCP", PktsTS: 2, TCPState: "none"}},
		{"ipv6_tcp_ports_and_seq_only", [][]byte{
			rawFrag(true, protoTCP, 0, true, syn[:8]),
			rawFrag(true, protoTCP, 1, false, syn[8:]),
		}, summary{Src: "[fd00::1]:40000", Dst: "[fd00::2]:80", Proto: "TCP", PktsTS: 2, TCPState: "none"}},
		{"udp_ports_only", [][]byte{
			rawFrag(false, protoUDP, 0, true, udpHdr[:4]),
			rawFrag(false, protoUDP, 1, false, append(udpHdr[4:], make([]byte, 32)...)),
		}, summary{Src: "10.0.0.1:5000", Dst: "10.0.0.2:53", Proto: "UDP", PktsTS: 2}},
		{"ipv6_sctp_ports_only", [][]byte{
			rawFrag(true, protoSCTP, 0, true, sctpHdr[:8]),
			rawFrag(true, protoSCTP, 1, false, sctpHdr[8:]),
		}, summary{Src: "[fd00::1]:8080", Dst: "[fd00::2]:80", Proto: "SCTP", PktsTS: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frames []frameAt
			want := tt.want
			want.State, want.Reason = "new", "shutdown"
			for i, b := range tt.frames {
				frames = append(frames, frameAt{at: time.Duration(i) * time.Millisecond, data: b})
				want.BytesTS += uint64(len(b))
			}
			evs, tab, reg := runFrames(t, frames)
			if diff := cmp.Diff([]summary{want}, summaries(evs)); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
			st := flowStats(tab, reg)
			if got, want := st["fragments_attributed_total"], uint64(len(tt.frames)-1); got != want {
				t.Errorf("got %v fragments attributed, want %d", got, want)
			}
			if got := reg.EVEStats()["decoder"].(map[string]any)["invalid"]; got != uint64(0) {
				t.Errorf("got decoder.invalid %v, want 0", got)
			}
		})
	}
}

// ext6 is an IPv6 extension header: its type and its bytes, the first
// (next header) filled in by ipv6Chain.
type ext6 struct {
	typ uint8
	hdr []byte
}

// ipv6Chain is an Ethernet frame: IPv6 from fd00::<src> to fd00::<dst>,
// the extension headers exts, then l4 of protocol proto.
func ipv6Chain(src, dst byte, exts []ext6, proto uint8, l4 []byte) []byte {
	var pl []byte
	for i, x := range exts {
		h := append([]byte(nil), x.hdr...)
		h[0] = proto
		if i+1 < len(exts) {
			h[0] = exts[i+1].typ
		}
		pl = append(pl, h...)
	}
	pl = append(pl, l4...)
	next := proto
	if len(exts) > 0 {
		next = exts[0].typ
	}
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(pl)))
	b = append(b, next, 64)
	b = append(b, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, src)
	b = append(b, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst)
	return append(b, pl...)
}

// TestICMPv6ErrorQuotingExtensionHeaders checks that an ICMPv6 error about
// a packet with extension headers counts into that packet's flow, as it
// does without them, and is a flow of its own when the quote holds no
// ports.
func TestICMPv6ErrorQuotingExtensionHeaders(t *testing.T) {
	udp := []byte{0x9c, 0x40, 0, 9, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8} // 40000 -> 9
	frag := func(off uint16, more bool) ext6 {
		fo := off << 3
		if more {
			fo |= 1
		}
		return ext6{44, []byte{0, 0, byte(fo >> 8), byte(fo), 0, 0, 0xab, 0xcd}}
	}
	hbh := ext6{0, []byte{0, 0, 1, 4, 0, 0, 0, 0}}                                          // PadN
	dst := ext6{60, []byte{0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}                // 16 bytes
	ah := ext6{51, append([]byte{0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, make([]byte, 12)...)} // 24 bytes: SPI, sequence, 12-byte ICV
	plain := ipv6Chain(1, 2, nil, protoUDP, udp)
	tests := []struct {
		name     string
		probe    []byte // the packet the error is about, as captured
		quoted   []byte // what the error quotes of it: probe's IP packet if nil
		attached bool
	}{
		{"no_extension_headers", plain, nil, true},
		{"first_fragment", ipv6Chain(1, 2, []ext6{frag(0, true)}, protoUDP, udp), nil, true},
		{"two_atomic_fragment_headers", ipv6Chain(1, 2, []ext6{frag(0, false), frag(0, false)}, protoUDP, udp), nil, true},
		{"hop_by_hop_and_destination", ipv6Chain(1, 2, []ext6{hbh, dst}, protoUDP, udp), nil, true},
		{"ah", ipv6Chain(1, 2, []ext6{ah}, protoUDP, udp), nil, true},
		{"hop_by_hop_ah_and_fragment", ipv6Chain(1, 2, []ext6{hbh, ah, frag(0, true)}, protoUDP, udp), nil, true},
		// A later fragment has no ports to find the flow by.
		{"later_fragment", plain, ipv6Chain(1, 2, []ext6{frag(1, false)}, protoUDP, udp)[14:], false},
		// The quote ends inside the extension headers, or before the ports.
		{"quote_cut_in_extension_header", plain, ipv6Chain(1, 2, []ext6{hbh, dst}, protoUDP, udp)[14 : 14+40+12], false},
		{"quote_cut_before_ports", plain, ipv6Chain(1, 2, []ext6{hbh}, protoUDP, udp)[14 : 14+40+8+3], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.quoted
			if q == nil {
				q = tt.probe[14:]
			}
			// Parameter problem: type, code, checksum, pointer, the quote.
			icmp := append([]byte{4, 0, 0, 0, 0, 0, 0, 48}, q...)
			errFrame := ipv6Chain(2, 1, nil, protoICMPv6, icmp)
			evs, tab, reg := runFrames(t, []frameAt{{at: 0, data: tt.probe}, {at: time.Millisecond, data: errFrame}})
			want := []summary{{Src: "[fd00::1]:40000", Dst: "[fd00::2]:9", Proto: "UDP", PktsTS: 1, BytesTS: uint64(len(tt.probe)),
				State: "new", Reason: "shutdown"}}
			if tt.attached {
				want[0].PktsTC, want[0].BytesTC = 1, uint64(len(errFrame))
			} else {
				want = append(want, summary{Src: "[fd00::2]:0", Dst: "[fd00::1]:0", Proto: "IPv6-ICMP", PktsTS: 1, BytesTS: uint64(len(errFrame)),
					State: "new", Reason: "shutdown"})
			}
			if diff := cmp.Diff(want, summaries(evs)); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
			n := uint64(0)
			if tt.attached {
				n = 1
			}
			if got := flowStats(tab, reg)["icmp_errors_attributed_total"]; got != n {
				t.Errorf("got icmp_errors_attributed_total %v, want %d", got, n)
			}
		})
	}
}
