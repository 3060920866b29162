package reliability

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sidewatch/sidewatch/sidecar"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// Exit statuses of `sidewatch run` (cmd/sidewatch).
const (
	ExitFailed    = 1
	ExitUsage     = 2
	ExitDiscarded = 3
)

// DefaultShutdown is `sidewatch run`'s default --shutdown-timeout.
const DefaultShutdown = 25 * time.Second

// lineBytes is the length of a LogLines line.
var lineBytes = int64(len(LogLines(0, 1)))

// counted parses the losses the sidecar reported in its shutdown error
// (the records it counted, and bytes left unread in sockets).
var (
	countedRecords = regexp.MustCompile(`(\d+) (?:records not published|queued events not written|events failed in a sink|final flow records dropped|records cut)`)
	countedBytes   = regexp.MustCompile(`(\d+) bytes left unread`)
)

func shutdownCounts(stderr string) (records, unread int64) {
	for _, m := range countedRecords.FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		records += n
	}
	for _, m := range countedBytes.FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		unread += n
	}
	return records, unread
}

// settle fills a row's Lost and Counted from what was acknowledged and
// written and what the sidecar reported at shutdown; unread bytes count
// as whole lines of lineLen.
func (r *Row) settle(stderr string, lineLen int64) {
	r.Lost = max(r.Acked-r.Written, 0)
	records, unread := shutdownCounts(stderr)
	r.Counted += records
	if unread > 0 {
		r.Counted += (unread + lineLen - 1) / lineLen
		r.note("%d bytes left unread in sockets, counted", unread)
	}
	r.check(r.Lost <= r.Counted, "%d records lost, only %d counted", r.Lost, r.Counted)
	r.check(r.Exit == 0 || r.Exit == ExitDiscarded, "exit status %d", r.Exit)
	r.check((r.Exit == ExitDiscarded) == (r.Counted > 0), "exit status %d with %d records counted lost", r.Exit, r.Counted)
}

// Drain is row 1: lines over one TCP connection whose sender then closes,
// stdout read at rate bytes/s, SIGTERM right after the close; budget is
// --shutdown-timeout.
func (e *Env) Drain(lines, rate int, budget time.Duration) (Row, error) {
	r := Row{Scenario: "1 shutdown drain", Sent: int64(lines)}
	p, err := e.Start(nil, "--shutdown-timeout", budget.String())
	if err != nil {
		return r, err
	}
	out := p.ReadStdout(rate)
	if r.Acked, err = p.SendLines(0, lines); err != nil {
		p.Kill()
		return r, err
	}
	r.Exit, err = p.Stop(budget + 10*time.Second)
	if err != nil {
		return r, err
	}
	<-out.Done
	r.PeakRSS = p.Peak()
	logs := out.Logs()
	r.Written = int64(len(logs))
	truncated := 0
	for _, l := range logs {
		if l.Truncated {
			truncated++
		}
	}
	r.settle(p.Stderr.String(), lineBytes)
	r.note("stdout read at %d KB/s; %d records flagged truncated", rate/1000, truncated)
	r.check(truncated == 0 || r.Exit == ExitDiscarded, "%d records truncated in a clean shutdown", truncated)
	return r, nil
}

