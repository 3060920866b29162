package fluentbit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
)

// outage is how long the sidecar stays down in TestForwardOutage.
func outage(t *testing.T) time.Duration {
	if s := os.Getenv("SIDEWATCH_FB_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SIDEWATCH_FB_OUTAGE=%q: %v", s, err)
		}
		return d
	}
	return 15 * time.Second
}

// TestForwardOutage stops the sidecar while the app logs 2 KiB lines at
// 1,000/s (15 s by default: 30 MB, past the 20M limit on the sidecar's
// backlog): the user's destination gets every line on time, the backlog
// on disk stays within its limit, and what the sidecar misses is the
// oldest records, reported here.
func TestForwardOutage(t *testing.T) {
	down := outage(t)
	eachFluentBit(t, func(t *testing.T, fb fluentBit) { runOutage(t, fb, down, "stop") })
}

// TestForwardFrozenSidecar freezes the whole sidecar (SIGSTOP: connections
// stay open and acks never come) instead of stopping it. The user's
// destination must be unaffected and the backlog bounded, as when it is
// down. What the sidecar misses is reported, not asserted: measured, Fluent
// Bit's out_forward waits for the ack without a timeout, the copies pile
// up in memory, and the emitter then drops new copies without a word
// (docs/forward.md, known limits).
func TestForwardFrozenSidecar(t *testing.T) {
	eachFluentBit(t, func(t *testing.T, fb fluentBit) { runOutage(t, fb, 15*time.Second, "freeze") })
}

// TestForwardStalledSink blocks the sidecar's sink (its stdout pipe is
// not read) while the app logs: the receiver closes connections it cannot
// acknowledge in time, so Fluent Bit buffers on disk as when the sidecar
// is down, and the same guarantees hold as for an outage.
func TestForwardStalledSink(t *testing.T) {
	eachFluentBit(t, func(t *testing.T, fb fluentBit) { runOutage(t, fb, 15*time.Second, "stall") })
}

