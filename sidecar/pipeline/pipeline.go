// Package pipeline moves events from producers through one queue, bounded
// in bytes, to the sinks: it enriches and encodes each event as it is
// queued, hands the sinks batches of JSON lines, and emits the periodic
// stats event.
//
// # Three ways in
//
// The producer's call chooses what happens when the queue is full:
//
//   - Publish waits for room (log records: the receiver stops reading, and
//     TCP flow control makes Fluent Bit buffer and retry).
//   - Offer drops the event and counts it (network events: the packet path
//     must never stall).
//   - OfferAlert never waits either, but may use a reserve (an eighth of the
//     queue) that Publish and Offer cannot, so that alerts never lose their
//     place to log records or network events.
//
// # Lifetime rules (the zero-allocation contract)
//
// Publish, Offer and OfferAlert enrich and encode ev into the queue before
// they return, and keep nothing that ev references. A producer may
// therefore build its events in storage it reuses: one event.Log per
// connection, and strings that are views of its read buffer
// (unsafe.String over the bytes of the current frame), provided it does not
// change that storage during the call. This is how the log path allocates
// nothing per record; the forward receiver follows the same rules.
//
// # Memory
//
// The queue is a list of blocks, each a batch of encoded lines that a sink
// receives with one Write. An event is admitted while the queued bytes are
// below the limit (MaxBytes, or MaxBytes minus the alert reserve for
// Publish and Offer), so the queue holds at most MaxBytes plus one event.
// Blocks are recycled, so steady state allocates nothing.
//
// # Shutdown
//
// Run consumes until its context ends (finishing the batch in hand). Drain
// then stops intake, writes what is queued and a final stats event, and
// flushes the sinks, all before its context's deadline; a sink write still
// blocked at the deadline is cancelled. What could not be written is
// counted (dropped_total{reason="shutdown"}) and Drain's error says how
// much.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Sink receives encoded events.
type Sink interface {
	// Name identifies the sink in metrics and errors.
	Name() string
	// Write takes one or more complete JSON lines, each ending in '\n'. The
	// slice is reused once Write returns. A Write that blocks pushes back
	// on the producers; ctx is cancelled when the shutdown deadline passes.
	Write(ctx context.Context, lines []byte) error
	// Flush delivers or persists everything written so far.
	Flush(ctx context.Context) error
	// Close releases the sink after a final Flush.
	Close() error
}

// EventFilter is implemented by a sink that wants only some event types
// (for example alerts only). A sink without it, or returning none, gets
// every event, stats included.
type EventFilter interface {
	EventTypes() []event.Type
}

// Enricher fills the task fields of an event's ECS object and completes its
// container (name from id or id from name). It is called while the queue
// is locked, so it must not block.
type Enricher interface {
	Enrich(*event.ECS)
}

// ErrClosed is returned by Publish once Drain has stopped intake.
var ErrClosed = errors.New("pipeline closed")

// Defaults of Config's zero fields.
const (
	DefaultMaxBytes     = 32 << 20
	DefaultBatchBytes   = 256 << 10
	DefaultStallTimeout = time.Minute
	// alertReserveShare: OfferAlert may fill the last 1/alertReserveShare
	// of the queue, which Publish and Offer leave free.
	alertReserveShare = 8
	// trimAfter is how long the queue stays empty before the blocks of a
	// burst are given back.
	trimAfter = time.Second
	// A busy consumer that finds less than 1/lingerShare of a batch queued
	// waits up to lingerFor for more (see Run).
	lingerShare = 8
	lingerFor   = 500 * time.Microsecond
)

// Config tunes the pipeline.
type Config struct {
	// MaxBytes bounds the encoded bytes queued (DefaultMaxBytes if 0).
	MaxBytes int64
	// BatchBytes is the size at which a batch is handed to the sinks
	// (DefaultBatchBytes if 0; at most a quarter of MaxBytes).
	BatchBytes int
	// StatsInterval is the period of stats events; 0 disables the periodic
	// ones (the final one at shutdown is always written).
	StatsInterval time.Duration
	// StallTimeout is how long events may wait with no sink write
	// succeeding, or every sink may fail, before Check reports the
	// pipeline unhealthy (DefaultStallTimeout if 0).
	StallTimeout time.Duration
	// Logger receives sink failures and recoveries.
	Logger *slog.Logger
	// Now returns the current time (tests replace it).
	Now func() time.Time
	// EVE selects encoding options (IPv6 written compressed or expanded).
	EVE event.Options
}

