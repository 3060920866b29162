package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// buildSidewatch compiles this command once per test binary.
func buildSidewatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sidewatch")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// taskMetadataServer serves AWS's published TMDE v4 task sample.
func taskMetadataServer(t *testing.T) *httptest.Server {
	t.Helper()
	task, err := os.ReadFile("testdata/tmde-v4-task.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		w.Write(task)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testRunEnv is the environment every process-level test gives
// `sidewatch run`: it keeps the sidecar off fixed ports and away from
// components this test is not about.
func testRunEnv(healthAddr string) []string {
	return append(os.Environ(),
		"SIDEWATCH_HEALTH_ADDR="+healthAddr,
		"SIDEWATCH_SYSLOG_TCP_ADDR=127.0.0.1:0",
		"SIDEWATCH_SYSLOG_UDP_ADDR=127.0.0.1:0",
		"SIDEWATCH_FORWARD_TCP_ADDR=127.0.0.1:0",
		"SIDEWATCH_LOG_FORMAT=json",
		"SIDEWATCH_NO_CAPTURE=true",
	)
}

func TestRunProcessLifecycle(t *testing.T) {
	bin := buildSidewatch(t)
	srv := taskMetadataServer(t)
	dir := t.TempDir()
	launcher := filepath.Join(dir, "fluent-launch-src")
	if err := os.WriteFile(launcher, []byte("#!/bin/true\nlauncher bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "volume", "lib")
	healthAddr := freeAddr(t)

	cmd := exec.Command(bin, "run", "--launcher-source", launcher, "--launcher-dir", vol, "--stats-interval", "50ms")
	cmd.Env = append(testRunEnv(healthAddr), "ECS_CONTAINER_METADATA_URI_V4="+srv.URL+"/v4/abc")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// `sidewatch health` is how ECS asks; poll it until the sidecar is up.
	var healthy bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if exec.Command(bin, "health", "--addr", healthAddr).Run() == nil {
			healthy = true
			break
		}
	}
	if !healthy {
		t.Fatalf("sidewatch health never succeeded; stderr:\n%s", stderr.String())
	}
	t.Logf("healthy %s after start", time.Since(started).Round(time.Millisecond))

	info, err := os.Stat(filepath.Join(vol, "fluent-launch"))
	if err != nil {
		t.Fatalf("launcher not installed before healthy: %v", err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("installed launcher mode = %v, want 0755", info.Mode().Perm())
	}
	if got, _ := os.ReadFile(filepath.Join(vol, "fluent-launch")); string(got) != "#!/bin/true\nlauncher bytes\n" {
		t.Errorf("installed launcher content = %q, want the source's", got)
	}

	resp, err := http.Get("http://" + healthAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "sidewatch_pipeline_queue_max_bytes 3.3554432e+07") {
		t.Errorf("/metrics lacks the queue capacity gauge:\n%s", body)
	}

	time.Sleep(120 * time.Millisecond) // at least one periodic stats event
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run after SIGTERM: %v, want exit 0; stderr:\n%s", err, stderr.String())
	}

	var stats []event.Event
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout has a non-event line %q: %v", sc.Text(), err)
		}
		if e.EventType == event.TypeStats {
			stats = append(stats, e)
		}
	}
	if len(stats) < 2 {
		t.Fatalf("got %d stats events, want periodic ones and a final one; stdout:\n%s", len(stats), stdout.String())
	}
	last := stats[len(stats)-1]
	if last.ECS.Cluster != "MyEmptyCluster" || last.ECS.Family != "sample-fargate" || last.ECS.Revision != "5" {
		t.Errorf("final stats ecs = %+v, want the task metadata sample's cluster, family and revision", last.ECS)
	}
	if strings.Contains(stderr.String(), `"level":"ERROR"`) {
		t.Errorf("stderr has errors:\n%s", stderr.String())
	}
	// Diagnostics go to stderr only: stdout is events, checked above.
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("stderr lacks the shutdown message:\n%s", stderr.String())
	}
}

func TestHealthFailsWithoutSidecar(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"health", "--addr", freeAddr(t), "--timeout", "1s"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("health against a closed port: exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"queue_max_bytes_zero", []string{"run", "--queue-max-bytes", "0"}, nil, "SIDEWATCH_QUEUE_MAX_BYTES"},
		{"queue_max_bytes_from_env", []string{"run"}, map[string]string{"SIDEWATCH_QUEUE_MAX_BYTES": "200000000000"}, "--queue-max-bytes (SIDEWATCH_QUEUE_MAX_BYTES)"},
		{"bad_health_addr", []string{"run", "--health-addr", "nonsense"}, nil, "SIDEWATCH_HEALTH_ADDR"},
		{"unknown_sink", []string{"run", "--sink", "kafka"}, nil, "--sink"},
		{"unknown_flag", []string{"run", "--no-such-flag"}, nil, "unknown flag"},
		{"bad_log_format", []string{"--log-format", "xml", "version"}, nil, "--log-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("run(%q) exit = %d, want 2; stderr:\n%s", tt.args, code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%q) stderr = %q, want it to mention %q", tt.args, stderr.String(), tt.want)
			}
		})
	}
}

func TestMissingLauncherSource(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"run", "--launcher-source", filepath.Join(t.TempDir(), "nope"), "--launcher-dir", t.TempDir(), "--health-addr", ""}
	code := run(context.Background(), args, &stdout, &stderr)
	if code != 1 {
		t.Errorf("run with a missing launcher source: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "SIDEWATCH_LAUNCHER_SOURCE") || !strings.Contains(stderr.String(), "--no-launcher") {
		t.Errorf("stderr = %q, want it to name SIDEWATCH_LAUNCHER_SOURCE and --no-launcher", stderr.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"root_help", []string{"--help"}, []string{"run", "health", "version", "--log-format"}},
		{"run_help", []string{"run", "--help"}, []string{"--queue-max-bytes", "SIDEWATCH_QUEUE_MAX_BYTES", "--shutdown-timeout", "--launcher-dir", "SIDEWATCH_METADATA_URI"}},
		{"version", []string{"version"}, []string{"sidewatch dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 0 {
				t.Fatalf("run(%q) exit = %d, want 0; stderr:\n%s", tt.args, code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("run(%q) output lacks %q:\n%s", tt.args, w, stdout.String())
				}
			}
		})
	}
}
