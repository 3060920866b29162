package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerDefaultCaps is what Docker, and so Fargate, grants a container that
// is not privileged and adds nothing (notes/fargate.md §1).
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
	"CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
}

// dockerDefaultCapMask is dockerDefaultCaps as /proc/<pid>/status prints it.
const dockerDefaultCapMask = 0xa80425fb

// fargateSpec turns a bundle's spec into what a Fargate container gets: the
// task's network namespace, Docker's default capabilities in the bounding,
// effective and permitted sets (none inheritable or ambient, as Docker since
// 20.10.14), no-new-privileges off (Docker's default, which lets file
// capabilities work), Fargate's nofile limits and the volumes given as
// destination → host directory bind mounts.
func fargateSpec(s *specs.Spec, netnsPath string, readonly bool, binds map[string]string, roBinds map[string]string) {
	s.Process.Terminal = false
	s.Process.NoNewPrivileges = false
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  dockerDefaultCaps,
		Effective: dockerDefaultCaps,
		Permitted: dockerDefaultCaps,
	}
	// ECS docs: Fargate sets nofile to soft 1024, hard 65535. Raising the
	// hard limit above ours needs CAP_SYS_RESOURCE, so stay under it.
	hard := uint64(65535)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Max < hard {
		hard = lim.Max
	}
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: min(1024, hard), Hard: hard}}
	s.Root.Readonly = readonly
	// An empty netnsPath gives the container a namespace of its own.
	s.Linux.Namespaces = []specs.LinuxNamespace{
		{Type: specs.PIDNamespace},
		{Type: specs.NetworkNamespace, Path: netnsPath},
		{Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.MountNamespace},
	}
	mounts := s.Mounts[:0]
	for _, m := range s.Mounts {
		if _, ok := binds[m.Destination]; ok {
			continue // umoci's tmpfs for a VOLUME; replaced by the shared volume
		}
		mounts = append(mounts, m)
	}
	for dst, src := range binds {
		mounts = append(mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rw", "nosuid", "nodev"}})
	}
	for dst, src := range roBinds {
		mounts = append(mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	s.Mounts = mounts
}

func writeSpec(t *testing.T, bundle string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lines collects a container's output; runc copies it from a pipe.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// complete returns every newline-terminated line written so far.
func (l *lines) complete() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if n := len(out); n > 0 && !bytes.HasSuffix(l.buf.Bytes(), []byte("\n")) {
		out = out[:n-1]
	}
	return out
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// container is one `runc run` in the foreground, as containerd-shim would
// start it; its stdout and stderr are the container's log streams.
type container struct {
	id       string
	runcRoot string
	started  time.Time
	stdout   lines
	stderr   lines
	done     chan struct{}
	waitErr  error
}

func startContainer(t *testing.T, runcRoot, id, bundle string) *container {
	t.Helper()
	c := &container{id: id, runcRoot: runcRoot, done: make(chan struct{})}
	cmd := exec.Command("runc", "--root", runcRoot, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = &c.stdout, &c.stderr
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("runc run %s: %v", id, err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.runc("kill", id, "KILL")
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Errorf("runc run %s did not exit after SIGKILL", id)
			}
		}
		_ = c.runc("delete", "--force", id)
		if t.Failed() {
			t.Logf("%s stderr:\n%s", id, c.stderr.String())
		}
	})
	return c
}

func (c *container) runc(args ...string) error {
	out, err := exec.Command("runc", append([]string{"--root", c.runcRoot}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// exec runs a command in the container as uid:gid, as a Docker HEALTHCHECK
// runs as the image's user.
func (c *container) exec(uid int, args ...string) (string, error) {
	user := fmt.Sprintf("%d:%d", uid, uid)
	out, err := exec.Command("runc", append([]string{"--root", c.runcRoot, "exec", "--user", user, c.id}, args...)...).CombinedOutput()
	return string(out), err
}

// pid is the container's init process in the root pid namespace.
func (c *container) pid(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("runc", "--root", c.runcRoot, "state", c.id).Output()
	if err != nil {
		t.Fatalf("runc state %s: %v", c.id, err)
	}
	var st struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("runc state %s: %v", c.id, err)
	}
	return st.Pid
}

// stop sends SIGTERM, as ECS does on StopTask, and waits up to timeout for
// the container to exit. It returns the exit code and how long it took.
func (c *container) stop(t *testing.T, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := c.runc("kill", c.id, "TERM"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running %v after SIGTERM", c.id, timeout)
	}
	took := time.Since(start)
	var exit *exec.ExitError
	switch {
	case c.waitErr == nil:
		return 0, took
	case errors.As(c.waitErr, &exit):
		return exit.ExitCode(), took
	default:
		t.Fatalf("runc run %s: %v", c.id, c.waitErr)
		return -1, took
	}
}

// newBundle writes a bundle whose spec s runs an existing rootfs.
func newBundle(t *testing.T, bundle, rootfs string, s *specs.Spec) string {
	t.Helper()
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Root.Path = rootfs
	writeSpec(t, bundle, s)
	return bundle
}

// runOnce runs a container to completion and returns its exit code and
// combined output (runc's errors included).
func runOnce(t *testing.T, runcRoot, id, bundle string) (int, string) {
	t.Helper()
	c := startContainer(t, runcRoot, id, bundle)
	select {
	case <-c.done:
	case <-time.After(eventTimeout):
		t.Fatalf("%s still running after %v", id, eventTimeout)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(c.waitErr, &exit) {
		code = exit.ExitCode()
	} else if c.waitErr != nil {
		t.Fatalf("runc run %s: %v", id, c.waitErr)
	}
	return code, c.stdout.String() + c.stderr.String()
}

// procStatus reads the named fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int, fields ...string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]bool, len(fields))
	for _, f := range fields {
		want[f] = true
	}
	got := make(map[string]string, len(fields))
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && want[k] {
			got[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return got
}

// memory describes a process's resident memory from /proc/<pid>/status:
// VmRSS, its anonymous and file-backed parts (the capture ring's mmap is
// file-backed) and the peak, VmHWM.
func memory(t *testing.T, pid int) string {
	t.Helper()
	st := procStatus(t, pid, "VmRSS", "RssAnon", "RssFile", "VmHWM")
	return fmt.Sprintf("VmRSS %s (RssAnon %s, RssFile %s), VmHWM %s", st["VmRSS"], st["RssAnon"], st["RssFile"], st["VmHWM"])
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
