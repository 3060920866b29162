package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// component is one part of the running sidecar: an input (syslog receiver,
// packet capture), the pipeline with its sinks, or a service (task metadata,
// health listener). Its constructor opens whatever needs privileges
// (sockets, files), so that every component is open before the privilege
// drop; then one lifecycle drives all of them:
//
//	run    Run works until its context is cancelled, then stops taking new
//	       work and returns.
//	drain  Drain, if the component has one (drainer), finishes the work it
//	       accepted, bounded by its context's deadline.
//	close  Close, if it has one (io.Closer), releases what the constructor
//	       opened. It runs once, also when startup fails half-way.
type component interface {
	Run(ctx context.Context) error
}

// ErrDiscarded is wrapped by Run's error when shutdown could not finish
// what the sidecar had accepted within --shutdown-timeout: bytes left
// unread in sockets, records cut, events not written or flushed. Every
// such loss is also counted in a metric; the error gives the figures, and
// `sidewatch run` exits with status 3.
var ErrDiscarded = errors.New("data discarded at shutdown")

// drainer is a component with accepted work to finish at shutdown.
type drainer interface {
	Drain(ctx context.Context) error
}

// stage orders shutdown. Inputs stop and drain first, so that what they
// accepted reaches the pipeline; the pipeline drains next into the sinks;
// services stop last, so that health and enrichment work to the end.
type stage int

const (
	stageInput stage = iota
	stagePipeline
	stageService
	stages
)

// part is a component in Run's list.
type part struct {
	name  string
	stage stage
	c     component
}

// parts is the sidecar's list of components in start order.
type parts []part

func (ps *parts) add(name string, s stage, c component) {
	*ps = append(*ps, part{name: name, stage: s, c: c})
}

// close closes every component that has a Close, last opened first.
func (ps parts) close() error {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		if c, ok := ps[i].c.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", ps[i].name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// shutdownReserve is the share of the shutdown budget kept for the
// pipeline's final write and flush after the inputs have drained.
const shutdownReserve = 5

// run starts every component, calls ready once all are running, and waits
// for ctx to end or a component to fail. It then shuts the stages down in
// order within budget: inputs get budget minus a fifth (the reserve), the
// pipeline and services the rest. Every component is closed before run
// returns. The error joins every component's failure.
func (ps parts) run(ctx context.Context, budget time.Duration, ready func(), stopping func(cause error)) error {
	var (
		errMu sync.Mutex
		errs  []error
	)
	fail := func(name, step string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		errMu.Lock()
		errs = append(errs, fmt.Errorf("%s: %s: %w", name, step, err))
		errMu.Unlock()
	}
	// discarded records a shutdown step that left accepted work undone.
	discarded := func(name, step string, err error) {
		if err != nil {
			fail(name, step, fmt.Errorf("%w: %w", ErrDiscarded, err))
		}
	}
	stop, stopAll := context.WithCancelCause(ctx)
	defer stopAll(nil)

	var (
		runCtx    [stages]context.Context
		cancelRun [stages]context.CancelFunc
		running   [stages]sync.WaitGroup
	)
	for s := range stages {
		// Not derived from ctx: shutdown cancels the stages one by one.
		runCtx[s], cancelRun[s] = context.WithCancel(context.WithoutCancel(ctx))
		defer cancelRun[s]()
	}
	for _, p := range ps {
		running[p.stage].Add(1)
		go func() {
			defer running[p.stage].Done()
			if err := p.c.Run(runCtx[p.stage]); err != nil && !errors.Is(err, context.Canceled) {
				fail(p.name, "run", err)
				stopAll(fmt.Errorf("%s failed: %w", p.name, err)) // one failed component stops the sidecar
			}
		}()
	}
	ready()

	<-stop.Done()
	stopping(context.Cause(stop))
	deadline := time.Now().Add(budget)
	inputDeadline := deadline.Add(-budget / shutdownReserve)
	for s := range stages {
		d := deadline
		if s == stageInput {
			d = inputDeadline
		}
		drainCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), d)
		cancelRun[s]()
		if !waitUntil(&running[s], drainCtx) {
			discarded(s.String(), "stop", fmt.Errorf("not stopped within the shutdown budget %s", budget))
		}
		var drains sync.WaitGroup
		for _, p := range ps {
			if dr, ok := p.c.(drainer); ok && p.stage == s {
				drains.Add(1)
				go func() {
					defer drains.Done()
					discarded(p.name, "drain", dr.Drain(drainCtx))
				}()
			}
		}
		if !waitUntil(&drains, drainCtx) {
			discarded(s.String(), "drain", fmt.Errorf("not drained within the shutdown budget %s", budget))
		}
		cancel()
	}
	fail("sidecar", "close", ps.close())
	return errors.Join(errs...)
}

// waitUntil waits for wg or ctx's end and reports whether wg finished.
func waitUntil(wg *sync.WaitGroup, ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s stage) String() string {
	switch s {
	case stageInput:
		return "inputs"
	case stagePipeline:
		return "pipeline"
	default:
		return "services"
	}
}
