package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sidewatch/sidewatch/firelens"
)

const (
	// shutdownTimeout is the sidecar's --shutdown-timeout here (ECS's
	// default stopTimeout is 30 s, after which it sends SIGKILL); runcSlack
	// covers runc's own exit.
	shutdownTimeout = 10 * time.Second
	runcSlack       = 2 * time.Second
	healthTimeout   = 30 * time.Second
	eventTimeout    = 15 * time.Second
	loadLogLines    = 2000
	loadHTTPCount   = 50
)

// sidecarEnv configures the sidecar as a task definition's environment would.
var sidecarEnv = []string{"SIDEWATCH_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String()}

// eve is the part of an event line the test looks at.
type eve struct {
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Proto     string `json:"proto"`
	Log       *struct {
		Message   string `json:"message"`
		Transport string `json:"transport"`
		Format    string `json:"format"`
		Source    string `json:"source"`
	} `json:"log"`
}

// TestTaskSimulation runs a simulated Fargate task: the sidewatch image as the
// sidecar and a log_router whose entryPoint is fluent-launch from the shared
// volume, in one network namespace, then checks privileges, the launcher,
// log and flow events, and a clean stop on SIGTERM.
func TestTaskSimulation(t *testing.T) {
	requireRoot(t)
	requireTools(t, "umoci", "runc", "ip", "logger", "curl", "ping")
	requireFeature(t, "cmd/sidewatch", "the sidewatch command")
	requireFeature(t, "cmd/fluent-launch", "the fluent-launch command")
	dir := t.TempDir()

	ref := os.Getenv("SIDEWATCH_E2E_IMAGE")
	if ref == "" {
		start := time.Now()
		ref = buildImage(t, dir)
		t.Logf("built the image from ../Dockerfile (BINARIES=prebuilt) in %v", time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("image from SIDEWATCH_E2E_IMAGE: %s", ref)
		if !filepath.IsAbs(ref) {
			ref = filepath.Join("..", ref) // relative to the repository, where make runs
		}
	}
	sidecarBundle := filepath.Join(dir, "sidewatch")
	spec := unpackImage(t, ref, sidecarBundle)
	imageSpec := cloneSpec(t, spec) // as unpacked, before the Fargate settings
	t.Run("image", func(t *testing.T) { checkImage(t, spec, filepath.Join(sidecarBundle, spec.Root.Path)) })

	// Docker populates a new volume from the image's VOLUME directory, so
	// fluent-launch is there before the sidecar runs.
	volume := filepath.Join(dir, "volume")
	copyTree(t, filepath.Join(sidecarBundle, spec.Root.Path, firelens.LauncherDir), volume)

	tn := newTaskNet(t)
	httpAddr := serveHTTP(t, tn.hostIP.String())
	runcRoot := filepath.Join(dir, "runc")
	suffix := strconv.Itoa(os.Getpid())

	fargateSpec(spec, tn.path(), true, map[string]string{firelens.LauncherDir: volume}, nil)
	spec.Hostname = "sidewatch"
	spec.Process.Env = append(spec.Process.Env, sidecarEnv...)
	writeSpec(t, sidecarBundle, spec)
	sidecar := startContainer(t, runcRoot, "sidewatch-"+suffix, sidecarBundle)

	healthy := waitHealthy(t, sidecar)
	t.Logf("startup to healthy (runc run → first passing `sidewatch health`): %v", healthy.Round(time.Millisecond))
	pid := sidecar.pid(t)
	runHelp := command(t, "", filepath.Join(sidecarBundle, spec.Root.Path, "usr/local/bin/sidewatch"), "run", "--help")
	haveSyslog := strings.Contains(runHelp, "--syslog-tcp-addr")
	haveCapture := strings.Contains(runHelp, "--capture-interfaces")

	t.Run("version", func(t *testing.T) {
		out, err := sidecar.exec(imageUID, "/usr/local/bin/sidewatch", "version")
		want := "sidewatch " + spec.Annotations["org.opencontainers.image.version"]
		if err != nil || strings.TrimSpace(out) != want {
			t.Errorf("sidewatch version = %q (%v), want %q (the image's version label)", out, err, want)
		}
	})

	t.Run("privileges", func(t *testing.T) {
		got := procStatus(t, pid, "Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
		uid := strconv.Itoa(imageUID)
		want := map[string]string{
			"Uid":        strings.Repeat(uid+" ", 3) + uid,
			"Gid":        strings.Repeat(uid+" ", 3) + uid,
			"CapInh":     "0000000000000000",
			"CapPrm":     fmt.Sprintf("%016x", 1<<capNetRaw),
			"CapEff":     fmt.Sprintf("%016x", 1<<capNetRaw),
			"CapBnd":     fmt.Sprintf("%016x", dockerDefaultCapMask),
			"CapAmb":     "0000000000000000",
			"NoNewPrivs": "0",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("/proc/%d/status of the running sidecar (-want +got):\n%s", pid, diff)
		}
	})

	fluentBit := realFluentBit()
	if fluentBit == "" {
		t.Log("no Fluent Bit 5.x installed (SIDEWATCH_FLUENT_BIT, fluent-bit-5.1.1 or fluent-bit on PATH): the log_router runs the stand-in")
	} else {
		t.Logf("log_router runs the real Fluent Bit: %s", fluentBit)
	}
	routerBundle, routerRun := newRouterBundle(t, dir, cloneSpec(t, imageSpec), tn, volume, fluentBit)
	router := startContainer(t, runcRoot, "log_router-"+suffix, routerBundle)

	t.Run("launcher", func(t *testing.T) {
		checkLauncher(t, router, volume, fluentBit != "")
	})

	t.Logf("sidecar memory idle: %s", memory(t, pid))

	nonce := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	t.Run("logs", func(t *testing.T) {
		requireWired(t, haveSyslog, "the syslog receiver (--syslog-tcp-addr)")
		tn.exec(t, "logger", "--tcp", "--server", "127.0.0.1", "--port", "1514", "--rfc3164", "--tag", "app", nonce+" over tcp")
		tn.exec(t, "logger", "--udp", "--server", "127.0.0.1", "--port", "1514", "--rfc3164", "--tag", "app", nonce+" over udp")
		for _, transport := range []string{"tcp", "udp"} {
			want := nonce + " over " + transport
			var got []eve
			if !waitFor(eventTimeout, func() bool { got = findLogs(t, sidecar, want); return len(got) > 0 }) {
				t.Errorf("no log event with message %q on the sidecar's stdout within %v", want, eventTimeout)
				continue
			}
			if len(got) != 1 || got[0].Log.Transport != transport {
				t.Errorf("log events with %q = %+v, want one with transport %q", want, got, transport)
			}
		}
	})

	t.Run("forward_logs", func(t *testing.T) {
		if fluentBit == "" {
			t.Skip("needs the real Fluent Bit as the log_router")
		}
		const n = 500
		mark := "fwd-" + nonce
		lines := []string{mark + " stack trace\n\tat App.main(App.java:7)", mark + " <14>Jan  1 00:00:00 x admin[1]: forged"}
		for i := range n {
			lines = append(lines, fmt.Sprintf("%s forward line %d", mark, i))
		}
		id := "0123456789abcdef0123456789abcdef-2495160603"
		sendAsLogDriver(t, filepath.Join(routerRun, "fluent.sock"), "app-firelens-0123456789abcdef0123456789abcdef", id, lines)
		waitFor(eventTimeout, func() bool { return len(findLogs(t, sidecar, mark)) >= len(lines) })
		got := findLogs(t, sidecar, mark)
		count := map[string]int{}
		for _, e := range got {
			count[e.Log.Message]++
			if e.Log.Transport != "tcp" || e.Log.Format != "forward" || e.Log.Source != "stdout" {
				t.Errorf("event %q: transport %q, format %q, source %q; want tcp, forward, stdout", e.Log.Message, e.Log.Transport, e.Log.Format, e.Log.Source)
				break
			}
		}
		for _, l := range lines {
			if count[l] != 1 {
				t.Errorf("%d events with message %q through the real Fluent Bit, want exactly 1\nrouter stderr:\n%s", count[l], l, router.stderr.String())
				break
			}
		}
	})

	// Load: log lines over one TCP connection, HTTP requests each on a new
	// connection across the ENI, and pings.
	loadStart := time.Now()
	if haveSyslog {
		lineFile := filepath.Join(dir, "lines.txt")
		var sb strings.Builder
		for i := range loadLogLines {
			fmt.Fprintf(&sb, "%s load line %d\n", nonce, i)
		}
		if err := os.WriteFile(lineFile, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		tn.exec(t, "logger", "--tcp", "--server", "127.0.0.1", "--port", "1514", "--rfc3164", "--tag", "app", "--file", lineFile)
	}
	tn.exec(t, "curl", "--silent", "--fail", "--output", "/dev/null", "--header", "Connection: close",
		fmt.Sprintf("http://%s/[1-%d]", httpAddr, loadHTTPCount))
	tn.exec(t, "ping", "-c", "3", "-i", "0.2", "-W", "2", tn.hostIP.String())
	t.Logf("load sent in %v: %d log lines, %d HTTP requests, 3 pings", time.Since(loadStart).Round(time.Millisecond), loadLogLines, loadHTTPCount)

	t.Run("logs_under_load", func(t *testing.T) {
		requireWired(t, haveSyslog, "the syslog receiver (--syslog-tcp-addr)")
		want := nonce + " load line "
		waitFor(eventTimeout, func() bool { return len(findLogs(t, sidecar, want)) >= loadLogLines })
		if n := len(findLogs(t, sidecar, want)); n != loadLogLines {
			t.Errorf("log events with %q = %d, want %d", want, n, loadLogLines)
		}
	})
	t.Logf("sidecar memory under load: %s", memory(t, pid))

	t.Run("log_router_stop", func(t *testing.T) {
		code, took := router.stop(t, shutdownTimeout+runcSlack)
		if code != 0 {
			t.Errorf("log_router exit code = %d, want 0\nstderr:\n%s", code, router.stderr.String())
		}
		t.Logf("log_router stopped in %v", took.Round(time.Millisecond))
	})

	t.Run("sigterm", func(t *testing.T) {
		code, took := sidecar.stop(t, shutdownTimeout+runcSlack)
		t.Logf("sidecar stopped %v after SIGTERM", took.Round(time.Millisecond))
		if took > shutdownTimeout {
			t.Errorf("sidecar took %v to stop after SIGTERM, want <= --shutdown-timeout %v", took, shutdownTimeout)
		}
		if code != 0 {
			t.Errorf("sidecar exit code after SIGTERM = %d, want 0\nstderr:\n%s", code, sidecar.stderr.String())
		}
	})

	// What docs/image.md says happens when a task takes away what the file
	// capability relies on.
	rootfs := filepath.Join(sidecarBundle, spec.Root.Path)
	t.Run("without_net_raw", func(t *testing.T) {
		// A file capability outside the bounding set makes execve fail.
		s := cloneSpec(t, imageSpec)
		fargateSpec(s, "", true, nil, nil)
		s.Process.Capabilities.Bounding = slices.DeleteFunc(slices.Clone(dockerDefaultCaps), func(c string) bool { return c == "CAP_NET_RAW" })
		s.Process.Args = []string{"/usr/local/bin/sidewatch", "version"}
		code, out := runOnce(t, runcRoot, "no-net-raw-"+suffix, newBundle(t, filepath.Join(dir, "no-net-raw"), rootfs, s))
		t.Logf("exit %d: %s", code, strings.TrimSpace(out))
		if code == 0 || !strings.Contains(out, "operation not permitted") {
			t.Errorf("sidewatch version without NET_RAW in the bounding set: exit %d, output %q; want exec to fail with EPERM", code, out)
		}
	})
	t.Run("no_new_privileges", func(t *testing.T) {
		// no_new_privs (Docker's --security-opt no-new-privileges) keeps
		// execve from adding capabilities the process did not have, and
		// the runtime gave it the default set before the exec: the file
		// capability still yields CAP_NET_RAW.
		s := cloneSpec(t, imageSpec)
		fargateSpec(s, "", true, nil, nil)
		s.Process.NoNewPrivileges = true
		s.Process.Args = append(s.Process.Args, "--no-launcher")
		c := startContainer(t, runcRoot, "nnp-"+suffix, newBundle(t, filepath.Join(dir, "nnp"), rootfs, s))
		waitHealthy(t, c)
		got := procStatus(t, c.pid(t), "CapPrm", "CapEff", "NoNewPrivs")
		want := map[string]string{
			"CapPrm":     fmt.Sprintf("%016x", 1<<capNetRaw),
			"CapEff":     fmt.Sprintf("%016x", 1<<capNetRaw),
			"NoNewPrivs": "1",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("sidecar under no_new_privs (-want +got):\n%s", diff)
		}
		if code, _ := c.stop(t, shutdownTimeout+runcSlack); code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0\nstderr:\n%s", code, c.stderr.String())
		}
	})

	t.Run("stdout_is_eve", func(t *testing.T) {
		counts := map[string]int{}
		for _, e := range events(t, sidecar) {
			counts[e.EventType]++
		}
		t.Logf("events on stdout by type: %v", counts)
		bad := 0
		for i, line := range sidecar.stdout.complete() {
			var e eve
			if err := json.Unmarshal([]byte(line), &e); err != nil || e.EventType == "" {
				if bad++; bad <= 5 {
					t.Errorf("stdout line %d = %q, want an EVE JSON event (%v)", i+1, line, err)
				}
			}
		}
		if bad > 5 {
			t.Errorf("... %d lines in all are not EVE events", bad)
		}
	})

	t.Run("flows", func(t *testing.T) {
		requireWired(t, haveCapture, "packet capture and flows (--capture-interfaces)")
		_, port, err := net.SplitHostPort(httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		host, task := tn.hostIP.String(), tn.taskIP.String()
		var tcp, icmp int
		for _, e := range events(t, sidecar) {
			if e.EventType != "flow" {
				continue
			}
			ends := []string{e.SrcIP, e.DestIP}
			switch {
			case e.Proto == "TCP" && strconv.Itoa(e.DestPort) == port && slices.Contains(ends, host) && slices.Contains(ends, task):
				tcp++
			case strings.HasPrefix(e.Proto, "ICMP") && slices.Contains(ends, host) && slices.Contains(ends, task):
				icmp++
			}
		}
		t.Logf("flow events: %d TCP to the HTTP server, %d ICMP", tcp, icmp)
		if tcp < loadHTTPCount {
			t.Errorf("TCP flow events %s → %s:%s = %d, want >= %d", task, host, port, tcp, loadHTTPCount)
		}
		if icmp < 1 {
			t.Errorf("ICMP flow events between %s and %s = %d, want >= 1", task, host, icmp)
		}
	})
}

// waitHealthy polls `sidewatch health` in the container as the image's user,
// as a health check does, and returns the time from runc run to the first
// pass.
func waitHealthy(t *testing.T, c *container) time.Duration {
	t.Helper()
	var healthy time.Duration
	var last string
	waitFor(healthTimeout, func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		out, err := c.exec(imageUID, "/usr/local/bin/sidewatch", "health")
		if err != nil {
			last = fmt.Sprintf("%v: %s", err, out)
			return false
		}
		healthy = time.Since(c.started)
		return true
	})
	select {
	case <-c.done:
		t.Fatalf("sidecar exited during startup: %v\nstdout:\n%s\nstderr:\n%s", c.waitErr, c.stdout.String(), c.stderr.String())
	default:
	}
	if healthy == 0 {
		t.Fatalf("sidewatch health did not pass within %v; last: %s", healthTimeout, last)
	}
	return healthy
}

// requireWired skips a check whose component `sidewatch run` does not have
// yet (its flags are missing from run --help).
func requireWired(t *testing.T, wired bool, what string) {
	t.Helper()
	if !wired {
		t.Skipf("%s is not wired into sidewatch run yet", what)
	}
}

// requireFeature skips when a package has not landed in this tree.
func requireFeature(t *testing.T, dir, what string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("..", dir)); err != nil {
		t.Skipf("%s (%s) is not in this tree yet", what, dir)
	}
}

// events decodes the sidecar's stdout so far.
func events(t *testing.T, c *container) []eve {
	t.Helper()
	var out []eve
	for _, line := range c.stdout.complete() {
		var e eve
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// findLogs returns the log events whose message contains substr.
func findLogs(t *testing.T, c *container, substr string) []eve {
	var out []eve
	for _, e := range events(t, c) {
		if e.EventType == "log" && e.Log != nil && strings.Contains(e.Log.Message, substr) {
			out = append(out, e)
		}
	}
	return out
}

// serveHTTP serves a small page on addr:0 in the root namespace, the far end
// of the task ENI, and returns host:port.
func serveHTTP(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from the VPC, %s\n", r.URL.Path)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func cloneSpec(t *testing.T, s *specs.Spec) *specs.Spec {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}
