// Command syslogbench compares `sidewatch run` with rsyslogd on this
// machine, for `make bench-syslog`: both receive the same Fluent Bit-style
// RFC 3164 lines over TCP and write them to a file (sidewatch as JSON
// enriched with the task metadata of a local TMDE stub, rsyslog in its
// default text format). Rounds alternate the two (ABBA order), so that a
// neighbour's load hits both alike; it prints each round and the medians
// of the throughput ratio and of the CPU per message. A last run paces
// sidewatch at a fixed rate for its peak RSS.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	sw := flag.String("sidewatch", "", "sidewatch binary")
	tmde := flag.String("tmde", "cmd/sidewatch/testdata/tmde-v4-task.json", "task metadata served to sidewatch")
	n := flag.Int("n", 500000, "lines per round and receiver")
	conns := flag.Int("conns", 4, "sender connections")
	rounds := flag.Int("rounds", 5, "rounds; each measures both receivers")
	rate := flag.Int("rate", 100000, "lines per second of the paced run (0 skips it)")
	paced := flag.Duration("paced", 10*time.Second, "duration of the paced run")
	rsJSON := flag.Bool("rsyslog-json", false, "rsyslog writes the same enriched JSON lines as sidewatch (a list template with the task's fields as constants) instead of its default text")
	outDir := flag.String("dir", "/dev/shm", "where the receivers write (tmpfs by default: a disk's writeback would bound both by its speed, and sidewatch writes three times the bytes)")
	flag.Parse()
	if err := run(*sw, *tmde, *outDir, *n, *conns, *rounds, *rate, *paced, *rsJSON); err != nil {
		fmt.Fprintln(os.Stderr, "syslogbench:", err)
		os.Exit(1)
	}
}

// receiver is one running server and the file it writes.
type receiver struct {
	name string
	cmd  *exec.Cmd
	addr string
	out  string
	tail *tail
}

// measurement is one receiver's round.
type measurement struct {
	rate   float64 // lines per second
	cpuMsg float64 // CPU microseconds per line
}

func run(swBin, tmde, outDir string, n, conns, rounds, rate int, paced time.Duration, rsJSON bool) error {
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		return errors.New("needs rsyslogd (apt-get install rsyslog)")
	}
	task, err := os.ReadFile(tmde)
	if err != nil {
		return err
	}
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v4/bench/task" {
			w.Write(task)
			return
		}
		http.NotFound(w, r)
	}))
	defer meta.Close()
	if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
		outDir = ""
	}
	dir, err := os.MkdirTemp(outDir, "syslogbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	sw, err := startSidewatch(swBin, dir, meta.URL+"/v4/bench", "sidewatch.jsonl")
	if err != nil {
		return err
	}
	defer stop(sw)
	template := ""
	rsFormat := "text"
	if rsJSON {
		if template, err = eveTemplate(task); err != nil {
			return err
		}
		rsFormat = "JSON, enriched"
	}
	rs, err := startRsyslog(dir, template)
	if err != nil {
		return err
	}
	defer stop(rs)

	lines := fluentBitLines(n, conns)
	fmt.Printf("syslog end to end: %d lines of %d bytes per round over %d TCP connection(s), %d rounds alternating (ABBA), output in %s, %d CPUs, load %s\n",
		n, len(lines[0])/max(1, strings.Count(string(lines[0]), "\n")), conns, rounds, dir, runtime.NumCPU(), loadavg())
	var swM, rsM []measurement
	for r := range rounds {
		order := []*receiver{sw, rs}
		if r%2 == 1 {
			order = []*receiver{rs, sw}
		}
		for _, rc := range order {
			m, err := measure(rc, lines, n)
			if err != nil {
				return fmt.Errorf("%s: %w", rc.name, err)
			}
			if rc == sw {
				swM = append(swM, m)
			} else {
				rsM = append(rsM, m)
			}
		}
		fmt.Printf("  round %d: sidewatch %8.0f msg/s %5.2f us CPU/msg | rsyslog %8.0f msg/s %5.2f us CPU/msg | ratio %.2f, CPU ratio %.2f\n",
			r+1, swM[r].rate, swM[r].cpuMsg, rsM[r].rate, rsM[r].cpuMsg, swM[r].rate/rsM[r].rate, swM[r].cpuMsg/rsM[r].cpuMsg)
	}
	var ratios, cpuRatios, swRate, rsRate, swCPU, rsCPU []float64
	for i := range swM {
		ratios = append(ratios, swM[i].rate/rsM[i].rate)
		cpuRatios = append(cpuRatios, swM[i].cpuMsg/rsM[i].cpuMsg)
		swRate, rsRate = append(swRate, swM[i].rate), append(rsRate, rsM[i].rate)
		swCPU, rsCPU = append(swCPU, swM[i].cpuMsg), append(rsCPU, rsM[i].cpuMsg)
	}
	fmt.Printf("  median: sidewatch %.0f msg/s, %.2f us CPU/msg (JSON, enriched); rsyslog %.0f msg/s, %.2f us CPU/msg (%s)\n",
		median(swRate), median(swCPU), median(rsRate), median(rsCPU), rsFormat)
	fmt.Printf("  median ratio sidewatch/rsyslog: throughput %.2f, CPU per message %.2f (load now %s)\n", median(ratios), median(cpuRatios), loadavg())
	fmt.Printf("  peak RSS so far: sidewatch %d MiB, rsyslog %d MiB\n", peakRSS(sw)>>20, peakRSS(rs)>>20)
	fmt.Printf("  first output lines:\n    sidewatch: %s\n    rsyslog:   %s\n", firstLine(sw.out), firstLine(rs.out))
	if rate <= 0 {
		return nil
	}
	stop(sw)
	psw, err := startSidewatch(swBin, dir, meta.URL+"/v4/bench", "paced.jsonl")
	if err != nil {
		return err
	}
	defer stop(psw)
	total := int(float64(rate) * paced.Seconds())
	start := time.Now()
	if err := send(psw.addr, fluentBitLines(total, conns), rate); err != nil {
		return err
	}
	if err := psw.tail.waitFor(total, time.Minute); err != nil {
		return err
	}
	fmt.Printf("  sidewatch paced at %d msg/s for %s (achieved %.0f msg/s): peak RSS %d MiB\n", rate, paced, float64(total)/time.Since(start).Seconds(), peakRSS(psw)>>20)
	return nil
}

