// Package delivery runs a remote sink behind its spool: the pipeline's
// Write puts the event lines it wants (its event-type filter) into the
// spool, and one sender goroutine takes them out in order, packs them into
// the service's requests (a Batch, one implementation per service), sends
// them with retries and acknowledges them in the spool once the service has
// accepted them.
//
// Retries: exponential backoff with full jitter from 200 ms up to
// MaxBackoff, each attempt bounded by AttemptTimeout, forever for network,
// throttling, server and configuration errors (the spool bounds what waits;
// network events are dropped there, counted, and logs push back). A batch
// the service rejects for its content is retried RejectAttempts times, then
// dropped and counted. The first failure of a kind, and then one per
// ErrorLogInterval, is logged with the service's exact error; while sends
// fail for longer than FailingAfter, or with a configuration error, Health
// reports the sink failing.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// Batch is one service request being filled. The sender goroutine is its
// only user.
type Batch interface {
	// Add takes r into the batch, or reports false when it does not fit
	// (the batch is sent and r goes into the next). An empty batch takes
	// any record, cutting it down to the service's limit if it must.
	Add(r spool.Record) bool
	// Len is the number of records in the batch.
	Len() int
	// Due is when the batch must be sent even if it is not full.
	Due() time.Time
	// Send delivers the batch and empties it. On error the batch keeps what
	// the service did not accept, and Send is called again later.
	Send(ctx context.Context) error
	// Reset empties the batch (after the service rejected it for good).
	Reset()
}

// Options are the retry settings shared by the AWS sinks.
type Options struct {
	AttemptTimeout   time.Duration `name:"aws-attempt-timeout" env:"SIDEWATCH_AWS_ATTEMPT_TIMEOUT" default:"30s" help:"Bound of one request to an AWS sink's service, after which it is retried."`
	MaxBackoff       time.Duration `name:"aws-max-backoff" env:"SIDEWATCH_AWS_MAX_BACKOFF" default:"30s" help:"Longest wait between retries of an AWS sink's request (exponential backoff with jitter from 200ms)."`
	FailingAfter     time.Duration `name:"aws-failing-after" env:"SIDEWATCH_AWS_FAILING_AFTER" default:"60s" help:"An AWS sink whose sends have failed for this long reports failing in /healthz (a configuration error such as access denied does at once)."`
	ErrorLogInterval time.Duration `name:"aws-error-log-interval" env:"SIDEWATCH_AWS_ERROR_LOG_INTERVAL" default:"60s" help:"An AWS sink logs a failing send's error at most once per this interval (and counts every one)."`
}

// Validate checks the bounds, naming flags and variables.
func (o Options) Validate() error {
	var errs []error
	check := func(flag, env string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("--%s (%s) must be between %s and %s, got %s", flag, env, lo, hi, v))
		}
	}
	check("aws-attempt-timeout", "SIDEWATCH_AWS_ATTEMPT_TIMEOUT", o.AttemptTimeout, time.Second, 10*time.Minute)
	check("aws-max-backoff", "SIDEWATCH_AWS_MAX_BACKOFF", o.MaxBackoff, 200*time.Millisecond, time.Hour)
	check("aws-failing-after", "SIDEWATCH_AWS_FAILING_AFTER", o.FailingAfter, time.Second, 24*time.Hour)
	check("aws-error-log-interval", "SIDEWATCH_AWS_ERROR_LOG_INTERVAL", o.ErrorLogInterval, time.Second, 24*time.Hour)
	return errors.Join(errs...)
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{AttemptTimeout: 30 * time.Second, MaxBackoff: 30 * time.Second, FailingAfter: time.Minute, ErrorLogInterval: time.Minute}
}

// RejectAttempts is how often a batch rejected for its content is sent
// before it is dropped.
const RejectAttempts = 5

const minBackoff = 200 * time.Millisecond

// Sink is a pipeline sink that spools and delivers through a Batch.
type Sink struct {
	name  string
	types []string // wanted event types; nil: all
	sp    *spool.Spool
	batch Batch
	opts  Options
	log   *slog.Logger
	m     sinkMetrics

	filtered []byte // Write's reusable buffer for the wanted lines

	flushReq chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}

	mu           sync.Mutex
	failingSince time.Time // first failure of the current run of failures
	lastErr      error
	lastClass    Class
	logged       map[Class]time.Time
	closed       bool
}

// New builds the sink named name over sp and starts its sender. types
// filters the event types it takes (empty: all).
func New(name string, types []string, sp *spool.Spool, b Batch, opts Options, log *slog.Logger, reg *metrics.Registry) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		name: name, types: slices.Clone(types), sp: sp, batch: b, opts: opts, log: log.With("sink", name),
		flushReq: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), logged: map[Class]time.Time{},
	}
	s.m = newMetrics(reg, name, s)
	go s.run(ctx)
	return s
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.name }

