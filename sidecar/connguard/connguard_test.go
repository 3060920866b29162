package connguard

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T, ln net.Listener) (server, client net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// reader reads c in a goroutine, as a receiver does, and reports the
// error that ended it.
func reader(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func waitInRead(t *testing.T, cs ...*Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range cs {
		for {
			c.mu.Lock()
			in := c.inRead
			c.mu.Unlock()
			if in {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for a reader to block in Read")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestAdmitEvictsTheConnectionLongestWithoutAFrame(t *testing.T) {
	ln := listen(t)
	reg := metrics.New()
	evicted := reg.Counter("t", "evicted_total", "")
	g := New(Config{MaxConns: 2, Evicted: evicted})
	ctx := context.Background()
	s1, c1 := pair(t, ln)
	s2, _ := pair(t, ln)
	a, _ := g.Admit(ctx, s1)
	b, _ := g.Admit(ctx, s2)
	// b completes a frame after a did: a is the idler one.
	time.Sleep(5 * time.Millisecond)
	b.Progress(1, false)
	doneA, doneB := reader(a), reader(b)
	waitInRead(t, a, b)
	time.Sleep(DefaultMinReadWait)

	s3, _ := pair(t, ln)
	admitted := make(chan *Conn, 1)
	go func() {
		c, err := g.Admit(ctx, s3)
		if err != nil {
			t.Error(err)
		}
		admitted <- c
	}()
	select {
	case c := <-admitted:
		defer c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("Admit at the cap did not evict an idle connection")
	}
	if err := <-doneA; err == nil || !a.Evicted() {
		t.Errorf("idlest connection: Read = %v, Evicted = %v; want it closed and evicted", err, a.Evicted())
	}
	if b.Evicted() {
		t.Errorf("the connection with the recent frame was evicted")
	}
	if evicted.Load() != 1 {
		t.Errorf("evicted counter = %d, want 1", evicted.Load())
	}
	// The evicted peer is reset, so its sender notices.
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("evicted peer's Read = %v, want ECONNRESET", err)
	}
	a.Close()
	b.Close()
	<-doneB
}

func TestAdmitWaitsWhileEveryConnectionIsBusy(t *testing.T) {
	ln := listen(t)
	reg := metrics.New()
	waited := reg.Counter("t", "waited_total", "")
	g := New(Config{MaxConns: 2, Waited: waited})
	s0, _ := pair(t, ln)
	other, _ := g.Admit(context.Background(), s0)
	defer other.Close()
	s1, _ := pair(t, ln)
	busy, _ := g.Admit(context.Background(), s1) // never in Read: busy publishing
	s2, _ := pair(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.Admit(ctx, s2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Admit with the only slot busy = %v, want it to wait until ctx ends", err)
	}
	if busy.Evicted() {
		t.Fatal("a busy connection was evicted")
	}
	admitted := make(chan error, 1)
	go func() {
		c, err := g.Admit(context.Background(), s2)
		if err == nil {
			c.Close()
		}
		admitted <- err
	}()
	time.Sleep(20 * time.Millisecond)
	busy.PeerClosed() // EOF seen: the slot is free while it finishes
	if err := <-admitted; err != nil {
		t.Fatalf("Admit after PeerClosed = %v", err)
	}
	busy.Close()
	if waited.Load() != 2 {
		t.Errorf("waited counter = %d, want 2", waited.Load())
	}
	if g.Open() != 1 {
		t.Errorf("Open = %d with one connection left, want 1", g.Open())
	}
}

func TestFrameTimeoutCountsOnlyReadWait(t *testing.T) {
	ln := listen(t)
	g := New(Config{MaxConns: 4, FrameTimeout: 300 * time.Millisecond})
	s, client := pair(t, ln)
	c, _ := g.Admit(context.Background(), s)
	defer c.Close()
	buf := make([]byte, 16)
	client.Write([]byte("<14>partial"))
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Progress(0, true)
	// Time the reader spends elsewhere (publishing) does not count.
	time.Sleep(400 * time.Millisecond)
	go func() {
		time.Sleep(100 * time.Millisecond)
		client.Write([]byte(" more"))
	}()
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("Read after 400ms outside Read and 100ms of read-wait = %v, want data", err)
	}
	c.Progress(0, true)
	// A sender that stalls mid-frame is cut at the frame timeout, even
	// with a later reader deadline.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	start := time.Now()
	_, err := c.Read(buf)
	if !errors.Is(err, ErrFrameTimeout) || !c.FrameTimedOut() {
		t.Errorf("Read of a stalled frame = %v (FrameTimedOut %v), want ErrFrameTimeout", err, c.FrameTimedOut())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("frame timeout fired after %s, want about 200ms", d)
	}
	// A completed frame resets the budget: an idle connection between
	// frames is governed by the reader's deadline only.
	c.Progress(1, false)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrFrameTimeout) {
		t.Errorf("Read between frames = %v, want the reader's own deadline", err)
	}
}

func TestListenerAdmits(t *testing.T) {
	ln := listen(t)
	g := New(Config{MaxConns: 1})
	gl := NewListener(context.Background(), ln, g)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}()
	c, err := gl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*Conn); !ok || g.Open() != 1 {
		t.Errorf("Accept returned %T with %d open, want an admitted *Conn", c, g.Open())
	}
	c.Close()
	if g.Open() != 0 {
		t.Errorf("Open = %d after Close, want 0", g.Open())
	}
}

// A peer that has not authenticated never pushes out one that has: the
// unauthenticated connections go first, and while one holds a slot (even
// one not yet evictable) an authenticated connection is kept.
func TestUnauthenticatedEvictedFirst(t *testing.T) {
	ln := listen(t)
	g := New(Config{MaxConns: 2})
	ctx := context.Background()
	s1, _ := pair(t, ln)
	s2, _ := pair(t, ln)
	auth, _ := g.Admit(ctx, s1) // the idlest: admitted first, no frame since
	time.Sleep(5 * time.Millisecond)
	unauth, _ := g.AdmitUnauthenticated(ctx, s2)
	doneAuth, doneUnauth := reader(auth), reader(unauth)
	waitInRead(t, auth, unauth)
	time.Sleep(DefaultMinReadWait)

	s3, _ := pair(t, ln)
	fresh, err := g.AdmitUnauthenticated(ctx, s3) // never reads: busy
	if err != nil {
		t.Fatal(err)
	}
	if err := <-doneUnauth; err == nil || !unauth.Evicted() || auth.Evicted() {
		t.Fatalf("at the cap: unauthenticated evicted %v (Read %v), authenticated evicted %v; want only the unauthenticated one", unauth.Evicted(), err, auth.Evicted())
	}
	unauth.Close() // as its reader does: the slot is free only then
	// fresh holds a slot unauthenticated: the idle authenticated
	// connection is not evicted for another newcomer.
	s4, _ := pair(t, ln)
	wctx, cancel := context.WithTimeout(ctx, 3*DefaultMinReadWait)
	defer cancel()
	if _, err := g.Admit(wctx, s4); !errors.Is(err, context.DeadlineExceeded) || auth.Evicted() {
		t.Fatalf("Admit with an unauthenticated connection holding a slot = %v, authenticated evicted %v; want a wait and no eviction", err, auth.Evicted())
	}
	fresh.Authenticated()
	c, err := g.Admit(ctx, s4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-doneAuth; err == nil || !auth.Evicted() {
		t.Errorf("once no unauthenticated connection holds a slot: idlest evicted %v (Read %v), want evicted", auth.Evicted(), err)
	}
	fresh.Close()
}
