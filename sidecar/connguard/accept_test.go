package connguard

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// flaky fails its first accepts with EMFILE, as a process out of file
// descriptors does.
type flaky struct {
	net.Listener
	fails int
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

func TestAcceptWaitsOutFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	f := &flaky{Listener: ln, fails: 4}
	failed := 0
	start := time.Now()
	nc, err := Accept(context.Background(), f, func() { failed++ })
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if failed != 4 {
		t.Errorf("failed called %d times, want 4", failed)
	}
	// 5 + 10 + 20 + 40 ms of backoff.
	if took := time.Since(start); took < 75*time.Millisecond {
		t.Errorf("returned after %v: no backoff between failures", took)
	}
}

func TestAcceptEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := Accept(context.Background(), ln, func() {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener = %v, want net.ErrClosed", err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Accept(ctx, &flaky{Listener: ln2, fails: 1}, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept with an ended context during backoff = %v, want context.Canceled", err)
	}
}
