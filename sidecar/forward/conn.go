package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard"
)

// Connection states, for shutdown.
const (
	stateHandshake = iota // waiting for PING
	stateIdle             // waiting for a message's first byte
	stateReading          // inside a message
	stateBusy             // publishing, waiting for the sinks, acking
)

const (
	initialBuf = 64 << 10
	// keepBuf is the largest read or decompression buffer kept between
	// messages; a larger one (grown for a big message) is released.
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
	errHandshake    = errors.New("handshake failed")
	errBudget       = errors.New("buffers over --forward-buffer-budget")
)

// conn is one connection and the goroutine reading it.
type conn struct {
	r     *Receiver
	gc    *connguard.Conn
	ctx   context.Context // for Publish and Sync; outlives Run's ctx by the grace
	which int             // onTCP or onUnix
	dec   *decoder

	buf     []byte
	n       int    // bytes of buf holding data
	scanOff int    // resumable scan of the message at buf[0:]
	pending uint64 // objects still expected from scanOff

	state atomic.Int32

	mu     sync.Mutex
	stopAt time.Time // set by stop
}

func (r *Receiver) newConn(gc *connguard.Conn, ctx context.Context, which int) *conn {
	transport := "tcp"
	if which == onUnix {
		transport = "unix"
	}
	c := &conn{r: r, gc: gc, ctx: ctx, which: which, dec: newDecoder(r.cfg.limits(), transport, r.budget), pending: 1}
	if which == onTCP {
		c.state.Store(stateHandshake)
	} else {
		c.state.Store(stateIdle)
	}
	return c
}

// stop ends the connection: at once when it waits for a message, by
// stopAt when it is inside one (Run's shutdown).
func (c *conn) stop(stopAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopAt = stopAt
	if st := c.state.Load(); st == stateIdle || st == stateHandshake {
		c.gc.SetReadDeadline(time.Now())
	} else {
		c.gc.SetReadDeadline(stopAt)
	}
}

// setDeadline sets the read deadline d (zero: none) for the state; stop
// overrides it. The guard adds the frame timeout inside a message.
func (c *conn) setDeadline(st int32, d time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Store(st)
	switch {
	case !c.stopAt.IsZero() && (st == stateIdle || st == stateHandshake):
		d = time.Now()
	case !c.stopAt.IsZero() && (d.IsZero() || c.stopAt.Before(d)):
		d = c.stopAt
	}
	c.gc.SetReadDeadline(d)
}

func (c *conn) serve() {
	defer c.gc.Close()
	defer c.release()
	if c.which == onTCP {
		if err := c.handshake(); err != nil {
			c.closed(err)
			return
		}
	}
	for {
		msg, err := c.next(c.r.cfg.MaxMessageSize, time.Time{})
		if err != nil {
			c.closed(err)
			return
		}
		c.state.Store(stateBusy)
		if len(msg) == 1 && msg[0] == 0xc0 {
			// nil: a heartbeat. Not a frame for the guard: a peer sending
			// only heartbeats is as idle as a silent one.
			c.consume(1, false)
			continue
		}
		if err := c.handle(msg); err != nil {
			c.closed(err)
			return
		}
		c.consume(len(msg), true)
	}
}

// handshake runs HELO/PING/PONG within HandshakeTimeout. A failure is
// counted in handshakes_total and wraps errHandshake, unless the
// connection was evicted, the budget refused its buffer or the receiver
// is stopping.
func (c *conn) handshake() error {
	h, err := newHelo()
	if err != nil {
		return err
	}
	if err := c.write(h.message()); err != nil {
		return err
	}
	msg, err := c.next(maxHandshakeMessage, time.Now().Add(c.r.cfg.HandshakeTimeout))
	if errors.Is(err, errEvicted) || errors.Is(err, errStopped) || errors.Is(err, errBudget) {
		return err // not the peer's failure: counted by closed
	}
	if err != nil {
		c.r.m.authTimeout.Inc()
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	pong, err := h.checkPing(msg, c.r.key)
	if err == nil {
		// Authenticated before the PONG leaves: once the peer has it, this
		// connection must no longer be the first one evicted at the cap.
		c.gc.Authenticated()
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
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	c.r.m.authOK.Inc()
	c.consume(len(msg), true)
	return nil
}

// handle decodes one message, publishes its records, waits until the
// sinks have them, and acknowledges it.
func (c *conn) handle(msg []byte) error {
	m := c.r.m
	d := c.dec
	if err := d.start(msg); err != nil {
		return err
	}
	// Decoded a batch at a time. A message of more than one batch is
	// decoded once through first, so that a bad entry anywhere refuses the
	// whole message before any of it is published (Fluent Bit resends it
	// whole: no duplicates).
	begin := d.cursor()
	if err := d.next(decodeBatch); err != nil {
		return err
	}
	records := len(d.events)
	if d.more() {
		for d.more() {
			if err := d.next(decodeBatch); err != nil {
				return err
			}
			records += len(d.events)
		}
		d.rewind(begin)
		if err := d.next(decodeBatch); err != nil {
			return err
		}
	}
	if d.signal != 0 {
		// Metrics or traces: not what the recipe sends. Acknowledged, or
		// Fluent Bit would retry them forever; counted.
		m.signalDropped.Add(uint64(records))
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
		if errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
			m.ackTimeouts.Inc()
			c.r.stalledUntil.Store(time.Now().Add(c.r.cfg.AckTimeout).UnixNano())
			return errStalled
		}
		return err
	}
	published := 0
	for {
		for i := range d.events {
			if err := c.r.pub.Publish(ctx, d.events[i]); err != nil {
				m.publishFailed.Add(uint64(records - published))
				return stalled(err)
			}
			published++
		}
		if !d.more() {
			break
		}
		if err := d.next(decodeBatch); err != nil {
			return err // not reached: the message was decoded through
		}
	}
	if err := c.r.pub.Sync(ctx); err != nil {
		return stalled(err)
	}
	m.records[c.which].Add(uint64(records))
	m.truncated.Add(uint64(d.truncated))
	m.messages[d.mode].Inc()
	return c.ack(d.chunk)
}

// decodeBatch is how many entries are decoded at once: enough that a
// Fluent Bit chunk of ordinary records is one batch, few enough that the
// events of a batch take about 1 MiB.
const decodeBatch = 2048

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
	c.gc.SetWriteDeadline(time.Now().Add(ackTimeout))
	_, err := c.gc.Write(b)
	return err
}

