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

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// liveRules are rules in ET Open's style for the traffic of TestRulesLive.
const liveRules = `alert dns $HOME_NET any -> any any (msg:"LOCAL MALWARE Observed DNS Query to Known Bad Domain (evil.example.test)"; dns.query; dotprefix; content:".evil.example.test"; nocase; endswith; classtype:trojan-activity; sid:1000101; rev:1; metadata:created_at 2026_12_02;)
alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"LOCAL SCAN sqlmap User-Agent"; flow:established,to_server; http.user_agent; content:"sqlmap/"; startswith; classtype:web-application-attack; sid:1000102; rev:1;)
alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"LOCAL MALWARE TLS SNI of Known Bad Host (c2.evil.example.test)"; flow:established,to_server; tls.sni; content:"c2.evil.example.test"; startswith; endswith; fast_pattern; classtype:domain-c2; sid:1000103; rev:1;)
alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"LOCAL never: a user agent nobody sends"; http.user_agent; content:"NoSuchAgent"; sid:1000109;)
`

// ja3Rule is added once the JA3 of the test's openssl s_client is known,
// and loaded by SIGHUP.
const ja3Rule = `alert tls $HOME_NET any -> any any (msg:"LOCAL JA3 Hash of the Test Tool (openssl s_client)"; ja3.hash; content:"%s"; classtype:unknown; sid:1000104; rev:1;)
`

type liveAlert struct {
	SID      int
	Src, Dst string
	Proto    string
}