// StalledSink is rows 2 and 10: stdout not read, 760 KB messages from
// conns+2 senders with --syslog-max-conns conns and --queue-max-bytes
// queue, until every sender blocks; the peak RSS is checked against the
// documented formula and /healthz must turn 503. Then SIGTERM, and stdout
// is read again so that the drain can finish.
func (e *Env) StalledSink(msgs, conns int, queue int64) (Row, error) {
	r := Row{Scenario: "2,10 stalled sink, 760 KB messages"}
	const stall = 2 * time.Second
	p, err := e.Start(nil, "--queue-max-bytes", strconv.FormatInt(queue, 10), "--syslog-max-conns", strconv.Itoa(conns),
		"--health-stall-timeout", stall.String(), "--shutdown-timeout", "10s")
	if err != nil {
		return r, err
	}
	cfg := sidecar.Config{QueueMaxBytes: queue, NoCapture: true, Syslog: syslog.DefaultConfig()}
	cfg.Syslog.MaxConns = conns
	_, bound := sidecar.MemoryBounds(cfg)
	msg := []byte("<14>" + time.Now().UTC().Format(time.Stamp) + " abc web[1]: " + strings.Repeat("m", 760_000) + "\n")
	var sent, acked atomic.Int64
	var wg sync.WaitGroup
	senders := conns + 2
	for i := range senders {
		wg.Go(func() {
			c, err := net.Dial("tcp", p.TCP)
			if err != nil {
				return
			}
			defer c.Close()
			for j := i; j < msgs; j += senders {
				sent.Add(1)
				c.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Write(msg); err != nil {
					return // blocked: the sidecar holds what it can
				}
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	r.Sent, r.Acked = sent.Load(), acked.Load()
	start := time.Now()
	var health string
	err = waitFor(stall+5*time.Second, "/healthz 503", func() bool {
		var out bytes.Buffer
		cmd := exec.Command(e.Bin, "health", "--addr", p.Health)
		cmd.Stderr = &out
		err := cmd.Run()
		health = strings.TrimSpace(out.String())
		return err != nil && strings.Contains(health, "stalled")
	})
	if err != nil {
		r.fail("health never reported the stall: %s", health)
	} else {
		r.note("sidewatch health failed %s after the senders blocked: %.90s", time.Since(start).Round(100*time.Millisecond), strings.TrimRight(health[max(strings.LastIndex(health, "pipeline stalled"), 0):], "\"}"))
	}
	queued := p.MustMetric("sidewatch_pipeline_queue_bytes")
	r.PeakRSS = p.SamplePeak()
	r.note("queue held %.1f MiB of %d MiB; peak RSS %d MiB, formula %d MiB: %s", queued/(1<<20), queue>>20, r.PeakRSS>>20, bound>>20, verdict(r.PeakRSS <= bound))
	r.check(r.PeakRSS <= bound, "peak RSS %d MiB over the formula's %d MiB", r.PeakRSS>>20, bound>>20)
	p.cmd.Process.Signal(syscall.SIGTERM)
	out := p.ReadStdout(0)
	r.Exit, err = p.Wait(20 * time.Second)
	if err != nil {
		return r, err
	}
	<-out.Done
	e.LastStats = out.lastStats
	r.Written = int64(len(out.Logs()))
	r.settle(p.Stderr.String(), int64(len(msg)))
	return r, nil
}

func verdict(ok bool) string {
	if ok {
		return "within"
	}
	return "EXCEEDED"
}

// Kill9 is row 3: kills times, a sender streams lines to a file-sink
// sidecar and it is killed with SIGKILL mid-write; the file must hold
// whole JSON lines only, the partial ones cut (and counted) at the next
// start. What was queued at a kill is lost: syslog has no acknowledgement
// (at-most-once; the forward receiver's acks cover it).
func (e *Env) Kill9(kills int) (Row, error) {
	r := Row{Scenario: "3 kill -9 during file writes"}
	path := filepath.Join(e.Dir, "kill9.json")
	if err := os.WriteFile(path, []byte(`{"partial`), 0o640); err != nil { // as a kill leaves it
		return r, err
	}
	args := []string{"--sink", "file", "--file-path", path}
	repaired := 0
	seq, final := 0, ""
	for i := range kills + 1 {
		p, err := e.Start(nil, args...)
		if err != nil {
			return r, err
		}
		if strings.Contains(p.Stderr.String(), "cut a partial last line") {
			repaired++
		} else if i == 0 {
			r.fail("the first start did not cut the partial last line")
		}
		if i == kills {
			final = fmt.Sprintf("seq=%09d", seq)
			c, err := net.Dial("tcp", p.TCP)
			if err == nil {
				n, _ := c.Write(LogLines(seq, 1))
				c.Close()
				r.Sent++
				if n > 0 {
					r.Acked++
				}
			}
			time.Sleep(200 * time.Millisecond)
			r.Exit, err = p.Stop(30 * time.Second)
			if err != nil {
				return r, err
			}
			r.PeakRSS = max(r.PeakRSS, p.Peak())
			break
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			c, err := net.Dial("tcp", p.TCP)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				data := LogLines(seq, 500)
				n, err := c.Write(data)
				r.Sent += 500
				r.Acked += int64(bytes.Count(data[:n], []byte("\n")))
				seq += 500
				if err != nil {
					return
				}
			}
		})
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		p.SamplePeak()
		r.PeakRSS = max(r.PeakRSS, p.Peak())
		p.Kill()
		close(stop)
		wg.Wait()
	}
	out, err := ReadFile(path)
	if err != nil {
		return r, err
	}
	r.Written = int64(len(out.Logs()))
	r.Lost = max(r.Acked-r.Written, 0)
	r.note("%d kills; %d starts cut a partial last line; lines that are not whole JSON: %d; lost = queued at a kill (syslog is at-most-once)", kills, repaired, len(out.Bad()))
	r.check(len(out.Bad()) == 0, "%d lines are not whole JSON", len(out.Bad()))
	found := false
	for _, l := range out.Logs() {
		found = found || strings.HasPrefix(l.Message, final)
	}
	r.check(found, "the line sent after the kills (%s) is missing", final)
	return r, nil
}

// BrokenStdout is row 4: `sidewatch run --sink stdout,file | head -n 5`
// with lines sent; the file must get every one and the final stats.
func (e *Env) BrokenStdout(lines int) (Row, error) {
	r := Row{Scenario: "4 stdout,file | head -n 5", Sent: int64(lines)}
	path := filepath.Join(e.Dir, "broken.json")
	os.Remove(path)
	p, err := e.Start(nil, "--sink", "stdout,file", "--file-path", path)
	if err != nil {
		return r, err
	}
	head := p.Head(5)
	if r.Acked, err = p.SendLines(0, lines); err != nil {
		p.Kill()
		return r, err
	}
	<-head.Done
	err = waitFor(60*time.Second, "every line accepted", func() bool {
		return p.MustMetric(`sidewatch_pipeline_events_total{type="log"}`) >= float64(r.Acked)
	})
	if err != nil {
		p.Kill()
		return r, err
	}
	time.Sleep(200 * time.Millisecond)
	stdoutFailed := p.MustMetric(`sidewatch_pipeline_sink_events_total{sink="stdout",result="failed"}`)
	r.Exit, err = p.Stop(30 * time.Second)
	if err != nil {
		return r, err
	}
	r.PeakRSS = p.Peak()
	out, err := ReadFile(path)
	if err != nil {
		return r, err
	}
	r.Written = int64(len(out.Logs()))
	r.settle(p.Stderr.String(), lineBytes)
	failing := strings.Count(p.Stderr.String(), "sink failing")
	r.note("file: %d log events, final stats %v; stdout: %.0f events counted failed (broken pipe), \"sink failing\" logged %d time(s)",
		r.Written, out.HasStats(), stdoutFailed, failing)
	r.check(r.Written == r.Acked && out.HasStats(), "file has %d of %d events, final stats %v", r.Written, r.Acked, out.HasStats())
	r.check(failing == 1 && strings.Contains(p.Stderr.String(), "broken pipe"), "stdout failure logged %d times", failing)
	return r, nil
}

// SlowConns is row 5: slow connections each trickling a byte a second
// hold the receiver's slots while logger sends messages; then idle
// connections flood the health port while `sidewatch health` must pass.
func (e *Env) SlowConns(slow, messages, idle int) (Row, error) {
	r := Row{Scenario: "5 slow senders, idle health flood"}
	logger, err := exec.LookPath("logger")
	if err != nil {
		return r, errors.New("needs logger (util-linux)")
	}
	p, err := e.Start(nil, "--syslog-frame-timeout", "10s")
	if err != nil {
		return r, err
	}
	out := p.ReadStdout(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range slow {
		wg.Go(func() {
			for {
				c, err := net.Dial("tcp", p.TCP)
				if err != nil {
					return
				}
				for alive := true; alive; {
					select {
					case <-stop:
						c.Close()
						return
					case <-time.After(time.Second):
					}
					_, err := c.Write([]byte("<"))
					alive = err == nil
				}
				c.Close()
			}
		})
	}
	time.Sleep(3 * time.Second)
	var worst time.Duration
	_, port, _ := net.SplitHostPort(p.TCP)
	for i := range messages {
		msg := fmt.Sprintf("real sender %d", i)
		r.Sent++
		start := time.Now()
		if exec.Command(logger, "--tcp", "--server", "127.0.0.1", "--port", port, msg).Run() != nil {
			continue
		}
		r.Acked++
		if waitFor(30*time.Second, msg, func() bool { return out.HasMessage(msg) }) == nil {
			r.Written++
			worst = max(worst, time.Since(start))
		}
	}
	evicted := p.MustMetric(`sidewatch_syslog_connections_closed_total{reason="evicted"}`)
	slowClosed := p.MustMetric(`sidewatch_syslog_connections_closed_total{reason="frame_timeout"}`)
	close(stop)
	wg.Wait()
	rssBefore := p.SamplePeak()
	var conns []net.Conn
	for range idle {
		c, err := net.DialTimeout("tcp", p.Health, time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	start := time.Now()
	herr := exec.Command(e.Bin, "health", "--addr", p.Health, "--timeout", "10s").Run()
	took := time.Since(start)
	grown := p.SamplePeak() - rssBefore
	for _, c := range conns {
		c.Close()
	}
	r.Exit, err = p.Stop(30 * time.Second)
	if err != nil {
		return r, err
	}
	r.PeakRSS = p.Peak()
	r.Lost = r.Acked - r.Written
	r.note("%d slow connections: slowest real delivery %s; %.0f evicted, %.0f closed at the frame timeout", slow, worst.Round(time.Millisecond), evicted, slowClosed)
	r.note("%d idle health connections: sidewatch health %s in %s; peak RSS grew %d MiB", len(conns), okErr(herr), took.Round(time.Millisecond), grown>>20)
	r.check(r.Written == r.Acked, "%d of %d real messages delivered", r.Written, r.Acked)
	r.check(herr == nil, "sidewatch health failed with %d idle connections", len(conns))
	r.check(grown < 32<<20, "peak RSS grew %d MiB with idle health connections", grown>>20)
	return r, nil
}

func okErr(err error) string {
	if err == nil {
		return "ok"
	}
	return "FAILED (" + err.Error() + ")"
}

// UDPLoss is row 6: a burst of datagrams as fast as the sender can, with
// --syslog-udp-read-buffer readBuffer (0: the default); stall leaves
// stdout unread during the burst, so that the reader stalls and the kernel
// must drop. Then a marker: received + counted kernel drops must equal
// sent.
func (e *Env) UDPLoss(datagrams, readBuffer int, stall bool) (Row, error) {
	r := Row{Scenario: "6 UDP burst"}
	args := []string{"--queue-max-bytes", "1048576"}
	if readBuffer > 0 {
		args = append(args, "--syslog-udp-read-buffer", strconv.Itoa(readBuffer))
	}
	p, err := e.Start(nil, args...)
	if err != nil {
		return r, err
	}
	c, err := net.Dial("udp", p.UDP)
	if err != nil {
		p.Kill()
		return r, err
	}
	defer c.Close()
	var out *Output
	if !stall {
		out = p.ReadStdout(0)
	}
	for i := range datagrams {
		fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc web[1]: datagram %d %s", i, strings.Repeat(".", 100))
	}
	if stall {
		out = p.ReadStdout(0)
		r.note("stdout unread during the burst")
	}
	time.Sleep(500 * time.Millisecond)
	fmt.Fprintf(c, "<14>Nov 14 22:13:20 abc web[1]: marker")
	r.Sent, r.Acked = int64(datagrams+1), int64(datagrams+1)
	if err := waitFor(60*time.Second, "the marker", func() bool { return out.HasMessage("marker") }); err != nil {
		p.Kill()
		return r, err
	}
	r.Counted = int64(p.MustMetric("sidewatch_syslog_udp_kernel_dropped_total"))
	buf := p.MustMetric("sidewatch_syslog_udp_read_buffer_bytes")
	r.Exit, err = p.Stop(30 * time.Second)
	if err != nil {
		return r, err
	}
	<-out.Done
	r.PeakRSS = p.Peak()
	r.Written = int64(len(out.Logs()))
	r.Lost = r.Sent - r.Written
	r.note("UDP is at-most-once; the kernel's drops are counted (SO_RXQ_OVFL); receive buffer %.0f KiB as the kernel reports it (twice the data it holds)", buf/1024)
	r.check(r.Written+r.Counted == r.Sent, "received %d + counted drops %d != sent %d", r.Written, r.Counted, r.Sent)
	return r, nil
}

// Flows is row 7 (root, AF_PACKET): flows UDP flows on lo, stdout read at
// rate with a 1 MiB queue, SIGTERM: every open flow's final record must be
// written within the budget.
func (e *Env) Flows(flows, rate int) (Row, error) {
	r := Row{Scenario: "7 open flows at SIGTERM", Sent: int64(flows), Acked: int64(flows)}
	p, err := e.Start([]string{"SIDEWATCH_NO_CAPTURE=false"}, "--capture-interfaces", "lo", "--queue-max-bytes", "1048576", "--shutdown-timeout", "25s")
	if err != nil {
		return r, err
	}
	out := p.ReadStdout(rate)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		p.Kill()
		return r, err
	}
	defer c.Close()
	for i := range flows {
		c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/60000)), Port: 1025 + i%60000})
	}
	if err := waitFor(60*time.Second, "the flows", func() bool { return p.MustMetric("sidewatch_flow_active") >= float64(flows) }); err != nil {
		p.Kill()
		return r, err
	}
	r.Exit, err = p.Stop(40 * time.Second)
	if err != nil {
		return r, err
	}
	<-out.Done
	r.PeakRSS = p.Peak()
	created := int64(out.Stat("sidewatch.flow.created_total"))
	r.Written = out.Count(event.TypeFlow)
	r.Sent, r.Acked = created, created // every flow the table saw, ours and the machine's
	r.settle(p.Stderr.String(), 1)
	r.Counted += int64(out.Stat("sidewatch.pipeline.dropped_total.queue_full"))
	r.note("%d flows sent on lo (%d created in all), stdout read at %d KB/s, 1 MiB queue", flows, created, rate/1000)
	return r, nil
}

