package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// memSink records lines; gate, when set, blocks Write until closed.
type memSink struct {
	mu      sync.Mutex
	lines   []string
	gate    chan struct{}
	writing atomic.Int32 // Writes entered
	failN   int          // fail this many writes first
	flushed bool
	closed  bool
}

func (s *memSink) Name() string { return "mem" }
func (s *memSink) Write(_ context.Context, b []byte) error {
	s.writing.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return errors.New("disk full")
	}
	for l := range bytes.Lines(b) {
		s.lines = append(s.lines, strings.TrimSuffix(string(l), "\n"))
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
	p, _, done, stop := start(t, Config{MaxBytes: 4096}, s)
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

// blockedSink blocks every Write until its gate is closed.
func blockedSink() *memSink { return &memSink{gate: make(chan struct{})} }

func dropped(reg *metrics.Registry, reason string) uint64 {
	v, _ := reg.Stats()["pipeline"].(map[string]any)["dropped_total"].(map[string]any)[reason].(uint64)
	return v
}

func TestOfferDropsWhenFullAndCounts(t *testing.T) {
	s := blockedSink()
	p, reg, done, stop := start(t, Config{MaxBytes: 8192}, s)
	accepted := 0
	for range 500 {
		if p.Offer(logEv("x")) {
			accepted++
		}
	}
	if d := dropped(reg, "queue_full"); accepted+int(d) != 500 || d == 0 {
		t.Errorf("accepted %d, dropped %d of 500 offered into 8 KiB with a blocked sink; want drops, and every event either accepted or counted", accepted, d)
	}
	close(s.gate)
	stop()
	<-done
	if got := len(s.events(t)) - 1; got != accepted {
		t.Errorf("sink got %d events, want the %d accepted", got, accepted)
	}
}

func TestQueueBoundedInBytes(t *testing.T) {
	// Four producers publish 760 KB messages into a 4 MiB queue whose sink
	// is stalled: the queue must stop at its limit plus one event.
	const maxBytes, msgLen = 4 << 20, 760_000
	s := blockedSink()
	p, _, done, stop := start(t, Config{MaxBytes: maxBytes}, s)
	big := strings.Repeat("m", msgLen)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	var published atomic.Int64
	for range 4 {
		wg.Go(func() {
			for p.Publish(ctx, logEv(big)) == nil {
				published.Add(1)
			}
		})
	}
	waitFor(t, "the queue to fill", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.waiting == 4
	})
	p.mu.Lock()
	used, alloc := p.q.used, p.q.alloc
	p.mu.Unlock()
	if used > maxBytes+msgLen+1024 {
		t.Errorf("queue holds %d bytes, want at most the limit %d plus one event", used, maxBytes)
	}
	if alloc > maxBytes+3*msgLen {
		t.Errorf("queue blocks take %d bytes for %d queued, want little beyond the limit", alloc, used)
	}
	cancel()
	wg.Wait()
	close(s.gate)
	stop()
	<-done
	if got := len(s.events(t)) - 1; got != int(published.Load()) {
		t.Errorf("sink got %d events, want the %d published", got, published.Load())
	}
}

