package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// TestRunAppLayer runs `sidewatch run` in a namespace while curl fetches a
// page over HTTP and dig resolves a name, and checks that the app layer is
// wired into run: an http event, the dns request and response, and the
// flows' app_proto.
func TestRunAppLayer(t *testing.T) {
	requireRootTools(t, "ip", "curl", "python3", "dnsmasq", "dig")
	bin := buildSidewatch(t)
	ns, peer := netns(t, "app"), netns(t, "apppeer")
	linkPair(t, ns, peer, "10.96.0")
	background(t, peer, "python3", "-m", "http.server", "--bind", "10.96.0.2", "--directory", t.TempDir(), "8080")
	background(t, peer, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
		"--pid-file="+t.TempDir()+"/dnsmasq.pid", "--listen-address=10.96.0.2", "--bind-interfaces", "--host-record=svc.test,10.96.0.80")
	waitListening(t, peer, "-tln", "10.96.0.2:8080")
	waitListening(t, peer, "-uln", "10.96.0.2:53")

	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--no-launcher", "--stats-interval", "0", "--health-addr", "127.0.0.1:9901")
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
	sh(t, "ip", "netns", "exec", ns, "curl", "-sS", "-o", os.DevNull, "-A", "sidewatch-run-test", "http://10.96.0.2:8080/")
	sh(t, "ip", "netns", "exec", ns, "dig", "@10.96.0.2", "+tries=1", "+time=2", "svc.test", "A")
	time.Sleep(300 * time.Millisecond) // a ring block times out after 64 ms
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	eveschema.New(t).ValidateLines(t, stdout.Bytes())

	var got []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
		switch e.EventType {
		case event.TypeHTTP:
			got = append(got, strings.Join([]string{"http", e.HTTP.HTTPMethod, e.HTTP.Hostname, e.HTTP.URL, e.HTTP.HTTPUserAgent, e.SrcIP.String()}, " "))
		case event.TypeDNS:
			line := "dns " + e.DNS.Type + " " + e.DNS.Queries[0].RRName
			for _, a := range e.DNS.Answers {
				line += " " + a.RData
			}
			got = append(got, line)
		case event.TypeFlow:
			if e.AppProto == "http" || e.AppProto == "dns" {
				got = append(got, "flow "+e.AppProto+" "+e.DestIP.String())
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"dns request svc.test",
		"dns response svc.test 10.96.0.80",
		"flow dns 10.96.0.2",
		"flow http 10.96.0.2",
		"http GET 10.96.0.2 / sidewatch-run-test 10.96.0.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("app-layer events:\n%s\nwant:\n%s\nstdout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stdout.String())
	}
}
