//go:build unix

package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sidewatch/sidewatch/firelens"
)

// The test binary doubles as the fake fluent-bit: fluent-launch execs it
// with this variable set (the launcher passes the environment on).
const fakeRecordEnv = "FLUENT_LAUNCH_TEST_RECORD"

type fakeRecord struct {
	Args   []string
	Env    []string
	PID    int
	Config string
}

func TestMain(m *testing.M) {
	if rec := os.Getenv(fakeRecordEnv); rec != "" {
		os.Exit(fakeFluentBit(rec))
	}
	os.Exit(m.Run())
}

// fakeFluentBit records what it was started with, then, like Fluent Bit,
// runs until SIGTERM.
func fakeFluentBit(rec string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	r := fakeRecord{Args: os.Args, Env: os.Environ(), PID: os.Getpid()}
	if i := slices.Index(os.Args, "-c"); i >= 0 && i+1 < len(os.Args) {
		b, _ := os.ReadFile(os.Args[i+1])
		r.Config = string(b)
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(rec+".tmp", b, 0o644); err != nil {
		return 3
	}
	if err := os.Rename(rec+".tmp", rec); err != nil {
		return 3
	}
	if os.Getenv("FLUENT_LAUNCH_TEST_EXIT") != "" {
		return 0
	}
	select {
	case <-term:
		return 0
	case <-time.After(time.Minute):
		return 4
	}
}

// maxBinarySize is the budget for the stripped static binary that every
// task copies through the shared volume.
const maxBinarySize = 3 << 20

// buildLauncher builds cmd/fluent-launch the way it ships: static and
// stripped, and checks its size budget.
func buildLauncher(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build cmd/fluent-launch")
	}
	bin := filepath.Join(dir, "fluent-launch")
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/sidewatch/sidewatch/cmd/fluent-launch")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxBinarySize {
		t.Errorf("fluent-launch is %d bytes, over the %d-byte budget", fi.Size(), maxBinarySize)
	}
	return bin
}

func waitRecord(t *testing.T, path string, done <-chan error) fakeRecord {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var r fakeRecord
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("fake record %s: %v", path, err)
			}
			return r
		}
		select {
		case err := <-done:
			t.Fatalf("fluent-launch exited (%v) before the fake fluent-bit ran", err)
		case <-deadline:
			t.Fatalf("the fake fluent-bit did not run within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestBlackBoxExec(t *testing.T) {
	dir := t.TempDir()
	volume := filepath.Join(dir, "var", "sidewatch", "lib", "fluent-bit")
	if err := os.MkdirAll(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildLauncher(t, volume)
	fake, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "firelens", "testdata", "firelens-generated-3.conf"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "fluent-bit", "etc", "fluent-bit.conf")
	if err := os.MkdirAll(filepath.Dir(in), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, src, 0o444); err != nil {
		t.Fatal(err)
	}
	recipe := firelens.LauncherCommand(firelens.DefaultSyslogOutput(), "/fluent-bit/cloudwatch.so")
	settings, err := ParseArgs(recipe)
	if err != nil {
		t.Fatal(err)
	}
	wantConfig, err := firelens.Patch(src, settings.Settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "record.json")
	env := []string{
		fakeRecordEnv + "=" + rec,
		"apikey_1=${SECRET_1}",
		"SECRET_1=s3cr3t with spaces and $dollar",
		"EMPTY=",
	}
	// -m is left out: the default is beside the launcher, in the volume.
	cmd := exec.Command(bin, append([]string{"-r", fake, "-c", in}, recipe...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r := waitRecord(t, rec, done)

	out := filepath.Join(volume, OutConfigName)
	wantArgs := append([]string{fake, "-c", out}, recipe[slices.Index(recipe, "--")+1:]...)
	if diff := cmp.Diff(wantArgs, r.Args); diff != "" {
		t.Errorf("fluent-bit argv mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(env, r.Env); diff != "" {
		t.Errorf("fluent-bit environment mismatch (-want +got):\n%s", diff)
	}
	if r.PID != cmd.Process.Pid {
		t.Errorf("fluent-bit PID = %d, launcher PID = %d: it was not exec'd", r.PID, cmd.Process.Pid)
	}
	if diff := cmp.Diff(string(wantConfig), r.Config); diff != "" {
		t.Errorf("config seen by fluent-bit mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.Config, "apikey ${apikey_1}") {
		t.Errorf("the secret reference was not kept verbatim:\n%s", r.Config)
	}
	// SIGTERM to the launcher's PID reaches Fluent Bit itself.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("fluent-bit exit after SIGTERM = %v, want 0 (stderr %q)", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("fluent-bit did not exit after SIGTERM")
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
}

func TestBlackBoxFailures(t *testing.T) {
	dir := t.TempDir()
	bin := buildLauncher(t, dir)
	fake, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "record.json")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"forgotten_dash", []string{"-r", fake, "-s", "Scheduler.Cap", "60", "-o", "syslog", "-m", "*"}, 2, `fluent-launch: usage: -o syslog -m: "-m" looks like an option`},
		{"missing_config", []string{"-r", fake, "-c", filepath.Join(dir, "none.conf"), "--"}, 1, "fluent-launch: read: " + filepath.Join(dir, "none.conf") + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = []string{fakeRecordEnv + "=" + rec, "FLUENT_LAUNCH_TEST_EXIT=1"}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.wantCode {
				t.Errorf("fluent-launch %q = %v, want exit status %d", tt.args, err, tt.wantCode)
			}
			if !strings.HasPrefix(stderr.String(), tt.wantErr) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("fluent-launch %q stderr = %q, want one line starting with %q", tt.args, stderr.String(), tt.wantErr)
			}
			if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("fluent-bit ran although the launch failed")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("%s holds %d entries, want only the launcher (no output written)", dir, len(entries))
			}
		})
	}
}
