package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// events is a flow.Emitter that keeps every event.
type events struct {
	mu  sync.Mutex
	all []event.Event
}

func (e *events) Offer(ev event.Event) bool {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	return true
}

// summary is what the test compares of one flow event.
type summary struct {
	Iface                  string
	Proto                  string
	Src, Dst               string // ip:port, or ip for ICMP
	PktsTS, PktsTC         uint64
	BytesTS, BytesTC       uint64
	TCPFlagsTS, TCPFlagsTC string
	Reason                 string
}

func summarize(ev event.Event) summary {
	s := summary{Iface: ev.InIface, Proto: ev.Proto, Src: ev.SrcIP.String(), Dst: ev.DestIP.String(),
		PktsTS: ev.Flow.PktsToServer, PktsTC: ev.Flow.PktsToClient,
		BytesTS: ev.Flow.BytesToServer, BytesTC: ev.Flow.BytesToClient, Reason: ev.Flow.Reason}
	if ev.SrcPort != 0 || ev.DestPort != 0 {
		s.Src = fmt.Sprintf("%s:%d", s.Src, ev.SrcPort)
		s.Dst = fmt.Sprintf("%s:%d", s.Dst, ev.DestPort)
	}
	if ev.TCP != nil {
		s.TCPFlagsTS = fmt.Sprintf("%02x", byte(ev.TCP.TCPFlagsTS))
		s.TCPFlagsTC = fmt.Sprintf("%02x", byte(ev.TCP.TCPFlagsTC))
	}
	return s
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages in .ci/apt/capture.txt)", tool)
		}
	}
}

// tcpdump runs tcpdump on iface in ns, writing every frame to a pcap file;
// stop ends it and returns the file. libpcap drops lo's outgoing copies
// itself, so it is an independent count of what sidewatch should see.
func tcpdump(t *testing.T, ns, iface string) (stop func() string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), iface+".pcap")
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-U", "-s", "262144", "-w", file, "ip")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		signalled := false
		for {
			n, err := stderr.Read(buf)
			out.Write(buf[:n])
			if !signalled && strings.Contains(out.String(), "listening on") {
				close(ready)
				signalled = true
			}
			if err != nil {
				if !signalled {
					close(ready)
				}
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpdump did not start: %s", out.String())
	}
	return func() string {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return file
	}
}

// conversations counts a pcap file's frames per flow, as the flow table
// should: client is the sender of the first frame.
func conversations(t *testing.T, iface, file string) map[string]summary {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]summary{}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		ip, ok := p.NetworkLayer().(*layers.IPv4)
		if !ok {
			continue
		}
		src, dst, proto := ip.SrcIP.String(), ip.DstIP.String(), ""
		switch l4 := p.TransportLayer().(type) {
		case *layers.TCP:
			src, dst, proto = fmt.Sprintf("%s:%d", src, l4.SrcPort), fmt.Sprintf("%s:%d", dst, l4.DstPort), "TCP"
		case *layers.UDP:
			src, dst, proto = fmt.Sprintf("%s:%d", src, l4.SrcPort), fmt.Sprintf("%s:%d", dst, l4.DstPort), "UDP"
		default:
			continue
		}
		fwd, rev := proto+" "+src+" "+dst, proto+" "+dst+" "+src
		if s, ok := out[rev]; ok {
			s.PktsTC++
			s.BytesTC += uint64(ci.Length)
			out[rev] = s
			continue
		}
		s := out[fwd]
		s.Iface, s.Proto, s.Src, s.Dst = iface, proto, src, dst
		s.PktsTS++
		s.BytesTS += uint64(ci.Length)
		out[fwd] = s
	}
}

