package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"
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
	s := NewStdout(rec)
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
	s := NewStdout(bw)
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
	s := NewStdout(&recorder{err: broken})
	if err := s.Write(context.Background(), []byte("x\n")); !errors.Is(err, broken) {
		t.Errorf("Write() = %v, want it to wrap %v", err, broken)
	}
}
