// Package syslog receives the container log records that the FireLens
// log_router's Fluent Bit copies to the sidecar with its syslog output, and
// publishes each one as a log event.
//
// It listens on TCP and UDP (127.0.0.1:1514 by default), detects the TCP
// framing per connection (newline or RFC 6587 octet counting), reassembles
// multi-line records, and parses RFC 3164 and RFC 5424 in bounded memory.
// Nothing received is dropped silently: unparseable input is published
// with its raw text and a parse error, and every rejection is counted.
//
// Connections are admitted through a connguard.Guard, so that no
// container can hold every slot. At shutdown the receiver stops accepting
// but reads what senders wrote until they close or the drain deadline
// passes; a record cut by the deadline is flagged truncated and the bytes
// left unread are counted.
//
// The per-record path allocates nothing: see logEvent and parser.parse.
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
	"github.com/sidewatch/sidewatch/sidecar/connguard"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Publisher takes log events; the pipeline's Publish waits while its queue
// is full, which stops reading the sockets and so pushes back on Fluent
// Bit through TCP flow control. Publish must not keep the event or
// anything it points to after it returns (see logEvent).
type Publisher interface {
	Publish(context.Context, event.Event) error
}

const (
	readBufSize      = 32 << 10
	udpBufSize       = 64 << 10
	handshakeTimeout = 10 * time.Second
	// acceptBacklogWait is how long the accept loop keeps taking queued
	// connections after shutdown begins: they connected, and may have
	// written, before it did.
	acceptBacklogWait = 20 * time.Millisecond
)

// Receiver is the bound TCP and UDP listeners and the goroutines reading
// them.
type Receiver struct {
	cfg       Config
	pub       Publisher
	m         *receiverMetrics
	now       func() time.Time
	ln        *net.TCPListener // nil when TCP is disabled
	tlsConfig *tls.Config
	pc        *net.UDPConn
	transport string // "tcp" or "tls"
	warnings  []string
	guard     *connguard.Guard

	// pubCtx bounds publishing and admission; it outlives Run and is
	// cancelled when Drain's deadline passes.
	pubCtx    context.Context
	cancelPub context.CancelFunc
	stopping  chan struct{} // closed when Run's context ends
	wg        sync.WaitGroup

	mu    sync.Mutex
	conns map[*conn]struct{}
	// drainAt is the drain deadline, zero until Drain: reads end then.
	drainAt time.Time
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
	r := &Receiver{cfg: cfg, pub: pub, now: now, transport: "tcp", conns: map[*conn]struct{}{}, stopping: make(chan struct{})}
	r.pubCtx, r.cancelPub = context.WithCancel(context.Background())
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--syslog-tls-cert %s, --syslog-tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		r.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		r.transport = "tls"
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("syslog tcp listen: %w", err)
		}
		r.ln = ln.(*net.TCPListener)
		r.warnIfExposed("TCP", ln.Addr(), r.tlsConfig != nil)
	}
	r.m = newReceiverMetrics(reg)
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("syslog udp listen: %w", err)
		}
		r.pc = pc.(*net.UDPConn)
		r.warnIfExposed("UDP", pc.LocalAddr(), false)
		got, err := setReadBuffer(r.pc, cfg.UDPReadBuffer)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("syslog udp: --syslog-udp-read-buffer (SIDEWATCH_SYSLOG_UDP_READ_BUFFER): %w", err)
		}
		r.m.udpReadBuffer.Set(int64(got))
		if got < cfg.UDPReadBuffer {
			r.warnings = append(r.warnings, fmt.Sprintf("syslog UDP receive buffer is %d bytes, less than the %d asked for: the kernel caps it at net.core.rmem_max without CAP_NET_ADMIN", got, cfg.UDPReadBuffer))
		}
		if err := countOverflows(r.pc); err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("syslog UDP datagrams dropped by the kernel cannot be counted: %v", err))
		}
	}
	r.guard = connguard.New(connguard.Config{MaxConns: cfg.MaxConns, FrameTimeout: cfg.FrameTimeout, Waited: r.m.admitWaits})
	reg.GaugeFunc("syslog", "connections_open", "TCP connections being read (not counting those whose peer closed).", func() float64 { return float64(r.guard.Open()) })
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
// is not on loopback, a receive buffer smaller than asked for).
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

// Run receives until ctx ends, then stops accepting new connections
// (taking those already queued) and returns. Open connections and the UDP
// socket go on being read until Drain ends them.
func (r *Receiver) Run(ctx context.Context) error {
	if r.ln != nil {
		r.wg.Add(1)
		go r.accept()
	}
	if r.pc != nil {
		r.wg.Add(1)
		go r.serveUDP()
	}
	<-ctx.Done()
	close(r.stopping)
	if r.ln != nil {
		r.ln.SetDeadline(time.Now()) // wakes the accept loop to apply its shutdown deadline
	}
	return nil
}

