package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

const corpusDir = "../../sidecar/detect/testdata"

// events decodes JSON lines.
func events(t *testing.T, out []byte) []event.Event {
	t.Helper()
	var evs []event.Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestReplayDetections replays each capture of the detection corpus with
// `sidewatch replay` and its flags, as a user would, and checks that it
// prints exactly the alerts the detect package's golden files hold, and
// that the flows they name say alerted: true.
func TestReplayDetections(t *testing.T) {
	goldens, _ := filepath.Glob(filepath.Join(corpusDir, "*.alerts.jsonl"))
	if len(goldens) == 0 {
		t.Fatal("no golden alert files in " + corpusDir)
	}
	intelFile, err := filepath.Abs(filepath.Join(corpusDir, "intel.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range goldens {
		name := strings.TrimSuffix(filepath.Base(golden), ".alerts.jsonl")
		t.Run(name, func(t *testing.T) {
			var c struct {
				Replay ReplayCmd `cmd:""`
			}
			parser, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong exited") }))
			if err != nil {
				t.Fatal(err)
			}
			pcap, _ := filepath.Abs(filepath.Join(corpusDir, name+".pcapng"))
			if _, err := parser.Parse([]string{"replay", "--home-net=10.77.0.10,169.254.172.2",
				"--detect-credentials-path=/v2/credentials/5f1e9c2a-8d3b-4c7e-9a10-2b6d4e8f0c13", "--detect-intel-files=" + intelFile, pcap}); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if err := c.Replay.Run(replayEnv(&stdout, &stderr)); err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr.String())
			}
			var alerts []byte
			alerted := map[uint64]bool{}
			for _, line := range bytes.SplitAfter(stdout.Bytes(), []byte("\n")) {
				if bytes.Contains(line, []byte(`"event_type":"alert"`)) {
					alerts = append(alerts, line...)
				}
				if bytes.Contains(line, []byte(`"event_type":"flow"`)) && bytes.Contains(line, []byte(`"alerted":true`)) {
					alerted[events(t, line)[0].FlowID] = true
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(alerts)); diff != "" {
				t.Errorf("alerts of sidewatch replay %s (-golden +got):\n%s", name, diff)
			}
			for _, a := range events(t, alerts) {
				if a.FlowID != 0 && !alerted[a.FlowID] {
					t.Errorf("alert %d names flow %d, whose flow event is not alerted", a.Alert.SignatureID, a.FlowID)
				}
			}
			if !strings.Contains(stderr.String(), "alerts_total") && len(want) > 0 {
				t.Errorf("replay summary has no detect counters:\n%s", stderr.String())
			}
		})
	}
}

// TestRunRaisesAlerts runs `sidewatch run` in a task-like namespace and
// checks the detections are wired into it: a port scan of the task (by a
// real nmap) and a connection to 169.254.169.254 raise alerts from the
// packet path; a container's log record with an AWS key and a JNDI lookup
// raise log alerts naming the container and not holding the secret; every
// alert is valid EVE and the scan's flows are marked alerted.
func TestRunRaisesAlerts(t *testing.T) {
	requireRootTools(t, "ip", "nmap", "curl", "python3")
	bin := buildSidewatch(t)
	ns, peer := netns(t, "det"), netns(t, "detpeer")
	linkPair(t, ns, peer, "10.97.0")
	sh(t, "ip", "-n", peer, "addr", "add", "169.254.169.254/32", "dev", "eth1")
	sh(t, "ip", "-n", ns, "route", "add", "169.254.169.254/32", "dev", "eth1")
	background(t, peer, "python3", "-m", "http.server", "--bind", "169.254.169.254", "--directory", t.TempDir(), "80")
	waitListening(t, peer, "-tln", "169.254.169.254:80")

	run := startInNetns(t, ns, bin, "run", "--no-launcher", "--stats-interval", "0",
		"--health-addr", "127.0.0.1:9901", "--syslog-tcp-addr", "127.0.0.1:1514", "--syslog-udp-addr", "")
	const (
		keyID  = "AKIAQ3EGTRZ5XJ7WLMNP"
		secret = "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"
	)
	sh(t, "ip", "netns", "exec", peer, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", "10.97.0.1")
	sh(t, "ip", "netns", "exec", ns, "curl", "-s", "-o", os.DevNull, "http://169.254.169.254/latest/meta-data/")
	logs := "<14>Dec  2 07:00:00 ip-10-97-0-1 web[1]: deploying with AWS_ACCESS_KEY_ID=" + keyID + " AWS_SECRET_ACCESS_KEY=" + secret + "\n" +
		"<14>Dec  2 07:00:01 ip-10-97-0-1 web[1]: GET /?q=${${lower:j}ndi:ldap://10.97.0.2:1389/x} 404\n"
	sh(t, "ip", "netns", "exec", ns, "python3", "-c",
		"import socket,sys; s=socket.create_connection(('127.0.0.1',1514)); s.sendall(sys.argv[1].encode()); s.close()", logs)
	time.Sleep(500 * time.Millisecond)
	stdout := run.stop(t)
	out := stdout
	eveschema.New(t).ValidateLines(t, out)
	var sids []int
	alerted := map[uint64]bool{}
	for _, e := range events(t, out) {
		switch e.EventType {
		case event.TypeAlert:
			sids = append(sids, e.Alert.SignatureID)
			// The log event carries the record as it came; the alert must not.
			if line := e.AppendJSON(nil); bytes.Contains(line, []byte(secret)) {
				t.Errorf("alert %d holds the secret: %s", e.Alert.SignatureID, line)
			}
			if e.Alert.SignatureID >= 9000701 && e.ECS.Container.Name != "web" {
				t.Errorf("log alert %d names container %q, want web", e.Alert.SignatureID, e.ECS.Container.Name)
			}
		case event.TypeFlow:
			alerted[e.FlowID] = e.Flow.Alerted
		}
	}
	slices.Sort(sids)
	if want := []int{9000101, 9000401, 9000701, 9000704}; !slices.Equal(sids, want) {
		t.Errorf("alerts %v, want %v\n%s", sids, want, out)
	}
	for _, e := range events(t, out) {
		if e.EventType == event.TypeAlert && e.FlowID != 0 && !alerted[e.FlowID] {
			t.Errorf("alert %d: flow %d not alerted", e.Alert.SignatureID, e.FlowID)
		}
	}
}

// runningNetns is a sidewatch process in a network namespace.
type runningNetns struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startInNetns starts the sidewatch binary with args in namespace ns and
// waits until `sidewatch health` says it is healthy.
func startInNetns(t *testing.T, ns, bin string, args ...string) *runningNetns {
	t.Helper()
	r := &runningNetns{cmd: exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exec.Command("ip", "netns", "exec", ns, bin, "health").Run() == nil {
			return r
		}
	}
	t.Fatalf("sidewatch never healthy; stderr:\n%s", r.stderr.String())
	return nil
}

// stop sends SIGTERM, waits for a clean exit and returns stdout.
func (r *runningNetns) stop(t *testing.T) []byte {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("sidewatch after SIGTERM: %v; stderr:\n%s", err, r.stderr.String())
	}
	return r.stdout.Bytes()
}
