package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

func requireRootTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns, AF_PACKET and --user (CI runs tests as root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages in .ci/apt/capture.txt)", tool)
		}
	}
	if slices.Contains(tools, "ip") {
		probe := fmt.Sprintf("swprobe%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "not permitted") {
				t.Skipf("needs CAP_SYS_ADMIN to create network namespaces: %s", out)
			}
			t.Fatalf("ip netns add: %v\n%s", err, out)
		}
		exec.Command("ip", "netns", "del", probe).Run()
	}
}

// linkPair joins namespaces ns and peer with a veth pair, eth1 on both
// sides, addressed net.1/24 in ns and net.2/24 in peer, and up.
func linkPair(t *testing.T, ns, peer, net string) {
	t.Helper()
	sh(t, "ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", peer)
	sh(t, "ip", "-n", ns, "addr", "add", net+".1/24", "dev", "eth1")
	sh(t, "ip", "-n", peer, "addr", "add", net+".2/24", "dev", "eth1")
	sh(t, "ip", "-n", ns, "link", "set", "eth1", "up")
	sh(t, "ip", "-n", peer, "link", "set", "eth1", "up")
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns creates a network namespace with lo up and IPv6 off (no router
// solicitations or DAD in exact counts), removed when t ends.
func netns(t *testing.T, name string) string {
	t.Helper()
	name = fmt.Sprintf("sw%s%d", name, os.Getpid())
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// background starts a long-running program in namespace ns, stopped when t
// ends.
func background(t *testing.T, ns string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// waitListening waits until ss, with flags, lists a socket bound to addr in
// namespace ns.
func waitListening(t *testing.T, ns, flags, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-H", flags).Output()
		if strings.Contains(string(out), addr) {
			return
		}
	}
	t.Fatalf("nothing listens on %s in %s", addr, ns)
}

// TestRunWithoutNetRaw checks that run refuses to start without
// CAP_NET_RAW, naming the capability and the way out.
func TestRunWithoutNetRaw(t *testing.T) {
	requireRootTools(t)
	// nobody must be able to reach the binary: t.TempDir's parent is 0700.
	dir, err := os.MkdirTemp("", "sidewatch-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "sidewatch")
	b, err := os.ReadFile(buildSidewatch(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--no-launcher", "--health-addr", "")
	cmd.Env = append(os.Environ(), "SIDEWATCH_LOG_FORMAT=json",
		"SIDEWATCH_SYSLOG_TCP_ADDR=127.0.0.1:0", "SIDEWATCH_SYSLOG_UDP_ADDR=127.0.0.1:0")
	// nobody, with no capabilities.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("run as nobody: %v (exit %d), want exit 1; stderr:\n%s", err, code, stderr.String())
	}
	for _, want := range []string{"CAP_NET_RAW", "--no-capture"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestRunCapturesNamespace runs the built `sidewatch run --user 65534` in a
// network namespace linked to a peer by a veth pair, makes traffic with
// socat, ping and curl, sends a log line to its syslog receiver, stops it
// with SIGTERM and checks the flow events with exact packet and byte counts:
// loopback counted once, the receiver port 1514 and the health checks
// absent, no kernel drops.
func TestRunCapturesNamespace(t *testing.T) {
	requireRootTools(t, "ip", "socat", "ping", "curl")
	bin := buildSidewatch(t)
	ns, peer := netns(t, "run"), netns(t, "peer")
	linkPair(t, ns, peer, "10.97.0")

	background(t, peer, "socat", "UDP4-RECVFROM:7000,bind=10.97.0.2,fork", "PIPE")
	background(t, ns, "socat", "UDP4-RECVFROM:7001,bind=127.0.0.1,fork", "PIPE")
	waitListening(t, peer, "-uln", "10.97.0.2:7000")
	waitListening(t, ns, "-uln", "127.0.0.1:7001")

	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--no-launcher", "--user", "65534:65534",
		"--stats-interval", "0", "--health-addr", "127.0.0.1:9901")
	cmd.Env = append(os.Environ(), "SIDEWATCH_LOG_FORMAT=json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	healthy := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exec.Command("ip", "netns", "exec", ns, bin, "health").Run() == nil {
			healthy = true
			break
		}
	}
	if !healthy {
		t.Fatalf("sidewatch never healthy; stderr:\n%s", stderr.String())
	}
	status := sh(t, "grep", "-E", "^(Uid|CapEff)", fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if !strings.Contains(status, "65534") || !strings.Contains(status, "0000000000000000") {
		t.Errorf("sidewatch run --user: /proc status %q, want uid 65534 and no capabilities", status)
	}

	run := func(args ...string) string {
		t.Helper()
		return sh(t, "ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	if got := run("sh", "-c", "printf hello | socat -T2 - UDP4:10.97.0.2:7000,sourceport=40000"); got != "hello" {
		t.Errorf("udp over eth1 = %q, want the echo", got)
	}
	if got := run("sh", "-c", "printf 0123456789 | socat -T2 - UDP4:127.0.0.1:7001,sourceport=40002"); got != "0123456789" {
		t.Errorf("udp over lo = %q, want the echo", got)
	}
	// One log line to the syslog receiver: its traffic must not be a flow.
	run("sh", "-c", "printf '<14>Nov 22 06:00:00 web app[1]: hello\\n' | socat -T2 - TCP4:127.0.0.1:1514")
	run("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.97.0.2")
	refused := exec.Command("ip", "netns", "exec", ns, "curl", "-sS", "--local-port", "40001", "http://10.97.0.2:9/")
	if out, err := refused.CombinedOutput(); refused.ProcessState.ExitCode() != 7 { // 7: could not connect
		t.Errorf("curl to a closed port: %v, %s; want exit 7", err, out)
	}

	// No wait: after SIGTERM, run reads the ring's last block before it
	// flushes the flows.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}

	type flow struct {
		Iface, Proto, Src, Dst string
		Pkts, Bytes            [2]uint64
		Reason                 string
	}
	// Every event, stats included, is EVE as Suricata's schema (with
	// sidewatch's declared additions) says.
	eveschema.New(t).ValidateLines(t, stdout.Bytes())
	var got []flow
	var capStats, ownCapStats, decoder map[string]any
	logs := 0
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
		switch e.EventType {
		case event.TypeFlow:
			f := flow{Iface: e.InIface, Proto: e.Proto, Src: e.SrcIP.String(), Dst: e.DestIP.String(),
				Pkts: [2]uint64{e.Flow.PktsToServer, e.Flow.PktsToClient}, Bytes: [2]uint64{e.Flow.BytesToServer, e.Flow.BytesToClient}, Reason: e.Flow.Reason}
			if e.SrcPort != 0 {
				f.Src, f.Dst = fmt.Sprintf("%s:%d", f.Src, e.SrcPort), fmt.Sprintf("%s:%d", f.Dst, e.DestPort)
			}
			got = append(got, f)
		case event.TypeLog:
			logs++
		case event.TypeStats:
			var raw struct {
				Stats map[string]any `json:"stats"`
			}
			json.Unmarshal(sc.Bytes(), &raw)
			capStats, _ = raw.Stats["capture"].(map[string]any)
			decoder, _ = raw.Stats["decoder"].(map[string]any)
			own, _ := raw.Stats["sidewatch"].(map[string]any)
			ownCapStats, _ = own["capture"].(map[string]any)
		}
	}
	slices.SortFunc(got, func(a, b flow) int { return strings.Compare(a.Proto+a.Dst, b.Proto+b.Dst) })
	// Frame sizes: 14 Ethernet + 20 IPv4 + 8 UDP + payload; ICMP echo 98; a
	// SYN with options 74, RST-ACK 54.
	want := []flow{
		{"eth1", "ICMP", "10.97.0.1", "10.97.0.2", [2]uint64{2, 2}, [2]uint64{196, 196}, "shutdown"},
		{"eth1", "TCP", "10.97.0.1:40001", "10.97.0.2:9", [2]uint64{1, 1}, [2]uint64{74, 54}, "shutdown"},
		{"eth1", "UDP", "10.97.0.1:40000", "10.97.0.2:7000", [2]uint64{1, 1}, [2]uint64{47, 47}, "shutdown"},
		{"lo", "UDP", "127.0.0.1:40002", "127.0.0.1:7001", [2]uint64{1, 1}, [2]uint64{52, 52}, "shutdown"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flow events mismatch (-want +got):\n%s\nstdout:\n%s", diff, stdout.String())
	}
	if logs != 1 {
		t.Errorf("got %d log events, want the 1 line sent to the receiver; stdout:\n%s", logs, stdout.String())
	}
	if capStats == nil || ownCapStats == nil || decoder == nil {
		t.Fatalf("no capture, decoder or sidewatch.capture group in the final stats event; stdout:\n%s", stdout.String())
	}
	// Suricata's names for what Suricata counts, sidewatch's own apart.
	if drops, ok := capStats["kernel_drops"].(float64); !ok || drops != 0 {
		t.Errorf("stats capture.kernel_drops = %v, want 0", capStats["kernel_drops"])
	}
	if pkts, _ := capStats["kernel_packets"].(float64); pkts < 12 {
		t.Errorf("stats capture.kernel_packets = %v, want at least the 12 packets of the flows", pkts)
	}
	if pkts, _ := ownCapStats["packets_total"].(float64); pkts < 12 {
		t.Errorf("stats sidewatch.capture.packets_total = %v, want at least the 12 packets of the flows", pkts)
	}
	if n, _ := decoder["ipv4"].(float64); n < 10 || decoder["pkts"] != ownCapStats["packets_total"] {
		t.Errorf("stats decoder %v: want ipv4 >= 10 (the packets of the flows) and pkts = sidewatch.capture.packets_total (%v)", decoder, ownCapStats["packets_total"])
	}
}

// fargateCaps is Docker's default capability set, which Fargate grants
// (docs: fargate.md §1).
const fargateCaps = "+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap"

// TestRunUnderCapabilitySets runs `sidewatch run` as root with its bounding
// set cut (setpriv) to Fargate's default capabilities, to NET_RAW alone, and
// to Fargate's minus NET_RAW, and checks that it captures, or fails naming
// CAP_NET_RAW.
func TestRunUnderCapabilitySets(t *testing.T) {
	requireRootTools(t, "ip", "setpriv", "ping")
	bin := buildSidewatch(t)
	tests := []struct {
		name     string
		bounding string
		args     []string
		wantErr  string // empty: runs and captures
	}{
		{"fargate_default_with_user", "-all," + fargateCaps, []string{"--user", "65532"}, ""},
		{"net_raw_only", "-all,+net_raw", nil, ""},
		{"fargate_without_net_raw", "-all," + strings.ReplaceAll(fargateCaps, "+net_raw,", ""), nil, "CAP_NET_RAW"},
		{"user_without_setuid", "-all,+net_raw", []string{"--user", "65532"}, "setgroups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := netns(t, "caps")
			args := append([]string{"netns", "exec", ns, "setpriv", "--bounding-set", tt.bounding, "--inh-caps", "-all",
				bin, "run", "--no-launcher", "--stats-interval", "0", "--health-addr", "127.0.0.1:9901"}, tt.args...)
			cmd := exec.Command("ip", args...)
			cmd.Env = append(os.Environ(), "SIDEWATCH_LOG_FORMAT=json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if tt.wantErr != "" {
				err := cmd.Run()
				if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("run: %v (exit %d), want exit 1 naming %q; stderr:\n%s", err, code, tt.wantErr, stderr.String())
				}
				return
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if exec.Command("ip", "netns", "exec", ns, bin, "health").Run() == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("never healthy; stderr:\n%s", stderr.String())
				}
			}
			sh(t, "ip", "netns", "exec", ns, "ping", "-c", "1", "127.0.0.1")
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), `"event_type":"flow","src_ip":"127.0.0.1","dest_ip":"127.0.0.1","proto":"ICMP"`) {
				t.Errorf("no ICMP flow event on lo; stdout:\n%s", stdout.String())
			}
		})
	}
}