// Pipeline is the bounded queue and its single consumer.
type Pipeline struct {
	cfg    Config
	enrich Enricher
	start  time.Time
	reg    *metrics.Registry
	sinks  []*sinkState

	// limit is where Publish and Offer stop; OfferAlert stops at MaxBytes.
	limit int64

	mu        sync.Mutex
	q         queue
	closed    bool
	closedCh  chan struct{} // closed by Drain: wakes waiting publishers
	waiting   int           // publishers waiting for room
	room      chan struct{} // one token: room was freed
	idle      bool          // the consumer waits for a batch
	lingering bool          // the consumer waits for the partial batch to fill
	wake      chan struct{} // one token: a batch is ready
	ecs       event.ECS     // enrichment scratch (a local would escape)
	// busySince is when the queue last went from empty to non-empty (zero
	// while empty).
	busySince time.Time
	// appended counts the events queued and delivered those of the batches
	// written (batches leave in order): Sync waits for delivered to reach
	// what appended was when it was called.
	appended, delivered uint64
	syncs               []syncWaiter // in target order
	types               typeIndex
	statsBit            uint64 // fixed at New: the consumer reads it unlocked

	// lastDeliver is the unix ns at which the consumer last finished a
	// batch (written or failed): with busySince it tells a stalled
	// pipeline from a busy one.
	lastDeliver atomic.Int64

	// ioCtx bounds sink I/O: cancelled when Drain's deadline passes, not
	// when Run's context ends, so a batch being written is not cut short.
	ioCtx    context.Context
	ioCancel context.CancelFunc
	started  bool // under mu: Run is the consumer
	runDone  chan struct{}

	// Consumer-only state (Run's goroutine, then Drain's).
	filtered []byte
	statsBuf []byte

	droppedFull   *metrics.Counter
	droppedAlert  *metrics.Counter
	droppedClose  *metrics.Counter
	droppedStop   *metrics.Counter
	lost          *metrics.Counter
	written       *metrics.Counter
	publishWaits  *metrics.Counter
	queueHighMark *metrics.Gauge
}

// New builds a pipeline writing to sinks. enrich may be nil.
func New(cfg Config, reg *metrics.Registry, enrich Enricher, sinks ...Sink) *Pipeline {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	cfg.BatchBytes = int(max(min(int64(cfg.BatchBytes), cfg.MaxBytes/4), 512))
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{
		cfg:      cfg,
		enrich:   enrich,
		start:    cfg.Now(),
		reg:      reg,
		limit:    cfg.MaxBytes - cfg.MaxBytes/alertReserveShare,
		closedCh: make(chan struct{}),
		room:     make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		runDone:  make(chan struct{}),
	}
	p.ioCtx, p.ioCancel = context.WithCancel(context.Background())
	p.q.batch, p.q.eve = cfg.BatchBytes, cfg.EVE
	p.types.init(reg)
	p.statsBit = p.types.bit(event.TypeStats)
	const sub = "pipeline"
	dropped := func(reason string) *metrics.Counter {
		return reg.Counter(sub, "dropped_total", "Events dropped before reaching every sink, by reason.", "reason", reason)
	}
	p.droppedFull = dropped("queue_full")
	p.droppedAlert = dropped("alert_reserve_full")
	p.droppedClose = dropped("closed")
	p.droppedStop = dropped("shutdown")
	p.lost = dropped("sink_error")
	p.written = reg.Counter(sub, "written_total", "Events written to every sink that wants them.")
	p.publishWaits = reg.Counter(sub, "publish_waits_total", "Publish calls that waited for room (backpressure on log producers).")
	p.queueHighMark = reg.Gauge(sub, "queue_bytes_peak", "Most bytes queued at once since start.")
	reg.GaugeFunc(sub, "queue_bytes", "Encoded bytes queued, the batch being written included.", func() float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return float64(p.q.used)
	})
	reg.GaugeFunc(sub, "queue_max_bytes", "Queue limit in bytes (--queue-max-bytes).", func() float64 { return float64(cfg.MaxBytes) })
	reg.GaugeFunc(sub, "queue_events", "Events queued, the batch being written included.", func() float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return float64(p.q.events)
	})
	p.Attach(sinks...)
	return p
}

// Attach adds sinks. Call it before Run (the sidecar opens its sinks after
// the privilege drop, once the pipeline exists for the inputs).
func (p *Pipeline) Attach(sinks ...Sink) {
	for _, s := range sinks {
		p.sinks = append(p.sinks, newSinkState(s, p.reg, &p.types, p.cfg.Now))
	}
}

// Publish queues ev, waiting for room. It returns ctx.Err() if ctx ends
// first and ErrClosed once Drain has begun; the caller counts the event as
// lost then. ev is encoded before Publish returns (see the lifetime rules).
func (p *Pipeline) Publish(ctx context.Context, ev event.Event) error {
	p.mu.Lock()
	waited := false
	for !p.closed && p.q.used >= p.limit {
		if !waited {
			waited = true
			p.publishWaits.Inc()
		}
		p.waiting++
		p.mu.Unlock()
		select {
		case <-p.room:
		case <-p.closedCh:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiting--
			p.passRoom()
			p.mu.Unlock()
			return ctx.Err()
		}
		p.mu.Lock()
		p.waiting--
	}
	if p.closed {
		p.mu.Unlock()
		p.droppedClose.Inc()
		return ErrClosed
	}
	p.appendLocked(&ev)
	p.passRoom()
	p.mu.Unlock()
	return nil
}

