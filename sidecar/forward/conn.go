package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for eviction and shutdown.
const (
	stateHandshake = iota // waiting for PING
	stateIdle             // waiting for a message's first byte
	stateReading          // inside a message
	stateBusy             // publishing, waiting for the sinks, acking
)

const (
	initialBuf = 64 << 10
	// keepBuf is the largest read buffer kept between messages; a larger
	// one (grown for a big message) is released.
	keepBuf = 4 << 20
)

// errors of the read loop, mapped to counters in serve.
var (
	errStalled      = errors.New("pipeline stalled")
	errIdle         = errors.New("idle")
	errFrameTimeout = errors.New("message not whole in time")
	errStopped      = errors.New("stopped")
	errEvicted      = errors.New("evicted")
	errPartialEOF   = errors.New("peer closed inside a message")
)

// conn is one connection and the goroutine reading it.
type conn struct {
	r     *Receiver
	nc    net.Conn
	ctx   context.Context // for Publish and Sync; outlives Run's ctx by the grace
	which int             // onTCP or onUnix
	dec   *decoder

	buf     []byte
	n       int    // bytes of buf holding data
	scanOff int    // resumable scan of the message at buf[0:]
	pending uint64 // objects still expected from scanOff
	started time.Time

	state      atomic.Int32
	lastActive atomic.Int64 // unix nanoseconds of the last byte read
	auth       atomic.Bool

	mu      sync.Mutex
	stopAt  time.Time // set by stop
	evicted bool
}

func (r *Receiver) newConn(nc net.Conn, ctx context.Context, which int) *conn {
	transport := "tcp"
	if which == onUnix {
		transport = "unix"
	}
	c := &conn{r: r, nc: nc, ctx: ctx, which: which, dec: newDecoder(r.cfg.limits(), transport), pending: 1}
	c.lastActive.Store(time.Now().UnixNano())
	if which == onTCP {
		c.state.Store(stateHandshake)
	} else {
		c.state.Store(stateIdle)
		c.auth.Store(true)
	}
	return c
}

func (c *conn) status() (state int32, lastActive int64, auth bool) {
	return c.state.Load(), c.lastActive.Load(), c.auth.Load()
}

// stop ends the connection: at once when it waits for a message, by
// stopAt when it is inside one (Run's shutdown).
func (c *conn) stop(stopAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopAt = stopAt
	if st := c.state.Load(); st == stateIdle || st == stateHandshake {
		c.nc.SetReadDeadline(time.Now())
	} else {
		c.nc.SetReadDeadline(stopAt)
	}
}

// evict ends an idle connection to make room for a new one.
func (c *conn) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = true
	c.nc.SetReadDeadline(time.Now())
}

// setDeadline arms the read deadline for the current state; stop and
// evict override it.
func (c *conn) setDeadline(st int32, limit time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Store(st)
	switch {
	case c.evicted:
		c.nc.SetReadDeadline(time.Now())
	case !c.stopAt.IsZero() && (st == stateIdle || st == stateHandshake):
		c.nc.SetReadDeadline(time.Now())
	case !c.stopAt.IsZero():
		d := c.started.Add(limit)
		if c.stopAt.Before(d) {
			d = c.stopAt
		}
		c.nc.SetReadDeadline(d)
	case st == stateReading:
		c.nc.SetReadDeadline(c.started.Add(limit))
	default:
		c.nc.SetReadDeadline(time.Now().Add(limit))
	}
}

func (c *conn) serve() {
	defer c.nc.Close()
	if c.which == onTCP {
		if err := c.handshake(); err != nil {
			c.closed(err)
			return
		}
	}
	for {
		msg, err := c.next(c.r.cfg.MaxMessageSize, c.r.cfg.IdleTimeout, c.r.cfg.FrameTimeout)
		if err != nil {
			c.closed(err)
			return
		}
		c.state.Store(stateBusy)
		if len(msg) == 1 && msg[0] == 0xc0 {
			c.consume(1) // nil: a heartbeat
			continue
		}
		if err := c.handle(msg); err != nil {
			c.closed(err)
			return
		}
		c.consume(len(msg))
	}
}

