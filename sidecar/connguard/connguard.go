// Package connguard keeps a stream listener's connections under a cap
// without letting any peer inside the task starve the others: the syslog
// and forward receivers and the health listener admit every connection
// through a Guard.
//
// The rules, so that a real sender always gets in and nothing accepted is
// dropped unseen:
//
//   - At most MaxConns connections are read at once. A connection whose
//     peer has closed (the reader saw EOF) gives its slot back at once,
//     even while it still publishes its last record; such finishing
//     connections are bounded by MaxConns too.
//   - When every slot is taken, a new connection is served by evicting the
//     connection that has gone longest without completing a frame, among
//     those waiting on their peer (blocked in Read for at least
//     Config.MinReadWait, with nothing unread and no FIN from its peer:
//     idle or slow). A
//     connection the receiver is busy with (publishing, waiting for room
//     in the pipeline) is never evicted: when all are busy, Admit waits,
//     and the kernel's accept queue holds the newcomer (TCP backpressure,
//     no reset). An evicted connection is reset (RST), so its sender's
//     next write fails and it retries rather than losing data.
//   - A connection admitted unauthenticated (AdmitUnauthenticated, until
//     its reader calls Authenticated) is evicted before any other: while
//     one holds a slot, an authenticated connection is never evicted, so
//     a peer without the credentials cannot push out one that has them.
//   - A frame must complete within FrameTimeout of read-wait after its
//     first byte: time spent waiting for the peer counts, time the reader
//     spends publishing does not. A slower connection's Read fails and
//     FrameTimedOut reports it.
//
// A receiver's accept loop takes connections with Accept (transient
// failures waited out) and admits them; the reader reports its framing
// state with Progress; Read enforces the frame timeout on top of the
// reader's own deadline.
package connguard

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Config sets a Guard's limits.
type Config struct {
	// MaxConns is how many connections are read at once.
	MaxConns int
	// FrameTimeout bounds the read-wait of one frame after its first byte;
	// 0 disables it (the health listener relies on net/http's timeouts).
	FrameTimeout time.Duration
	// MinReadWait is how long a connection must have been blocked in Read
	// to be evicted (DefaultMinReadWait if 0): one whose peer has written
	// (or closed) returns from Read at once, so none with unread bytes is
	// reset. It also paces evictions: at most MaxConns per MinReadWait.
	MinReadWait time.Duration
	// Evicted and Waited, if set, count evictions and Admit calls that had
	// to wait for a slot.
	Evicted, Waited *metrics.Counter
}

// Guard admits connections. Its methods are safe for concurrent use.
type Guard struct {
	cfg Config

	mu        sync.Mutex
	reading   map[*Conn]struct{}
	finishing int
	freed     chan struct{} // one token: a slot was freed
	waiters   int
}

// New returns a Guard with cfg's limits.
func New(cfg Config) *Guard {
	cfg.MaxConns = max(cfg.MaxConns, 1)
	if cfg.MinReadWait <= 0 {
		cfg.MinReadWait = DefaultMinReadWait
	}
	return &Guard{cfg: cfg, reading: make(map[*Conn]struct{}, cfg.MaxConns), freed: make(chan struct{}, 1)}
}

// ErrFrameTimeout is returned by Read when the frame in progress took more
// than FrameTimeout of read-wait.
var ErrFrameTimeout = errors.New("frame not completed within the frame timeout")

// Admit takes a slot for nc, evicting the idlest or slowest connection if
// every slot is taken, or waiting for one while all are busy. It returns
// ctx's error if ctx ends first; nc is then still the caller's to close.
func (g *Guard) Admit(ctx context.Context, nc net.Conn) (*Conn, error) {
	return g.admit(ctx, nc, false)
}

// AdmitUnauthenticated admits nc as Admit does, as a connection whose peer
// has yet to authenticate: such connections are the first evicted, and
// while one holds a slot no authenticated one is. Authenticated lifts it.
func (g *Guard) AdmitUnauthenticated(ctx context.Context, nc net.Conn) (*Conn, error) {
	return g.admit(ctx, nc, true)
}