func startSidewatch(bin, dir, metaURI, out string) (*receiver, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rc := &receiver{name: "sidewatch", addr: addr, out: filepath.Join(dir, out)}
	rc.cmd = exec.Command(bin, "run", "--no-launcher", "--no-capture", "--sink", "file", "--file-path", rc.out, "--file-max-bytes", "0",
		"--health-addr", "", "--stats-interval", "0", "--syslog-tcp-addr", addr, "--syslog-udp-addr", "", "--metadata-uri", metaURI)
	rc.cmd.Env = append(os.Environ(), "ECS_CONTAINER_METADATA_URI_V4=")
	return rc, start(rc)
}

// eveTemplate returns an rsyslog list template that writes each line as
// sidewatch's log event, with the task's fields of the TMDE sample as
// constants and the container from the line's HOSTNAME and APP-NAME, as
// sidewatch fills them: the same bytes per line, so that the two
// receivers do the same work.
func eveTemplate(tmde []byte) (string, error) {
	var t struct{ Cluster, TaskARN, Family, Revision, AvailabilityZone, LaunchType string }
	if err := json.Unmarshal(tmde, &t); err != nil {
		return "", fmt.Errorf("task metadata: %w", err)
	}
	cluster := t.Cluster[strings.LastIndex(t.Cluster, "/")+1:]
	ecs := fmt.Sprintf(`"},"aws_ecs":{"cluster":%q,"task_arn":%q,"family":%q,"revision":%q,"availability_zone":%q,"launch_type":%q,"container":{"id":"`,
		cluster, t.TaskARN, t.Family, t.Revision, t.AvailabilityZone, t.LaunchType)
	c := func(v string) string { return fmt.Sprintf("constant(value=%q)\n", v) }
	return `template(name="eve" type="list") {
` + c(`{"timestamp":"`) + `property(name="timereported" dateFormat="rfc3339")
` + c(`","event_type":"log","log":{"message":"`) + `property(name="msg" format="json" position.from="2")
` + c(`","facility":"`) + `property(name="syslogfacility-text")
` + c(`","severity":"`) + `property(name="syslogseverity-text")
` + c(`","procid":"`) + `property(name="procid" format="json")
` + c(`","format":"rfc3164","transport":"tcp`+ecs) + `property(name="hostname" format="json")
` + c(`","name":"`) + `property(name="programname" format="json")
` + c("\"}}}\n") + `}
`, nil
}

