package capture

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

var update = flag.Bool("update", false, "rewrite golden files")

// testCaptures are made by testdata/mkpcaps.sh.
var testCaptures = []string{"eth.pcap", "eth.pcapng", "lo_sll.pcap", "lo_sll2.pcap", "bulk.pcap",
	"mixed.pcapng", "sections.pcapng", "bulk_v21.pcap", "caplen_over_origlen.pcap"}

// eventList is an Emitter that keeps every event.
type eventList struct{ events []event.Event }

func (l *eventList) Offer(ev event.Event) bool {
	l.events = append(l.events, ev)
	return true
}

// replayCapture reads one committed test capture.
func replayCapture(t *testing.T, name string) ([]event.Event, FileStats, *metrics.Registry) {
	t.Helper()
	return replayFile(t, filepath.Join("testdata", name))
}

// replayFile reads a capture into a fresh table with the default
// configuration and flushes it at the last packet's time.
func replayFile(t *testing.T, path string) ([]event.Event, FileStats, *metrics.Registry) {
	t.Helper()
	out := &eventList{}
	reg := metrics.New()
	table := flow.NewTable(flow.DefaultConfig(), out, reg)
	st, err := ReadFile(context.Background(), path, table)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", path, err)
	}
	table.Flush(st.Last, flow.ReasonShutdown)
	return out.events, st, reg
}

// conv is one conversation of tshark's conv,tcp or conv,udp table:
// frames and bytes from A to B and from B to A.
type conv struct {
	proto              string
	a, b               netip.AddrPort
	framesAB, framesBA uint64
	bytesAB, bytesBA   uint64
}

// tsharkConvs runs tshark -z conv,tcp -z conv,udp over path and parses the
// tables. Its columns are "<-" (B to A) then "->" (A to B). Above 9999
// bytes tshark rounds to kB; then the conversations are summed from
// tshark's per-frame fields instead.
func tsharkConvs(t *testing.T, path string) []conv {
	t.Helper()
	out := runTshark(t, "-q", "-r", path, "-z", "conv,tcp", "-z", "conv,udp")
	var convs []conv
	proto := ""
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[1] == "Conversations":
			proto = f[0]
			continue
		case len(f) < 12 || f[1] != "<->":
			continue
		}
		c := conv{proto: proto, a: parseEndpoint(t, f[0]), b: parseEndpoint(t, f[2])}
		var ok1, ok2 bool
		c.framesBA, c.bytesBA, ok1 = countPair(t, f[3:6])
		c.framesAB, c.bytesAB, ok2 = countPair(t, f[6:9])
		if !ok1 || !ok2 {
			return tsharkFrameConvs(t, path)
		}
		convs = append(convs, c)
	}
	if len(convs) == 0 {
		t.Fatalf("tshark -r %s printed no conversations:\n%s", path, out)
	}
	return convs
}

func runTshark(t *testing.T, args ...string) string {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("needs tshark (apt-get install tshark) to check counts against")
	}
	out, err := exec.Command(tshark, append([]string{"-n"}, args...)...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tsharkFrameConvs sums frame.len per TCP and UDP conversation from
// tshark's per-frame fields, A being the sender of the first frame.
func tsharkFrameConvs(t *testing.T, path string) []conv {
	t.Helper()
	out := runTshark(t, "-r", path, "-Y", "(tcp or udp) and not icmp and not icmpv6", "-T", "fields", "-E", "separator=/t",
		"-e", "frame.len", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport")
	var convs []*conv
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) != 9 {
			t.Fatalf("tshark fields %q: want 9", line)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("tshark frame.len %q: %v", f[0], err)
		}
		proto, sport, dport := "TCP", f[5], f[6]
		if sport == "" {
			proto, sport, dport = "UDP", f[7], f[8]
		}
		src := parseEndpoint(t, f[1]+f[2]+":"+sport)
		dst := parseEndpoint(t, f[3]+f[4]+":"+dport)
		var c *conv
		for _, x := range convs {
			if x.proto == proto && (x.a == src && x.b == dst || x.a == dst && x.b == src) {
				c = x
			}
		}
		if c == nil {
			c = &conv{proto: proto, a: src, b: dst}
			convs = append(convs, c)
		}
		if c.a == src {
			c.framesAB, c.bytesAB = c.framesAB+1, c.bytesAB+n
		} else {
			c.framesBA, c.bytesBA = c.framesBA+1, c.bytesBA+n
		}
	}
	var res []conv
	for _, c := range convs {
		res = append(res, *c)
	}
	return res
}

