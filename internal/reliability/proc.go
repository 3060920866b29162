// Package reliability runs issue 10's hostile scenarios against a built
// sidewatch binary: each sends real traffic over real sockets, stops or
// kills the process as the hostile tester did, and reports a Row (sent,
// acknowledged, written, lost, counted, peak RSS). `make reliability`
// prints them at the sizes (cmd/reliability); cmd/sidewatch's tests
// run them small and check the rows.
package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Env is where scenarios run.
type Env struct {
	// Bin is the sidewatch binary.
	Bin string
	// Dir is a scratch directory (files, sockets).
	Dir string
	// LastStats is the syslog and pipeline groups of the last scenario's
	// final stats event, for diagnosis.
	LastStats map[string]any
}

// Row is one scenario's outcome, in records unless a note says otherwise.
type Row struct {
	Scenario string
	// Sent: records the senders tried; Acked: records the transport
	// accepted from them (TCP write returned; for UDP, sent).
	Sent, Acked int64
	// Written: records found in the sink's output; Lost: acknowledged
	// records not written; Counted: records the sidecar counted as lost
	// (its metrics, the final stats event or its shutdown error).
	Written, Lost, Counted int64
	PeakRSS                int64
	Exit                   int
	Notes                  []string
	// Failed lists the row's guarantees that did not hold.
	Failed []string
}

func (r *Row) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Row) fail(format string, args ...any) {
	r.Failed = append(r.Failed, fmt.Sprintf(format, args...))
}

// check records a failed guarantee unless ok.
func (r *Row) check(ok bool, format string, args ...any) {
	if !ok {
		r.fail(format, args...)
	}
}

// lockedBuffer collects a process's stderr.
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

// Proc is a running `sidewatch run` with stdout on a pipe the scenario
// reads, or leaves unread (a stalled sink).
type Proc struct {
	cmd              *exec.Cmd
	Stderr           *lockedBuffer
	TCP, UDP, Health string
	exited           chan struct{}
	exitErr          error
	stdout           *os.File
	peak             int64 // VmHWM, sampled while running
}

// Start starts `sidewatch run` with the receiver and health listener on
// free loopback ports, no capture, no launcher, no task metadata, and
// args; it returns once /healthz answers.
func (e *Env) Start(env []string, args ...string) (*Proc, error) {
	p := &Proc{Stderr: &lockedBuffer{}, exited: make(chan struct{})}
	var err error
	if p.TCP, err = freePort("tcp"); err != nil {
		return nil, err
	}
	if p.UDP, err = freePort("udp"); err != nil {
		return nil, err
	}
	if p.Health, err = freePort("tcp"); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.stdout = r
	p.cmd = exec.Command(e.Bin, append([]string{"run", "--no-launcher", "--stats-interval", "0"}, args...)...)
	p.cmd.Env = append(os.Environ(),
		"SIDEWATCH_HEALTH_ADDR="+p.Health, "SIDEWATCH_SYSLOG_TCP_ADDR="+p.TCP, "SIDEWATCH_SYSLOG_UDP_ADDR="+p.UDP,
		"SIDEWATCH_LOG_FORMAT=json", "SIDEWATCH_NO_CAPTURE=true", "ECS_CONTAINER_METADATA_URI_V4=")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = w, p.Stderr
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get("http://" + p.Health + "/metrics"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			r.Close()
			return nil, fmt.Errorf("sidewatch run exited at start (%v): %s", p.exitErr, p.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("sidewatch run not up after 15s: %s", p.Stderr)
		}
	}
}

func freePort(network string) (string, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Kill sends SIGKILL and waits; it also releases stdout.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
	p.stdout.Close()
}

// Stop sends SIGTERM and returns the exit status once the process has
// exited, or an error after timeout (the process is then killed) or if a
// signal killed it.
func (p *Proc) Stop(timeout time.Duration) (int, error) {
	p.SamplePeak()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(timeout)
}

// Wait waits for the process to exit (see Stop).
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		return -1, fmt.Errorf("still running %s after SIGTERM: %s", timeout, p.Stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, fmt.Errorf("killed by %v: %s", ws.Signal(), p.Stderr)
		}
		return ee.ExitCode(), nil
	}
	return 0, p.exitErr
}

// SamplePeak records the process's peak resident size so far (VmHWM).
func (p *Proc) SamplePeak() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return p.peak
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			p.peak = max(p.peak, kb<<10)
		}
	}
	return p.peak
}

