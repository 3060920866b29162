package main

// Process-level regressions for issue 10's table: each runs the built
// binary through a scenario of internal/reliability, with real sockets, as
// the hostile tester did, at a size that keeps `go test` quick.
// `make reliability` runs the same scenarios at the issue's sizes.

import (
	"os/exec"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/internal/reliability"
)

func scenarioEnv(t *testing.T) *reliability.Env {
	t.Helper()
	return &reliability.Env{Bin: buildSidewatch(t), Dir: t.TempDir()}
}

// checkRow fails t with the row's failed guarantees, and logs its figures.
func checkRow(t *testing.T, r reliability.Row, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", r.Scenario, err)
	}
	t.Logf("%s: sent %d, acked %d, written %d, lost %d, counted %d, peak RSS %d MiB, exit %d", r.Scenario, r.Sent, r.Acked, r.Written, r.Lost, r.Counted, r.PeakRSS>>20, r.Exit)
	for _, n := range r.Notes {
		t.Log(n)
	}
	for _, f := range r.Failed {
		t.Error(f)
	}
}

// Row 1: lines written before the sender closed, stdout slow, SIGTERM
// right after the close: all arrive, none truncated, exit status 0.
func TestShutdownDrainsWhatSendersWrote(t *testing.T) {
	r, err := scenarioEnv(t).Drain(30_000, 8<<20, 20*time.Second)
	checkRow(t, r, err)
	if r.Written != r.Sent || r.Exit != 0 {
		t.Errorf("written %d of %d, exit %d; want all, 0", r.Written, r.Sent, r.Exit)
	}
}

// Rows 2 and 10: stdout not read, 760 KB messages: peak RSS within the
// documented formula, /healthz 503 with the reason, nothing lost uncounted.
func TestStalledSinkMemoryBoundedAndUnhealthy(t *testing.T) {
	r, err := scenarioEnv(t).StalledSink(60, 4, 8<<20)
	checkRow(t, r, err)
}

// Row 3: kill -9 during file-sink writes; every line stays whole JSON.
func TestKill9FileSinkKeepsWholeLines(t *testing.T) {
	r, err := scenarioEnv(t).Kill9(3)
	checkRow(t, r, err)
}

// Row 4: `--sink stdout,file | head -n 5`: the file gets every event and
// the final stats; the broken pipe is a sink failure logged once.
func TestBrokenStdoutOtherSinksKeepWorking(t *testing.T) {
	r, err := scenarioEnv(t).BrokenStdout(20_000)
	checkRow(t, r, err)
}

// Row 5: slow connections cannot keep logger out; idle connections cannot
// keep `sidewatch health` out or grow the sidecar.
func TestSlowConnectionsCannotBlind(t *testing.T) {
	needTool(t, "logger")
	r, err := scenarioEnv(t).SlowConns(100, 3, 3000)
	checkRow(t, r, err)
}

// Row 6: received + counted kernel drops = sent.
func TestUDPLossIsCounted(t *testing.T) {
	r, err := scenarioEnv(t).UDPLoss(20_000, 65536, true)
	checkRow(t, r, err)
	if r.Counted == 0 {
		t.Errorf("no kernel drop with a stalled reader and a 64 KiB buffer; the scenario did not overflow")
	}
}

// Row 7: flows open at SIGTERM are all reported, none dropped.
func TestShutdownReportsEveryOpenFlow(t *testing.T) {
	requireRootTools(t)
	r, err := scenarioEnv(t).Flows(20_000, 4<<20)
	checkRow(t, r, err)
	if r.Lost != 0 || r.Counted != 0 {
		t.Errorf("%d flows lost, %d counted, want every flow reported", r.Lost, r.Counted)
	}
}

// Row 8: one client at a time connects, sends and closes; none refused.
func TestSequentialConnectSendClose(t *testing.T) {
	r, err := scenarioEnv(t).Sequential(3000, 1<<20)
	checkRow(t, r, err)
	if r.Written != r.Sent {
		t.Errorf("written %d of %d", r.Written, r.Sent)
	}
}

// Row 9: --user and a root-owned file directory: a startup error; a
// directory of the user's own rotates.
func TestFileSinkDirectoryWritableByUser(t *testing.T) {
	requireRootTools(t)
	r, err := scenarioEnv(t).UserDir()
	checkRow(t, r, err)
}

// Row 11, the issue's own values (every numeric option is swept by
// TestEveryNumericOptionIsBounded).
func TestIssueOptionValuesRefused(t *testing.T) {
	r, err := scenarioEnv(t).Bounds()
	checkRow(t, r, err)
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
