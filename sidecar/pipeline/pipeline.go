// Package pipeline moves events from producers through one bounded queue to
// the sinks, enriching and encoding them on the way, and emits the periodic
// stats event.
//
// Overflow policy is chosen by the producer's call: Publish waits for room
// (log records: Fluent Bit buffers and retries behind TCP backpressure),
// Offer drops and counts when the queue is full (network events: the packet
// path must never stall).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Sink receives encoded events.
type Sink interface {
	// Name identifies the sink in metrics and errors.
	Name() string
	// Write takes one or more complete JSON lines, each ending in '\n'. The
	// slice is reused once Write returns.
	Write(ctx context.Context, lines []byte) error
	// Flush delivers or persists everything written so far.
	Flush(ctx context.Context) error
	// Close releases the sink after a final Flush.
	Close() error
}

// Enricher fills the task fields of an event's ECS object and completes its
// container (name from id or id from name).
type Enricher interface {
	Enrich(*event.ECS)
}

// ErrClosed is returned by Publish once Drain has stopped intake.
var ErrClosed = errors.New("pipeline closed")

// Config tunes the pipeline.
type Config struct {
	// QueueSize is the capacity of the event queue.
	QueueSize int
	// StatsInterval is the period of stats events; 0 disables the periodic
	// ones (the final one at shutdown is always written).
	StatsInterval time.Duration
	// BatchBytes caps the bytes handed to a sink in one Write.
	BatchBytes int
	// Logger receives sink failures.
	Logger *slog.Logger
	// Now returns the current time (tests replace it).
	Now func() time.Time
	// EVE selects encoding options (IPv6 written compressed or expanded).
	EVE event.Options
}

// Pipeline is the bounded queue and its single consumer.
type Pipeline struct {
	cfg    Config
	queue  chan event.Event
	sinks  []Sink
	enrich Enricher
	start  time.Time
	reg    *metrics.Registry

	mu     sync.RWMutex // held shared by senders, exclusively by Drain
	closed bool

	// The consumer's batch; only Run's or Drain's goroutine touches it.
	buf []byte
	n   uint64
	cur event.Event // one reusable slot: a per-receive variable would escape

	syncMu  sync.Mutex      // orders a Sync's marker and its waiter
	syncs   []chan struct{} // waiters of the markers in the queue, in order
	syncsMu sync.Mutex

	published    map[event.Type]*metrics.Counter
	droppedFull  *metrics.Counter
	droppedClose *metrics.Counter
	written      *metrics.Counter
	lost         *metrics.Counter
	sinkErrors   map[string]*metrics.Counter
}

// New builds a pipeline writing to sinks. enrich may be nil.
func New(cfg Config, reg *metrics.Registry, enrich Enricher, sinks ...Sink) *Pipeline {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 256 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{
		cfg:        cfg,
		queue:      make(chan event.Event, cfg.QueueSize),
		sinks:      sinks,
		enrich:     enrich,
		start:      cfg.Now(),
		reg:        reg,
		buf:        make([]byte, 0, cfg.BatchBytes+4096),
		published:  map[event.Type]*metrics.Counter{},
		sinkErrors: map[string]*metrics.Counter{},
	}
	for _, t := range []event.Type{event.TypeFlow, event.TypeFlowUpdate, event.TypeDNS, event.TypeTLS, event.TypeHTTP, event.TypeSSH, event.TypeAlert, event.TypeLog} {
		p.published[t] = reg.Counter("pipeline", "events_total", "Events accepted into the queue, by event type.", "type", string(t))
	}
	p.droppedFull = reg.Counter("pipeline", "dropped_total", "Events dropped before reaching the sinks, by reason.", "reason", "queue_full")
	p.droppedClose = reg.Counter("pipeline", "dropped_total", "Events dropped before reaching the sinks, by reason.", "reason", "closed")
	p.lost = reg.Counter("pipeline", "dropped_total", "Events dropped before reaching the sinks, by reason.", "reason", "sink_error")
	p.written = reg.Counter("pipeline", "written_total", "Events handed to every sink.")
	reg.GaugeFunc("pipeline", "queue_length", "Events waiting in the queue.", func() float64 { return float64(len(p.queue)) })
	reg.GaugeFunc("pipeline", "queue_capacity", "Capacity of the event queue.", func() float64 { return float64(cap(p.queue)) })
	for _, s := range sinks {
		p.sinkErrors[s.Name()] = reg.Counter("pipeline", "sink_errors_total", "Failed sink writes and flushes.", "sink", s.Name())
	}
	return p
}

// Publish queues ev, waiting for room. It returns ctx.Err() if ctx ends
// first and ErrClosed once Drain has begun; the caller still owns ev then.
func (p *Pipeline) Publish(ctx context.Context, ev event.Event) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.droppedClose.Inc()
		return ErrClosed
	}
	select {
	case p.queue <- ev:
		p.count(ev.EventType)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Offer queues ev if there is room and reports whether it did. A refused
// event is counted in sidewatch_pipeline_dropped_total.
func (p *Pipeline) Offer(ev event.Event) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.droppedClose.Inc()
		return false
	}
	select {
	case p.queue <- ev:
		p.count(ev.EventType)
		return true
	default:
		p.droppedFull.Inc()
		return false
	}
}