// Peak returns the last sampled peak RSS.
func (p *Proc) Peak() int64 { return p.peak }

// Metric reads one series from /metrics (its name and labels as printed).
func (p *Proc) Metric(series string) (float64, error) {
	resp, err := http.Get("http://" + p.Health + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", series)
}

// MustMetric is Metric with a missing series read as 0.
func (p *Proc) MustMetric(series string) float64 {
	v, _ := p.Metric(series)
	return v
}

// Output reads the process's stdout: every event, the last stats event's
// groups, and lines that are not JSON.
type Output struct {
	mu        sync.Mutex
	events    []event.Event
	bad       []string
	lastStats map[string]any
	Done      chan struct{}
}

// ReadStdout starts reading stdout at most rate bytes per second (0: as
// fast as possible), until it closes.
func (p *Proc) ReadStdout(rate int) *Output {
	o := &Output{Done: make(chan struct{})}
	go o.read(p.stdout, rate, -1)
	return o
}

// Head reads n lines of stdout, then closes the pipe, as `| head -n n`.
func (p *Proc) Head(n int) *Output {
	o := &Output{Done: make(chan struct{})}
	go func() {
		o.read(p.stdout, 0, n)
		p.stdout.Close()
	}()
	return o
}

func (o *Output) read(r io.Reader, rate, limit int) {
	defer close(o.Done)
	br := bufio.NewReaderSize(r, 1<<20)
	start, n := time.Now(), 0
	for lines := 0; limit < 0 || lines < limit; lines++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			o.add(line)
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
}

// ReadFile reads events from a file sink's output.
func ReadFile(path string) (*Output, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	o := &Output{Done: make(chan struct{})}
	for l := range bytes.Lines(b) {
		o.add(l)
	}
	close(o.Done)
	return o, nil
}

func (o *Output) add(line []byte) {
	var e event.Event
	o.mu.Lock()
	defer o.mu.Unlock()
	if line[len(line)-1] != '\n' || json.Unmarshal(line, &e) != nil {
		o.bad = append(o.bad, string(line))
		return
	}
	if e.Stats != nil {
		o.lastStats = e.Stats.Groups
		e.Stats = nil
	}
	if e.Log != nil && len(e.Log.Message) > 256 {
		e.Log.Message = e.Log.Message[:256] // keep memory small
	}
	o.events = append(o.events, e)
}

// Logs returns the log events read so far.
func (o *Output) Logs() []*event.Log {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*event.Log
	for _, e := range o.events {
		if e.EventType == event.TypeLog {
			out = append(out, e.Log)
		}
	}
	return out
}

// Count returns how many events of type t were read.
func (o *Output) Count(t event.Type) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := int64(0)
	for _, e := range o.events {
		if e.EventType == t {
			n++
		}
	}
	return n
}

// Bad returns the lines that were not whole JSON events.
func (o *Output) Bad() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bad
}

// HasMessage reports whether a log event with message msg was read.
func (o *Output) HasMessage(msg string) bool {
	for _, l := range o.Logs() {
		if l.Message == msg {
			return true
		}
	}
	return false
}

// Stat returns a number at a dotted path of the last stats event
// ("sidewatch.pipeline.dropped_total.queue_full"); 0 if absent.
func (o *Output) Stat(path string) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var v any = o.lastStats
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	f, _ := v.(float64)
	return f
}

// HasStats reports whether a stats event was read.
func (o *Output) HasStats() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastStats != nil
}

// SendLines sends LogLines(from, n) on a new TCP connection, closes it,
// and returns how many lines the kernel accepted.
func (p *Proc) SendLines(from, n int) (int64, error) {
	c, err := net.Dial("tcp", p.TCP)
	if err != nil {
		return 0, err
	}
	data := LogLines(from, n)
	k, _ := c.Write(data)
	c.Close()
	return int64(bytes.Count(data[:k], []byte("\n"))), nil
}

// LogLines returns n RFC 3164 lines as Fluent Bit writes them (about 150
// bytes), numbered seq=from...from+n-1.
func LogLines(from, n int) []byte {
	var b bytes.Buffer
	stamp := time.Now().UTC().Format(time.Stamp)
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "<14>%s cd189a933e5849daa93386466019ab50-2495160603 web[1]: seq=%09d GET /api/v1/items?page=2 HTTP/1.1 200 5123 %s\n", stamp, i, strings.Repeat(".", 60))
	}
	return b.Bytes()
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, what string, cond func() bool) error {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
	}
	return nil
}
