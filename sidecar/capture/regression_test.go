package capture

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// regression is one flow-accuracy regression capture, made by the
// regressions section of testdata/mkpcaps.sh.
type regression struct {
	name string
	// config changes the default flow configuration for the replay.
	config func(*flow.Config)
	// notFlow is a tshark display filter for frames tshark dissects as
	// TCP or UDP but sidewatch must not count (an IP header whose version
	// disagrees with the EtherType).
	notFlow string
	// tsharkPrefs are tshark preferences the comparison needs, one per
	// line of a preferences file.
	tsharkPrefs string
	// malformed is the number of frames skipped as malformed.
	malformed uint64
	// check asserts what the capture is about.
	check func(t *testing.T, evs []event.Event)
}

var regressions = []regression{
	{name: "ipver.pcap", notFlow: "eth.type == 0x0800 && ipv6", malformed: 4, check: checkNoPhantom},
	{name: "ipver_sll.pcap", notFlow: "sll.etype == 0x0800 && ipv6", malformed: 4, check: checkNoPhantom},
	{name: "snaplen.pcap", check: checkSnapLen},
	{name: "finscan.pcap", check: checkFINScan},
	{name: "backwards.pcap", check: func(t *testing.T, evs []event.Event) { checkEarliestStart(t, "backwards.pcap", evs) }},
	{name: "long.pcap", config: func(c *flow.Config) { c.ActiveTimeout = time.Second }, check: checkUpdatesAddUp},
	// tshark dissects an IPv6 payload length of 0 only with TSO support on.
	{name: "plen0.pcap", tsharkPrefs: "ipv6.tso_support: TRUE\n", check: checkPayloadLengthZero},
}

// replayRegression replays one regression capture with its configuration.
func replayRegression(t *testing.T, r regression) ([]event.Event, FileStats, *metrics.Registry) {
	t.Helper()
	cfg := flow.DefaultConfig()
	if r.config != nil {
		r.config(&cfg)
	}
	out := &eventList{}
	reg := metrics.New()
	table := flow.NewTable(cfg, out, reg)
	st, err := ReadFile(context.Background(), filepath.Join("testdata", r.name), table)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", r.name, err)
	}
	table.Flush(st.Last, flow.ReasonShutdown)
	return out.events, st, reg
}

// TestGoldenRegressions pins the replay output of each regression capture
// (rewritten by -update) and checks what it is about.
func TestGoldenRegressions(t *testing.T) {
	for _, r := range regressions {
		t.Run(strings.ReplaceAll(r.name, ".", "_"), func(t *testing.T) {
			evs, st, reg := replayRegression(t, r)
			var got []byte
			for _, ev := range evs {
				got = ev.AppendJSON(got)
				got = append(got, '\n')
			}
			golden := filepath.Join("testdata", r.name+".golden.jsonl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("replay of %s (-%s +got):\n%s", r.name, golden, diff)
			}
			fl := reg.Stats()["flow"].(map[string]any)
			skipped := fl["packets_skipped_total"].(map[string]any)
			if got := skipped["malformed"].(uint64); got != r.malformed {
				t.Errorf("malformed frames: got %d, want %d (%v)", got, r.malformed, skipped)
			}
			if got := skipped["truncated"].(uint64); got != 0 {
				t.Errorf("truncated frames: got %d, want 0", got)
			}
			var all uint64
			for _, v := range skipped {
				all += v.(uint64)
			}
			if got := fl["packets_total"].(uint64) + all; got != uint64(st.Packets) {
				t.Errorf("frames attributed + skipped: got %d, want every frame read (%d)", got, st.Packets)
			}
			r.check(t, evs)
		})
	}
}