// Sequential is row 8: one client at a time connects, sends a line and
// closes, n times, with stdout read at rate: no connection is refused or
// reset, every line arrives.
func (e *Env) Sequential(n, rate int) (Row, error) {
	r := Row{Scenario: "8 connect/send/close, one at a time", Sent: int64(n)}
	p, err := e.Start(nil)
	if err != nil {
		return r, err
	}
	out := p.ReadStdout(rate)
	for i := range n {
		c, err := net.Dial("tcp", p.TCP)
		if err != nil {
			continue
		}
		if w, _ := c.Write(LogLines(i, 1)); w > 0 {
			r.Acked++
		}
		c.Close()
	}
	evicted := p.MustMetric(`sidewatch_syslog_connections_closed_total{reason="evicted"}`)
	waited := p.MustMetric("sidewatch_syslog_connections_waited_total")
	r.Exit, err = p.Stop(60 * time.Second)
	if err != nil {
		return r, err
	}
	<-out.Done
	r.PeakRSS = p.Peak()
	r.Written = int64(len(out.Logs()))
	r.settle(p.Stderr.String(), lineBytes)
	r.note("stdout read at %d KB/s; %.0f connections evicted, %.0f waited for a slot", rate/1000, evicted, waited)
	r.check(evicted == 0, "%.0f connections evicted", evicted)
	return r, nil
}