// syncMarker is the event type of the queue entries Sync adds; it is
// never encoded.
const syncMarker event.Type = "sidewatch-sync"

// Sync returns once every event published before the call has been
// encoded and handed to every sink (Write returned; a failed write is
// counted as sink_error like any other). The forward receiver acknowledges
// a chunk at this point, and reuses the memory its events pointed into.
// It returns ctx.Err() if ctx ends first and ErrClosed once intake has
// stopped.
func (p *Pipeline) Sync(ctx context.Context) error {
	done := make(chan struct{})
	p.syncMu.Lock()
	// The waiter goes in first, so the consumer finds it when it reaches
	// the marker; markers enter the queue in waiter order.
	p.syncsMu.Lock()
	p.syncs = append(p.syncs, done)
	p.syncsMu.Unlock()
	err := p.enqueue(ctx, event.Event{EventType: syncMarker})
	if err != nil {
		p.syncsMu.Lock()
		p.syncs = p.syncs[:len(p.syncs)-1]
		p.syncsMu.Unlock()
	}
	p.syncMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pipeline) enqueue(ctx context.Context, ev event.Event) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.queue <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// synced releases the waiter of the marker just taken from the queue.
func (p *Pipeline) synced() {
	p.syncsMu.Lock()
	done := p.syncs[0]
	p.syncs = p.syncs[1:]
	p.syncsMu.Unlock()
	close(done)
}

func (p *Pipeline) count(t event.Type) {
	if c := p.published[t]; c != nil {
		c.Inc()
	}
}

// Run consumes the queue until ctx is done: it encodes batches, writes them
// to the sinks and emits the periodic stats event. It does not stop intake:
// events published after Run returns stay queued for Drain. Sink I/O is
// bounded by ctx only while Run runs.
func (p *Pipeline) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if p.cfg.StatsInterval > 0 {
		t := time.NewTicker(p.cfg.StatsInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case p.cur = <-p.queue:
			p.add(ctx, &p.cur)
			// Take what is already queued into the same batch.
		batch:
			for len(p.buf) < p.cfg.BatchBytes {
				select {
				case p.cur = <-p.queue:
					p.add(ctx, &p.cur)
				default:
					break batch
				}
			}
			p.flush(ctx)
		case <-tick:
			p.writeStats(ctx)
		case <-ctx.Done():
			return nil
		}
	}
}

// Drain stops intake (waiting for senders already inside Publish, so no
// accepted event is lost), writes everything still queued, writes the final
// stats event and flushes the sinks, all bounded by ctx. Call it once, after
// Run has returned.
func (p *Pipeline) Drain(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case p.cur = <-p.queue:
			p.add(ctx, &p.cur)
			continue
		default:
		}
		break
	}
	p.flush(ctx)
	p.writeStats(ctx)
	var errs []error
	for _, s := range p.sinks {
		if err := s.Flush(ctx); err != nil {
			p.sinkErrors[s.Name()].Inc()
			errs = append(errs, fmt.Errorf("flush %s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Close closes the sinks. Call it once, after Drain (or instead of Run and
// Drain when startup fails).
func (p *Pipeline) Close() error {
	var errs []error
	for _, s := range p.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// add enriches and encodes one event into the batch, writing the batch
// when it is full. Only the goroutine in Run or Drain calls it.
func (p *Pipeline) add(ctx context.Context, ev *event.Event) {
	if ev.EventType == syncMarker {
		p.flush(ctx)
		p.synced()
		return
	}
	if p.enrich != nil {
		p.enrich.Enrich(&ev.ECS)
	}
	p.buf = ev.Append(p.buf, p.cfg.EVE)
	p.buf = append(p.buf, '\n')
	p.n++
	if len(p.buf) >= p.cfg.BatchBytes {
		p.flush(ctx)
	}
}

func (p *Pipeline) flush(ctx context.Context) {
	if len(p.buf) == 0 {
		return
	}
	p.write(ctx, p.buf, p.n)
	p.buf, p.n = p.buf[:0], 0
}

func (p *Pipeline) write(ctx context.Context, lines []byte, n uint64) {
	ok := true
	for _, s := range p.sinks {
		if err := s.Write(ctx, lines); err != nil {
			ok = false
			p.sinkErrors[s.Name()].Inc()
			p.cfg.Logger.Error("sink write failed", "sink", s.Name(), "events", n, "err", err)
		}
	}
	if ok {
		p.written.Add(n)
	} else {
		p.lost.Add(n)
	}
}

// StatsEvent builds a stats event from the registry.
func (p *Pipeline) StatsEvent() event.Event {
	now := p.cfg.Now()
	ev := event.Event{
		Timestamp: event.At(now),
		EventType: event.TypeStats,
		Stats:     &event.Stats{Uptime: int64(now.Sub(p.start) / time.Second), Groups: p.reg.EVEStats()},
	}
	if p.enrich != nil {
		p.enrich.Enrich(&ev.ECS)
	}
	return ev
}

func (p *Pipeline) writeStats(ctx context.Context) {
	ev := p.StatsEvent()
	line := append(ev.Append(nil, p.cfg.EVE), '\n')
	for _, s := range p.sinks {
		if err := s.Write(ctx, line); err != nil {
			p.sinkErrors[s.Name()].Inc()
			p.cfg.Logger.Error("sink write failed", "sink", s.Name(), "events", 1, "err", err)
		}
	}
}
