package applayer

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// savePcaps makes TestLiveTraffic keep its tcpdump captures: `make
// pcaps` regenerates testdata/*.pcap this way (then `make golden`).
var savePcaps = flag.String("save-pcaps", "", "directory to copy TestLiveTraffic's captures to")

// Addresses of the test network: the client namespace (where capture
// runs, as in a task) and the server namespace.
const (
	clientAddr = "10.98.0.1"
	serverAddr = "10.98.0.2"
	tlsName    = "svc.example.test"
)

// scenario is one kind of traffic, made by real tools.
type scenario struct {
	name  string
	tools []string
	// serve starts the server side; run makes the traffic from the client.
	serve func(t *testing.T, l *lab)
	run   func(t *testing.T, l *lab)
	// check looks at the app-layer events of the live capture.
	check func(t *testing.T, evs []event.Event)
}

// lab is the two namespaces joined by a veth pair.
type lab struct {
	client, server string // namespace names
	veth           string // the client's interface
	dir            string // scratch directory
}

// TestLiveTraffic makes DNS, HTTP, TLS and SSH traffic with real tools in
// network namespaces, captures it live (AF_PACKET, flow table, app layer)
// while tcpdump writes it to a file, then replays the file: live and
// replay must give the same app-layer events and app_proto labels, and
// every event must validate against Suricata's schema.
func TestLiveTraffic(t *testing.T) {
	requireNetns(t)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			requireTools(t, append([]string{"tcpdump"}, sc.tools...)...)
			l := newLab(t)
			sc.serve(t, l)
			pcap := filepath.Join(l.dir, sc.name+".pcap")
			stopDump := tcpdump(t, l, pcap)
			live := liveCapture(t, l)
			sc.run(t, l)
			time.Sleep(500 * time.Millisecond) // let the last frames reach both rings
			liveEvents := live()
			stopDump()
			replayEvents := replayPcap(t, pcap)
			if diff := cmp.Diff(appEvents(replayEvents), appEvents(liveEvents)); diff != "" {
				t.Errorf("live and replay differ (-replay +live):\n%s", diff)
			}
			var lines []byte
			for i := range liveEvents {
				lines = append(liveEvents[i].AppendJSON(lines), '\n')
			}
			eveschema.New(t).ValidateLines(t, lines)
			sc.check(t, filterApp(liveEvents))
			if *savePcaps != "" {
				b, err := os.ReadFile(pcap)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(*savePcaps, sc.name+".pcap"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// appEvents renders what live and replay must agree on: every app-layer
// event and the app_proto of every flow. The interface name is left out
// (a pcap file has none), and so is the timestamp: tcpdump's socket and
// sidewatch's ring stamp the same frame about a microsecond apart.
func appEvents(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.EventType == event.TypeFlow {
			out = append(out, fmt.Sprintf("flow %s:%d > %s:%d %s app_proto=%q", ev.SrcIP, ev.SrcPort, ev.DestIP, ev.DestPort, ev.Proto, ev.AppProto))
			continue
		}
		ev.InIface, ev.Timestamp = "", event.Time{}
		out = append(out, string(ev.AppendJSON(nil)))
	}
	slices.Sort(out)
	return out
}

func filterApp(evs []event.Event) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		if ev.EventType != event.TypeFlow {
			out = append(out, ev)
		}
	}
	return out
}

// liveCapture starts sidewatch's capture in the client namespace; the
// returned function stops it and returns the events.
func liveCapture(t *testing.T, l *lab) func() []event.Event {
	t.Helper()
	reg := metrics.New()
	var c *capture.Capture
	var err error
	inNetns(t, l.client, func() { c, err = capture.Open(capture.DefaultConfig(), reg) })
	if err != nil {
		t.Fatal(err)
	}
	out := &eventList{}
	table := flow.NewTable(flow.DefaultConfig(), out, reg, New(DefaultConfig(), out, reg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, table) }()
	return func() []event.Event {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("capture: %v", err)
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.all
	}
}

func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and AF_PACKET (CI runs tests as root)")
	}
	requireTools(t, "ip")
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages in .ci/apt/applayer.txt)", tool)
		}
	}
}

// newLab makes the client and server namespaces, IPv6 off so that router
// solicitations stay out of the captures, removed when t ends.
func newLab(t *testing.T) *lab {
	t.Helper()
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, labSeq.Add(1))
	l := &lab{client: "swapc-" + id, server: "swaps-" + id, veth: "swapv" + id, dir: t.TempDir()}
	for _, ns := range []string{l.client, l.server} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	peer := "swapp" + id
	run(t, "ip", "-n", l.client, "link", "add", l.veth, "type", "veth", "peer", "name", peer, "netns", l.server)
	run(t, "ip", "-n", l.client, "addr", "add", clientAddr+"/24", "dev", l.veth)
	run(t, "ip", "-n", l.server, "addr", "add", serverAddr+"/24", "dev", peer)
	run(t, "ip", "-n", l.client, "link", "set", l.veth, "up")
	run(t, "ip", "-n", l.server, "link", "set", peer, "up")
	// Neighbours resolved up front: no ARP in the middle of a capture.
	mac := func(ns, dev string) string {
		return strings.TrimSpace(run(t, "ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address"))
	}
	run(t, "ip", "-n", l.client, "neigh", "replace", serverAddr, "lladdr", mac(l.server, peer), "dev", l.veth)
	run(t, "ip", "-n", l.server, "neigh", "replace", clientAddr, "lladdr", mac(l.client, l.veth), "dev", peer)
	return l
}

var labSeq atomic.Int32

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in a namespace and returns its output.
func (l *lab) in(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// daemon starts a long-running command in a namespace, stopped when t
// ends, and waits until ready says it is up.
func (l *lab) daemon(t *testing.T, ns string, ready func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = l.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	for range 100 {
		if ready() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not start:\n%s", strings.Join(args, " "), out.String())
}

// listening reports whether something in ns listens on proto/port.
func (l *lab) listening(ns, proto string, port int) func() bool {
	return func() bool {
		flag := "-ltn"
		if proto == "udp" {
			flag = "-lun"
		}
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", flag).Output()
		return bytes.Contains(out, fmt.Appendf(nil, ":%d ", port))
	}
}

// tcpdump writes the client interface's frames to path with nanosecond
// timestamps; the returned function stops it.
func tcpdump(t *testing.T, l *lab, path string) func() {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.client, "tcpdump", "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-i", l.veth, "-w", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var seen []byte
		closed := false
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if !closed && bytes.Contains(seen, []byte("listening on")) {
				close(ready)
				closed = true
			}
			if err != nil {
				if !closed {
					close(ready)
				}
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	return func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}

// inNetns runs fn on a thread switched into namespace name.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}
