package detect

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lab is a Fargate-like task network made of namespaces:
//
//	T, the task: eth1 10.77.0.10/24 (the ENI, default route), eth0
//	  169.254.172.2/22 (the link to the metadata endpoints), lo
//	N, the network: 10.77.0.1 (the task's router, and an outside host),
//	  plus the servers' addresses 10.77.0.53 (dnsmasq), 10.77.0.54
//	  (iodined), 10.77.0.80 (web servers), 203.0.113.50 (a mining pool),
//	  203.0.113.66 and 203.0.113.68 (listed hosts); it does not forward, so
//	  anything else routed to it (10.78.0.0/16) is silently dropped
//	M, the metadata network: 169.254.169.254 and 169.254.170.2
type lab struct {
	t       *testing.T
	T, N, M string
	procs   []*proc
}

// proc is a background command and the channel closed when it exits.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

const (
	labTask       = "10.77.0.10"
	labRouter     = "10.77.0.1"
	labDNS        = "10.77.0.53"
	labIodined    = "10.77.0.54"
	labWeb        = "10.77.0.80"
	labPool       = "203.0.113.50"
	labListed     = "203.0.113.66"
	labListedHTTP = "203.0.113.68"
	labTaskEth0   = "169.254.172.2"
)

var labSeq atomic.Int32

