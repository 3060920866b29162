package fluentbit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	generator "github.com/awslabs/go-config-generator-for-fluentd-and-fluentbit"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// binDir holds sidewatch and fluent-launch, built once for the package.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var buildOnce = sync.OnceValue(func() error {
	dir, err := os.MkdirTemp("", "sw-fb-bin-")
	if err != nil {
		return err
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/sidewatch", "./cmd/fluent-launch")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
})

// fluentBit is one Fluent Bit binary under test.
type fluentBit struct {
	name string // "5.1.1" or "1.9.10"
	path string
}

// versions lists the Fluent Bit lines the tests run against.
var versions = []struct {
	name, env string
	onPath    []string
}{
	{"5.1.1", "SIDEWATCH_FLUENT_BIT", []string{"fluent-bit-5.1.1", "fluent-bit"}},
	{"1.9.10", "SIDEWATCH_FLUENT_BIT_1_9", []string{"fluent-bit-1.9.10"}},
}

// eachFluentBit runs f once per Fluent Bit version, skipping the versions
// that are not installed and everything without root.
func eachFluentBit(t *testing.T, f func(t *testing.T, fb fluentBit)) {
	for _, v := range versions {
		t.Run("fluent_bit_"+strings.ReplaceAll(v.name, ".", "_"), func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("needs root for ip netns (CI runs make test as root)")
			}
			if _, err := exec.LookPath("ip"); err != nil {
				t.Skip("needs ip (iproute2)")
			}
			path := os.Getenv(v.env)
			for _, name := range v.onPath {
				if path != "" {
					break
				}
				path, _ = exec.LookPath(name)
			}
			if path == "" {
				t.Skipf("Fluent Bit %s not found: set %s or put %s on PATH (built from upstream source, see docs/forward.md)", v.name, v.env, strings.Join(v.onPath, " or "))
			}
			if err := buildOnce(); err != nil {
				t.Fatal(err)
			}
			t.Parallel()
			f(t, fluentBit{name: v.name, path: path})
		})
	}
}

var nsCount atomic.Int32

// task is one simulated task: a network namespace, the shared volume, the
// FireLens config, the sidecar and the log_router.
type task struct {
	t          *testing.T
	fb         fluentBit
	dir        string
	ns         string
	vol        string // the sidecar's volume (launcher dir)
	conf       string // FireLens-generated config (read only for the router)
	fluentSock string // FireLens's unix input, where the log driver writes
	dest       string // the file output standing in for CloudWatch

	sidecar     *exec.Cmd
	sidecarRuns int
	router      *exec.Cmd

	// stdoutPipe makes startSidecar give the sidecar a pipe as stdout,
	// copied to its file unless stalled is set: a sink that stops taking
	// data, as a blocked awslogs stream does.
	stdoutPipe bool
	stalled    atomic.Bool
}

const container = "web"

// tag is the FireLens tag of the app container.
const tag = container + "-firelens-0123456789abcdef0123456789abcdef"

