package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// Both sinks satisfy the pipeline's Sink interface (declared here, as the
// pipeline declares it, so that this package does not import pipeline).
var (
	_ interface {
		Name() string
		Write(context.Context, []byte) error
		Flush(context.Context) error
		Close() error
	} = (*Writer)(nil)
	_ interface {
		Name() string
		Write(context.Context, []byte) error
		Flush(context.Context) error
		Close() error
	} = (*File)(nil)
)

// recorder records each Write call separately.
type recorder struct {
	writes [][]byte
	err    error
	closed bool
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Close() error { r.closed = true; return nil }

func TestStdoutOneWritePerBatch(t *testing.T) {
	rec := &recorder{}
	s := NewStdout(rec, StdoutConfig{})
	if got := s.Name(); got != "stdout" {
		t.Errorf("Name() = %q, want %q", got, "stdout")
	}
	ctx := context.Background()
	batches := []string{"{\"a\":1}\n{\"a\":2}\n", "{\"b\":1}\n"}
	for _, b := range batches {
		buf := []byte(b)
		if err := s.Write(ctx, buf); err != nil {
			t.Fatalf("Write(%q) = %v", b, err)
		}
		copy(buf, "XXXX") // the pipeline reuses its buffer
	}
	if len(rec.writes) != len(batches) {
		t.Fatalf("underlying writer got %d Write calls, want %d", len(rec.writes), len(batches))
	}
	for i, b := range batches {
		if got := string(rec.writes[i]); got != b {
			t.Errorf("Write call %d = %q, want %q", i, got, b)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Errorf("Flush() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if rec.closed {
		t.Error("Close() closed the underlying writer")
	}
	if err := s.Write(ctx, []byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

func TestStdoutFlushesBufferedWriter(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	s := NewStdout(bw, StdoutConfig{})
	if err := s.Write(context.Background(), []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("bufio.Writer passed %q through before Flush", out.String())
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if got := out.String(); got != "x\n" {
		t.Errorf("after Flush the output is %q, want %q", got, "x\n")
	}
}

func TestStdoutWriteError(t *testing.T) {
	broken := errors.New("broken pipe")
	s := NewStdout(&recorder{err: broken}, StdoutConfig{})
	if err := s.Write(context.Background(), []byte("x\n")); !errors.Is(err, broken) {
		t.Errorf("Write() = %v, want it to wrap %v", err, broken)
	}
}

// TestStdoutBrokenPipeFailsTheSink is row 4 of issue 10 at the sink: a
// reader that went away (`| head`) makes the sink fail, for good and
// fast, instead of killing the process.
func TestStdoutBrokenPipeFailsTheSink(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	s := NewStdout(w, StdoutConfig{})
	defer s.Close()
	for i := range 3 {
		if err := s.Write(context.Background(), []byte("{}\n")); !errors.Is(err, ErrBroken) {
			t.Errorf("Write #%d to a pipe without reader = %v, want ErrBroken", i, err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Errorf("Flush of a broken sink = %v, want nil (the loss is counted at Write)", err)
	}
}

// A reader that stops reading must not hang the drain: the write ends
// with its context.
func TestStdoutWriteEndsWithContext(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s := NewStdout(w, StdoutConfig{})
	defer s.Close()
	big := bytes.Repeat([]byte("x"), 4<<20) // more than the pipe holds
	big[len(big)-1] = '\n'
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Write(ctx, big)
	if err == nil {
		t.Fatalf("Write of 4 MiB to a pipe nobody reads = nil")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Write returned after %s, want about the 100ms deadline", d)
	}
	// The sink is not broken: a reader that comes back gets later batches.
	go io.Copy(io.Discard, r)
	if err := s.Write(context.Background(), []byte("{}\n")); err != nil {
		t.Errorf("Write after the reader resumed = %v", err)
	}
}
