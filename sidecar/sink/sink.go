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
// Adding a remote sink (S3, CloudWatch Logs, Firehose) means one more type in
// this package with its own Config (kong tags, Validate) and constructor, and
// the AWS SDK confined to it:
//   - Batching: Write copies lines into a pending batch and sends it when the
//     service's limit is reached, splitting at line boundaries: CloudWatch
//     PutLogEvents takes 1,048,576 bytes (message + 26 bytes per event) and
//     10,000 events, in timestamp order, spanning at most 24 h; Firehose
//     PutRecordBatch 500 records and 4 MB; S3 one object per rolled batch
//     (a size or age bound, like File's rotation).
//   - Sending synchronously from Write passes backpressure to the pipeline
//     (log producers wait, network events are dropped and counted), which
//     is simpler and safer than a second queue. A sink that must not block
//     owns one goroutine, started by its constructor and stopped and waited
//     for by Close.
//   - Retry: retry throttling and 5xx with exponential backoff and jitter,
//     bounded by the ctx passed to Write or Flush (the shutdown deadline),
//     with the SDK's client-side retry token bucket disabled so sustained
//     throttling backs off instead of failing fast. Partial failures
//     (Firehose FailedPutCount, CloudWatch RejectedLogEventsInfo) resend or
//     count only the failed records. What is finally given up on is returned
//     as an error, which the pipeline counts as lost events.
//   - Flush sends the partial batch; Close calls nothing remote. Counters
//     as File's: bytes, batches, retries, errors, labelled sink="<name>".
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