// TestRulesLive fires rules at traffic made by real tools in network
// namespaces (dig against dnsmasq, curl with a scanner's user agent,
// openssl s_client with an SNI), captured live by `sidewatch run --rules`
// and again by `sidewatch replay --rules` from a tcpdump capture of the
// same traffic; a JA3 rule written from tshark's JA3 of the first TLS
// connection is loaded by SIGHUP and fires on the second.
func TestRulesLive(t *testing.T) {
	requireRootTools(t, "ip", "dnsmasq", "dig", "curl", "python3", "openssl", "tcpdump", "tshark")
	bin := buildSidewatch(t)
	dir := t.TempDir()
	ns, peer := netns(t, "rl"), netns(t, "rp")
	linkPair(t, ns, peer, "10.96.0")

	// The servers, on the peer.
	background(t, peer, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
		"--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--listen-address=10.96.0.2", "--bind-interfaces",
		"--address=/evil.example.test/10.96.0.2", "--address=/good.example.test/10.96.0.2")
	background(t, peer, "python3", "-m", "http.server", "--bind", "10.96.0.2", "8080", "--directory", dir)
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	sh(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=c2.evil.example.test")
	background(t, peer, "openssl", "s_server", "-quiet", "-accept", "10.96.0.2:8443", "-key", key, "-cert", cert, "-tls1_2")
	waitListening(t, peer, "-uln", "10.96.0.2:53")
	waitListening(t, peer, "-tln", "10.96.0.2:8080")
	waitListening(t, peer, "-tln", "10.96.0.2:8443")

	// A capture of the same traffic, for replay and for tshark's JA3.
	pcap := filepath.Join(dir, "traffic.pcap")
	tcpdump := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", "eth1", "-U", "-s", "0", "-w", pcap)
	if err := tcpdump.Start(); err != nil {
		t.Fatal(err)
	}
	defer tcpdump.Process.Kill()

	rulesFile := filepath.Join(dir, "local.rules")
	if err := os.WriteFile(rulesFile, []byte(liveRules), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--no-launcher", "--stats-interval", "0",
		"--health-addr", "127.0.0.1:9901", "--syslog-tcp-addr", "", "--syslog-udp-addr", "",
		"--rules", rulesFile, "--rules-reload", "0")
	cmd.Env = append(os.Environ(), "SIDEWATCH_LOG_FORMAT=json")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitHealthy(t, ns, bin, &stderr)
	if !strings.Contains(stderr.String(), `"loaded":4`) {
		t.Fatalf("rules not loaded: %s", stderr.String())
	}

	in := func(args ...string) string {
		t.Helper()
		return sh(t, "ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	in("dig", "@10.96.0.2", "+tries=1", "+time=2", "www.evil.example.test", "A")
	in("dig", "@10.96.0.2", "+tries=1", "+time=2", "www.good.example.test", "A")
	in("curl", "-sS", "-o", "/dev/null", "-A", "sqlmap/1.7.2#stable (https://sqlmap.org)", "http://10.96.0.2:8080/")
	in("curl", "-sS", "-o", "/dev/null", "-A", "Mozilla/5.0", "http://10.96.0.2:8080/")
	sClient := func() {
		t.Helper()
		in("sh", "-c", "echo | timeout 10 openssl s_client -connect 10.96.0.2:8443 -servername c2.evil.example.test -tls1_2 >/dev/null 2>&1 || true")
	}
	sClient()

	// The first ClientHello's JA3, as tshark computes it, becomes a rule.
	var ja3 string
	for deadline := time.Now().Add(10 * time.Second); ja3 == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("tshark", "-r", pcap, "-o", "tls.desegment_ssl_records:TRUE", "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.ja3").Output()
		ja3 = strings.TrimSpace(strings.Split(string(out), "\n")[0])
	}
	if len(ja3) != 32 {
		t.Fatalf("tshark found no JA3 in the capture: %q", ja3)
	}
	if err := os.WriteFile(rulesFile, []byte(liveRules+fmt.Sprintf(ja3Rule, ja3)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), `"loaded":5`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the rules: %s", stderr.String())
		}
	}
	sClient()

	// tcpdump stops at once on SIGTERM, losing what its ring still holds:
	// wait until the capture has both TLS connections' FINs.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("tshark", "-r", pcap, "-Y", "tcp.port == 8443 && tcp.flags.fin == 1", "-T", "fields", "-e", "frame.number").Output()
		if strings.Count(string(out), "\n") >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture lacks the TLS connections' FINs")
		}
	}
	time.Sleep(300 * time.Millisecond) // the last packets into sidewatch's ring
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run: %v\n%s", err, stderr.String())
	}
	tcpdump.Process.Signal(syscall.SIGTERM)
	tcpdump.Wait()

	live := []byte(stdout.String())
	eveschema.New(t).ValidateLines(t, live)
	gotLive, alertedLive := liveAlerts(t, live)
	// One alert per signature, source and destination within the
	// detection engine's dedup window: the second TLS connection's SNI
	// alert is counted, not written.
	wantLive := []liveAlert{
		{1000101, "10.96.0.1", "10.96.0.2:53", "UDP"},
		{1000102, "10.96.0.1", "10.96.0.2:8080", "TCP"},
		{1000103, "10.96.0.1", "10.96.0.2:8443", "TCP"},
		{1000104, "10.96.0.1", "10.96.0.2:8443", "TCP"}, // only the connection after SIGHUP
	}
	if !slices.Equal(gotLive, wantLive) {
		t.Errorf("live alerts:\n got %v\nwant %v\nstdout:\n%s", gotLive, wantLive, live)
	}
	if alertedLive < 3 {
		t.Errorf("%d flow events say alerted, want the dns, http and tls flows at least", alertedLive)
	}

	// Replay of the capture with the final rules: the same alerts (the JA3
	// rule now from the first TLS connection).
	var rep, repErr bytes.Buffer
	replay := exec.Command(bin, "replay", "--rules", rulesFile, "--home-net", "10.96.0.1", pcap)
	replay.Stdout, replay.Stderr = &rep, &repErr
	if err := replay.Run(); err != nil {
		t.Fatalf("replay: %v\n%s", err, repErr.String())
	}
	eveschema.New(t).ValidateLines(t, rep.Bytes())
	gotReplay, _ := liveAlerts(t, rep.Bytes())
	wantReplay := wantLive
	if !slices.Equal(gotReplay, wantReplay) {
		conv, _ := exec.Command("tshark", "-r", pcap, "-q", "-z", "conv,tcp").CombinedOutput()
		t.Errorf("replay alerts:\n got %v\nwant %v\ncapture:\n%s\nreplay:\n%s", gotReplay, wantReplay, conv, rep.String())
	}
}

// liveAlerts returns the alerts of JSON lines, sorted, and the number of
// flow events marked alerted.
func liveAlerts(t *testing.T, out []byte) ([]liveAlert, int) {
	t.Helper()
	var got []liveAlert
	alerted := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: %v", sc.Bytes(), err)
		}
		switch {
		case ev.EventType == event.TypeAlert:
			got = append(got, liveAlert{ev.Alert.SignatureID, ev.SrcIP.String(), fmt.Sprintf("%s:%d", ev.DestIP, ev.DestPort), ev.Proto})
		case ev.Flow != nil && ev.Flow.Alerted:
			alerted++
		}
	}
	slices.SortFunc(got, compareAlerts)
	return got, alerted
}

func compareAlerts(a, b liveAlert) int {
	if a.SID != b.SID {
		return a.SID - b.SID
	}
	return strings.Compare(a.Dst, b.Dst)
}

