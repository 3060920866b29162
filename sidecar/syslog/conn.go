package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// conn is one TCP (or TLS) connection and the goroutine reading it.
type conn struct {
	r         *Receiver
	nc        readConn
	ctx       context.Context // for Publish; outlives Serve's ctx by the grace
	framer    *framer
	parser    *parser
	transport string

	mu     sync.Mutex // orders the deadline set by stop with the loop's own
	stopAt time.Time  // set by stop: read no later than this
}

type readConn interface {
	io.ReadCloser
	SetReadDeadline(time.Time) error
}

func (r *Receiver) newConn(nc readConn, ctx context.Context) *conn {
	c := &conn{r: r, nc: nc, ctx: ctx, parser: newParser(r.now), transport: r.transport}
	c.framer = newFramer(r.cfg.maxFrame(), r.m, c.emit)
	return c
}

func (c *conn) emit(frame []byte, truncated bool) {
	rec := c.parser.parse(frame, truncated)
	c.r.publish(c.ctx, &rec, c.transport)
}

// stop ends the connection by stopAt, sooner if it goes quiet (Serve's
// shutdown).
func (c *conn) stop(stopAt time.Time) {
	c.mu.Lock()
	c.stopAt = stopAt
	c.nc.SetReadDeadline(c.drainDeadline())
	c.mu.Unlock()
}

// drainDeadline is the read deadline after stop: a connection quiet for
// MultilineWait is done, and none reads past stopAt. c.mu is held.
func (c *conn) drainDeadline() time.Time {
	d := time.Now().Add(c.r.cfg.MultilineWait)
	if d.After(c.stopAt) {
		d = c.stopAt
	}
	return d
}

// setDeadline arms the read deadline: the multi-line quiet period when a
// record is held for possible continuation lines, otherwise the idle
// timeout; after stop, the drain deadline.
func (c *conn) setDeadline(quiet bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopAt.IsZero() {
		c.nc.SetReadDeadline(c.drainDeadline())
		return
	}
	wait := c.r.cfg.IdleTimeout
	if quiet {
		wait = c.r.cfg.MultilineWait
	}
	c.nc.SetReadDeadline(time.Now().Add(wait))
}

func (c *conn) serve() {
	defer c.nc.Close()
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
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
		c.setDeadline(quiet)
		n, err := c.nc.Read(buf)
		c.parser.at = c.r.now()
		if n > 0 {
			c.r.m.tcpBytes.Add(uint64(n))
			c.framer.feed(buf[:n])
		}
		if err == nil {
			continue
		}
		c.mu.Lock()
		stopped := !c.stopAt.IsZero()
		c.mu.Unlock()
		if errors.Is(err, os.ErrDeadlineExceeded) && quiet && n == 0 && !stopped {
			c.framer.idle()
			continue
		}
		c.framer.end()
		// Counted after end so that a closed connection's records are out.
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && stopped:
			c.r.m.closedShutdown.Inc()
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.r.m.closedIdle.Inc()
		case errors.Is(err, io.EOF):
			c.r.m.closedEOF.Inc()
		default:
			c.r.m.closedError.Inc()
		}
		return
	}
}