func startRsyslog(dir, template string) (*receiver, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	work := filepath.Join(dir, "rs")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	rc := &receiver{name: "rsyslog", addr: addr, out: filepath.Join(dir, "rsyslog.log")}
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="%s")
%saction(type="omfile" file=%q%s)
`, work, port, template, rc.out, map[bool]string{true: ` template="eve"`}[template != ""])), 0o644); err != nil {
		return nil, err
	}
	rc.cmd = exec.Command("rsyslogd", "-n", "-f", conf, "-i", filepath.Join(work, "rsyslogd.pid"))
	return rc, start(rc)
}

func start(rc *receiver) error {
	rc.cmd.Stderr = os.Stderr
	if err := rc.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", rc.addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not listen on %s", rc.name, rc.addr)
		}
	}
	rc.tail = &tail{path: rc.out}
	return nil
}

func stop(rc *receiver) {
	if rc.cmd.ProcessState == nil {
		rc.cmd.Process.Signal(syscall.SIGTERM)
		rc.cmd.Wait()
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// measure sends the lines and waits until rc has written n more: the rate
// is over that span, and so is the receiver's CPU.
func measure(rc *receiver, lines [][]byte, n int) (measurement, error) {
	// Start from an empty file: the receivers append (O_APPEND), so
	// truncating between rounds keeps the output small.
	if err := os.Truncate(rc.out, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return measurement{}, err
	}
	rc.tail.reset()
	want := n
	cpu0 := cpuTime(rc.cmd.Process.Pid)
	start := time.Now()
	if err := send(rc.addr, lines, 0); err != nil {
		return measurement{}, err
	}
	if err := rc.tail.waitFor(want, 5*time.Minute); err != nil {
		return measurement{}, err
	}
	elapsed := time.Since(start)
	cpu := cpuTime(rc.cmd.Process.Pid) - cpu0
	return measurement{rate: float64(n) / elapsed.Seconds(), cpuMsg: float64(cpu.Microseconds()) / float64(n)}, nil
}

// fluentBitLines returns one buffer per connection holding its share of n
// lines shaped like Fluent Bit's RFC 3164 output for the TMDE sample's
// container (213 bytes with the newline).
func fluentBitLines(n, conns int) [][]byte {
	stamp := time.Now().UTC().Format(time.Stamp)
	pad := strings.Repeat(".", 48)
	out := make([][]byte, conns)
	for c := range conns {
		var b strings.Builder
		for i := c; i < n; i += conns {
			fmt.Fprintf(&b, "<14>%s bfa2636268144d039771334145e490c5-1117626119 curl-image[1]: 10.0.1.23 - - \"GET /api/v1/items?page=2 HTTP/1.1\" 200 5123 conn=%d seq=%09d %s\n", stamp, c, i, pad)
		}
		out[c] = []byte(b.String())
	}
	return out
}

// send writes each connection's buffer, at most rate lines per second in
// all (0: as fast as possible).
func send(addr string, bufs [][]byte, rate int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(bufs))
	for i, buf := range bufs {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			if rate == 0 {
				_, errs[i] = c.Write(buf)
				return
			}
			perConn := max(rate/len(bufs), 1)
			start, sent := time.Now(), 0
			for len(buf) > 0 {
				k := 0
				for range 100 { // 100 lines per write
					j := bytes.IndexByte(buf[k:], '\n')
					if j < 0 {
						k = len(buf)
						break
					}
					k += j + 1
					if k == len(buf) {
						break
					}
				}
				if _, errs[i] = c.Write(buf[:k]); errs[i] != nil {
					return
				}
				buf, sent = buf[k:], sent+100
				if ahead := time.Duration(sent)*time.Second/time.Duration(perConn) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tail counts the lines of a growing file, reading only what is new.
type tail struct {
	path string
	f    *os.File
	n    int
}

func (t *tail) lines() int {
	if t.f == nil {
		f, err := os.Open(t.path)
		if err != nil {
			return 0
		}
		t.f = f
	}
	buf := make([]byte, 1<<20)
	for {
		k, err := t.f.Read(buf)
		t.n += strings.Count(string(buf[:k]), "\n")
		if err == io.EOF || k == 0 {
			return t.n
		}
	}
}

func (t *tail) reset() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.n = 0
}

func (t *tail) waitFor(n int, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); t.lines() < n; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d of %d lines after %s", t.path, t.n, n, timeout)
		}
	}
	return nil
}

// cpuTime is the user and system CPU time of pid and its threads so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}

func peakRSS(rc *receiver) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", rc.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func firstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	l, _ := bufio.NewReader(f).ReadString('\n')
	return strings.TrimSpace(l)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