func newTask(t *testing.T, fb fluentBit) *task {
	t.Helper()
	dir := t.TempDir()
	tk := &task{
		t: t, fb: fb, dir: dir,
		ns:         fmt.Sprintf("sw-fb-%d-%d", os.Getpid(), nsCount.Add(1)),
		vol:        filepath.Join(dir, "vol"),
		conf:       filepath.Join(dir, "etc", "fluent-bit.conf"),
		fluentSock: filepath.Join(dir, "run", "fluent.sock"),
		dest:       filepath.Join(dir, "dest"),
	}
	for _, d := range []string{tk.vol, filepath.Dir(tk.conf), filepath.Dir(tk.fluentSock), tk.dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range []*exec.Cmd{tk.router, tk.sidecar} {
			if c != nil && c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
		exec.Command("ip", "netns", "del", tk.ns).Run()
	})
	if out, err := exec.Command("ip", "netns", "add", tk.ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "-n", tk.ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	tk.writeFireLensConfig()
	return tk
}

// writeFireLensConfig generates the config as the ECS agent does for an
// awsvpc task with one container "web" whose awsfirelens options hide
// DEBUG lines (exclude-pattern) and send to a file output, standing in for
// cloudwatch_logs.
func (tk *task) writeFireLensConfig() {
	cfg := generator.New()
	cfg.AddInput("forward", "", map[string]string{"unix_path": tk.fluentSock, "Mem_Buf_Limit": "25MB"})
	cfg.AddInput("forward", "", map[string]string{"Listen": "127.0.0.1", "Port": "24224"})
	cfg.AddInput("tcp", "firelens-healthcheck", map[string]string{"Listen": "127.0.0.1", "Port": "8877"})
	cfg.AddExcludeFilter("^DEBUG", "log", container+"-firelens*")
	cfg.AddFieldToRecord("ecs_cluster", "prod-cluster", "*")
	cfg.AddFieldToRecord("ecs_task_arn", "arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/0123456789abcdef0123456789abcdef", "*")
	cfg.AddFieldToRecord("ecs_task_definition", "web-task:7", "*")
	cfg.AddOutput("null", "firelens-healthcheck", nil)
	cfg.AddOutput("file", container+"-firelens*", map[string]string{"Path": tk.dest, "File": "web.log", "Format": "plain"})
	var b bytes.Buffer
	if err := cfg.WriteFluentBitConfig(&b); err != nil {
		tk.t.Fatal(err)
	}
	if err := os.WriteFile(tk.conf, b.Bytes(), 0o444); err != nil {
		tk.t.Fatal(err)
	}
}

// forwardRecipe is the default recipe with its files in this task's volume.
func (tk *task) forwardRecipe(tr firelens.Transport) firelens.ForwardRecipe {
	r := firelens.DefaultForwardRecipe(tr)
	r.StoragePath = filepath.Join(tk.vol, "flb-storage")
	if tr == firelens.TransportUnix {
		r.UnixPath = filepath.Join(tk.vol, "forward.sock")
	} else {
		r.KeyFile = filepath.Join(tk.vol, "forward.key")
	}
	return r
}

// inNS starts name in the task's namespace with its output in files.
func (tk *task) inNS(out string, env []string, name string, args ...string) *exec.Cmd {
	tk.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", tk.ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.Create(filepath.Join(tk.dir, out))
	if err != nil {
		tk.t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout = f
	if strings.HasSuffix(out, ".out") {
		ef, err := os.Create(filepath.Join(tk.dir, strings.TrimSuffix(out, ".out")+".err"))
		if err != nil {
			tk.t.Fatal(err)
		}
		defer ef.Close()
		cmd.Stderr = ef
	} else {
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		tk.t.Fatal(err)
	}
	return cmd
}

// inNSPiped is inNS with stdout through a pipe that a copier drains into
// the file, pausing while tk.stalled is set.
func (tk *task) inNSPiped(out string, env []string, name string, args ...string) *exec.Cmd {
	tk.t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tk.t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(tk.dir, out))
	if err != nil {
		tk.t.Fatal(err)
	}
	ef, err := os.Create(filepath.Join(tk.dir, strings.TrimSuffix(out, ".out")+".err"))
	if err != nil {
		tk.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", tk.ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w, ef
	if err := cmd.Start(); err != nil {
		tk.t.Fatal(err)
	}
	w.Close()
	ef.Close()
	go func() {
		defer f.Close()
		defer r.Close()
		buf := make([]byte, 64<<10)
		for {
			for tk.stalled.Load() {
				time.Sleep(20 * time.Millisecond)
			}
			n, err := r.Read(buf)
			f.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return cmd
}

// startSidecar runs `sidewatch run` as the task's sidecar: it installs
// fluent-launch into the volume and receives forward (127.0.0.1:24225 and
// the volume's socket) and syslog (127.0.0.1:1514). Events go to stdout,
// one file per run.
func (tk *task) startSidecar(extra ...string) {
	tk.t.Helper()
	tk.sidecarRuns++
	sock := filepath.Join(tk.vol, "forward.sock")
	args := append([]string{"run", "--no-capture", "--health-addr", "", "--stats-interval", "0",
		"--launcher-source", filepath.Join(binDir, "fluent-launch"), "--launcher-dir", tk.vol,
		"--syslog-udp-addr", ""}, extra...)
	out := fmt.Sprintf("sidecar-%d.out", tk.sidecarRuns)
	env := []string{"SIDEWATCH_LOG_FORMAT=json", "ECS_CONTAINER_METADATA_URI_V4="}
	if tk.stdoutPipe {
		tk.sidecar = tk.inNSPiped(out, env, filepath.Join(binDir, "sidewatch"), args...)
	} else {
		tk.sidecar = tk.inNS(out, env, filepath.Join(binDir, "sidewatch"), args...)
	}
	tk.waitSocket(sock, "sidecar")
}

// waitSocket waits until a unix socket accepts connections.
func (tk *task) waitSocket(path string, what string) {
	tk.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
	}
	tk.t.Fatalf("%s never listened on %s\n%s", what, path, tk.logs())
}

// killSidecar sends SIGKILL, as a crash or an OOM kill would.
func (tk *task) killSidecar() {
	tk.sidecar.Process.Signal(syscall.SIGKILL)
	tk.sidecar.Wait()
}

func (tk *task) stopSidecar() {
	tk.sidecar.Process.Signal(syscall.SIGTERM)
	tk.sidecar.Wait()
}

// startRouter runs the log_router: fluent-launch from the volume as
// entryPoint, with command as its arguments.
func (tk *task) startRouter(command []string) {
	tk.t.Helper()
	args := append([]string{"-r", tk.fb.path, "-c", tk.conf, "-m", filepath.Join(tk.vol, "fluent-bit.conf")}, command...)
	tk.router = tk.inNS("router.log", nil, filepath.Join(tk.vol, "fluent-launch"), args...)
	tk.waitSocket(tk.fluentSock, "log_router")
}

func (tk *task) stopRouter() {
	tk.router.Process.Signal(syscall.SIGTERM)
	tk.router.Wait()
}

// logs returns the processes' stderr for failure messages.
func (tk *task) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(tk.dir, "*.err"))
	files = append(files, filepath.Join(tk.dir, "router.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 6000 {
			data = append([]byte("…"), data[len(data)-6000:]...)
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// sidecarEvents returns the log events of every sidecar run, complete
// lines only (a run killed mid-write may leave half a line; its chunk was
// not acknowledged, so Fluent Bit sends it again).
func (tk *task) sidecarEvents() []event.Event {
	tk.t.Helper()
	var out []event.Event
	for i := 1; i <= tk.sidecarRuns; i++ {
		for _, line := range completeLines(tk.t, filepath.Join(tk.dir, fmt.Sprintf("sidecar-%d.out", i))) {
			var e event.Event
			if err := json.Unmarshal(line, &e); err != nil {
				tk.t.Fatalf("sidecar output line %q: %v", line, err)
			}
			if e.EventType == event.TypeLog {
				out = append(out, e)
			}
		}
	}
	return out
}

// destLogs returns the log field of every record the stand-in destination
// wrote.
func (tk *task) destLogs() []string {
	tk.t.Helper()
	var out []string
	for _, line := range completeLines(tk.t, filepath.Join(tk.dest, "web.log")) {
		var rec struct {
			Log string `json:"log"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			tk.t.Fatalf("destination line %q: %v", line, err)
		}
		out = append(out, rec.Log)
	}
	return out
}

func completeLines(t *testing.T, path string) [][]byte {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// logDriver sends records to FireLens as the ECS (fluentd) log driver
// does: Message mode over the unix socket, a nanosecond EventTime, the
// keys container_id, container_name, source and log, no ack.
type logDriver struct {
	t    *testing.T
	conn net.Conn
	buf  []byte
}

const containerID = "0123456789abcdef0123456789abcdef-2495160603"

func (tk *task) logDriver() *logDriver {
	tk.t.Helper()
	c, err := net.Dial("unix", tk.fluentSock)
	if err != nil {
		tk.t.Fatal(err)
	}
	tk.t.Cleanup(func() { c.Close() })
	return &logDriver{t: tk.t, conn: c}
}

func (d *logDriver) send(source, log string) {
	d.t.Helper()
	now := time.Now()
	b := d.buf[:0]
	b = append(b, 0x93)
	b = appendStr(b, tag)
	b = append(b, 0xd7, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(now.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(now.Nanosecond()))
	b = append(b, 0x84)
	for _, s := range []string{"container_id", containerID, "container_name", "/ecs-web-task-7-web-d0c8a1b2", "source", source, "log", log} {
		b = appendStr(b, s)
	}
	d.buf = b
	if _, err := d.conn.Write(b); err != nil {
		d.t.Fatalf("log driver write: %v", err)
	}
}

func appendStr(b []byte, s string) []byte {
	switch {
	case len(s) < 32:
		b = append(b, 0xa0|byte(len(s)))
	case len(s) < 256:
		b = append(b, 0xd9, byte(len(s)))
	case len(s) < 1<<16:
		b = append(b, 0xda)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	}
	return append(b, s...)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// numbered returns how often each "seq=N " record appears in logs.
func numbered(logs []string) map[int]int {
	seen := map[int]int{}
	for _, l := range logs {
		var n int
		if _, err := fmt.Sscanf(l, "seq=%d ", &n); err == nil {
			seen[n]++
		}
	}
	return seen
}

func seqLine(n int) string { return fmt.Sprintf("seq=%d %s", n, strings.Repeat("x", 40)) }