// UserDir is row 9 (root): --user 65534 with the file sink in a
// root-owned directory must fail at startup naming the directory and the
// user; in a directory of its own, rotation works.
func (e *Env) UserDir() (Row, error) {
	r := Row{Scenario: "9 --user and the file directory"}
	dir, err := os.MkdirTemp("", "sidewatch-user")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	var stderr bytes.Buffer
	cmd := exec.Command(e.Bin, "run", "--no-launcher", "--no-capture", "--health-addr", "", "--syslog-tcp-addr", "127.0.0.1:0", "--syslog-udp-addr", "",
		"--user", "65534", "--sink", "file", "--file-path", filepath.Join(dir, "f.json"))
	cmd.Env = append(os.Environ(), "ECS_CONTAINER_METADATA_URI_V4=")
	cmd.Stderr = &stderr
	cmd.Run()
	r.Exit = cmd.ProcessState.ExitCode()
	refused := strings.Contains(stderr.String(), "must be writable") && strings.Contains(stderr.String(), "uid 65534")
	r.note("root-owned directory: exit %d at startup, error names directory and uid: %v", r.Exit, refused)

	own := filepath.Join(dir, "nobody")
	os.Mkdir(own, 0o755)
	os.Chown(own, 65534, 65534)
	p, err := e.Start(nil, "--user", "65534", "--sink", "file", "--file-path", filepath.Join(own, "f.json"), "--file-max-bytes", "1048576", "--file-keep", "3")
	if err != nil {
		return r, err
	}
	r.Sent = 20000
	r.Acked, _ = p.SendLines(0, 20000)
	waitFor(30*time.Second, "the lines written", func() bool {
		return p.MustMetric("sidewatch_pipeline_written_total") >= float64(r.Acked)
	})
	r.Written = int64(p.MustMetric("sidewatch_pipeline_written_total"))
	rot, rotErr := p.MustMetric(`sidewatch_sink_rotations_total{sink="file"}`), p.MustMetric(`sidewatch_sink_rotate_errors_total{sink="file"}`)
	exit, err := p.Stop(30 * time.Second)
	if err != nil {
		return r, err
	}
	r.PeakRSS = p.Peak()
	r.Lost = max(r.Acked-r.Written, 0)
	r.note("directory of uid 65534: exit %d, %.0f rotations, %.0f rotation errors, written = events written to the file (rotated files included)", exit, rot, rotErr)
	r.check(r.Exit == ExitFailed && refused, "unwritable directory: exit %d, named: %v", r.Exit, refused)
	r.check(rot > 0 && rotErr == 0, "%.0f rotations, %.0f errors", rot, rotErr)
	return r, nil
}

