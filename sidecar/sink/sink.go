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
	"sync"
)

// ErrClosed is returned by Write and Flush after Close.
var ErrClosed = errors.New("sink closed")

// Writer is a sink writing each batch to an io.Writer with one Write call,
// so that lines from one batch are never interleaved with other output.
type Writer struct {
	name   string
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

// NewStdout returns the "stdout" sink writing to w (normally os.Stdout).
// Close does not close w.
func NewStdout(w io.Writer) *Writer { return &Writer{name: "stdout", w: w} }

// Name returns "stdout".
func (s *Writer) Name() string { return s.name }

// Write writes lines with one call to the underlying writer. ctx is not
// consulted: a local write cannot be cancelled.
func (s *Writer) Write(_ context.Context, lines []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: %w", s.name, ErrClosed)
	}
	if _, err := s.w.Write(lines); err != nil {
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
	s.closed = true
	return nil
}