func parseEndpoint(t *testing.T, s string) netip.AddrPort {
	i := strings.LastIndexByte(s, ':')
	addr, err := netip.ParseAddr(s[:i])
	if err != nil {
		t.Fatalf("tshark endpoint %q: %v", s, err)
	}
	port, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		t.Fatalf("tshark endpoint %q: %v", s, err)
	}
	return netip.AddrPortFrom(addr, uint16(port))
}

// countPair parses "<frames> <bytes> bytes"; ok is false when tshark
// rounded the bytes to a larger unit.
func countPair(t *testing.T, f []string) (frames, byteCount uint64, ok bool) {
	if f[2] != "bytes" {
		return 0, 0, false
	}
	frames, err1 := strconv.ParseUint(f[0], 10, 64)
	byteCount, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("tshark counts %q: not numbers", strings.Join(f, " "))
	}
	return frames, byteCount, true
}

// asConv turns a flow event into tshark's orientation a -> b.
func asConv(ev event.Event, a netip.AddrPort) conv {
	src := netip.AddrPortFrom(ev.SrcIP, ev.SrcPort)
	dst := netip.AddrPortFrom(ev.DestIP, ev.DestPort)
	c := conv{proto: ev.Proto, a: src, b: dst,
		framesAB: ev.Flow.PktsToServer, bytesAB: ev.Flow.BytesToServer,
		framesBA: ev.Flow.PktsToClient, bytesBA: ev.Flow.BytesToClient}
	if src != a {
		c.a, c.b = dst, src
		c.framesAB, c.framesBA = c.framesBA, c.framesAB
		c.bytesAB, c.bytesBA = c.bytesBA, c.bytesAB
	}
	return c
}

func TestReadFileMatchesTshark(t *testing.T) {
	for _, name := range testCaptures {
		t.Run(strings.ReplaceAll(name, ".", "_"), func(t *testing.T) {
			checkAgainstTshark(t, filepath.Join("testdata", name))
		})
	}
}

// TestFreshCapturesMatchTshark makes new captures of real traffic with
// testdata/mkpcaps.sh and checks them as the committed ones.
func TestFreshCapturesMatchTshark(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns (testdata/mkpcaps.sh)")
	}
	for _, tool := range []string{"ip", "tcpdump", "dumpcap", "curl", "python3", "tshark", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s for testdata/mkpcaps.sh", tool)
		}
	}
	probe := fmt.Sprintf("swf-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("needs to create network namespaces (ip netns add: %v: %s)", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("ip", "netns", "del", probe).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", probe, err, out)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "testdata/mkpcaps.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("mkpcaps.sh: %v\n%s", err, out)
	}
	for _, name := range testCaptures {
		t.Run(strings.ReplaceAll(name, ".", "_"), func(t *testing.T) {
			checkAgainstTshark(t, filepath.Join(dir, name))
		})
	}
}

// TestTsharkFrameConvs checks the per-frame fallback against tshark's own
// conversation table where both are exact.
func TestTsharkFrameConvs(t *testing.T) {
	path := filepath.Join("testdata", "eth.pcap")
	want := tsharkConvs(t, path)
	got := tsharkFrameConvs(t, path)
	sortConvs := cmpopts.SortSlices(func(x, y conv) bool { return x.a.String()+x.b.String() < y.a.String()+y.b.String() })
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(conv{}), sortConvs, cmp.Comparer(func(x, y netip.AddrPort) bool { return x == y })); diff != "" {
		t.Errorf("per-frame sums against conv tables (-conv +frames):\n%s", diff)
	}
}

// tsharkICMPErrors adds to convs the ICMP errors tshark dissects in path
// that quote a packet of one of them: sidewatch counts such an error into
// the quoted packet's flow (as Suricata does), in the direction back to its
// sender; tshark's conversation tables leave it out.
func tsharkICMPErrors(t *testing.T, path string, convs []conv) {
	t.Helper()
	out := runTshark(t, "-r", path, "-Y", "icmp.type == 3 || icmp.type == 4 || icmp.type == 5 || icmp.type == 11 || icmp.type == 12 || (icmpv6.type >= 1 && icmpv6.type <= 4)", "-T", "fields",
		"-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.len", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport")
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) != 9 {
			t.Fatalf("tshark fields %q: want 9", line)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("tshark frame.len %q: %v", f[0], err)
		}
		proto, sport, dport := "TCP", f[5], f[6]
		if sport == "" {
			proto, sport, dport = "UDP", f[7], f[8]
		}
		if sport == "" {
			continue // it quotes neither TCP nor UDP
		}
		// The last ip.src/ip.dst are the quoted packet's.
		src := parseEndpoint(t, f[1]+f[2]+":"+sport)
		dst := parseEndpoint(t, f[3]+f[4]+":"+dport)
		for i := range convs {
			c := &convs[i]
			switch {
			case c.proto == proto && c.a == src && c.b == dst:
				c.framesBA, c.bytesBA = c.framesBA+1, c.bytesBA+n
			case c.proto == proto && c.a == dst && c.b == src:
				c.framesAB, c.bytesAB = c.framesAB+1, c.bytesAB+n
			}
		}
	}
}