// handshake runs HELO/PING/PONG within HandshakeTimeout.
func (c *conn) handshake() error {
	h, err := newHelo()
	if err != nil {
		return err
	}
	if err := c.write(h.message()); err != nil {
		return err
	}
	deadline := c.r.cfg.HandshakeTimeout
	msg, err := c.next(maxHandshakeMessage, deadline, deadline)
	if err != nil {
		c.r.m.authTimeout.Inc()
		return err
	}
	pong, err := h.checkPing(msg, c.r.key)
	if err == nil {
		// Authenticated before the PONG leaves: once the peer has it, this
		// connection must no longer be the first one evicted at the cap.
		c.auth.Store(true)
		c.state.Store(stateIdle)
	}
	if pong != nil {
		if werr := c.write(pong); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		if errors.Is(err, errBadKey) {
			c.r.m.authFailed.Inc()
		} else {
			c.r.m.authTimeout.Inc()
		}
		return err
	}
	c.r.m.authOK.Inc()
	c.consume(len(msg))
	return nil
}

// handle decodes one message, publishes its records, waits until the
// sinks have them, and acknowledges it.
func (c *conn) handle(msg []byte) error {
	m := c.r.m
	d := c.dec
	if err := d.decode(msg); err != nil {
		return err
	}
	d.link()
	if d.signal != 0 {
		// Metrics or traces: not what the recipe sends. Acknowledged, or
		// Fluent Bit would retry them forever; counted.
		m.signalDropped.Add(uint64(len(d.events)))
		return c.ack(d.chunk)
	}
	// A stalled pipeline must look to Fluent Bit like a sidecar that is
	// down: a quick failure it retries from disk with backoff, not an ack
	// it waits for with the chunk held in memory (measured: meanwhile its
	// emitter drops new copies without a word).
	if time.Now().UnixNano() < c.r.stalledUntil.Load() {
		m.stallRefused.Inc()
		return errStalled
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.r.cfg.AckTimeout)
	defer cancel()
	stalled := func(err error) error {
		d.abandon() // queued events still point into the buffers
		if errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
			m.ackTimeouts.Inc()
			c.r.stalledUntil.Store(time.Now().Add(c.r.cfg.AckTimeout).UnixNano())
			return errStalled
		}
		return err
	}
	for i := range d.events {
		if err := c.r.pub.Publish(ctx, d.events[i]); err != nil {
			m.publishFailed.Add(uint64(len(d.events) - i))
			return stalled(err)
		}
	}
	if err := c.r.pub.Sync(ctx); err != nil {
		return stalled(err)
	}
	m.records[c.which].Add(uint64(len(d.events)))
	m.truncated.Add(uint64(d.truncated))
	m.messages[d.mode].Inc()
	return c.ack(d.chunk)
}

func (c *conn) ack(chunk []byte) error {
	if chunk == nil {
		return nil
	}
	// {"ack": <chunk as received>}
	var b [64]byte
	out := append(append(b[:0], 0x81, 0xa3, 'a', 'c', 'k'), chunk...)
	if err := c.write(out); err != nil {
		return err
	}
	c.r.m.acks.Inc()
	return nil
}

func (c *conn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(ackTimeout))
	_, err := c.nc.Write(b)
	return err
}

