package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard"
)

// conn is one TCP (or TLS) connection and the goroutine reading it.
type conn struct {
	r         *Receiver
	gc        *connguard.Conn // the admitted TCP connection
	rd        net.Conn        // what is read: gc, or a TLS server on it
	framer    *framer
	parser    *parser
	le        logEvent
	transport string
	emitted   int // records emitted, for the guard's progress
}

func (r *Receiver) newConn(gc *connguard.Conn) *conn {
	c := &conn{r: r, gc: gc, rd: gc, parser: newParser(r.now), transport: r.transport}
	if r.tlsConfig != nil {
		c.rd = tls.Server(gc, r.tlsConfig)
	}
	c.framer = newFramer(r.cfg.maxFrame(), r.m, c.emit)
	return c
}

func (c *conn) emit(frame []byte, truncated bool) {
	rec := c.parser.parse(frame, truncated)
	c.r.publish(c.r.pubCtx, &c.le, &rec, c.transport)
	c.emitted++
}

// deadline is the read deadline: the multi-line quiet period while a
// record is held for possible continuation lines (quiet), otherwise the
// idle timeout; while draining, never past the drain deadline (but a quiet
// connection is not closed early: its sender may still write).
func (c *conn) deadline(quiet bool, drainAt time.Time) time.Time {
	wait := c.r.cfg.IdleTimeout
	if quiet {
		wait = c.r.cfg.MultilineWait
	}
	d := time.Now().Add(wait)
	if !drainAt.IsZero() {
		d = earliest(d, drainAt)
	}
	return d
}

func (c *conn) serve() {
	defer c.rd.Close()
	if tc, ok := c.rd.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.r.pubCtx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.r.m.tlsHandshake.Inc()
			return
		}
	}
	buf := make([]byte, readBufSize)
	for {
		quiet := c.framer.waiting()
		_, drainAt := c.r.draining()
		dl := c.deadline(quiet, drainAt)
		c.gc.SetReadDeadline(dl)
		n, err := c.rd.Read(buf)
		if n > 0 {
			c.parser.at = c.r.now()
			c.r.m.tcpBytes.Add(uint64(n))
			before := c.emitted
			c.framer.feed(buf[:n])
			c.gc.Progress(c.emitted-before, c.framer.partial())
		}
		if err == nil {
			continue
		}
		timeout := errors.Is(err, os.ErrDeadlineExceeded)
		_, drainAt = c.r.draining()
		atDrainDeadline := !drainAt.IsZero() && !time.Now().Before(drainAt)
		if timeout && !atDrainDeadline && !c.gc.FrameTimedOut() {
			if time.Now().Before(dl) {
				continue // woken by the drain: apply its deadline
			}
			if quiet && n == 0 {
				before := c.emitted
				c.framer.idle()
				c.gc.Progress(c.emitted-before, false)
				continue
			}
		}
		c.end(err, timeout, atDrainDeadline)
		return
	}
}

// end emits what the connection still holds and counts why it ended.
func (c *conn) end(err error, timeout, atDrainDeadline bool) {
	switch {
	case errors.Is(err, io.EOF):
		c.gc.PeerClosed() // the slot is free while the last record goes out
		c.framer.end()
		c.r.m.closedEOF.Inc()
	case c.gc.Evicted():
		c.cut()
		c.r.m.closedEvicted.Inc()
	case c.gc.FrameTimedOut():
		c.cut()
		c.r.m.closedFrameTimeout.Inc()
	case timeout && atDrainDeadline:
		if n := connguard.Unread(c.gc.Conn); n > 0 {
			c.r.m.unreadBytes.Add(uint64(n))
		}
		if c.cut() {
			c.r.m.cutAtShutdown.Inc()
		}
		c.r.m.closedShutdown.Inc()
	case timeout:
		c.framer.end()
		c.r.m.closedIdle.Inc()
	default:
		c.framer.end()
		c.r.m.closedError.Inc()
	}
}

// cut emits the record in progress flagged truncated, and reports whether
// there was one.
func (c *conn) cut() bool {
	partial := c.framer.partial()
	c.framer.cut()
	return partial
}
