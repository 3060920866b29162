package sidecar

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakePart records its lifecycle steps in a shared journal.
type fakePart struct {
	name    string
	journal *journal
	runErr  error         // returned by Run at once when set
	drainBy time.Duration // Drain takes this long (bounded by its ctx)
}

type journal struct {
	mu    sync.Mutex
	steps []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.steps = append(j.steps, s)
	j.mu.Unlock()
}

func (f *fakePart) Run(ctx context.Context) error {
	if f.runErr != nil {
		f.journal.add(f.name + " failed")
		return f.runErr
	}
	<-ctx.Done()
	f.journal.add(f.name + " stopped")
	return nil
}

func (f *fakePart) Drain(ctx context.Context) error {
	select {
	case <-time.After(f.drainBy):
		f.journal.add(f.name + " drained")
		return nil
	case <-ctx.Done():
		f.journal.add(f.name + " drain cut")
		return ctx.Err()
	}
}

func (f *fakePart) Close() error {
	f.journal.add(f.name + " closed")
	return nil
}

func TestPartsShutDownInStageOrder(t *testing.T) {
	j := &journal{}
	var ps parts
	ps.add("meta", stageService, &fakePart{name: "meta", journal: j})
	ps.add("pipe", stagePipeline, &fakePart{name: "pipe", journal: j})
	ps.add("syslog", stageInput, &fakePart{name: "syslog", journal: j, drainBy: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	readyCalled := false
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	err := ps.run(ctx, 5*time.Second, func() { readyCalled = true }, func(error) {})
	if err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	if !readyCalled {
		t.Errorf("ready was not called")
	}
	want := []string{
		"syslog stopped", "syslog drained",
		"pipe stopped", "pipe drained",
		"meta stopped", "meta drained",
		"syslog closed", "pipe closed", "meta closed",
	}
	if !slices.Equal(j.steps, want) {
		t.Errorf("steps = %q, want %q", j.steps, want)
	}
}

func TestPartsFailureStopsAll(t *testing.T) {
	j := &journal{}
	var ps parts
	boom := errors.New("boom")
	ps.add("pipe", stagePipeline, &fakePart{name: "pipe", journal: j})
	ps.add("capture", stageInput, &fakePart{name: "capture", journal: j, runErr: boom})
	var cause error
	err := ps.run(context.Background(), 5*time.Second, func() {}, func(c error) { cause = c })
	if !errors.Is(err, boom) {
		t.Errorf("run = %v, want it to wrap %v", err, boom)
	}
	if !errors.Is(cause, boom) {
		t.Errorf("shutdown cause = %v, want it to wrap %v", cause, boom)
	}
	if !slices.Contains(j.steps, "pipe drained") || !slices.Contains(j.steps, "pipe closed") {
		t.Errorf("steps = %q, want the pipeline drained and closed after the capture failed", j.steps)
	}
}

// Inputs get the budget minus the reserve, so that the pipeline always has
// time for its final write after an input that cannot finish.
func TestPartsInputDrainKeepsReserve(t *testing.T) {
	j := &journal{}
	var ps parts
	ps.add("pipe", stagePipeline, &fakePart{name: "pipe", journal: j, drainBy: 50 * time.Millisecond})
	ps.add("slow", stageInput, &fakePart{name: "slow", journal: j, drainBy: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ps.run(ctx, 500*time.Millisecond, func() {}, func(error) {})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDiscarded) {
		t.Errorf("run = %v, want the slow input's drain cut by its deadline, reported as data discarded", err)
	}
	if !slices.Contains(j.steps, "slow drain cut") || !slices.Contains(j.steps, "pipe drained") {
		t.Errorf("steps = %q, want the input cut and the pipeline drained in the reserve", j.steps)
	}
}

// A clean shutdown is not a discard; a failing component alone is not
// either.
func TestPartsDiscardOnlyWhenDrainFails(t *testing.T) {
	j := &journal{}
	var ps parts
	ps.add("pipe", stagePipeline, &fakePart{name: "pipe", journal: j})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ps.run(ctx, time.Second, func() {}, func(error) {}); err != nil {
		t.Errorf("clean run = %v, want nil", err)
	}
	var failing parts
	failing.add("capture", stageInput, &fakePart{name: "capture", journal: j, runErr: errors.New("socket gone")})
	err := failing.run(context.Background(), time.Second, func() {}, func(error) {})
	if err == nil || errors.Is(err, ErrDiscarded) {
		t.Errorf("run with a failed component = %v, want a failure that is not a discard", err)
	}
}