// TestLiveFlows runs capture and the flow table in a namespace wired to a
// peer by a veth pair, makes traffic with curl, socat and ping, and checks
// the flow events: exact counts for the UDP exchange, the pings and the
// refused connection, tcpdump's counts for the HTTP exchanges, loopback
// counted once and the receiver port 1514 absent.
func TestLiveFlows(t *testing.T) {
	requireNetns(t)
	requireTools(t, "tcpdump", "curl", "socat", "ping")
	ns, peer := newNetns(t), newNetns(t)
	vethPair(t, ns, "swv0", "10.99.0.1/24", peer, "swv1", "10.99.0.2/24")
	// Resolve neighbours first so ARP requests and replies do not depend on
	// timing (they are not IP and are never flows anyway).
	sh(t, "ip", "-n", ns, "neigh", "replace", "10.99.0.2", "lladdr", strings.TrimSpace(sh(t, "ip", "netns", "exec", peer, "cat", "/sys/class/net/swv1/address")), "dev", "swv0")
	sh(t, "ip", "-n", peer, "neigh", "replace", "10.99.0.1", "lladdr", strings.TrimSpace(sh(t, "ip", "netns", "exec", ns, "cat", "/sys/class/net/swv0/address")), "dev", "swv1")

	serveHTTP(t, peer, "10.99.0.2:8080")
	serveHTTP(t, ns, "127.0.0.1:8081")
	udpEcho(t, peer, "10.99.0.2:7000")
	echoTCP(t, ns, "127.0.0.1:1514")

	stopVeth := tcpdump(t, ns, "swv0")
	stopLo := tcpdump(t, ns, "lo")

	var c *Capture
	var err error
	reg := metrics.New()
	inNetns(t, ns, func() { c, err = Open(DefaultConfig(), reg) })
	if err != nil {
		t.Fatal(err)
	}
	out := &events{}
	table := flow.NewTable(flow.DefaultConfig(), out, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, table) }()

	run := func(args ...string) string {
		t.Helper()
		return sh(t, "ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	if got := run("curl", "-sS", "http://10.99.0.2:8080/hello"); got != "hello from 10.99.0.2:8080\n" {
		t.Errorf("curl peer = %q", got)
	}
	if got := run("curl", "-sS", "http://127.0.0.1:8081/hello"); got != "hello from 127.0.0.1:8081\n" {
		t.Errorf("curl loopback = %q", got)
	}
	if got := run("sh", "-c", "printf hello | socat -T2 - UDP4:10.99.0.2:7000,sourceport=40000"); got != "hello" {
		t.Errorf("socat udp = %q", got)
	}
	run("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.2")
	refused := exec.Command("ip", "netns", "exec", ns, "curl", "-sS", "--local-port", "40001", "http://10.99.0.2:9/")
	// curl exits 7 when it cannot connect.
	if out, err := refused.CombinedOutput(); refused.ProcessState.ExitCode() != 7 {
		t.Errorf("curl to a closed port = %v, %s; want exit status 7", err, out)
	}
	tcpRoundTrip(t, ns, "127.0.0.1:1514")

	time.Sleep(time.Second) // let the last frames reach both rings
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	truth := conversations(t, "swv0", stopVeth())
	for k, v := range conversations(t, "lo", stopLo()) {
		truth[k] = v
	}

	var got []summary
	for _, ev := range out.all {
		got = append(got, summarize(ev))
	}
	find := func(proto, dst string) []summary {
		var m []summary
		for _, s := range got {
			if s.Proto == proto && strings.HasPrefix(s.Dst, dst) {
				m = append(m, s)
			}
		}
		return m
	}
	one := func(name, proto, dst string) summary {
		t.Helper()
		m := find(proto, dst)
		if len(m) != 1 {
			t.Fatalf("%s: %d %s flows to %s, want 1; all flows:\n%+v", name, len(m), proto, dst, got)
		}
		return m[0]
	}

	// Exact counts: 14 Ethernet + 20 IPv4 + 8 UDP + 5 payload = 47 bytes.
	if diff := cmp.Diff(summary{Iface: "swv0", Proto: "UDP", Src: "10.99.0.1:40000", Dst: "10.99.0.2:7000",
		PktsTS: 1, PktsTC: 1, BytesTS: 47, BytesTC: 47, Reason: "shutdown"}, one("udp", "UDP", "10.99.0.2:7000")); diff != "" {
		t.Errorf("UDP exchange flow mismatch (-want +got):\n%s", diff)
	}
	// Three echo requests and replies of 14 + 20 + 8 + 56 = 98 bytes.
	if diff := cmp.Diff(summary{Iface: "swv0", Proto: "ICMP", Src: "10.99.0.1", Dst: "10.99.0.2",
		PktsTS: 3, PktsTC: 3, BytesTS: 294, BytesTC: 294, Reason: "shutdown"}, one("ping", "ICMP", "10.99.0.2")); diff != "" {
		t.Errorf("ping flow mismatch (-want +got):\n%s", diff)
	}
	// A SYN with options (14 + 20 + 40 = 74 bytes) answered by RST-ACK (54).
	if diff := cmp.Diff(summary{Iface: "swv0", Proto: "TCP", Src: "10.99.0.1:40001", Dst: "10.99.0.2:9",
		PktsTS: 1, PktsTC: 1, BytesTS: 74, BytesTC: 54, TCPFlagsTS: "02", TCPFlagsTC: "14", Reason: "shutdown"}, one("refused", "TCP", "10.99.0.2:9")); diff != "" {
		t.Errorf("refused connection flow mismatch (-want +got):\n%s", diff)
	}
	// The HTTP exchanges, against tcpdump's counts of the same frames.
	for _, tc := range []struct{ name, dst string }{{"http_veth", "10.99.0.2:8080"}, {"http_loopback", "127.0.0.1:8081"}} {
		s := one(tc.name, "TCP", tc.dst)
		want, ok := truth["TCP "+s.Src+" "+s.Dst]
		if !ok {
			t.Errorf("%s: tcpdump saw no flow %s > %s", tc.name, s.Src, s.Dst)
			continue
		}
		s.TCPFlagsTS, s.TCPFlagsTC, s.Reason = "", "", ""
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("%s flow differs from tcpdump's count (-tcpdump +sidewatch):\n%s", tc.name, diff)
		}
		if s.PktsTS < 5 || s.PktsTC < 4 {
			t.Errorf("%s: %d/%d packets, too few for an HTTP exchange: %+v", tc.name, s.PktsTS, s.PktsTC, s)
		}
	}
	if m := find("TCP", "127.0.0.1:1514"); len(m) != 0 {
		t.Errorf("flows to the receiver port 1514: %+v, want none", m)
	}
	for _, s := range got {
		if strings.HasSuffix(s.Src, ":1514") {
			t.Errorf("flow from the receiver port 1514: %+v, want none", s)
		}
	}
	wantFlows := []string{"ICMP 10.99.0.2", "TCP 10.99.0.2:8080", "TCP 10.99.0.2:9", "TCP 127.0.0.1:8081", "UDP 10.99.0.2:7000"}
	var flows []string
	for _, s := range got {
		flows = append(flows, s.Proto+" "+s.Dst)
	}
	slices.Sort(flows)
	if diff := cmp.Diff(wantFlows, flows); diff != "" {
		t.Errorf("flows mismatch (-want +got):\n%s", diff)
	}
}

func serveHTTP(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() {
		var err error
		if ln, err = net.Listen("tcp4", addr); err != nil {
			t.Fatal(err)
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", addr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func udpEcho(t *testing.T, ns, addr string) {
	t.Helper()
	conn := listenUDP(t, ns, addr)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			conn.WriteTo(buf[:n], from)
		}
	}()
}