// TestRegressionsMatchTshark compares each TCP and UDP flow, each way,
// with tshark's per-frame sums (its conversation tables leave out frames
// whose TCP header the snap length cut, although their ports were
// captured), without the frames sidewatch deliberately does not count.
func TestRegressionsMatchTshark(t *testing.T) {
	for _, r := range regressions {
		t.Run(strings.ReplaceAll(r.name, ".", "_"), func(t *testing.T) {
			path := filepath.Join("testdata", r.name)
			if r.tsharkPrefs != "" {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "preferences"), []byte(r.tsharkPrefs), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Setenv("WIRESHARK_CONFIG_DIR", dir)
			}
			if r.notFlow != "" {
				kept := filepath.Join(t.TempDir(), r.name)
				runTshark(t, "-r", path, "-Y", "!("+r.notFlow+")", "-w", kept)
				if n := strings.Count(runTshark(t, "-r", path, "-Y", r.notFlow), "\n"); n == 0 {
					t.Fatalf("no frame of %s matches %q: the capture lost its case", r.name, r.notFlow)
				}
				path = kept
			}
			want := tsharkFrameConvs(t, path)
			evs, _, _ := replayRegression(t, r)
			byTuple := map[string]event.Event{}
			for _, ev := range evs {
				if ev.Flow != nil && (ev.Proto == "TCP" || ev.Proto == "UDP") {
					byTuple[fmt.Sprint(ev.Proto, netip.AddrPortFrom(ev.SrcIP, ev.SrcPort), netip.AddrPortFrom(ev.DestIP, ev.DestPort))] = ev
				}
			}
			compareConvs(t, want, byTuple)
		})
	}
}

// checkNoPhantom: the frames whose IP version disagrees with the link
// type neither make a flow nor join the UDP exchange they copy.
func checkNoPhantom(t *testing.T, evs []event.Event) {
	t.Helper()
	var udp []event.Event
	for _, ev := range evs {
		if ev.Proto == "UDP" {
			udp = append(udp, ev)
		}
	}
	if len(udp) != 1 || udp[0].IPVersion != 4 || udp[0].Flow.PktsToServer != 3 || udp[0].Flow.PktsToClient != 3 {
		t.Errorf("UDP flows: got %d (%v), want the one IPv4 exchange with 3 datagrams each way", len(udp), udp)
	}
}

// checkPayloadLengthZero: the datagram with IPv6 payload length 0 counts
// into the exchange's flow, read to the end of its frame.
func checkPayloadLengthZero(t *testing.T, evs []event.Event) {
	t.Helper()
	if len(evs) != 1 || evs[0].IPVersion != 6 || evs[0].Flow.PktsToServer != 4 || evs[0].Flow.PktsToClient != 3 {
		t.Errorf("events %v, want one IPv6 UDP flow with 4 datagrams to the server (one with payload length 0) and 3 back", evs)
	}
}

// checkSnapLen: the SYNs cut inside their TCP header still open their
// flow: flags, start and counts include them.
func checkSnapLen(t *testing.T, evs []event.Event) {
	t.Helper()
	if len(evs) != 2 {
		t.Fatalf("events: got %d, want 2 (HTTP over IPv4 and IPv6)", len(evs))
	}
	for _, ev := range evs {
		if ev.TCP == nil || ev.TCP.TCPFlagsTS&0x02 == 0 || ev.TCP.TCPFlagsTC&0x12 != 0x12 {
			t.Errorf("%s flow: flags %v, want a SYN to the server and a SYN-ACK back", ev.Proto, ev.TCP)
		}
		if ev.Flow.State != "closed" || ev.Flow.PktsToServer < 6 {
			t.Errorf("flow %+v, want a closed connection with every frame", *ev.Flow)
		}
	}
	checkEarliestStart(t, "snaplen.pcap", evs)
}

// checkFINScan: a FIN to an open port gets no answer and stays new; a
// FIN answered by a RST is closed; none is established.
func checkFINScan(t *testing.T, evs []event.Event) {
	t.Helper()
	type st struct {
		Port      uint16
		Flow, TCP string
	}
	var got []st
	for _, ev := range evs {
		got = append(got, st{ev.DestPort, ev.Flow.State, ev.TCP.State})
	}
	want := []st{{9, "closed", "closed"}, {8080, "new", "none"}, {9, "closed", "closed"}, {8080, "new", "none"}}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b st) bool { return a.Port < b.Port })); diff != "" {
		t.Errorf("flow and TCP states (-want +got):\n%s", diff)
	}
}