// Offer queues ev if the queue is below its limit and reports whether it
// did. A refused event is counted in dropped_total{reason="queue_full"}.
func (p *Pipeline) Offer(ev event.Event) bool {
	return p.offer(&ev, p.limit, p.droppedFull)
}

// OfferAlert queues an alert without waiting. It may use the reserve that
// Publish and Offer leave free, so it fails only when alerts themselves
// have filled the queue (counted in dropped_total{reason="alert_reserve_full"}).
func (p *Pipeline) OfferAlert(ev event.Event) bool {
	return p.offer(&ev, p.cfg.MaxBytes, p.droppedAlert)
}

func (p *Pipeline) offer(ev *event.Event, limit int64, full *metrics.Counter) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.droppedClose.Inc()
		return false
	}
	if p.q.used >= limit {
		p.mu.Unlock()
		full.Inc()
		return false
	}
	p.appendLocked(ev)
	p.mu.Unlock()
	return true
}

// appendLocked enriches and encodes ev into the queue. p.mu is held.
func (p *Pipeline) appendLocked(ev *event.Event) {
	if p.enrich != nil {
		p.ecs = ev.ECS
		p.enrich.Enrich(&p.ecs)
		ev.ECS = p.ecs
	}
	if p.q.used == 0 {
		p.busySince = p.cfg.Now()
	}
	t := p.types.of(ev.EventType)
	sealed := p.q.append(ev, t)
	p.appended++
	p.types.published[t].Inc()
	if p.q.used > p.queueHighMark.Load() {
		p.queueHighMark.Set(p.q.used)
	}
	if p.idle || sealed && p.lingering {
		p.idle = false
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// passRoom hands the room token on while room remains and publishers wait,
// so that one freed batch wakes as many publishers as it makes room for.
// p.mu is held.
func (p *Pipeline) passRoom() {
	if p.waiting > 0 && p.q.used < p.limit {
		select {
		case p.room <- struct{}{}:
		default:
		}
	}
}

// syncWaiter is a Sync waiting for the events published before it.
type syncWaiter struct {
	target uint64
	done   chan error // buffered: released once, read or not
}

// Sync returns once every event published before the call has been
// encoded and handed to every sink (Write returned; a failed write is
// counted as sink_error like any other). The forward receiver acknowledges
// a chunk at this point. It returns ctx.Err() if ctx ends first, and
// ErrClosed once intake has stopped or if the shutdown deadline discarded
// events it waited for.
func (p *Pipeline) Sync(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.delivered >= p.appended {
		p.mu.Unlock()
		return nil
	}
	w := syncWaiter{target: p.appended, done: make(chan error, 1)}
	p.syncs = append(p.syncs, w)
	if p.idle || p.lingering { // take the partial batch now
		p.idle = false
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseSyncs releases the Syncs whose events are all delivered, or, if
// the last batch was discarded, fails every one. p.mu is held.
func (p *Pipeline) releaseSyncs(written bool) {
	if !written {
		p.failSyncs()
		return
	}
	i := 0
	for ; i < len(p.syncs) && p.syncs[i].target <= p.delivered; i++ {
		p.syncs[i].done <- nil
	}
	p.syncs = p.syncs[i:]
}

// failSyncs fails every waiting Sync. p.mu is held.
func (p *Pipeline) failSyncs() {
	for _, w := range p.syncs {
		w.done <- ErrClosed
	}
	p.syncs = nil
}

// Run consumes the queue until ctx is done: it writes batches to the sinks
// and emits the periodic stats event. It does not stop intake: events
// queued after Run returns are written by Drain.
func (p *Pipeline) Run(ctx context.Context) error {
	defer close(p.runDone)
	p.mu.Lock()
	if p.closed {
		// Drain began first and is the consumer.
		p.mu.Unlock()
		return nil
	}
	p.started = true
	p.mu.Unlock()
	var tick <-chan time.Time
	if p.cfg.StatsInterval > 0 {
		t := time.NewTicker(p.cfg.StatsInterval)
		defer t.Stop()
		tick = t.C
	}
	// A queue idle for trimAfter gives back the blocks of the last burst.
	trim := time.NewTimer(time.Hour)
	trim.Stop()
	defer trim.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	delivered := false // the last pass wrote a batch: producers are busy
	for {
		p.mu.Lock()
		if delivered && len(p.syncs) == 0 && p.q.head == nil && p.q.cur != nil && len(p.q.cur.buf) < p.cfg.BatchBytes/lingerShare {
			// Busy, but the next batch is small: let it fill a little, so
			// that a busy pipeline makes fewer, larger writes (fewer
			// syscalls and wake-ups). An idle one writes at once.
			p.lingering = true
			p.mu.Unlock()
			linger.Reset(lingerFor)
			select {
			case <-p.wake:
			case <-linger.C:
			case <-ctx.Done():
			}
			linger.Stop()
			p.mu.Lock()
			p.lingering = false
		}
		b := p.q.take()
		if b == nil {
			p.idle = true
			if p.q.nfree > keepFree {
				trim.Reset(trimAfter)
			}
		}
		p.mu.Unlock()
		delivered = b != nil
		if b != nil {
			p.deliver(b)
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-p.wake:
			trim.Stop()
		case <-trim.C:
			p.mu.Lock()
			p.q.trim()
			p.mu.Unlock()
		case <-tick:
			p.writeStats()
		case <-ctx.Done():
			p.mu.Lock()
			p.idle = false
			p.mu.Unlock()
			return nil
		}
	}
}

// Drain stops intake, writes everything still queued, writes the final
// stats event and flushes the sinks, all bounded by ctx. Call it once,
// after Run has returned (it waits for Run until ctx ends). Its error
// says what could not be written or flushed.
func (p *Pipeline) Drain(ctx context.Context) error {
	stop := context.AfterFunc(ctx, p.ioCancel)
	defer stop()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closedCh)
	}
	started := p.started
	p.mu.Unlock()
	lostBefore := p.lost.Load()
	if started {
		select {
		case <-p.runDone:
		case <-ctx.Done():
			n := p.discardQueued()
			return fmt.Errorf("pipeline: a sink write was still blocked at the shutdown deadline; %d queued events not written", n)
		}
	}
	var errs []error
	for {
		p.mu.Lock()
		b := p.q.take()
		p.mu.Unlock()
		if b == nil {
			break
		}
		if p.ioCtx.Err() != nil {
			p.droppedStop.Add(uint64(b.n))
			p.release(b, false)
			continue
		}
		p.deliver(b)
	}
	if n := p.droppedStop.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("pipeline: %d queued events not written before the shutdown deadline", n))
	}
	p.writeStats()
	for _, s := range p.sinks {
		if err := s.Flush(p.ioCtx); err != nil {
			s.errors.Inc()
			errs = append(errs, fmt.Errorf("flush %s: %w", s.Name(), err))
		}
	}
	if n := p.lost.Load() - lostBefore; n > 0 {
		errs = append(errs, fmt.Errorf("pipeline: %d events failed in a sink during shutdown", n))
	}
	p.mu.Lock()
	p.failSyncs()
	p.mu.Unlock()
	return errors.Join(errs...)
}