func (g *Guard) admit(ctx context.Context, nc net.Conn, unauthenticated bool) (*Conn, error) {
	g.mu.Lock()
	waited := false
	for len(g.reading) >= g.cfg.MaxConns || g.finishing >= g.cfg.MaxConns {
		if len(g.reading) >= g.cfg.MaxConns {
			if v := g.victim(); v != nil {
				g.evict(v)
				continue
			}
		}
		if !waited {
			waited = true
			inc(g.cfg.Waited)
		}
		g.waiters++
		g.mu.Unlock()
		// A connection may become evictable without a slot being freed.
		recheck := time.NewTimer(g.cfg.MinReadWait)
		select {
		case <-g.freed:
		case <-recheck.C:
		case <-ctx.Done():
			recheck.Stop()
			g.mu.Lock()
			g.waiters--
			g.passFreed()
			g.mu.Unlock()
			return nil, ctx.Err()
		}
		recheck.Stop()
		g.mu.Lock()
		g.waiters--
	}
	c := &Conn{Conn: nc, g: g, lastFrame: time.Now(), unauthenticated: unauthenticated}
	g.reading[c] = struct{}{}
	g.passFreed()
	g.mu.Unlock()
	return c, nil
}

// Open returns the connections being read (not the finishing ones).
func (g *Guard) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reading)
}

// DefaultMinReadWait is Config.MinReadWait's default.
const DefaultMinReadWait = 50 * time.Millisecond

// victim is the connection waiting on its peer that has gone longest
// without completing a frame, or nil; only unauthenticated ones while any
// holds a slot. g.mu is held.
func (g *Guard) victim() *Conn {
	// Best candidates, unauthenticated [0] and authenticated [1].
	var (
		best       [2]*Conn
		bestAt     [2]time.Time
		unauthHeld bool
	)
	waitedSince := time.Now().Add(-g.cfg.MinReadWait)
	for c := range g.reading {
		c.mu.Lock()
		in, since, at, unauth := c.inRead, c.readSince, c.lastFrame, c.unauthenticated
		c.mu.Unlock()
		k := 1
		if unauth {
			k, unauthHeld = 0, true
		}
		if in && !since.After(waitedSince) && (best[k] == nil || at.Before(bestAt[k])) && !busyOnPeer(c.Conn) {
			best[k], bestAt[k] = c, at
		}
	}
	if unauthHeld {
		return best[0]
	}
	return best[1]
}

// evict resets v and frees its slot. g.mu is held.
func (g *Guard) evict(v *Conn) {
	delete(g.reading, v)
	g.finishing++
	v.mu.Lock()
	v.evicted, v.released = true, true
	v.mu.Unlock()
	if tc, ok := v.Conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	v.Conn.Close() // unblocks the reader's Read
	inc(g.cfg.Evicted)
}

// passFreed hands the slot token on while slots are free and Admit calls
// wait. g.mu is held.
func (g *Guard) passFreed() {
	if g.waiters > 0 && len(g.reading) < g.cfg.MaxConns && g.finishing < g.cfg.MaxConns {
		select {
		case g.freed <- struct{}{}:
		default:
		}
	}
}

func inc(c *metrics.Counter) {
	if c != nil {
		c.Inc()
	}
}

// Conn is an admitted connection. Read and SetReadDeadline are meant for
// one reader goroutine; eviction may close it from another.
type Conn struct {
	net.Conn
	g *Guard

	mu        sync.Mutex
	deadline  time.Time     // the reader's own read deadline
	applied   time.Time     // the deadline last set on the connection
	inRead    bool          // blocked in Read: waiting on the peer
	readSince time.Time     // when the Read in progress began
	lastFrame time.Time     // last completed frame, or admission
	partial   bool          // a frame is in progress
	frameWait time.Duration // read-wait of the frame in progress
	evicted   bool
	timedOut  bool // the frame timeout ended a Read
	// unauthenticated: admitted by AdmitUnauthenticated, not yet
	// Authenticated.
	unauthenticated bool
	released        bool // the slot is given back (EOF or eviction)
	closed          bool
}