// runOutage takes the sidecar away for down while the app logs, then
// brings it back: "stop" (SIGTERM, then a new start), "freeze"
// (SIGSTOP/SIGCONT) or "stall" (its stdout sink blocked).
func runOutage(t *testing.T, fb fluentBit, down time.Duration, mode string) {
	frozen := mode == "freeze"
	{
		tk := newTask(t, fb)
		tk.stdoutPipe = mode == "stall"
		tk.startSidecar()
		recipe := tk.forwardRecipe(firelens.TransportTCP)
		if v := os.Getenv("SIDEWATCH_FB_EMITTER_MEM"); v != "" { // for measuring the recipe's choice
			recipe.EmitterMemBufLimit = v
		}
		tk.startRouter(recipe.LauncherCommand())
		a := tk.startApp(1000, 2048)
		stopWatch := tk.watchDest(a)
		storage := recipe.StoragePath
		var maxBacklog int64
		quit := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				case <-time.After(200 * time.Millisecond):
				}
				maxBacklog = max(maxBacklog, dirSize(storage))
			}
		})
		time.Sleep(2 * time.Second)
		switch mode {
		case "freeze":
			tk.sidecar.Process.Signal(syscall.SIGSTOP)
		case "stall":
			tk.stalled.Store(true)
		default:
			tk.stopSidecar()
		}
		downFrom := int(a.sent.Load())
		time.Sleep(down)
		downTo := int(a.sent.Load())
		switch mode {
		case "freeze":
			tk.sidecar.Process.Signal(syscall.SIGCONT)
		case "stall":
			tk.stalled.Store(false)
		default:
			tk.startSidecar()
		}
		time.Sleep(2 * time.Second)
		n := a.halt()
		maxLag, maxStall := stopWatch()

		// The destination has everything, on time.
		if !waitFor(30*time.Second, func() bool { return countLines(filepath.Join(tk.dest, "web.log")) >= n }) {
			t.Errorf("destination has %d of %d lines", countLines(filepath.Join(tk.dest, "web.log")), n)
		}
		checkExactlyOnce(t, "destination", numbered(tk.destLogs()), n)
		// Lag: lines sent but not yet written, sampled every 100 ms. Fluent
		// Bit flushes every second; the bound leaves room for a loaded CI
		// machine and still tells isolation from its failures (the syslog
		// recipe stalls the user's output 10 s, an in-memory emitter 28 s).
		if maxLag > 5000 || maxStall > 5*time.Second {
			t.Errorf("destination max lag %d lines, max stall %v while the sidecar was down; want <= 5000 lines and 5s", maxLag, maxStall)
		}

		// The sidecar catches up with what the backlog kept once Fluent
		// Bit's retries reach it: a chunk's next retry can be up to
		// Scheduler.Cap (30 s) away. Done when no chunk is left on disk.
		tail := func() bool {
			seen := numbered(messages(tk))
			for i := n - 500; i < n; i++ {
				if seen[i] == 0 {
					return false
				}
			}
			return true
		}
		if !waitFor(90*time.Second, func() bool { return chunkFiles(storage) == 0 }) {
			t.Errorf("%d chunks still on disk for the sidecar 90s after the app stopped", chunkFiles(storage))
		}
		time.Sleep(time.Second)
		close(quit)
		wg.Wait()
		seen := numbered(messages(tk))
		// What the sidecar missed must come from the backlog (from shortly
		// before the stop, chunks not yet delivered then, to the restart)
		// and never be the newest. Fluent Bit evicts the oldest chunks that
		// are not being flushed at that moment, so the missed records are
		// one run or a few. With 5.x every missed record must be accounted
		// for by the evictions Fluent Bit logs.
		first, last, lost, runs := -1, -1, 0, 0
		var spans []string
		for i := range n {
			if seen[i] == 0 {
				if first < 0 {
					first = i
				}
				if i == 0 || seen[i-1] != 0 {
					runs++
					spans = append(spans, fmt.Sprint(i))
				}
				if i == n-1 || seen[i+1] != 0 {
					spans[len(spans)-1] += fmt.Sprintf("-%d", i)
				}
				last = i
				lost++
			}
		}
		t.Logf("missed runs: %v", spans)
		backlogLimit := int64(20 << 20)
		how := map[string]string{"stop": "outage", "freeze": "freeze (SIGSTOP)", "stall": "stalled sink"}[mode]
		t.Logf("Fluent Bit %s, %v %s at 1,000 lines/s of 2 KiB: %d lines sent, %d during the outage (seq %d-%d); sidecar missed %d in %d runs (seq %d-%d); peak backlog on disk %.1f MiB (limit 20M); destination max lag %d lines, max stall %v",
			fb.name, down, how, n, downTo-downFrom, downFrom, downTo-1, lost, runs, first, last, float64(maxBacklog)/(1<<20), maxLag, maxStall.Round(10*time.Millisecond))
		// 5.x logs each chunk it evicts for the limit (a warning with its
		// bytes); 1.9.10 evicts without a word.
		evicted, evictedBytes := 0, 0
		for _, l := range strings.Split(readFile(t, filepath.Join(tk.dir, "router.log")), "\n") {
			if strings.Contains(l, "storage.total_limit_size") && strings.Contains(l, "evicted") {
				evicted++
				if i := strings.Index(l, "bytes="); i >= 0 {
					var b int
					fmt.Sscanf(l[i:], "bytes=%d", &b)
					evictedBytes += b
				}
			}
		}
		t.Logf("Fluent Bit %s logged %d evicted chunks (%.1f MiB); log_router peak RSS %s", fb.name, evicted, float64(evictedBytes)/(1<<20), peakRSS(tk.router.Process.Pid))
		// Chunks are up to 2 MB and the limit is checked per chunk.
		if maxBacklog > backlogLimit+4<<20 {
			t.Errorf("backlog on disk reached %.1f MiB, want within the 20M limit (+ one chunk)", float64(maxBacklog)/(1<<20))
		}
		if !tail() {
			t.Errorf("sidecar lacks the newest records after the outage: the backlog must drop the oldest\n%s", tk.logs())
		}
		if frozen {
			return
		}
		if lost > 0 && fb.name != "1.9.10" {
			// A 2 KiB line is about 2.2 KB in a chunk with its keys. An
			// evicted chunk may also hold records the sidecar had already
			// queued before a timeout (they arrive anyway), so evictions
			// may exceed what is missing, never fall short of it.
			if per := float64(evictedBytes) / float64(lost); per < 2048 {
				t.Errorf("the sidecar missed %d records, Fluent Bit %s logged %d evicted bytes (%.0f per record): the loss is not what Fluent Bit evicted", lost, fb.name, evictedBytes, per)
			}
		}
		if lost > 0 && (first < downFrom-3000 || last >= downTo) {
			t.Errorf("missed records outside the backlog's oldest part: %d missing between seq %d and %d (outage seq %d-%d)", lost, first, last, downFrom, downTo-1)
		}
	}
}

// peakRSS reads VmHWM of a running process.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, "VmHWM:")), " ")
		}
	}
	return "unknown"
}

// chunkFiles counts Fluent Bit's chunk files under dir.
func chunkFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".flb") {
			n++
		}
		return nil
	})
	return n
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