// checkAgainstTshark replays path and compares the packets and bytes of
// every TCP and UDP flow, each way, with tshark's conversations.
func checkAgainstTshark(t *testing.T, path string) {
	t.Helper()
	want := tsharkConvs(t, path)
	tsharkICMPErrors(t, path, want)
	events, _, _ := replayFile(t, path)
	byTuple := map[string]event.Event{}
	for _, ev := range events {
		if ev.Proto != "TCP" && ev.Proto != "UDP" {
			continue
		}
		k := fmt.Sprint(ev.Proto, netip.AddrPortFrom(ev.SrcIP, ev.SrcPort), netip.AddrPortFrom(ev.DestIP, ev.DestPort))
		if _, dup := byTuple[k]; dup {
			t.Errorf("two flow events for %s", k)
		}
		byTuple[k] = ev
	}
	compareConvs(t, want, byTuple)
}

// compareConvs checks that the flow events (by "proto src dest" tuple)
// are tshark's TCP and UDP conversations, with their packets and bytes
// each way, and no more.
func compareConvs(t *testing.T, want []conv, byTuple map[string]event.Event) {
	t.Helper()
	var got []conv
	for _, w := range want {
		ev, ok := byTuple[fmt.Sprint(w.proto, w.a, w.b)]
		if !ok {
			ev, ok = byTuple[fmt.Sprint(w.proto, w.b, w.a)]
		}
		if !ok {
			t.Errorf("no flow event for tshark's %s %s <-> %s", w.proto, w.a, w.b)
			continue
		}
		got = append(got, asConv(ev, w.a))
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(conv{}), cmp.Comparer(func(x, y netip.AddrPort) bool { return x == y })); diff != "" {
		t.Errorf("flow counts against tshark (-tshark +sidewatch):\n%s", diff)
	}
	if len(byTuple) != len(want) {
		t.Errorf("got %d TCP/UDP flow events, want tshark's %d conversations", len(byTuple), len(want))
	}
}

// TestGoldenReplay pins the complete replay output of each test capture.
func TestGoldenReplay(t *testing.T) {
	for _, name := range testCaptures {
		t.Run(strings.ReplaceAll(name, ".", "_"), func(t *testing.T) {
			events, _, _ := replayCapture(t, name)
			var got []byte
			for _, ev := range events {
				got = ev.AppendJSON(got)
				got = append(got, '\n')
			}
			golden := filepath.Join("testdata", name+".golden.jsonl")
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
				t.Errorf("replay of %s (-%s +got):\n%s", name, golden, diff)
			}
		})
	}
}

func TestReadFileCounts(t *testing.T) {
	tests := []struct {
		name          string
		packets       int
		capOverOrig   int
		skippedBlocks int // dumpcap's interface statistics, one per interface
	}{
		{"eth.pcap", 62, 0, 0},
		{"eth.pcapng", 18, 0, 1},
		{"lo_sll.pcap", 36, 0, 0},
		{"lo_sll2.pcap", 36, 0, 0},
		{"bulk.pcap", 353, 0, 0},
		{"mixed.pcapng", 18, 0, 2},
		{"sections.pcapng", 36, 0, 2},
		{"bulk_v21.pcap", 516, 0, 0},
		{"caplen_over_origlen.pcap", 58, 1, 0},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, ".", "_"), func(t *testing.T) {
			_, st, reg := replayCapture(t, tt.name)
			if st.Packets != tt.packets {
				t.Errorf("ReadFile(%s) read %d packets, want %d", tt.name, st.Packets, tt.packets)
			}
			if st.SkippedBlocks != tt.skippedBlocks {
				t.Errorf("ReadFile(%s): got %d pcapng blocks skipped, want %d", tt.name, st.SkippedBlocks, tt.skippedBlocks)
			}
			if st.CapLenOverOrigLen != tt.capOverOrig {
				t.Errorf("ReadFile(%s): got %d records with caplen > origlen, want %d", tt.name, st.CapLenOverOrigLen, tt.capOverOrig)
			}
			if !st.Last.After(st.First) {
				t.Errorf("ReadFile(%s): first %v, last %v; want last after first", tt.name, st.First, st.Last)
			}
			stats := reg.Stats()["flow"].(map[string]any)
			skipped := stats["packets_skipped_total"].(map[string]any)
			var total uint64
			for _, v := range skipped {
				total += v.(uint64)
			}
			if got := stats["packets_total"].(uint64) + total; got != uint64(tt.packets) {
				t.Errorf("packets attributed + skipped = %d, want every packet read (%d); stats %v", got, tt.packets, stats)
			}
			if n := skipped["malformed"].(uint64) + skipped["link_type"].(uint64); n != 0 {
				t.Errorf("%d packets skipped as malformed or of an unknown link type, want 0: %v", n, skipped)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "eth.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "read file header"},
		{"not_a_capture", []byte("GET / HTTP/1.1\r\n\r\n"), "pcap"},
		{"truncated_record", good[:len(good)-10], "record 62 at offset 6397"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			table := flow.NewTable(flow.DefaultConfig(), &eventList{}, nil)
			_, err := ReadFile(context.Background(), path, table)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("ReadFile(%s) = %v, want an error naming the file and containing %q", tt.name, err, tt.want)
			}
		})
	}
	if _, err := ReadFile(context.Background(), filepath.Join(dir, "missing"), flow.NewTable(flow.DefaultConfig(), &eventList{}, nil)); !os.IsNotExist(err) {
		t.Errorf("ReadFile(missing) = %v, want a not-exist error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadFile(ctx, filepath.Join("testdata", "eth.pcap"), flow.NewTable(flow.DefaultConfig(), &eventList{}, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile with a cancelled context = %v, want context.Canceled", err)
	}
}

