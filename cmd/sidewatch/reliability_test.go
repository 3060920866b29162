package main

// Process-level regressions for issue 10's table: each test runs the built
// binary against real sockets, as the hostile tester did, at a size that
// keeps `go test` quick. `make reliability` runs the same scenarios at the
// issue's sizes (scripts/reliability.sh).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// lockedBuffer is a bytes.Buffer safe for the process's stderr copier and
// the test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a running `sidewatch run`.
type proc struct {
	t                *testing.T
	cmd              *exec.Cmd
	stderr           *lockedBuffer
	tcp, udp, health string
	bin              string
	exited           chan struct{}
	exitErr          error
	stdoutR          *os.File // the read end of stdout's pipe, if the test reads it
}

// startRun starts `sidewatch run` with stdout on a pipe that the test
// reads (or not: a stalled sink), the receiver on free ports, no capture
// and no launcher, plus args; it waits until the receiver accepts.
func startRun(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, bin: bin, stderr: &lockedBuffer{}, tcp: freeAddr(t), health: freeAddr(t), exited: make(chan struct{})}
	p.udp = freeUDPAddr(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdoutR = r
	p.cmd = exec.Command(bin, append([]string{"run", "--no-launcher", "--stats-interval", "0"}, args...)...)
	p.cmd.Env = append(testRunEnv(p.health), append([]string{
		"SIDEWATCH_SYSLOG_TCP_ADDR=" + p.tcp, "SIDEWATCH_SYSLOG_UDP_ADDR=" + p.udp, "ECS_CONTAINER_METADATA_URI_V4=",
	}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = w, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		r.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get("http://" + p.health + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("sidewatch run exited at start: %v; stderr:\n%s", p.exitErr, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health listener never answered; stderr:\n%s", p.stderr)
		}
	}
	return p
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(timeout)
}

func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("sidewatch run still running %s after SIGTERM; stderr:\n%s", timeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("sidewatch run killed by %v; stderr:\n%s", ws.Signal(), p.stderr)
		}
		return ee.ExitCode()
	}
	if p.exitErr != nil {
		p.t.Fatal(p.exitErr)
	}
	return 0
}

// metric reads one series from /metrics (name with its labels as printed).
func (p *proc) metric(series string) float64 {
	p.t.Helper()
	resp, err := http.Get("http://" + p.health + "/metrics")
	if err != nil {
		p.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return f
		}
	}
	p.t.Fatalf("/metrics has no %s", series)
	return 0
}

// peakRSS returns the process's peak resident size (VmHWM) in bytes.
func (p *proc) peakRSS() int64 {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Skipf("needs /proc: %v", err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	p.t.Fatal("no VmHWM")
	return 0
}

// reader reads stdout at most rate bytes per second (0: as fast as it
// can) and keeps the events.
type reader struct {
	mu        sync.Mutex
	events    []event.Event
	bad       []string
	lastStats map[string]any
	done      chan struct{}
}

func (p *proc) readStdout(rate int) *reader {
	rd := &reader{done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		br := bufio.NewReaderSize(p.stdoutR, 1<<20)
		start, n := time.Now(), 0
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				var e event.Event
				rd.mu.Lock()
				if json.Unmarshal(line, &e) != nil {
					rd.bad = append(rd.bad, string(line))
				} else {
					if e.Stats != nil {
						rd.lastStats = e.Stats.Groups
						e.Stats = nil
					}
					rd.events = append(rd.events, e)
				}
				rd.mu.Unlock()
				n += len(line)
				if rate > 0 {
					if ahead := time.Duration(n)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
						time.Sleep(ahead)
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return rd
}

// logs returns the log messages read so far.
func (rd *reader) logs() []*event.Log {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var out []*event.Log
	for _, e := range rd.events {
		if e.EventType == event.TypeLog {
			out = append(out, e.Log)
		}
	}
	return out
}

func (rd *reader) count(t event.Type) int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	n := 0
	for _, e := range rd.events {
		if e.EventType == t {
			n++
		}
	}
	return n
}

// logLines returns n RFC 3164 lines as Fluent Bit writes them.
func logLines(from, n int) []byte {
	var b bytes.Buffer
	stamp := time.Now().UTC().Format(time.Stamp)
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "<14>%s cd189a933e5849daa93386466019ab50-2495160603 web[1]: seq=%09d GET /api/v1/items?page=2 HTTP/1.1 200 5123 %s\n", stamp, i, strings.Repeat(".", 60))
	}
	return b.Bytes()
}

