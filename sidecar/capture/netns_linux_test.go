package capture

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sidewatch/sidewatch/internal/netnstest"
)

var netnsSeq atomic.Int32

// requireNetns skips unless the test can create network namespaces.
func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns and AF_PACKET (CI runs tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip from iproute2 (.ci/apt/capture.txt)")
	}
	probe := fmt.Sprintf("swprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "not permitted") {
			t.Skipf("needs CAP_SYS_ADMIN to create network namespaces: %s", out)
		}
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

// newNetns creates a network namespace with lo up and IPv6 off (so router
// solicitations and DAD stay out of exact counts), removed when t ends.
func newNetns(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("swcap%d-%d", os.Getpid(), netnsSeq.Add(1))
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// vethPair links namespaces a and b with a veth pair, a's end named ifA
// with address addrA, b's end ifB with addrB (CIDR notation).
func vethPair(t testing.TB, a, ifA, addrA, b, ifB, addrB string) {
	t.Helper()
	sh(t, "ip", "-n", a, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b)
	sh(t, "ip", "-n", a, "addr", "add", addrA, "dev", ifA)
	sh(t, "ip", "-n", b, "addr", "add", addrB, "dev", ifB)
	sh(t, "ip", "-n", a, "link", "set", ifA, "up")
	sh(t, "ip", "-n", b, "link", "set", ifB, "up")
}

func sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs fn on a thread switched into namespace name, so sockets fn
// opens belong to it.
func inNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	netnstest.In(t, name, fn)
}
