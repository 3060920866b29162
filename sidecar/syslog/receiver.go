// Package syslog receives the container log records that the FireLens
// log_router's Fluent Bit copies to the sidecar with its syslog output, and
// publishes each one as a log event.
//
// It listens on TCP and UDP (127.0.0.1:1514 by default), detects the TCP
// framing per connection (newline or RFC 6587 octet counting), reassembles
// multi-line records, and parses RFC 3164 and RFC 5424 in bounded memory.
// Nothing received is dropped silently: unparseable input is published
// with its raw text and a parse error, and every rejection is counted.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Publisher takes log events; the pipeline's Publish waits while its queue
// is full, which stops reading the sockets and so pushes back on Fluent
// Bit through TCP flow control.
type Publisher interface {
	Publish(context.Context, event.Event) error
}

const (
	readBufSize      = 32 << 10
	udpBufSize       = 64 << 10
	handshakeTimeout = 10 * time.Second
	// shutdownGrace is how long open connections may keep delivering after
	// Serve's context ends; a connection quiet for MultilineWait closes
	// sooner.
	shutdownGrace = 2 * time.Second
	// publishGrace bounds the wait for the pipeline after shutdownGrace.
	publishGrace = 3 * time.Second
)

// Receiver is the bound TCP and UDP listeners.
type Receiver struct {
	cfg       Config
	pub       Publisher
	m         *receiverMetrics
	now       func() time.Time
	ln        net.Listener // nil when TCP is disabled
	pc        net.PacketConn
	transport string // "tcp" or "tls"
	warnings  []string

	mu     sync.Mutex
	conns  map[*conn]struct{}
	stopAt time.Time
}

// Listen validates cfg and binds the sockets at once, so that a bind error
// stops startup and the sockets are open before privileges are dropped.
func Listen(cfg Config, pub Publisher, reg *metrics.Registry) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return listen(cfg, pub, reg, time.Now)
}

// listen is Listen without validation, for tests that need shorter
// timeouts than users may set.
func listen(cfg Config, pub Publisher, reg *metrics.Registry, now func() time.Time) (*Receiver, error) {
	r := &Receiver{cfg: cfg, pub: pub, now: now, transport: "tcp", conns: map[*conn]struct{}{}}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--syslog-tls-cert %s, --syslog-tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		r.transport = "tls"
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("syslog tcp listen: %w", err)
		}
		r.ln = ln
		if tlsConfig != nil {
			r.ln = tls.NewListener(ln, tlsConfig)
		}
		r.warnIfExposed("TCP", ln.Addr(), tlsConfig != nil)
	}
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			if r.ln != nil {
				r.ln.Close()
			}
			return nil, fmt.Errorf("syslog udp listen: %w", err)
		}
		r.pc = pc
		r.warnIfExposed("UDP", pc.LocalAddr(), false)
	}
	r.m = newReceiverMetrics(reg)
	return r, nil
}

func (r *Receiver) warnIfExposed(proto string, a net.Addr, tls bool) {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	if ip.IsLoopback() {
		return
	}
	w := fmt.Sprintf("syslog %s listener on %s is not loopback: anything that can reach it can inject log events", proto, a)
	if !tls && proto == "TCP" {
		w += "; consider --syslog-tls-cert"
	}
	r.warnings = append(r.warnings, w)
}

// Warnings returns what the caller should log at startup (a listener that
// is not on loopback).
func (r *Receiver) Warnings() []string { return r.warnings }

// Addrs returns the bound addresses; a disabled listener's is nil.
func (r *Receiver) Addrs() (tcp, udp net.Addr) {
	if r.ln != nil {
		tcp = r.ln.Addr()
	}
	if r.pc != nil {
		udp = r.pc.LocalAddr()
	}
	return tcp, udp
}

