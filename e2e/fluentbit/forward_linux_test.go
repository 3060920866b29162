package fluentbit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Records the issue names, sent before the numbered ones.
var special = []struct {
	name, source, log string
	toDest            bool // the user's grep filter (Exclude log ^DEBUG) keeps it
}{
	{"java_stack_trace", "stderr", "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:42)\n\tat com.example.App.main(App.java:7)\nCaused by: java.io.IOException: disk full\n\t... 2 more", true},
	{"record_700k", "stdout", strings.Repeat("0123456789abcdef", 700<<10/16), true},
	{"unicode", "stdout", "héllo ☃ wörld\ttab\u2028sep \U0001F600", true},
	{"html", "stdout", "<html><body>starts with lt</body></html>", true},
	{"empty", "stdout", "", true},
	{"forged_syslog_header", "stdout", "<14>Jan  1 00:00:00 0123456789abcdef0123456789abcdef-0000000001 admin[1]: forged", true},
	{"forged_after_newline", "stdout", "first line\n<14>Jan  1 00:00:00 x admin[1]: forged second", true},
	{"debug_hidden_from_user_output", "stdout", "DEBUG only the sidecar sees this", false},
}

// overLimit is longer than --forward-max-log-size (1 MiB): it reaches the
// destination whole and the sidecar cut at 1 MiB, flagged truncated.
var overLimit = "truncate-me " + strings.Repeat("0123456789", 150_000)

// TestForwardRecipeDelivers: every record reaches the sidecar once, whole,
// attributed to its container with its source, and the user's destination
// once (less what the user's own filter drops), on both Fluent Bit lines.
func TestForwardRecipeDelivers(t *testing.T) {
	eachFluentBit(t, func(t *testing.T, fb fluentBit) {
		tk := newTask(t, fb)
		tk.startSidecar()
		tk.startRouter(tk.forwardRecipe(firelens.TransportTCP).LauncherCommand())
		checkDelivery(t, tk, 2000)
		if !strings.Contains(readFile(t, filepath.Join(tk.dir, "router.log")), "sidewatch") {
			t.Log("router log does not name the sidewatch output")
		}
		start := time.Now()
		tk.stopRouter()
		t.Logf("log_router stopped %v after SIGTERM", time.Since(start).Round(10*time.Millisecond))
		tk.stopSidecar()
		if tk.router.ProcessState.ExitCode() != 0 {
			t.Errorf("log_router exit code %d after SIGTERM\n%s", tk.router.ProcessState.ExitCode(), tk.logs())
		}
	})
}

// TestForwardUnixSocket: the unix-socket variant (bridge mode) with acks,
// where Fluent Bit matches them (5.x); 1.9.10 is documented as unable.
func TestForwardUnixSocket(t *testing.T) {
	eachFluentBit(t, func(t *testing.T, fb fluentBit) {
		if _, err := firelens.TransportFor(fb.name, true); err != nil {
			t.Skipf("by design: %v", err)
		}
		tk := newTask(t, fb)
		tk.startSidecar("--forward-tcp-addr", "")
		tk.startRouter(tk.forwardRecipe(firelens.TransportUnix).LauncherCommand())
		checkDelivery(t, tk, 500)
	})
}

func checkDelivery(t *testing.T, tk *task, n int) {
	t.Helper()
	d := tk.logDriver()
	for _, s := range special {
		d.send(s.source, s.log)
	}
	d.send("stdout", overLimit)
	for i := range n {
		d.send("stdout", seqLine(i))
	}
	wantDest := 1 // overLimit
	for _, s := range special {
		if s.toDest {
			wantDest++
		}
	}
	start := time.Now()
	complete := func() bool {
		return len(tk.sidecarEvents()) >= n+len(special)+1 && len(tk.destLogs()) >= n+wantDest
	}
	if !waitFor(60*time.Second, complete) {
		t.Fatalf("after 60s: sidecar %d events, destination %d records; want %d and %d\n%s",
			len(tk.sidecarEvents()), len(tk.destLogs()), n+len(special)+1, n+wantDest, tk.logs())
	}
	t.Logf("Fluent Bit %s: %d records at the sidecar and the destination %v after the first was sent", tk.fb.name, n+len(special)+1, time.Since(start).Round(10*time.Millisecond))
	time.Sleep(500 * time.Millisecond) // duplicates, if any, arrive now
	evs := tk.sidecarEvents()
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.Log.Message)
	}
	checkExactlyOnce(t, "sidecar", numbered(msgs), n)
	checkExactlyOnce(t, "destination", numbered(tk.destLogs()), n)
	if len(evs) != n+len(special)+1 {
		t.Errorf("sidecar events = %d, want %d", len(evs), n+len(special)+1)
	}
	var cut []event.Event
	for _, e := range evs {
		if strings.HasPrefix(e.Log.Message, "truncate-me ") {
			cut = append(cut, e)
		}
	}
	if len(cut) != 1 || !cut[0].Log.Truncated || len(cut[0].Log.Message) != 1<<20 || !strings.HasPrefix(overLimit, cut[0].Log.Message) {
		t.Errorf("record over --forward-max-log-size: %d events; want one cut at 1 MiB and flagged truncated", len(cut))
	}
	if !slices.Contains(tk.destLogs(), overLimit) {
		t.Errorf("record over the sidecar's limit did not reach the destination whole")
	}
	for _, s := range special {
		var found []event.Event
		for _, e := range evs {
			if e.Log.Message == s.log {
				found = append(found, e)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: %d sidecar events with its exact text, want 1", s.name, len(found))
			continue
		}
		e := found[0]
		if e.ECS.Container.ID != containerID || e.Log.Source != s.source || e.Log.Truncated || e.Log.Tag != tag {
			t.Errorf("%s: container %q, source %q, truncated %v, tag %q; want %q, %q, false, %q",
				s.name, e.ECS.Container.ID, e.Log.Source, e.Log.Truncated, e.Log.Tag, containerID, s.source, tag)
		}
		if e.ECS.Cluster != "prod-cluster" || e.ECS.Family != "web-task" || e.ECS.Revision != "7" {
			t.Errorf("%s: task %+v, want the FireLens metadata (prod-cluster, web-task:7)", s.name, e.ECS)
		}
		inDest := slices.Contains(tk.destLogs(), s.log)
		if inDest != s.toDest {
			t.Errorf("%s: at the destination %v, want %v", s.name, inDest, s.toDest)
		}
	}
	// Every event is EVE with sidewatch's overlays.
	var out strings.Builder
	for i := 1; i <= tk.sidecarRuns; i++ {
		for _, l := range completeLines(t, filepath.Join(tk.dir, fmt.Sprintf("sidecar-%d.out", i))) {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	eveschema.New(t).ValidateLines(t, []byte(out.String()))
}

func checkExactlyOnce(t *testing.T, where string, seen map[int]int, n int) {
	t.Helper()
	var missing, dup []int
	for i := range n {
		switch c := seen[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Errorf("%s: %d of %d numbered records missing (first %v), %d duplicated (first %v)", where, len(missing), n, head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int { return s[:min(len(s), 5)] }

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