func TestOfferAlertUsesReserve(t *testing.T) {
	s := blockedSink()
	p, reg, done, stop := start(t, Config{MaxBytes: 64 << 10}, s)
	for p.Offer(logEv("net")) {
	}
	alerts := 0
	for p.OfferAlert(alertEv()) {
		alerts++
	}
	if alerts == 0 {
		t.Fatalf("OfferAlert refused at once after Offer filled the queue; want the reserve")
	}
	if d := dropped(reg, "alert_reserve_full"); d != 1 {
		t.Errorf("dropped_total{reason=alert_reserve_full} = %d, want 1 (the refused alert)", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, logEv("log")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish into a full queue = %v, want it to wait until its context ends", err)
	}
	close(s.gate)
	stop()
	<-done
	got := 0
	for _, e := range s.events(t) {
		if e.EventType == event.TypeAlert {
			got++
		}
	}
	if got != alerts {
		t.Errorf("sink got %d alerts, want the %d accepted", got, alerts)
	}
}

func alertEv() event.Event {
	return event.Event{Timestamp: event.At(time.Unix(1700000000, 0)), EventType: event.TypeAlert,
		Alert: &event.Alert{Signature: "test", SignatureID: 1, Severity: 1}}
}

func TestPublishWaitsForRoom(t *testing.T) {
	s := blockedSink()
	p, _, done, stop := start(t, Config{MaxBytes: 2048}, s)
	published := make(chan int, 1)
	go func() {
		n := 0
		for range 100 {
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
	if n := <-published; n != 100 {
		t.Errorf("published %d, want 100", n)
	}
	stop()
	<-done
	if got := len(s.events(t)) - 1; got != 100 {
		t.Errorf("sink got %d log events, want 100", got)
	}
}

func TestPublishContextCancelled(t *testing.T) {
	s := blockedSink()
	p, _, done, stop := start(t, Config{MaxBytes: 2048}, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var err error
	for range 100 {
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
	if p.OfferAlert(alertEv()) {
		t.Errorf("OfferAlert after Close = true, want false")
	}
	if got := dropped(reg, "closed"); got != 3 {
		t.Errorf("dropped_total{reason=closed} = %v, want 3", got)
	}
}

func TestClosingWakesWaitingPublishers(t *testing.T) {
	s := blockedSink()
	reg := metrics.New()
	p := New(Config{MaxBytes: 2048}, reg, nil, s)
	errc := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = p.Publish(context.Background(), logEv("w"))
		}
		errc <- err
	}()
	waitFor(t, "a publisher to wait", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.waiting == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	close(s.gate)
	p.Drain(ctx)
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("waiting Publish after Drain = %v, want ErrClosed", err)
	}
}

// logSink records the pipeline's log lines.
func logSink() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestSinkErrorCountsLostEventsAndLogsOnce(t *testing.T) {
	s := &memSink{failN: 3}
	log, logs := logSink()
	p, reg, done, stop := start(t, Config{Logger: log}, s)
	for _, m := range []string{"lost1", "lost2", "lost3"} {
		p.Publish(context.Background(), logEv(m))
		waitFor(t, "the failing write", func() bool { return lostEvents(reg) > 0 && s.failures() < 3 || s.failures() == 0 })
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "three failed writes", func() bool { return s.failures() == 0 })
	p.Publish(context.Background(), logEv("kept"))
	stop()
	<-done
	st := reg.Stats()["pipeline"].(map[string]any)
	if lost := dropped(reg, "sink_error"); lost != 3 {
		t.Errorf("dropped_total{reason=sink_error} = %v, want 3", lost)
	}
	if errs := st["sink_errors_total"].(map[string]any)["mem"]; errs != uint64(3) {
		t.Errorf("sink_errors_total{sink=mem} = %v, want 3", errs)
	}
	evs := s.events(t)
	if len(evs) != 2 || evs[0].Log.Message != "kept" {
		t.Errorf("sink got %+v, want the kept event and stats", evs)
	}
	if n := strings.Count(logs.String(), "sink failing"); n != 1 {
		t.Errorf("logged %d sink failures for one run of 3, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "sink recovered") || !strings.Contains(logs.String(), "events_lost=3") {
		t.Errorf("log lacks the recovery with events_lost=3:\n%s", logs)
	}
}

func lostEvents(reg *metrics.Registry) uint64 { return dropped(reg, "sink_error") }

func (s *memSink) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failN
}

// typedSink is a memSink that wants only some event types.
type typedSink struct {
	*memSink
	types []event.Type
}

func (s typedSink) Name() string             { return "typed" }
func (s typedSink) EventTypes() []event.Type { return s.types }

func TestSinkEventTypeFilter(t *testing.T) {
	all := &memSink{}
	alerts := typedSink{&memSink{}, []event.Type{event.TypeAlert}}
	reg := metrics.New()
	p := New(Config{}, reg, nil, all, alerts)
	// Everything in one batch: the alert sink must get a filtered copy.
	for i := range 10 {
		if i%3 == 0 {
			p.OfferAlert(alertEv())
		} else {
			p.Offer(logEv("l"))
		}
	}
	runAndDrain(t, p)
	count := func(s *memSink) map[event.Type]int { return countTypes(t, s) }
	if got, want := count(all), (map[event.Type]int{event.TypeAlert: 4, event.TypeLog: 6, event.TypeStats: 1}); !maps.Equal(got, want) {
		t.Errorf("unfiltered sink got %v, want %v", got, want)
	}
	if got, want := count(alerts.memSink), (map[event.Type]int{event.TypeAlert: 4}); !maps.Equal(got, want) {
		t.Errorf("alert-only sink got %v, want %v", got, want)
	}
}

func TestDrainBoundedByDeadlineWithBlockedSink(t *testing.T) {
	s := blockedSink()
	defer close(s.gate)
	reg := metrics.New()
	p := New(Config{}, reg, nil, s)
	runCtx, stop := context.WithCancel(context.Background())
	go p.Run(runCtx)
	for range 10 {
		p.Publish(context.Background(), logEv("q"))
	}
	waitFor(t, "the consumer to block in the sink", func() bool { return s.writing.Load() > 0 })
	stop()
	// The consumer is stuck in the blocked Write; Drain must give up at
	// its deadline and say how much it could not write.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "not written") {
		t.Errorf("Drain with a blocked sink = %v, want an error counting the unwritten events", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Drain took %s past a 50ms deadline", d)
	}
	if d := dropped(reg, "shutdown"); d == 0 {
		t.Errorf("dropped_total{reason=shutdown} = 0, want the queued events")
	}
}

// cancellableSink blocks in Write until ctx ends, as a stdout pipe with a
// write deadline does.
type cancellableSink struct{ memSink }

func (s *cancellableSink) Write(ctx context.Context, b []byte) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestDrainCancelsBlockedWriteAtDeadline(t *testing.T) {
	s := &cancellableSink{}
	reg := metrics.New()
	p := New(Config{}, reg, nil, s)
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { p.Run(runCtx); close(ran) }()
	p.Publish(context.Background(), logEv("q"))
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Drain(ctx); err == nil {
		t.Errorf("Drain = nil with a write cancelled at the deadline, want an error")
	}
	<-ran // the consumer was released by the cancelled write
	if lost := dropped(reg, "sink_error"); lost != 1 {
		t.Errorf("dropped_total{reason=sink_error} = %d, want 1", lost)
	}
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestCheckReportsStallAndFailingSinks(t *testing.T) {
	c := &clock{}
	c.ns.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	s := blockedSink()
	p, _, done, stop := start(t, Config{StallTimeout: 30 * time.Second, Now: c.now}, s)
	if err := p.Check(); err != nil {
		t.Fatalf("Check on an idle pipeline = %v, want nil", err)
	}
	p.Publish(context.Background(), logEv("stuck"))
	c.advance(29 * time.Second)
	if err := p.Check(); err != nil {
		t.Errorf("Check 29s into a stall = %v, want nil", err)
	}
	c.advance(2 * time.Second)
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("Check 31s into a stall = %v, want stalled", err)
	}
	close(s.gate)
	waitFor(t, "the queue to empty", func() bool { return p.Check() == nil })
	stop()
	<-done

	f := &memSink{failN: 1000}
	p, _, done, stop = start(t, Config{StallTimeout: 30 * time.Second, Now: c.now}, f)
	p.Publish(context.Background(), logEv("fails"))
	waitFor(t, "the failing write", func() bool { return f.failures() < 1000 })
	if err := p.Check(); err != nil {
		t.Errorf("Check right after the first failure = %v, want nil", err)
	}
	c.advance(31 * time.Second)
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "every sink failing") {
		t.Errorf("Check after 31s of failures = %v, want every sink failing", err)
	}
	stop()
	<-done
}

func TestPeriodicStats(t *testing.T) {
	s := &memSink{}
	_, _, done, stop := start(t, Config{StatsInterval: 5 * time.Millisecond}, s)
	waitFor(t, "two stats events", func() bool { return len(s.events(t)) >= 2 })
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

func TestPublishAllocatesNothing(t *testing.T) {
	p := New(Config{}, metrics.New(), fixedTask{}, discard{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	// The producer reuses its Log, as a receiver connection does.
	l := &event.Log{Message: "GET /api/v1/items 200 3ms", Format: "rfc3164"}
	ev := event.Event{Timestamp: event.At(time.Unix(1700000000, 0)), EventType: event.TypeLog, Log: l,
		ECS: event.ECS{Container: event.Container{ID: "c1"}}}
	for range 10000 { // warm the block pool
		p.Publish(ctx, ev)
	}
	if n := testing.AllocsPerRun(10000, func() { p.Publish(ctx, ev) }); n != 0 {
		t.Errorf("Publish allocates %.2f times per event, want 0", n)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type discard struct{}

func (discard) Name() string                        { return "discard" }
func (discard) Write(context.Context, []byte) error { return nil }
func (discard) Flush(context.Context) error         { return nil }
func (discard) Close() error                        { return nil }

// BenchmarkThroughput measures events/s from parallel producers through
// enrichment and encoding to a sink that discards.
func BenchmarkThroughput(b *testing.B) {
	p := New(Config{}, metrics.New(), fixedTask{}, discard{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- errors.Join(p.Run(ctx), p.Drain(context.Background())) }()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := logEv("GET /api/v1/items 200 3ms")
		for pb.Next() {
			p.Publish(context.Background(), ev)
		}
	})
	stop()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestECSCacheKeepsNothingOfTheProducer: the cached aws_ecs member is
// keyed by copies, so a producer reusing its buffers (as the receivers do)
// never gets another event's container.
func TestECSCacheKeepsNothingOfTheProducer(t *testing.T) {
	s := &memSink{}
	p := New(Config{}, metrics.New(), nil, s)
	buf := []byte("container-a")
	for _, id := range []string{"container-a", "container-b", "container-b", "container-a"} {
		copy(buf, id)
		ev := logEv("m")
		ev.ECS.Container.ID = unsafe.String(&buf[0], len(buf)) // a view, reused
		p.Publish(context.Background(), ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Run(ctx)
	p.Drain(context.Background())
	var got []string
	for _, e := range s.events(t) {
		if e.Log != nil {
			got = append(got, e.ECS.Container.ID)
		}
	}
	if want := []string{"container-a", "container-b", "container-b", "container-a"}; !slices.Equal(got, want) {
		t.Errorf("containers = %q, want %q", got, want)
	}
}

// A sink that takes flow events does not get flow_update events: the
// EVE consumer behind it sums flow counters and must see one record per
// flow. A sink without a filter gets both.
func TestSinkEventTypeFilterFlowUpdate(t *testing.T) {
	flows := typedSink{&memSink{}, []event.Type{event.TypeFlow}}
	all := &memSink{}
	p := New(Config{}, metrics.New(), nil, flows, all)
	for i := range 6 {
		ev := event.Event{Timestamp: event.At(time.Unix(int64(i), 0)), FlowID: 7, EventType: event.TypeFlowUpdate, FlowUpdate: &event.FlowUpdate{PktsToServer: 1}}
		if i == 5 {
			ev = event.Event{Timestamp: event.At(time.Unix(int64(i), 0)), FlowID: 7, EventType: event.TypeFlow, Flow: &event.Flow{PktsToServer: 5, Reason: "timeout"}}
		}
		p.Offer(ev)
	}
	runAndDrain(t, p)
	count := func(s *memSink) map[event.Type]int { return countTypes(t, s) }
	if got, want := count(flows.memSink), (map[event.Type]int{event.TypeFlow: 1}); !maps.Equal(got, want) {
		t.Errorf("flow sink got %v, want %v", got, want)
	}
	if got, want := count(all), (map[event.Type]int{event.TypeFlowUpdate: 5, event.TypeFlow: 1, event.TypeStats: 1}); !maps.Equal(got, want) {
		t.Errorf("unfiltered sink got %v, want %v", got, want)
	}
}

// runAndDrain runs p with a context already cancelled (one pass over what
// is queued), then drains it.
func runAndDrain(t *testing.T, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Run(ctx)
	if err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// countTypes counts the events s got by type.
func countTypes(t *testing.T, s *memSink) map[event.Type]int {
	t.Helper()
	m := map[event.Type]int{}
	for _, e := range s.events(t) {
		m[e.EventType]++
	}
	return m
}