// Drain reads what senders already wrote until every connection has
// closed and the UDP socket is quiet, or ctx's deadline passes: then a
// record cut short is published flagged truncated, the bytes still unread
// are counted, and Drain's error gives the figures.
func (r *Receiver) Drain(ctx context.Context) error {
	lostBefore, unreadBefore, cutBefore := r.m.publishLost.Load(), r.m.unreadBytes.Load(), r.m.cutAtShutdown.Load()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(24 * time.Hour)
	}
	r.setDrainAt(deadline)
	// At the deadline: end every read now, and stop waiting for room in
	// the pipeline.
	stop := context.AfterFunc(ctx, func() {
		r.setDrainAt(time.Now())
		r.cancelPub()
	})
	defer stop()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Every read and publish has just been cut; give the goroutines a
		// moment to count what they were holding.
		select {
		case <-done:
		case <-time.After(time.Second):
			return errors.New("syslog: connections still open after the shutdown deadline")
		}
	}
	var errs []error
	if n := r.m.unreadBytes.Load() - unreadBefore; n > 0 {
		errs = append(errs, fmt.Errorf("syslog: %d bytes left unread in sockets at the shutdown deadline", n))
	}
	if n := r.m.cutAtShutdown.Load() - cutBefore; n > 0 {
		errs = append(errs, fmt.Errorf("syslog: %d records cut at the shutdown deadline (published flagged truncated)", n))
	}
	if n := r.m.publishLost.Load() - lostBefore; n > 0 {
		errs = append(errs, fmt.Errorf("syslog: %d records not published before the shutdown deadline", n))
	}
	return errors.Join(errs...)
}

// setDrainAt sets the drain deadline and wakes every reader to apply it.
func (r *Receiver) setDrainAt(t time.Time) {
	r.mu.Lock()
	r.drainAt = t
	now := time.Now()
	for c := range r.conns {
		c.gc.SetReadDeadline(now)
	}
	r.mu.Unlock()
	if r.pc != nil {
		r.pc.SetReadDeadline(r.udpDeadline(t))
	}
}

func (r *Receiver) draining() (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.drainAt.IsZero(), r.drainAt
}

// udpDeadline: while draining, the socket is read until it has been quiet
// for the multi-line wait (everything sent before is in), or the deadline.
func (r *Receiver) udpDeadline(drainAt time.Time) time.Time {
	if drainAt.IsZero() {
		return time.Time{}
	}
	return earliest(time.Now().Add(r.cfg.MultilineWait), drainAt)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (r *Receiver) accept() {
	defer r.wg.Done()
	defer r.ln.Close()
	var backoff time.Duration
	for {
		stopping := false
		select {
		case <-r.stopping:
			// Take what is queued (connected, and maybe written, before
			// shutdown): keep accepting while connections keep coming.
			stopping = true
			r.ln.SetDeadline(time.Now().Add(acceptBacklogWait))
		default:
		}
		nc, err := r.ln.Accept()
		if err != nil {
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-r.stopping:
				continue // woken by Run: apply the shutdown deadline
			default:
			}
			// Out of file descriptors and the like: wait, as net/http does.
			r.m.acceptErrors.Inc()
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-r.stopping:
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		gc, err := r.guard.Admit(r.pubCtx, nc)
		if err != nil {
			// The drain deadline passed before a slot freed: what the
			// sender wrote is counted, not read.
			if n := connguard.Unread(nc); n > 0 {
				r.m.unreadBytes.Add(uint64(n))
			}
			nc.Close()
			r.m.closedShutdown.Inc()
			continue
		}
		r.m.accepted.Inc()
		c := r.newConn(gc)
		r.mu.Lock()
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			c.serve()
			r.mu.Lock()
			delete(r.conns, c)
			r.mu.Unlock()
		}()
	}
}

// publish hands one record to the pipeline through le, counting it.
func (r *Receiver) publish(ctx context.Context, le *logEvent, rec *firelens.Record, transport string) {
	r.m.records[rec.Format].Inc()
	if rec.Truncated {
		r.m.truncated.Inc()
	}
	if rec.ParseError != "" {
		r.m.parseErrors.Inc()
	}
	if err := r.pub.Publish(ctx, *le.set(rec, transport)); err != nil {
		r.m.publishLost.Inc()
	}
}

func (r *Receiver) serveUDP() {
	defer r.wg.Done()
	defer r.pc.Close()
	buf := make([]byte, udpBufSize)
	oob := make([]byte, oobSize)
	p := newParser(r.now)
	var le logEvent
	maxFrame := r.cfg.maxFrame()
	for {
		n, oobn, err := readUDP(r.pc, buf, oob)
		if oobn > 0 {
			if drops, ok := parseOverflow(oob[:oobn]); ok {
				r.m.udpKernelDrops.Store(uint64(drops))
			}
		}
		if n > 0 {
			r.m.udpBytes.Add(uint64(n))
			frame := trimLF(buf[:n])
			truncated := len(frame) > maxFrame
			if truncated {
				frame = frame[:maxFrame]
			}
			rec := p.parse(frame, truncated)
			r.publish(r.pubCtx, &le, &rec, "udp")
		}
		draining, at := r.draining()
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return
			case errors.Is(err, os.ErrDeadlineExceeded) && draining:
				return // quiet, or the deadline
			case !errors.Is(err, os.ErrDeadlineExceeded):
				r.m.udpErrors.Inc()
			}
		}
		if draining {
			r.pc.SetReadDeadline(r.udpDeadline(at))
		}
	}
}

// Close releases the sockets of a receiver that is never run (a later
// startup step failed); the goroutines close them otherwise. Closing twice
// is not an error.
func (r *Receiver) Close() error {
	r.cancelPub()
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
