package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// memSink records lines; gate, when set, blocks Write until closed.
type memSink struct {
	mu      sync.Mutex
	lines   []string
	gate    chan struct{}
	failN   int // fail this many writes first
	flushed bool
	closed  bool
}

func (s *memSink) Name() string { return "mem" }
func (s *memSink) Write(_ context.Context, b []byte) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return errors.New("disk full")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		s.lines = append(s.lines, sc.Text())
	}
	return nil
}
func (s *memSink) Flush(context.Context) error { s.flushed = true; return nil }
func (s *memSink) Close() error                { s.closed = true; return nil }

func (s *memSink) events(t *testing.T) []event.Event {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Event
	for _, l := range s.lines {
		var e event.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("sink got invalid JSON %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

type fixedTask struct{}

func (fixedTask) Enrich(e *event.ECS) {
	e.Cluster, e.Family = "prod", "web"
	if e.Container.ID == "c1" {
		e.Container.Name = "app"
	}
}

func logEv(msg string) event.Event {
	return event.Event{Timestamp: event.At(time.Unix(1700000000, 0)), EventType: event.TypeLog, Log: &event.Log{Message: msg},
		ECS: event.ECS{Container: event.Container{ID: "c1"}}}
}

// start runs p through its lifecycle: Run until stop is called, then Drain
// and Close; done receives the first error.
func start(t *testing.T, cfg Config, s *memSink) (p *Pipeline, reg *metrics.Registry, done chan error, stop func()) {
	t.Helper()
	reg = metrics.New()
	p = New(cfg, reg, fixedTask{}, s)
	done = make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		err := p.Run(ctx)
		done <- errors.Join(err, p.Drain(context.Background()), p.Close())
	}()
	return p, reg, done, cancel
}

func TestPublishDeliversInOrderThenFinalStats(t *testing.T) {
	s := &memSink{}
	p, _, done, stop := start(t, Config{QueueSize: 4}, s)
	for i := range 100 {
		if err := p.Publish(context.Background(), logEv(string(rune('a'+i%26)))); err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	evs := s.events(t)
	if len(evs) != 101 {
		t.Fatalf("sink got %d events, want 100 logs + 1 stats", len(evs))
	}
	for i, e := range evs[:100] {
		if want := string(rune('a' + i%26)); e.Log == nil || e.Log.Message != want {
			t.Fatalf("event %d = %+v, want log %q", i, e, want)
		}
		if e.ECS.Cluster != "prod" || e.ECS.Container.Name != "app" {
			t.Fatalf("event %d ecs = %+v, want enriched cluster prod, container app", i, e.ECS)
		}
	}
	last := evs[100]
	if last.EventType != event.TypeStats || last.Stats == nil {
		t.Fatalf("last event = %+v, want stats", last)
	}
	written := last.Stats.Groups[metrics.OwnGroup].(map[string]any)["pipeline"].(map[string]any)["written_total"]
	if written != float64(100) {
		t.Errorf("stats pipeline.written_total = %v, want 100", written)
	}
	if !s.flushed || !s.closed {
		t.Errorf("sink flushed=%v closed=%v, want both", s.flushed, s.closed)
	}
}

func TestOfferDropsWhenFullAndCounts(t *testing.T) {
	s := &memSink{gate: make(chan struct{})}
	p, reg, done, stop := start(t, Config{QueueSize: 2}, s)
	accepted := 0
	for range 50 {
		if p.Offer(logEv("x")) {
			accepted++
		}
	}
	close(s.gate)
	stop()
	<-done
	dropped := reg.Stats()["pipeline"].(map[string]any)["dropped_total"].(map[string]any)["queue_full"]
	if accepted+int(dropped.(uint64)) != 50 {
		t.Errorf("accepted %d + dropped %v != 50 offered", accepted, dropped)
	}
	if dropped.(uint64) == 0 {
		t.Errorf("dropped = 0 with a blocked sink and queue of 2, want > 0")
	}
	if got := len(s.events(t)) - 1; got != accepted {
		t.Errorf("sink got %d events, want the %d accepted", got, accepted)
	}
}

func TestPublishWaitsForRoom(t *testing.T) {
	s := &memSink{gate: make(chan struct{})}
	p, _, done, stop := start(t, Config{QueueSize: 1}, s)
	published := make(chan int, 1)
	go func() {
		n := 0
		for range 10 {
			if p.Publish(context.Background(), logEv("y")) == nil {
				n++
			}
		}
		published <- n
	}()
	select {
	case n := <-published:
		t.Fatalf("all %d publishes returned while the sink was blocked; want backpressure", n)
	case <-time.After(50 * time.Millisecond):
	}
	close(s.gate)
	if n := <-published; n != 10 {
		t.Errorf("published %d, want 10", n)
	}
	stop()
	<-done
	if got := len(s.events(t)) - 1; got != 10 {
		t.Errorf("sink got %d log events, want 10", got)
	}
}

func TestPublishContextCancelled(t *testing.T) {
	s := &memSink{gate: make(chan struct{})}
	p, _, done, stop := start(t, Config{QueueSize: 1}, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var err error
	for range 5 {
		if err = p.Publish(ctx, logEv("z")); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish on a full queue with an expiring context = %v, want DeadlineExceeded", err)
	}
	close(s.gate)
	stop()
	<-done
}

func TestAfterClose(t *testing.T) {
	s := &memSink{}
	p, reg, done, stop := start(t, Config{}, s)
	stop()
	<-done
	if err := p.Publish(context.Background(), logEv("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if p.Offer(logEv("late")) {
		t.Errorf("Offer after Close = true, want false")
	}
	got := reg.Stats()["pipeline"].(map[string]any)["dropped_total"].(map[string]any)["closed"]
	if got != uint64(2) {
		t.Errorf("dropped_total{reason=closed} = %v, want 2", got)
	}
}

func TestSinkErrorCountsLostEvents(t *testing.T) {
	s := &memSink{failN: 1}
	p, reg, done, stop := start(t, Config{}, s)
	p.Publish(context.Background(), logEv("lost"))
	time.Sleep(20 * time.Millisecond) // let the first batch hit the failing write
	p.Publish(context.Background(), logEv("kept"))
	stop()
	<-done
	st := reg.Stats()["pipeline"].(map[string]any)
	if lost := st["dropped_total"].(map[string]any)["sink_error"]; lost != uint64(1) {
		t.Errorf("dropped_total{reason=sink_error} = %v, want 1", lost)
	}
	if errs := st["sink_errors_total"].(map[string]any)["mem"]; errs != uint64(1) {
		t.Errorf("sink_errors_total{sink=mem} = %v, want 1", errs)
	}
	evs := s.events(t)
	if len(evs) != 2 || evs[0].Log.Message != "kept" {
		t.Errorf("sink got %+v, want the kept event and stats", evs)
	}
}

func TestPeriodicStats(t *testing.T) {
	s := &memSink{}
	_, _, done, stop := start(t, Config{StatsInterval: 5 * time.Millisecond}, s)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.events(t)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	stats := 0
	for _, e := range s.events(t) {
		if e.EventType == event.TypeStats {
			stats++
		}
	}
	if stats < 3 {
		t.Errorf("got %d stats events, want at least 2 periodic + 1 final", stats)
	}
}

type discard struct{}

func (discard) Name() string                        { return "discard" }
func (discard) Write(context.Context, []byte) error { return nil }
func (discard) Flush(context.Context) error         { return nil }
func (discard) Close() error                        { return nil }

// BenchmarkThroughput measures events/s from 2 producers through
// enrichment and encoding to a sink that discards.
func BenchmarkThroughput(b *testing.B) {
	p := New(Config{QueueSize: 8192}, metrics.New(), fixedTask{}, discard{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- errors.Join(p.Run(ctx), p.Drain(context.Background())) }()
	ev := logEv("GET /api/v1/items 200 3ms")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Publish(context.Background(), ev)
		}
	})
	stop()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