// next reads until buf starts with one whole msgpack object of at most
// limit bytes and returns it. Waiting for its first byte is bounded by the
// idle timeout, and the rest by the guard's frame timeout; the handshake
// gives instead its own deadline for both (until).
func (c *conn) next(limit int, until time.Time) ([]byte, error) {
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
				if !c.grow(need, limit) {
					return nil, errBudget
				}
			case c.n == len(c.buf):
				if !c.grow(2*len(c.buf), limit) {
					return nil, errBudget
				}
			}
		} else if c.buf == nil && !c.grow(initialBuf, limit) {
			return nil, errBudget
		}
		switch {
		case c.state.Load() == stateHandshake:
			c.setDeadline(stateHandshake, until)
		case c.n == 0:
			c.setDeadline(stateIdle, time.Now().Add(c.r.cfg.IdleTimeout))
		default:
			c.setDeadline(stateReading, until)
		}
		nr, err := c.gc.Read(c.buf[c.n:])
		if nr > 0 {
			c.n += nr
			c.r.m.bytes[c.which].Add(uint64(nr))
			c.gc.Progress(0, true) // not whole yet, or the scan had returned it
		}
		if err == nil || (nr > 0 && errors.Is(err, os.ErrDeadlineExceeded) && !c.gc.FrameTimedOut()) {
			continue
		}
		return nil, c.readError(err)
	}
}

// readError names why a read ended.
func (c *conn) readError(err error) error {
	c.mu.Lock()
	stopped := !c.stopAt.IsZero()
	c.mu.Unlock()
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case c.gc.Evicted():
		return errEvicted
	case c.gc.FrameTimedOut():
		return errFrameTimeout
	case timeout && stopped:
		return errStopped
	case timeout && c.n > 0:
		return errFrameTimeout // the handshake's deadline, inside the PING
	case timeout:
		return errIdle
	case errors.Is(err, io.EOF) && c.n > 0:
		return errPartialEOF
	}
	return err
}

// grow enlarges buf to at least size bytes (at most limit), once the
// budget grants the difference; false if it does not.
func (c *conn) grow(size, limit int) bool {
	size = min(max(size, 2*len(c.buf)), limit)
	if !c.r.budget.reserve(size - len(c.buf)) {
		return false
	}
	nb := make([]byte, size)
	copy(nb, c.buf[:c.n])
	c.buf = nb
	return true
}

// release returns the connection's buffers to the budget when it ends.
func (c *conn) release() {
	c.r.budget.release(len(c.buf))
	c.buf = nil
	c.dec.release()
}

// consume drops the message at the start of buf, keeping what follows,
// and the buffers grown above keepBuf for it, and tells the guard whether
// it was a frame (a message, not a heartbeat). Only called once the
// message's events are written (see decoder).
func (c *conn) consume(n int, frame bool) {
	copy(c.buf, c.buf[n:c.n])
	c.n -= n
	c.scanOff, c.pending = 0, 1
	if c.n == 0 && (len(c.buf) > keepBuf || len(c.buf) > initialBuf && c.r.budget.pressed()) {
		c.r.budget.release(len(c.buf))
		c.buf = nil
	}
	c.dec.trim()
	completed := 0
	if frame {
		completed = 1
	}
	c.gc.Progress(completed, c.n > 0)
}

// closed counts why the connection ends: each connection once in
// connections_closed_total, and a rejected message in
// protocol_errors_total too.
func (c *conn) closed(err error) {
	m := c.r.m
	reason := closedError
	switch {
	case errors.Is(err, errEvicted):
		reason = closedEvicted
	case errors.Is(err, errStalled):
		reason = closedStalled // and ack_timeouts_total or stall_refused_total
	case errors.Is(err, errStopped):
		reason = closedShutdown
	case errors.Is(err, errIdle):
		reason = closedIdle
	case errors.Is(err, io.EOF):
		reason = closedEOF
	case errors.Is(err, errHandshake):
		reason = closedHandshake // and handshakes_total
	case errors.Is(err, errBudget):
		reason = closedBudget
	case errors.Is(err, errFrameTimeout):
		m.protocolErrors[reasonFrameTimeout].Inc()
		reason = closedFrameTimeout
	default:
		if r, ok := protocolReason(err); ok {
			m.protocolErrors[r].Inc()
			reason = closedProtocol
		}
	}
	m.closed[reason].Inc()
}

// protocolReason maps a decoding error to its protocol_errors_total
// reason.
func protocolReason(err error) (int, bool) {
	switch {
	case errors.Is(err, errTooLarge):
		return reasonTooLarge, true
	case errors.Is(err, errGzip):
		return reasonGzip, true
	case errors.Is(err, errCompression):
		return reasonCompression, true
	case errors.Is(err, errWrongType), errors.Is(err, errOption):
		return reasonWrongType, true
	case errors.Is(err, errShort), errors.Is(err, errNeverUsed), errors.Is(err, errMessageShape),
		errors.Is(err, errEntryShape), errors.Is(err, errPartialEOF):
		return reasonMalformed, true
	}
	return 0, false
}