// udpFrame serializes one Ethernet/IPv4/UDP frame.
func udpFrame(t *testing.T, src, dst string, sport, dport uint16) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: netip.MustParseAddr(src).AsSlice(), DstIP: netip.MustParseAddr(dst).AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload("hello"))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadFileExpiresByPacketTime checks that flows time out during a
// replay as they would live, with packet time as the clock: a flow idle for
// longer than the UDP timeout ends at the first whole second past its
// deadline, before the later packets are read.
func TestReadFileExpiresByPacketTime(t *testing.T) {
	start := time.Date(2026, 11, 22, 6, 0, 0, 250e6, time.UTC)
	var file bytes.Buffer
	w := pcapgo.NewWriterNanos(&file)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frames := []struct {
		at   time.Duration
		data []byte
	}{
		{0, udpFrame(t, "10.0.0.1", "10.0.0.2", 5000, 53)},
		{time.Second, udpFrame(t, "10.0.0.2", "10.0.0.1", 53, 5000)},
		{90 * time.Second, udpFrame(t, "10.0.0.1", "10.0.0.3", 5001, 53)},
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(f.at), CaptureLength: len(f.data), Length: len(f.data)}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "gap.pcap")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &eventList{}
	table := flow.NewTable(flow.DefaultConfig(), out, nil)
	if _, err := ReadFile(context.Background(), path, table); err != nil {
		t.Fatal(err)
	}
	if len(out.events) != 1 {
		t.Fatalf("ReadFile emitted %d events, want 1 (the first flow, timed out)", len(out.events))
	}
	ev := out.events[0]
	// Last packet at 06:00:01.25, UDP timeout 60s: due at 06:01:01.25,
	// ended by the Expire at the next whole second.
	wantTS := time.Date(2026, 11, 22, 6, 1, 2, 0, time.UTC)
	if ev.Flow.Reason != flow.ReasonTimeout || !ev.Timestamp.Equal(wantTS) || ev.Flow.PktsToServer != 1 || ev.Flow.PktsToClient != 1 {
		t.Errorf("event: reason %q, timestamp %v, packets %d/%d; want timeout, %v, 1/1",
			ev.Flow.Reason, ev.Timestamp.Time, ev.Flow.PktsToServer, ev.Flow.PktsToClient, wantTS)
	}
	if table.Len() != 1 {
		t.Errorf("Len() = %d after the file, want 1 (the second flow, still open)", table.Len())
	}
}

// FuzzReadFile feeds arbitrary bytes as a capture file: no panic, and
// every frame read is either attributed to a flow or counted as skipped.
func FuzzReadFile(f *testing.F) {
	for _, name := range testCaptures {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 600)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		reg := metrics.New()
		cfg := flow.DefaultConfig()
		cfg.MaxFlows = 8
		table := flow.NewTable(cfg, &eventList{}, reg)
		st, _ := readPackets(context.Background(), bytes.NewReader(data), table)
		table.Flush(st.Last, flow.ReasonShutdown)
		stats := reg.Stats()["flow"].(map[string]any)
		n := stats["packets_total"].(uint64)
		for _, v := range stats["packets_skipped_total"].(map[string]any) {
			n += v.(uint64)
		}
		if n != uint64(st.Packets) {
			t.Errorf("%d packets read, %d attributed or skipped", st.Packets, n)
		}
	})
}