// discardQueued counts every queued event as dropped at shutdown (the
// consumer is stuck in a sink) and returns how many.
func (p *Pipeline) discardQueued() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := uint64(p.q.events)
	p.droppedStop.Add(n)
	p.failSyncs()
	return n
}

// Close closes the sinks. Call it once, after Drain (or instead of Run and
// Drain when startup fails).
func (p *Pipeline) Close() error {
	p.ioCancel()
	var errs []error
	for _, s := range p.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// deliver writes one batch to every sink that wants its events, then
// frees its room. Only the consumer calls it.
func (p *Pipeline) deliver(b *block) {
	ok := true
	for _, s := range p.sinks {
		lines, n := b.buf, b.n
		switch {
		case b.types&^s.want == 0:
		case b.types&s.want == 0:
			continue
		default:
			p.filtered, n = b.filter(p.filtered[:0], s.want)
			lines = p.filtered
		}
		if !s.write(p.ioCtx, lines, n, p.cfg.Logger) {
			ok = false
		}
	}
	if ok {
		p.written.Add(uint64(b.n))
	} else {
		p.lost.Add(uint64(b.n))
	}
	p.lastDeliver.Store(p.cfg.Now().UnixNano())
	p.release(b, true)
}

// release returns a batch's room to the queue once every sink has had it
// (written is false when the shutdown deadline discarded it).
func (p *Pipeline) release(b *block, written bool) {
	p.mu.Lock()
	p.delivered += uint64(b.n)
	p.releaseSyncs(written)
	p.q.release(b)
	if p.q.used == 0 {
		p.busySince = time.Time{}
	}
	p.passRoom()
	p.mu.Unlock()
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

func (p *Pipeline) writeStats() {
	ev := p.StatsEvent()
	p.statsBuf = append(ev.Append(p.statsBuf[:0], p.cfg.EVE), '\n')
	for _, s := range p.sinks {
		if s.want&p.statsBit != 0 {
			s.write(p.ioCtx, p.statsBuf, 1, p.cfg.Logger)
		}
	}
}