// checkUpdatesAddUp: a long flow's flow_update events are no flow
// records; their deltas add up to its one flow record and their totals
// run up to it.
func checkUpdatesAddUp(t *testing.T, evs []event.Event) {
	t.Helper()
	var sum, last event.FlowCounter
	var updates, flows int
	var final *event.Flow
	for _, ev := range evs {
		switch ev.EventType {
		case event.TypeFlowUpdate:
			u := ev.FlowUpdate
			if ev.Flow != nil || u == nil {
				t.Fatalf("flow_update event with a flow object or none of its own: %s", ev.AppendJSON(nil))
			}
			updates++
			sum.PktsToServer += u.PktsToServer
			sum.PktsToClient += u.PktsToClient
			sum.BytesToServer += u.BytesToServer
			sum.BytesToClient += u.BytesToClient
			if sum != u.Total {
				t.Errorf("update %d: running sum %+v, want its total %+v", updates, sum, u.Total)
			}
			last = u.Total
		case event.TypeFlow:
			flows++
			final = ev.Flow
		}
	}
	if updates < 3 || flows != 1 {
		t.Fatalf("got %d flow_update and %d flow events, want at least 3 and 1", updates, flows)
	}
	whole := event.FlowCounter{PktsToServer: final.PktsToServer, PktsToClient: final.PktsToClient, BytesToServer: final.BytesToServer, BytesToClient: final.BytesToClient}
	if last != whole {
		t.Errorf("updates add up to %+v, want the flow record's %+v", last, whole)
	}
}

// checkEarliestStart: each flow's start and end are its earliest and
// latest frame, whatever their order in the file.
func checkEarliestStart(t *testing.T, name string, evs []event.Event) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ first, start, end time.Time }
	spans := map[string]*span{}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		// Ports straight from the IP payload: gopacket does not decode a
		// TCP header the snap length cut.
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		var proto layers.IPProtocol
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			proto = ip.Protocol
		case *layers.IPv6:
			proto = ip.NextHeader
		default:
			continue
		}
		nl := p.NetworkLayer()
		pl := nl.LayerPayload()
		if proto != layers.IPProtocolTCP && proto != layers.IPProtocolUDP || len(pl) < 4 {
			continue
		}
		a, b := nl.NetworkFlow().Endpoints()
		k := []string{netip.AddrPortFrom(netip.MustParseAddr(a.String()), binary.BigEndian.Uint16(pl)).String(),
			netip.AddrPortFrom(netip.MustParseAddr(b.String()), binary.BigEndian.Uint16(pl[2:])).String()}
		if k[0] > k[1] {
			k[0], k[1] = k[1], k[0]
		}
		key := fmt.Sprint(proto, k)
		s := spans[key]
		if s == nil {
			s = &span{first: ci.Timestamp, start: ci.Timestamp, end: ci.Timestamp}
			spans[key] = s
		}
		if ci.Timestamp.Before(s.start) {
			s.start = ci.Timestamp
		}
		if ci.Timestamp.After(s.end) {
			s.end = ci.Timestamp
		}
	}
	backwards := 0
	for _, ev := range evs {
		if ev.Flow == nil || ev.Proto != "TCP" && ev.Proto != "UDP" {
			continue
		}
		proto := layers.IPProtocolTCP
		if ev.Proto == "UDP" {
			proto = layers.IPProtocolUDP
		}
		k := []string{netip.AddrPortFrom(ev.SrcIP, ev.SrcPort).String(), netip.AddrPortFrom(ev.DestIP, ev.DestPort).String()}
		if k[0] > k[1] {
			k[0], k[1] = k[1], k[0]
		}
		s := spans[fmt.Sprint(proto, k)]
		if s == nil {
			t.Errorf("flow %v: no frames of it found in %s", k, name)
			continue
		}
		if s.start.Before(s.first) {
			backwards++
		}
		if !ev.Flow.Start.Equal(s.start) || !ev.Flow.End.Equal(s.end) {
			t.Errorf("flow %v: start %v end %v, want the earliest frame %v and the latest %v", k, ev.Flow.Start.Time, ev.Flow.End.Time, s.start, s.end)
		}
	}
	if name == "backwards.pcap" && backwards == 0 {
		t.Errorf("no flow of %s has a frame earlier than its first: the capture lost its case", name)
	}
}