// next reads until buf starts with one whole msgpack object of at most
// limit bytes and returns it. Waiting for the first byte is bounded by idle,
// and the whole object by frame from its first byte.
func (c *conn) next(limit int, idle, frame time.Duration) ([]byte, error) {
	for {
		if c.n > 0 {
			end, left, need, err := scan(c.buf[:c.n], c.scanOff, c.pending)
			if err == nil {
				if end > limit {
					return nil, errTooLarge
				}
				return c.buf[:end], nil
			}
			if !errors.Is(err, errShort) {
				return nil, err
			}
			c.scanOff, c.pending = end, left
			switch {
			case need > limit || c.n >= limit:
				return nil, errTooLarge
			case need > len(c.buf):
				c.grow(need, limit)
			case c.n == len(c.buf):
				c.grow(2*len(c.buf), limit)
			}
		} else if c.buf == nil {
			c.buf = make([]byte, min(initialBuf, limit))
		}
		if c.n == 0 {
			if c.state.Load() == stateHandshake {
				c.setDeadline(stateHandshake, idle)
			} else {
				c.setDeadline(stateIdle, idle)
			}
		} else {
			c.setDeadline(stateReading, frame)
		}
		nr, err := c.nc.Read(c.buf[c.n:])
		if nr > 0 {
			if c.n == 0 {
				c.started = time.Now()
			}
			c.n += nr
			c.r.m.bytes[c.which].Add(uint64(nr))
			c.lastActive.Store(time.Now().UnixNano())
		}
		if err == nil || (nr > 0 && errors.Is(err, os.ErrDeadlineExceeded)) {
			continue
		}
		return nil, c.readError(err)
	}
}

// readError names why a read ended.
func (c *conn) readError(err error) error {
	c.mu.Lock()
	stopped, evicted := !c.stopAt.IsZero(), c.evicted
	c.mu.Unlock()
	switch {
	case evicted:
		return errEvicted
	case errors.Is(err, os.ErrDeadlineExceeded) && stopped:
		return errStopped
	case errors.Is(err, os.ErrDeadlineExceeded) && c.n > 0:
		return errFrameTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errIdle
	case errors.Is(err, io.EOF) && c.n > 0:
		return errPartialEOF
	}
	return err
}

// grow enlarges buf to at least size bytes (at most limit).
func (c *conn) grow(size, limit int) {
	size = min(max(size, 2*len(c.buf)), limit)
	nb := make([]byte, size)
	copy(nb, c.buf[:c.n])
	c.buf = nb
}

// consume drops the message at the start of buf, keeping what follows.
// Only called once the message's events are written (see decoder).
func (c *conn) consume(n int) {
	copy(c.buf, c.buf[n:c.n])
	c.n -= n
	c.scanOff, c.pending = 0, 1
	if c.n > 0 {
		c.started = time.Now()
	} else if len(c.buf) > keepBuf {
		c.buf = nil
	}
}

// closed counts why the connection ends.
func (c *conn) closed(err error) {
	m := c.r.m
	switch {
	case errors.Is(err, errEvicted), errors.Is(err, errStalled):
		// counted where they happen
	case errors.Is(err, errStopped):
		m.closedShutdown.Inc()
	case errors.Is(err, errIdle):
		m.closedIdle.Inc()
	case errors.Is(err, io.EOF):
		m.closedEOF.Inc()
	case errors.Is(err, errFrameTimeout):
		m.protocolErrors[reasonFrameTimeout].Inc()
	case errors.Is(err, errTooLarge):
		m.protocolErrors[reasonTooLarge].Inc()
	case errors.Is(err, errGzip):
		m.protocolErrors[reasonGzip].Inc()
	case errors.Is(err, errCompression):
		m.protocolErrors[reasonCompression].Inc()
	case errors.Is(err, errWrongType), errors.Is(err, errOption):
		m.protocolErrors[reasonWrongType].Inc()
	case errors.Is(err, errShort), errors.Is(err, errNeverUsed), errors.Is(err, errMessageShape),
		errors.Is(err, errEntryShape), errors.Is(err, errPartialEOF):
		m.protocolErrors[reasonMalformed].Inc()
	case errors.Is(err, errBadKey):
		// counted by handshake
	default:
		m.closedError.Inc()
	}
}