// Run receives until ctx ends. It then stops accepting, lets open
// connections deliver what is in flight for a short grace, emits the
// records still being assembled, and returns once every goroutine it
// started has exited. The sockets are closed when it returns.
func (r *Receiver) Run(ctx context.Context) error {
	// Records read during the grace must still reach the pipeline, so
	// publishing outlives ctx, bounded by the timer below.
	pubCtx, cancelPub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPub()
	var wg sync.WaitGroup
	if r.ln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.accept(ctx, pubCtx, &wg)
		}()
	}
	if r.pc != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serveUDP(pubCtx)
		}()
	}

	<-ctx.Done()
	stopAt := time.Now().Add(shutdownGrace)
	r.mu.Lock()
	r.stopAt = stopAt
	if r.ln != nil {
		r.ln.Close()
	}
	if r.pc != nil {
		r.pc.SetReadDeadline(r.drainDeadline())
	}
	for c := range r.conns {
		c.stop(stopAt)
	}
	r.mu.Unlock()
	timer := time.AfterFunc(shutdownGrace+publishGrace, cancelPub)
	defer timer.Stop()
	wg.Wait()
	if r.pc != nil {
		r.pc.Close()
	}
	return nil
}

// drainDeadline is the read deadline after shutdown: a socket quiet for
// MultilineWait is done, and none reads past the grace. r.mu is held.
func (r *Receiver) drainDeadline() time.Time {
	d := time.Now().Add(r.cfg.MultilineWait)
	if d.After(r.stopAt) {
		d = r.stopAt
	}
	return d
}

func (r *Receiver) stopping() (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopAt.IsZero() {
		return false, time.Time{}
	}
	return true, r.drainDeadline()
}

func (r *Receiver) accept(ctx, pubCtx context.Context, wg *sync.WaitGroup) {
	var backoff time.Duration
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			r.m.acceptErrors.Inc()
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		r.mu.Lock()
		if !r.stopAt.IsZero() {
			r.mu.Unlock()
			r.m.closedShutdown.Inc()
			nc.Close()
			return
		}
		if len(r.conns) >= r.cfg.MaxConns {
			r.mu.Unlock()
			r.m.refusedLimit.Inc()
			nc.Close()
			continue
		}
		c := r.newConn(nc, pubCtx)
		r.conns[c] = struct{}{}
		wg.Add(1)
		r.mu.Unlock()
		r.m.accepted.Inc()
		r.m.open.Add(1)
		go func() {
			defer wg.Done()
			c.serve()
			r.mu.Lock()
			delete(r.conns, c)
			r.mu.Unlock()
			r.m.open.Add(-1)
		}()
	}
}

// publish hands one record to the pipeline, counting it.
func (r *Receiver) publish(ctx context.Context, rec *firelens.Record, transport string) {
	r.m.records[rec.Format].Inc()
	if rec.Truncated {
		r.m.truncated.Inc()
	}
	if rec.ParseError != "" {
		r.m.parseErrors.Inc()
	}
	if err := r.pub.Publish(ctx, recordEvent(rec, transport)); err != nil {
		r.m.publishLost.Inc()
	}
}

func (r *Receiver) serveUDP(ctx context.Context) {
	buf := make([]byte, udpBufSize)
	p := newParser(r.now)
	maxFrame := r.cfg.maxFrame()
	for {
		n, _, err := r.pc.ReadFrom(buf)
		if n > 0 {
			r.m.udpBytes.Add(uint64(n))
			frame := trimLF(buf[:n])
			truncated := len(frame) > maxFrame
			if truncated {
				frame = frame[:maxFrame]
			}
			rec := p.parse(frame, truncated)
			r.publish(ctx, &rec, "udp")
		}
		if stopping, d := r.stopping(); stopping {
			if err != nil {
				return
			}
			r.pc.SetReadDeadline(d)
			continue
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				r.m.udpErrors.Inc()
			}
		}
	}
}

// Close releases the sockets. Run closes them itself on return, so Close
// matters only for a receiver that is never run (a later startup step
// failed); closing twice is not an error.
func (r *Receiver) Close() error {
	var errs []error
	if r.ln != nil {
		errs = append(errs, r.ln.Close())
	}
	if r.pc != nil {
		errs = append(errs, r.pc.Close())
	}
	for i, err := range errs {
		if errors.Is(err, net.ErrClosed) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}
