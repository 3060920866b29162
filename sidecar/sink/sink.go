// Package sink delivers the pipeline's encoded event batches to their
// destinations: a stream such as stdout (Writer) or a size-rotated local file
// (File).
//
// Every sink has the same four methods, matching pipeline.Sink: Name, Write
// (one batch of complete JSON lines, whose buffer is reused once Write
// returns), Flush (make everything written so far durable or delivered) and
// Close (release, after the pipeline's final Flush). The pipeline calls them
// from one goroutine; the sinks here lock anyway, so a caller may Flush from
// elsewhere.
//
// The remote sinks (S3, CloudWatch Logs, Firehose) live in packages of
// their own under this directory, behind a disk spool (sidecar/spool) and
// run by sidecar/sink/delivery; docs/sinks.md describes them.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// ErrClosed is returned by Write and Flush after Close.
var ErrClosed = errors.New("sink closed")

// ErrBroken is returned by Write once the stream's reader has gone (EPIPE:
// `sidewatch run | head`): the sink has failed for good, and the pipeline
// counts its events as lost while the other sinks go on.
var ErrBroken = errors.New("reader gone (broken pipe)")

// StdoutConfig configures the stdout sink.
type StdoutConfig struct {
	Types []string `name:"stdout-event-types" env:"SIDEWATCH_STDOUT_EVENT_TYPES" sep:"," placeholder:"TYPE" help:"Event types the stdout sink writes (alert,flow,log,stats…); empty writes every type."`
}

// Writer is a sink writing each batch to an io.Writer with one Write call,
// so that lines from one batch are never interleaved with other output.
type Writer struct {
	name    string
	types   []string
	mu      sync.Mutex
	w       io.Writer
	closed  bool
	broken  bool
	release func() // undoes what NewStdout did to the descriptor
}

// NewStdout returns the "stdout" sink writing to w (normally os.Stdout).
// When w is a pipe or socket, the sink writes to a non-blocking duplicate
// of its descriptor, so that a write to a reader that stopped reading can
// be cut by the shutdown deadline (ctx) instead of hanging the drain.
// Close does not close w.
func NewStdout(w io.Writer, cfg StdoutConfig) *Writer {
	s := &Writer{name: "stdout", w: w, types: cfg.Types}
	if f, ok := w.(*os.File); ok {
		if pf, release, ok := pollable(f); ok {
			s.w, s.release = pf, release
		}
	}
	return s
}

// Name returns "stdout".
func (s *Writer) Name() string { return s.name }

// EventTypes returns the event types the sink wants (none: all).
func (s *Writer) EventTypes() []event.Type { return eventTypes(s.types) }

// Write writes lines with one call to the underlying writer. If the
// writer supports deadlines (a pipe, see NewStdout), the write ends when
// ctx does. After a broken pipe every Write fails with ErrBroken at once.
func (s *Writer) Write(ctx context.Context, lines []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: %w", s.name, ErrClosed)
	}
	if s.broken {
		return fmt.Errorf("%s: %w", s.name, ErrBroken)
	}
	if d, ok := s.w.(interface{ SetWriteDeadline(time.Time) error }); ok && ctx.Done() != nil {
		if dl, ok := ctx.Deadline(); ok {
			d.SetWriteDeadline(dl)
		}
		cut := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			d.SetWriteDeadline(time.Now())
			close(cut)
		})
		defer func() {
			if !stop() {
				<-cut
			}
			d.SetWriteDeadline(time.Time{})
		}()
	}
	if _, err := s.w.Write(lines); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			s.broken = true
			return fmt.Errorf("%s: %w: %w", s.name, ErrBroken, err)
		}
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// Flush flushes the underlying writer if it buffers (has Flush() error). It
// does not fsync: stdout is usually a pipe, where that fails.
func (s *Writer) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: %w", s.name, ErrClosed)
	}
	if s.broken {
		return nil // nothing more can reach the reader; Write counted it
	}
	if f, ok := s.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("%s: flush: %w", s.name, err)
		}
	}
	return nil
}

// Close marks the sink closed; later Writes fail with ErrClosed. The
// underlying writer stays open (it is usually os.Stdout, owned by main).
func (s *Writer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.release != nil {
		s.release()
	}
	s.closed = true
	return nil
}
