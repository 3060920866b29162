package spool

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// TestKill9KeepsEveryAppendedBatch runs a writer process that appends
// batches and reports each one once Append has returned, kills it with
// SIGKILL mid-stream, and replays: every reported batch must be there,
// whole and in order.
func TestKill9KeepsEveryAppendedBatch(t *testing.T) {
	if dir := os.Getenv("SPOOL_KILL_CHILD"); dir != "" {
		s, err := Open(dir, 64<<20, "child", metrics.New())
		if err != nil {
			panic(err)
		}
		w := bufio.NewWriter(os.Stdout)
		for b := 0; ; b++ {
			var batch []byte
			for j := range 20 {
				batch = append(batch, line([]string{"log", "flow"}[j%2], b*20+j, 300)...)
			}
			if err := s.Append(context.Background(), batch); err != nil {
				panic(err)
			}
			w.WriteString(strconv.Itoa(b) + "\n")
			w.Flush()
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKill9KeepsEveryAppendedBatch$")
	cmd.Env = append(os.Environ(), "SPOOL_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	reported := -1
	deadline := time.Now().Add(300 * time.Millisecond)
	for sc.Scan() {
		reported, _ = strconv.Atoi(sc.Text())
		if time.Now().After(deadline) && reported >= 50 {
			break
		}
	}
	cmd.Process.Kill()
	for sc.Scan() { // batches acknowledged between the last read and the kill
		reported, _ = strconv.Atoi(sc.Text())
	}
	cmd.Wait()
	if reported < 50 {
		t.Fatalf("child reported %d batches before the kill, want ≥ 50", reported)
	}

	s, reg := open(t, dir, 64<<20)
	got := drain(t, s)
	if len(got) < (reported+1)*20 {
		t.Fatalf("replay has %d events, want at least the %d of the %d reported batches", len(got), (reported+1)*20, reported+1)
	}
	// The reported batches whole and in order; after them, records of the
	// batch being written at the kill may be there or not (its keep and net
	// records are written separately), never out of order.
	whole := (reported + 1) * 20
	for i, r := range got[:whole] {
		if want := line([]string{"log", "flow"}[i%2], i, 300); string(r.Line)+"\n" != want {
			t.Fatalf("replayed event %d = %.60s…, want event %d", i, r.Line, i)
		}
	}
	next := whole
	for _, r := range got[whole:] {
		found := false
		for ; next < whole+40 && !found; next++ {
			found = string(r.Line)+"\n" == line([]string{"log", "flow"}[next%2], next, 300)
		}
		if !found {
			t.Fatalf("event after the reported batches out of order or unknown: %.60s…", r.Line)
		}
	}
	t.Logf("killed after %d reported batches; replayed %d events, %d corrupt bytes cut", reported+1, len(got), counter(reg, "corrupt_bytes_total"))
}