// Bounds is row 11: the values that once panicked or ran out of memory
// must be usage errors (status 2) naming the flag and variable.
func (e *Env) Bounds() (Row, error) {
	r := Row{Scenario: "11 out-of-range options"}
	cases := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--queue-max-bytes", "1000000000000"}, "", "--queue-max-bytes (SIDEWATCH_QUEUE_MAX_BYTES)"},
		{nil, "SIDEWATCH_QUEUE_MAX_BYTES=200000000000", "--queue-max-bytes (SIDEWATCH_QUEUE_MAX_BYTES)"},
		{[]string{"--file-keep", "2000000"}, "", "--file-keep (SIDEWATCH_FILE_KEEP)"},
		{[]string{"--syslog-max-conns", "1000000000000"}, "", "--syslog-max-conns (SIDEWATCH_SYSLOG_MAX_CONNS)"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		cmd := exec.Command(e.Bin, append([]string{"run", "--no-launcher", "--no-capture"}, c.args...)...)
		cmd.Env = append(os.Environ(), "ECS_CONTAINER_METADATA_URI_V4=")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		cmd.Stderr = &stderr
		cmd.Run()
		code := cmd.ProcessState.ExitCode()
		named := strings.Contains(stderr.String(), c.want) && !strings.Contains(stderr.String(), "panic")
		r.note("%s%s: exit %d, names %s: %v", strings.Join(c.args, " "), c.env, code, c.want, named)
		r.check(code == ExitUsage && named, "%s%s: exit %d, names the flag: %v", strings.Join(c.args, " "), c.env, code, named)
		if code != ExitUsage {
			r.Exit = code
		}
	}
	if r.Exit == 0 {
		r.Exit = ExitUsage
	}
	return r, nil
}