// waitHealthy waits for the sidecar in namespace ns to report healthy.
func waitHealthy(t *testing.T, ns, bin string, stderr fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exec.Command("ip", "netns", "exec", ns, bin, "health").Run() == nil {
			return
		}
	}
	t.Fatalf("sidewatch never healthy; stderr:\n%s", stderr.String())
}

// TestRunRulesIPOnly runs `sidewatch run --rules` in a task-like namespace
// with IP-only rules: HOME_NET is the namespace's own addresses, alerts
// carry the rule's identity and the flow says alerted, and SIGHUP reloads
// the rules after the privilege drop.
func TestRunRulesIPOnly(t *testing.T) {
	requireRootTools(t, "ip", "socat", "curl")
	bin := buildSidewatch(t)
	dir := t.TempDir()
	ns, peer := netns(t, "ri"), netns(t, "rj")
	linkPair(t, ns, peer, "10.95.0")
	background(t, peer, "socat", "UDP4-RECVFROM:7000,bind=10.95.0.2,fork", "PIPE")
	waitListening(t, peer, "-uln", "10.95.0.2:7000")

	rulesFile := filepath.Join(dir, "local.rules")
	os.WriteFile(rulesFile, []byte(`alert udp $HOME_NET any -> $EXTERNAL_NET 7000 (msg:"LOCAL UDP 7000 out"; classtype:policy-violation; sid:1000201; rev:2;)
alert tcp $HOME_NET any -> 10.95.0.2 9 (msg:"LOCAL TCP discard port"; flow:to_server; sid:1000202;)
alert ip $EXTERNAL_NET any -> $EXTERNAL_NET any (msg:"LOCAL never: the task's address is home"; sid:1000203;)
alert tcp $HOME_NET any -> any 9 (msg:"LOCAL listed server (intel list)"; iprep:dst,servers.txt,isset; sid:1000205;)
`), 0o644)
	// An intel file: the built-in intel detection and the rules share it.
	intelFile := filepath.Join(dir, "servers.txt")
	os.WriteFile(intelFile, []byte("# test servers\n10.95.0.2\n"), 0o644)
	// The dropped user must be able to read the rules to reload them.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--no-launcher", "--stats-interval", "0", "--user", "65534:65534",
		"--health-addr", "127.0.0.1:9901", "--syslog-tcp-addr", "", "--syslog-udp-addr", "", "--rules", rulesFile, "--detect-intel-files", intelFile)
	cmd.Env = append(os.Environ(), "SIDEWATCH_LOG_FORMAT=json")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitHealthy(t, ns, bin, &stderr)
	in := func(args ...string) {
		t.Helper()
		exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).Run()
	}
	in("sh", "-c", "printf hello | socat -T2 - UDP4:10.95.0.2:7000,sourceport=41000")
	in("curl", "-sS", "--local-port", "41001", "http://10.95.0.2:9/")

	// A rule added and loaded by SIGHUP, as the dropped user.
	f, err := os.OpenFile(rulesFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`alert udp $HOME_NET 41002 -> any any (msg:"LOCAL added by reload"; sid:1000204;)` + "\n")
	f.Close()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), `"loaded":5`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the rules: %s", stderr.String())
		}
	}
	in("sh", "-c", "printf again | socat -T2 - UDP4:10.95.0.2:7000,sourceport=41002")
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run: %v\n%s", err, stderr.String())
	}
	out := []byte(stdout.String())
	eveschema.New(t).ValidateLines(t, out)
	all, alerted := liveAlerts(t, out)
	var got []liveAlert
	builtinIntel := 0
	for _, a := range all {
		switch {
		case a.SID == 9000601: // the built-in intel detection, on the same file
			builtinIntel++
		case a.SID < detect.BuiltinSIDMin:
			got = append(got, a)
		}
	}
	want := []liveAlert{ // the second UDP flow's 1000201 is deduplicated
		{1000201, "10.95.0.1", "10.95.0.2:7000", "UDP"},
		{1000202, "10.95.0.1", "10.95.0.2:9", "TCP"},
		{1000204, "10.95.0.1", "10.95.0.2:7000", "UDP"},
		{1000205, "10.95.0.1", "10.95.0.2:9", "TCP"},
	}
	if builtinIntel == 0 {
		t.Errorf("no built-in intel alert (9000601) for the listed server")
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v\nstdout:\n%s\nstderr:\n%s", got, want, out, stderr.String())
	}
	if alerted != 3 {
		t.Errorf("%d flow events say alerted, want 3", alerted)
	}
	if !strings.Contains(stderr.String(), `"msg":"rules loaded"`) || !strings.Contains(stderr.String(), `"loaded":4`) {
		t.Errorf("no rules report in the log:\n%s", stderr.String())
	}
}