// Row 1: lines written before the sender closed, with stdout slow and
// SIGTERM right after the sender's close, all arrive, none truncated, and
// the exit status is 0.
func TestShutdownDrainsWhatSendersWrote(t *testing.T) {
	bin := buildSidewatch(t)
	p := startRun(t, bin, nil, "--shutdown-timeout", "20s")
	rd := p.readStdout(8 << 20)
	const n = 30000
	c, err := net.Dial("tcp", p.tcp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(logLines(0, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if code := p.stop(25 * time.Second); code != 0 {
		t.Errorf("exit status %d after a drain with time to spare, want 0; stderr:\n%s", code, p.stderr)
	}
	<-rd.done
	logs := rd.logs()
	if len(logs) != n {
		t.Fatalf("%d of %d lines written to stdout", len(logs), n)
	}
	for i, l := range logs {
		if l.Truncated || !strings.HasPrefix(l.Message, fmt.Sprintf("seq=%09d", i)) {
			t.Fatalf("event %d = %q (truncated %v)", i, l.Message, l.Truncated)
		}
	}
}

// Rows 2 and 10: with stdout not read and 760 KB messages on every
// connection, resident memory stays within the documented formula,
// /healthz turns 503 with the reason, `sidewatch health` fails, and the
// shutdown ends within its budget with status 3 (data discarded).
func TestStalledSinkMemoryBoundedAndUnhealthy(t *testing.T) {
	bin := buildSidewatch(t)
	const queue, conns = 8 << 20, 4
	p := startRun(t, bin, nil, "--queue-max-bytes", strconv.Itoa(queue), "--syslog-max-conns", strconv.Itoa(conns),
		"--health-stall-timeout", "1s", "--shutdown-timeout", "2s")
	cfg := sidecar.Config{QueueMaxBytes: queue, NoCapture: true, Syslog: syslog.DefaultConfig()}
	cfg.Syslog.MaxConns = conns
	_, bound := sidecar.MemoryBounds(cfg)

	msg := []byte("<14>" + time.Now().UTC().Format(time.Stamp) + " abc web[1]: " + strings.Repeat("m", 760_000) + "\n")
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range conns + 2 { // more senders than slots: the extra ones wait
		wg.Go(func() {
			c, err := net.Dial("tcp", p.tcp)
			if err != nil {
				return
			}
			defer c.Close()
			for range 100 {
				c.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Write(msg); err != nil {
					return
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait() // every sender is blocked: the sidecar holds what it can
	if peak := p.peakRSS(); peak > bound {
		t.Errorf("peak RSS %d MiB with a stalled sink, want at most the formula's %d MiB", peak>>20, bound>>20)
	} else {
		t.Logf("peak RSS %d MiB (formula %d MiB) after %d messages of 760 KB sent", peak>>20, bound>>20, sent.Load())
	}
	if q := p.metric("sidewatch_pipeline_queue_bytes"); q > queue+6*800_000 {
		t.Errorf("queue holds %.0f bytes, want at most --queue-max-bytes plus one event", q)
	}
	var out bytes.Buffer
	hc := exec.Command(bin, "health", "--addr", p.health)
	hc.Stderr = &out
	if err := hc.Run(); err == nil || !strings.Contains(out.String(), "stalled") {
		t.Errorf("sidewatch health with a stalled pipeline: %v, %s; want a failure naming the stall", err, out.String())
	}
	start := time.Now()
	if code := p.stop(10 * time.Second); code != exitDiscarded {
		t.Errorf("exit status %d, want %d (data discarded); stderr:\n%s", code, exitDiscarded, p.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s with a 2s budget", d)
	}
	if !strings.Contains(p.stderr.String(), "discarded") {
		t.Errorf("stderr does not report the discarded data:\n%s", p.stderr)
	}
}

// Row 3: a kill -9 during file-sink writes never leaves the next run
// appending to a partial line; the deterministic case is a file ending in
// a partial line before start.
func TestKill9FileSinkKeepsWholeLines(t *testing.T) {
	bin := buildSidewatch(t)
	path := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(path, []byte(`{"partial`), 0o640); err != nil {
		t.Fatal(err)
	}
	args := []string{"--sink", "file", "--file-path", path}
	for i := range 4 {
		p := startRun(t, bin, nil, args...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			c, err := net.Dial("tcp", p.tcp)
			if err != nil {
				return
			}
			defer c.Close()
			for j := 0; ; j += 500 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(logLines(j, 500)); err != nil {
					return
				}
			}
		})
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		p.cmd.Process.Kill()
		<-p.exited
		close(stop)
		wg.Wait()
		if i == 0 && !strings.Contains(p.stderr.String(), "cut a partial last line") {
			t.Errorf("first start did not report the partial line it cut:\n%s", p.stderr)
		}
	}
	p := startRun(t, bin, nil, args...)
	c, err := net.Dial("tcp", p.tcp)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("<14>Nov 14 22:13:20 abc web[1]: after the kills\n"))
	c.Close()
	time.Sleep(200 * time.Millisecond)
	p.stop(10 * time.Second)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for l := range bytes.Lines(b) {
		lines++
		if !json.Valid(l) || l[len(l)-1] != '\n' {
			t.Fatalf("line %d is not a whole JSON line: %.120q", lines, l)
		}
	}
	if !bytes.Contains(b, []byte("after the kills")) {
		t.Errorf("the event written after the kills is missing")
	}
	t.Logf("%d whole lines after 4 kill -9", lines)
}

// Row 4: `sidewatch run --sink stdout,file | head -n 5`: the broken pipe
// fails the stdout sink (logged once), the file gets every event and the
// final stats, and the process is not killed by SIGPIPE.
func TestBrokenStdoutOtherSinksKeepWorking(t *testing.T) {
	bin := buildSidewatch(t)
	path := filepath.Join(t.TempDir(), "f.json")
	p := startRun(t, bin, nil, "--sink", "stdout,file", "--file-path", path)
	const n = 20000
	head := bufio.NewReader(p.stdoutR)
	c, err := net.Dial("tcp", p.tcp)
	if err != nil {
		t.Fatal(err)
	}
	go func() { c.Write(logLines(0, n)); c.Close() }()
	for range 5 {
		if _, err := head.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	p.stdoutR.Close() // head exits
	for deadline := time.Now().Add(20 * time.Second); p.metric(`sidewatch_pipeline_events_total{type="log"}`) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %.0f events accepted", p.metric(`sidewatch_pipeline_events_total{type="log"}`))
		}
	}
	time.Sleep(100 * time.Millisecond)
	if code := p.stop(10 * time.Second); code != 0 && code != exitDiscarded {
		t.Errorf("exit status %d, want 0 or %d", code, exitDiscarded)
	}
	b, _ := os.ReadFile(path)
	logs, stats := 0, 0
	for l := range bytes.Lines(b) {
		var e event.Event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("file line %.80q: %v", l, err)
		}
		switch e.EventType {
		case event.TypeLog:
			logs++
		case event.TypeStats:
			stats++
		}
	}
	if logs != n || stats != 1 {
		t.Errorf("file has %d log events and %d stats, want %d and the final stats", logs, stats, n)
	}
	if k := strings.Count(p.stderr.String(), "sink failing"); k != 1 || !strings.Contains(p.stderr.String(), "broken pipe") {
		t.Errorf("stderr logs %d sink failures, want one naming the broken pipe:\n%s", k, p.stderr)
	}
}

// Row 5: a hundred connections trickling a byte a second cannot keep a
// real sender (logger) out; thousands of idle connections to the health
// port neither grow the sidecar nor keep `sidewatch health` out.
func TestSlowConnectionsCannotBlind(t *testing.T) {
	logger := needTool(t, "logger")
	bin := buildSidewatch(t)
	p := startRun(t, bin, nil, "--syslog-frame-timeout", "5s")
	rd := p.readStdout(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for range 100 {
		wg.Go(func() {
			for {
				c, err := net.Dial("tcp", p.tcp)
				if err != nil {
					return
				}
				for {
					select {
					case <-stop:
						c.Close()
						return
					case <-time.After(time.Second):
					}
					if _, err := c.Write([]byte("<")); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}
	time.Sleep(2 * time.Second) // the slow senders hold every slot
	rssBefore := p.peakRSS()
	for i := range 3 {
		msg := fmt.Sprintf("real sender %d", i)
		start := time.Now()
		if out, err := exec.Command(logger, "--tcp", "--server", "127.0.0.1", "--port", portOf(p.tcp), msg).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v %s", err, out)
		}
		for !slicesContainsMessage(rd.logs(), msg) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%q not delivered in 10s with 100 slow connections; stderr:\n%s", msg, p.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%q delivered in %s", msg, time.Since(start).Round(time.Millisecond))
	}
	if e := p.metric(`sidewatch_syslog_connections_closed_total{reason="evicted"}`); e == 0 {
		t.Errorf("no slow connection evicted")
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 3000 {
		c, err := net.DialTimeout("tcp", p.health, time.Second)
		if err != nil {
			break
		}
		idle = append(idle, c)
	}
	if err := exec.Command(bin, "health", "--addr", p.health, "--timeout", "5s").Run(); err != nil {
		t.Errorf("sidewatch health with %d idle connections: %v", len(idle), err)
	}
	if grown := p.peakRSS() - rssBefore; grown > 16<<20 {
		t.Errorf("peak RSS grew %d MiB with %d idle health connections", grown>>20, len(idle))
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func slicesContainsMessage(logs []*event.Log, msg string) bool {
	for _, l := range logs {
		if l.Message == msg {
			return true
		}
	}
	return false
}

// Row 6: datagrams the kernel drops are counted: received + dropped =
// sent.
func TestUDPLossIsCounted(t *testing.T) {
	bin := buildSidewatch(t)
	p := startRun(t, bin, nil, "--syslog-udp-read-buffer", "65536", "--queue-max-bytes", "1048576")
	c, err := net.Dial("udp", p.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 20000
	for i := range n { // stdout not read yet: the reader stalls, the kernel drops
		fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc web[1]: datagram %d %s", i, strings.Repeat(".", 100))
	}
	rd := p.readStdout(0)
	time.Sleep(300 * time.Millisecond)
	fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc web[1]: marker")
	for deadline := time.Now().Add(20 * time.Second); !slicesContainsMessage(rd.logs(), "marker"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("marker never arrived")
		}
	}
	got := len(rd.logs())
	dropped := int(p.metric("sidewatch_syslog_udp_kernel_dropped_total"))
	if dropped == 0 || got+dropped != n+1 {
		t.Errorf("received %d + counted kernel drops %d = %d, want %d with drops", got, dropped, got+dropped, n+1)
	}
	t.Logf("%d datagrams: %d received, %d dropped by the kernel and counted", n+1, got, dropped)
}

// Row 8: one client at a time connects, sends and closes, with stdout
// slower than the client: no connection is refused or reset and every
// message arrives.
func TestSequentialConnectSendClose(t *testing.T) {
	bin := buildSidewatch(t)
	p := startRun(t, bin, nil, "--queue-max-bytes", "1048576", "--syslog-max-conns", "4")
	rd := p.readStdout(1 << 20)
	const n = 3000
	for i := range n {
		c, err := net.Dial("tcp", p.tcp)
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		if _, err := c.Write(logLines(i, 1)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		c.Close()
	}
	if code := p.stop(30 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, p.stderr)
	}
	<-rd.done
	if got := len(rd.logs()); got != n {
		t.Errorf("%d of %d messages delivered", got, n)
	}
}

// Row 9: with --user, a file-sink directory that user cannot write is a
// startup error naming the directory and the user; a writable one rotates.
func TestFileSinkDirectoryWritableByUser(t *testing.T) {
	requireRootTools(t)
	bin := buildSidewatch(t)
	dir, err := os.MkdirTemp("", "sidewatch-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // root's, not writable by 65534
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "--no-launcher", "--user", "65534", "--sink", "file", "--file-path", filepath.Join(dir, "f.json"))
	cmd.Env = append(testRunEnv(freeAddr(t)), "ECS_CONTAINER_METADATA_URI_V4=")
	cmd.Stderr = &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitFailed || !strings.Contains(stderr.String(), "must be writable") || !strings.Contains(stderr.String(), "uid 65534") {
		t.Errorf("run with an unwritable file directory: %v (exit %d), want exit %d naming the directory and uid; stderr:\n%s", err, code, exitFailed, stderr.String())
	}

	own := filepath.Join(dir, "nobody")
	os.Mkdir(own, 0o755)
	os.Chown(own, 65534, 65534)
	path := filepath.Join(own, "f.json")
	p := startRun(t, bin, nil, "--user", "65534", "--sink", "file", "--file-path", path, "--file-max-bytes", "65536", "--file-keep", "2")
	c, err := net.Dial("tcp", p.tcp)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(logLines(0, 2000))
	c.Close()
	for deadline := time.Now().Add(10 * time.Second); p.metric(`sidewatch_sink_rotations_total{sink="file"}`) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no rotation")
		}
	}
	if e := p.metric(`sidewatch_sink_rotate_errors_total{sink="file"}`); e != 0 {
		t.Errorf("rotate_errors_total = %.0f, want 0", e)
	}
	p.stop(10 * time.Second)
}

// needTool returns the path of a tool the test drives, or skips.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s", name)
	}
	return path
}

// statValue returns a number at path ("sidewatch.flow.created_total") in
// the last stats event read.
func (rd *reader) statValue(path string) float64 {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var v any = rd.lastStats
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	f, _ := v.(float64)
	return f
}

// Row 7: flows open at SIGTERM are reported within the shutdown budget,
// even when they are many times what the queue holds and stdout is slow:
// the final records wait for room instead of being dropped.
func TestShutdownReportsEveryOpenFlow(t *testing.T) {
	requireRootTools(t)
	bin := buildSidewatch(t)
	p := startRun(t, bin, []string{"SIDEWATCH_NO_CAPTURE=false"}, "--capture-interfaces", "lo",
		"--queue-max-bytes", "1048576", "--shutdown-timeout", "25s")
	rd := p.readStdout(4 << 20)
	// 20,000 UDP flows on lo: one socket to 20,000 ports nobody listens on.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const flows = 20000
	for i := range flows {
		c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20000 + i})
	}
	for deadline := time.Now().Add(20 * time.Second); p.metric("sidewatch_flow_active") < flows; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %.0f flows open", p.metric("sidewatch_flow_active"))
		}
	}
	if code := p.stop(30 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, p.stderr)
	}
	<-rd.done
	created, written := rd.statValue("sidewatch.flow.created_total"), rd.count(event.TypeFlow)
	dropped := rd.statValue("sidewatch.pipeline.dropped_total.queue_full")
	if written < flows || float64(written) != created || dropped != 0 {
		t.Errorf("%d flow events written for %.0f flows created (%d ours), %.0f dropped as queue_full; want every flow reported, none dropped", written, created, flows, dropped)
	}
}
