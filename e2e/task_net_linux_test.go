package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// taskNet is the task's network namespace as awsvpc builds it on Fargate:
// lo, eth0 on the link-local metadata network and eth1, the task ENI
// (MTU 9001), whose peer in the root namespace plays the VPC.
type taskNet struct {
	name   string
	hostIP netip.Addr // the ENI's peer, where the test serves HTTP
	taskIP netip.Addr // eth1's address
}

func newTaskNet(t *testing.T) *taskNet {
	t.Helper()
	pid := os.Getpid()
	n := &taskNet{
		name:   fmt.Sprintf("swe2e%d", pid),
		hostIP: netip.AddrFrom4([4]byte{198, 18, byte(pid % 250), 1}),
		taskIP: netip.AddrFrom4([4]byte{198, 18, byte(pid % 250), 2}),
	}
	meta, eni := n.name+"m", n.name+"e"
	t.Cleanup(func() {
		// Deleting the namespace deletes eth0 and eth1 and so their peers;
		// the link deletes cover a failure half way through setup.
		for _, args := range [][]string{{"netns", "del", n.name}, {"link", "del", meta}, {"link", "del", eni}} {
			_ = exec.Command("ip", args...).Run()
		}
	})
	for _, args := range [][]string{
		{"netns", "add", n.name},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"link", "add", meta, "type", "veth", "peer", "name", "eth0", "netns", n.name},
		{"-n", n.name, "addr", "add", "169.254.172.2/22", "dev", "eth0"},
		{"-n", n.name, "link", "set", "eth0", "up"},
		{"link", "set", meta, "up"},
		{"link", "add", eni, "mtu", "9001", "type", "veth", "peer", "name", "eth1", "mtu", "9001", "netns", n.name},
		{"addr", "add", n.hostIP.String() + "/24", "dev", eni},
		{"link", "set", eni, "up"},
		{"-n", n.name, "addr", "add", n.taskIP.String() + "/24", "dev", "eth1"},
		{"-n", n.name, "link", "set", "eth1", "up"},
		{"-n", n.name, "route", "add", "default", "via", n.hostIP.String()},
	} {
		command(t, "", "ip", args...)
	}
	return n
}

// path is the namespace's bind mount, as runc's config.json references it.
func (n *taskNet) path() string { return "/var/run/netns/" + n.name }

// exec runs a command inside the task namespace, as an app container would.
func (n *taskNet) exec(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s", n.name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