// Write spools the lines of the wanted types; it returns once they are on
// disk, or waits while the spool is full of events that must not be dropped.
func (s *Sink) Write(ctx context.Context, lines []byte) error {
	if len(s.types) > 0 {
		s.filtered = s.filtered[:0]
		for rest := lines; len(rest) > 0; {
			i := indexByte(rest, '\n') + 1
			if i == 0 {
				i = len(rest)
			}
			_, typ, _ := spool.Head(rest[:i])
			if slices.Contains(s.types, typ) {
				s.filtered = append(s.filtered, rest[:i]...)
			}
			rest = rest[i:]
		}
		lines = s.filtered
		if len(lines) == 0 {
			return nil
		}
	}
	if err := s.sp.Append(ctx, lines); err != nil {
		return fmt.Errorf("%s sink: %w", s.name, err)
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// flushWait bounds Flush when ctx has no deadline.
const flushWait = 10 * time.Second

// Flush asks the sender to send what it holds now and waits until the
// spool is empty or ctx (or, without a deadline, 10 s) ends. Events still
// in the spool then are not lost: the next start delivers them.
func (s *Sink) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushWait)
		defer cancel()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.sp.Pending() > 0 {
		select {
		case s.flushReq <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return nil // persisted: the spool keeps them
		case <-s.done:
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// Close stops the sender (an attempt in progress is abandoned; its events
// stay in the spool) and closes the spool.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
	return s.sp.Close()
}

// Health is nil while the sink delivers, and the reason when it is failing.
func (s *Sink) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return nil
	}
	if s.lastClass == Failing || time.Since(s.failingSince) >= s.opts.FailingAfter {
		return fmt.Errorf("%s sink failing since %s: %s: %w", s.name, s.failingSince.UTC().Format(time.RFC3339), s.lastClass, s.lastErr)
	}
	return nil
}

// run is the sender: fill a batch from the spool, send it when full, due,
// asked to flush or the spool is under pressure, retry, acknowledge.
func (s *Sink) run(ctx context.Context) {
	defer close(s.done)
	var (
		carry   *spool.Record // read, did not fit the last batch
		lastSeq uint64
		count   int
		flush   bool
	)
	for ctx.Err() == nil {
		full := false
		var data <-chan struct{}
		for {
			if carry == nil {
				r, ok, d, err := s.sp.TryRead()
				if err != nil {
					return // closed
				}
				if !ok {
					data = d
					break
				}
				carry = &r
			}
			if !s.batch.Add(*carry) {
				if s.batch.Len() == 0 {
					panic("delivery: an empty batch refused a record")
				}
				full = true
				break
			}
			lastSeq, count, carry = carry.Seq, count+1, nil
		}
		if s.batch.Len() == 0 {
			flush = false
			select {
			case <-data:
			case <-s.flushReq:
			case <-ctx.Done():
			}
			continue
		}
		if !full && !flush && !s.sp.Pressure() {
			wait := time.NewTimer(time.Until(s.batch.Due()))
			select {
			case <-data:
				wait.Stop()
				continue
			case <-s.flushReq:
				flush = true
			case <-wait.C:
			case <-ctx.Done():
				wait.Stop()
				return
			}
			wait.Stop()
		}
		if !s.send(ctx, lastSeq, count) {
			return
		}
		count = 0
	}
}

// send delivers the batch, retrying, and acknowledges it. It returns false
// when ctx ended first.
func (s *Sink) send(ctx context.Context, lastSeq uint64, count int) bool {
	if err := s.sp.Sending(lastSeq); err != nil {
		s.log.Error("spool", "err", err)
	}
	rejected := 0
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.opts.AttemptTimeout)
		s.m.requests.Inc()
		err := s.batch.Send(actx)
		cancel()
		if err == nil {
			s.recovered()
			break
		}
		if ctx.Err() != nil {
			return false
		}
		c := Classify(err)
		s.failed(c, err)
		if c == Rejected {
			if rejected++; rejected >= RejectAttempts {
				n := s.batch.Len()
				s.batch.Reset()
				s.m.rejected.Add(uint64(n))
				s.log.Error("batch rejected for good; dropped", "events", n, "attempts", rejected, "err", err)
				break
			}
		}
		if !sleep(ctx, backoff(attempt, c, s.opts.MaxBackoff)) {
			return false
		}
	}
	if err := s.sp.Ack(lastSeq, count); err != nil {
		s.log.Error("spool", "err", err)
	}
	return true
}

// backoff is exponential with full jitter; configuration errors wait the
// longest at once after the first retry.
func backoff(attempt int, c Class, maxWait time.Duration) time.Duration {
	d := maxWait
	if attempt < 30 {
		d = min(minBackoff<<attempt, maxWait)
	}
	if c == Failing && attempt > 0 {
		d = maxWait
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Sink) failed(c Class, err error) {
	s.m.errors[c].Inc()
	now := time.Now()
	s.mu.Lock()
	if s.lastErr == nil {
		s.failingSince = now
	}
	s.lastErr, s.lastClass = err, c
	last, seen := s.logged[c]
	logIt := !seen || now.Sub(last) >= s.opts.ErrorLogInterval
	if logIt {
		s.logged[c] = now
	}
	s.mu.Unlock()
	if logIt {
		lvl := slog.LevelWarn
		if c == Failing || c == Rejected {
			lvl = slog.LevelError
		}
		s.log.Log(context.Background(), lvl, "send failed; retrying", "class", c.String(), "err", err, "errors_total", s.m.errors[c].Load())
	}
}

func (s *Sink) recovered() {
	s.mu.Lock()
	was := s.lastErr != nil
	since := s.failingSince
	s.lastErr = nil
	clear(s.logged)
	s.mu.Unlock()
	if was {
		s.log.Info("sending again", "failed_for", time.Since(since).Round(time.Millisecond).String())
	}
}