// SetReadDeadline sets the reader's deadline; Read tightens it with the
// frame timeout. It applies at once too, so that it can interrupt a Read
// in progress (crypto/tls does that to cancel a handshake).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline, c.applied = t, t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets the read deadline as SetReadDeadline does and the
// write deadline on the connection.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// Read reads from the connection, failing with ErrFrameTimeout (wrapping
// os.ErrDeadlineExceeded) when the frame in progress has waited on its
// peer for FrameTimeout.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	d := c.deadline
	ft := c.g.cfg.FrameTimeout
	if c.partial && ft > 0 {
		if fd := time.Now().Add(ft - c.frameWait); d.IsZero() || fd.Before(d) {
			d = fd
		}
	}
	c.inRead, c.readSince = true, time.Now()
	apply := !d.Equal(c.applied)
	c.applied = d
	c.mu.Unlock()
	if apply {
		c.Conn.SetReadDeadline(d)
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.inRead = false
	if c.partial {
		c.frameWait += time.Since(c.readSince)
		// The frame's budget, not another deadline set meanwhile, ended
		// the Read.
		if err != nil && ft > 0 && c.frameWait >= ft && errors.Is(err, os.ErrDeadlineExceeded) {
			c.timedOut = true
			err = frameTimeoutError{}
		}
	}
	c.mu.Unlock()
	return n, err
}

type frameTimeoutError struct{}

func (frameTimeoutError) Error() string   { return ErrFrameTimeout.Error() }
func (frameTimeoutError) Timeout() bool   { return true }
func (frameTimeoutError) Temporary() bool { return false }
func (frameTimeoutError) Is(target error) bool {
	return target == ErrFrameTimeout || target == os.ErrDeadlineExceeded
}

// Progress reports the reader's framing after it consumed bytes:
// completed frames since the last call, and whether a frame is now in
// progress. A completed frame makes the connection recent again (the last
// to be evicted) and starts the next frame's timeout afresh.
func (c *Conn) Progress(completed int, partial bool) {
	c.mu.Lock()
	if completed > 0 {
		c.lastFrame = time.Now()
		c.frameWait = 0
	}
	if !partial {
		c.frameWait = 0
	}
	c.partial = partial
	c.mu.Unlock()
}

// Authenticated marks a connection admitted by AdmitUnauthenticated as
// authenticated: from now on it is evicted like any other.
func (c *Conn) Authenticated() {
	c.mu.Lock()
	c.unauthenticated = false
	c.mu.Unlock()
}

// Evicted reports whether the guard closed the connection for a newcomer.
func (c *Conn) Evicted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

// FrameTimedOut reports whether a Read failed on the frame timeout.
func (c *Conn) FrameTimedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timedOut
}

// PeerClosed gives the slot back once the reader has seen EOF: what
// remains is publishing the last record, which must not keep a real
// sender out.
func (c *Conn) PeerClosed() {
	g := c.g
	g.mu.Lock()
	c.mu.Lock()
	if !c.released {
		c.released = true
		delete(g.reading, c)
		g.finishing++
	}
	c.mu.Unlock()
	g.passFreed()
	g.mu.Unlock()
}

// Close closes the connection and frees whatever it still holds of the
// guard. Closing twice is harmless.
func (c *Conn) Close() error {
	g := c.g
	g.mu.Lock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		g.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.released {
		g.finishing--
	} else {
		delete(g.reading, c)
	}
	c.released = true
	c.mu.Unlock()
	g.passFreed()
	g.mu.Unlock()
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed by evict
	}
	return err
}

// Listener admits every accepted connection through a Guard, for servers
// that own their accept loop (net/http).
type Listener struct {
	net.Listener
	g   *Guard
	ctx context.Context
}

// NewListener wraps ln; Accept waits for a slot while ctx lasts.
func NewListener(ctx context.Context, ln net.Listener, g *Guard) *Listener {
	return &Listener{Listener: ln, g: g, ctx: ctx}
}

// Accept accepts and admits the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c, err := l.g.Admit(l.ctx, nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}