// requireLab skips unless the test runs as root with ip and the tools.
func requireLab(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and AF_PACKET (CI runs tests as root)")
	}
	for _, tool := range append([]string{"ip", "dumpcap", "python3"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/apt/detect.txt)", tool)
		}
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	n := fmt.Sprintf("%d%d", os.Getpid()%100000, labSeq.Add(1))
	l := &lab{t: t, T: "sw-dT" + n, N: "sw-dN" + n, M: "sw-dM" + n}
	for _, ns := range []string{l.T, l.N, l.M} {
		l.sh("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		// ip netns exec gives the namespace its own resolv.conf from here:
		// the lab's dnsmasq for the task, nothing elsewhere (an unreachable
		// host resolver would make every reverse lookup wait 10 s).
		dir := "/etc/netns/" + ns
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		resolver := "127.0.0.1"
		if ns == l.T {
			resolver = labDNS
		}
		if err := os.WriteFile(dir+"/resolv.conf", []byte("nameserver "+resolver+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// No IPv6 chatter (router solicitations, MLD) in the captures; ICMP
		// errors unthrottled so that UDP scans run at nmap's pace.
		l.sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv4.icmp_ratelimit=0")
		l.sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	t.Cleanup(l.stopAll)
	// T eth1 <-> N nic.
	l.sh("ip", "link", "add", "swa"+n, "type", "veth", "peer", "name", "swb"+n)
	l.sh("ip", "link", "set", "swa"+n, "netns", l.T)
	l.sh("ip", "link", "set", "swb"+n, "netns", l.N)
	l.sh("ip", "-n", l.T, "link", "set", "swa"+n, "name", "eth1")
	l.sh("ip", "-n", l.N, "link", "set", "swb"+n, "name", "nic")
	// T eth0 <-> M nic.
	l.sh("ip", "link", "add", "swc"+n, "type", "veth", "peer", "name", "swd"+n)
	l.sh("ip", "link", "set", "swc"+n, "netns", l.T)
	l.sh("ip", "link", "set", "swd"+n, "netns", l.M)
	l.sh("ip", "-n", l.T, "link", "set", "swc"+n, "name", "eth0")
	l.sh("ip", "-n", l.M, "link", "set", "swd"+n, "name", "nic")

	l.sh("ip", "-n", l.T, "addr", "add", labTask+"/24", "dev", "eth1")
	l.sh("ip", "-n", l.T, "addr", "add", labTaskEth0+"/22", "dev", "eth0")
	l.sh("ip", "-n", l.N, "addr", "add", labRouter+"/24", "dev", "nic")
	for _, a := range []string{labDNS, labIodined, labWeb, labPool, labListed, labListedHTTP} {
		l.sh("ip", "-n", l.N, "addr", "add", a+"/32", "dev", "nic")
	}
	l.sh("ip", "-n", l.M, "addr", "add", "169.254.172.1/22", "dev", "nic")
	l.sh("ip", "-n", l.M, "addr", "add", "169.254.169.254/32", "dev", "nic")
	l.sh("ip", "-n", l.M, "addr", "add", "169.254.170.2/32", "dev", "nic")
	for _, ns := range []string{l.T, l.N, l.M} {
		for _, dev := range []string{"eth0", "eth1", "nic"} {
			exec.Command("ip", "-n", ns, "link", "set", dev, "up").Run()
		}
	}
	l.sh("ip", "-n", l.T, "route", "add", "default", "via", labRouter, "dev", "eth1")
	l.sh("ip", "-n", l.T, "route", "add", "169.254.169.254/32", "dev", "eth0")
	l.sh("ip", "-n", l.T, "route", "add", "169.254.170.2/32", "dev", "eth0")
	l.sh("ip", "-n", l.N, "route", "add", "10.78.0.0/16", "dev", "nic")
	l.sh("ip", "-n", l.M, "route", "add", labTaskEth0+"/32", "dev", "nic")
	// Resolve the neighbours now, so that ARP does not delay the first
	// packets of a scenario.
	l.sh("ip", "netns", "exec", l.T, "ping", "-c1", "-W1", labRouter)
	l.sh("ip", "netns", "exec", l.T, "ping", "-c1", "-W1", "169.254.169.254")
	return l
}

// sh runs a command in the host namespace and fails the test on error.
func (l *lab) sh(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in namespace ns, failing the test on error.
func (l *lab) in(ns string, args ...string) string {
	l.t.Helper()
	return l.sh("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// try runs a command in ns and returns its output whatever its status.
func (l *lab) try(ns string, args ...string) string {
	out, _ := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out)
}

// start runs a background command in ns, waiting until its output holds
// ready (if not empty).
func (l *lab) start(ns, ready string, args ...string) *proc {
	l.t.Helper()
	return l.startIn("", ns, ready, args...)
}

// startIn is start with the command running in directory dir.
func (l *lab) startIn(dir, ns, ready string, args ...string) *proc {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Dir = dir
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %v: %v", args, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	l.procs = append(l.procs, p)
	seen := make(chan struct{})
	out := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		found := ready == ""
		if found {
			close(seen)
		}
		var lines strings.Builder
		for sc.Scan() {
			lines.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), ready) {
				found = true
				close(seen)
			}
		}
		out <- lines.String()
	}()
	go func() {
		cmd.Wait()
		w.Close()
		close(p.done)
	}()
	select {
	case <-seen:
	case <-p.done:
		l.t.Fatalf("%v exited before printing %q:\n%s", args, ready, <-out)
	case <-time.After(15 * time.Second):
		l.t.Fatalf("%v did not print %q within 15 s", args, ready)
	}
	return p
}

// stop ends a background command: SIGINT, then SIGKILL after 3 s.
func (l *lab) stop(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (l *lab) stopAll() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.stop(l.procs[i])
	}
	l.procs = nil
}

// waitPort waits until something listens on TCP or UDP port in ns.
func (l *lab) waitPort(ns, proto string, port int) {
	l.t.Helper()
	flag := "-ltn"
	if proto == "udp" {
		flag = "-lun"
	}
	for range 100 {
		if strings.Contains(l.try(ns, "ss", flag), fmt.Sprintf(":%d ", port)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("nothing listens on %s %d in %s", proto, port, ns)
}

// record captures the task's interfaces with dumpcap into a pcapng file
// (interface names kept) until the returned function is called.
func (l *lab) record(path string) func() {
	l.t.Helper()
	p := l.start(l.T, "Capturing", "dumpcap", "-i", "eth0", "-i", "eth1", "-i", "lo", "-w", path)
	// dumpcap says "Capturing" as it starts opening the interfaces.
	time.Sleep(500 * time.Millisecond)
	return func() {
		time.Sleep(1500 * time.Millisecond) // dumpcap hands over blocks when they time out
		l.stop(p)
	}
}
