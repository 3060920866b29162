// Package forward receives the container log records that the FireLens
// log_router's Fluent Bit copies to the sidecar with its forward output
// (Fluent forward protocol v1, as Fluent Bit's and Fluentd's in_forward
// implement it), publishes each record as a log event keeping its
// structure, and acknowledges a chunk only once its records have been
// written by every sink.
//
// It listens on TCP loopback, where a sender must first pass the
// shared-key handshake, and on a unix socket in the shared volume. Every
// mode is accepted (Message, Forward, PackedForward, CompressedPackedForward
// with gzip), decoded with a zero-copy msgpack reader in bounded memory.
// Bad input closes the connection and is counted; a message is published
// whole or not at all, so an unacknowledged chunk sent again by Fluent Bit
// is never half-duplicated.
//
// Both listeners admit their connections through one connguard.Guard, so
// that no container can hold every slot: at the cap the idlest or slowest
// connection waiting on its peer is reset (never one being published or
// acknowledged: what it sent is simply not acknowledged, and Fluent Bit
// sends it again), TCP peers that have not passed the handshake first.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/connguard"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Publisher is the pipeline as the receiver uses it.
type Publisher interface {
	// Publish queues an event, waiting for room (TCP backpressure on
	// Fluent Bit).
	Publish(context.Context, event.Event) error
	// Sync returns once every event published before the call has been
	// encoded and handed to every sink: the point where a chunk is
	// acknowledged, and after which the receiver reuses the memory its
	// events pointed into.
	Sync(context.Context) error
}

const (
	// shutdownGrace is how long, after Run's context ends, a connection
	// in the middle of a message may finish it; idle ones close at once.
	// Whatever is not acknowledged is sent again by Fluent Bit, so this
	// only saves duplicates.
	shutdownGrace = 3 * time.Second
	// publishGrace bounds the wait for the pipeline after shutdownGrace.
	publishGrace = 3 * time.Second
	// ackTimeout bounds writing an ack (or HELO/PONG).
	ackTimeout = 10 * time.Second
)

// listener indexes.
const (
	onTCP = iota
	onUnix
)

// Receiver is the bound listeners.
type Receiver struct {
	cfg Config
	pub Publisher
	key string // "" when TCP is off
	m   *receiverMetrics
	ln  [2]net.Listener

	guard  *connguard.Guard
	budget *budget // the connections' read and decompression buffers

	mu     sync.Mutex
	conns  map[*conn]struct{}
	stopAt time.Time

	// stalledUntil (unix nanoseconds) is set when the pipeline missed
	// AckTimeout: messages arriving before it are refused at once.
	stalledUntil atomic.Int64
}

// Listen validates cfg, loads or creates the shared key (TCP), and binds
// the listeners at once, so that a bind error stops startup and the
// sockets are open before privileges are dropped.
func Listen(cfg Config, pub Publisher, reg *metrics.Registry) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return listen(cfg, pub, reg)
}

// listen is Listen without validation, for tests that need shorter
// timeouts than users may set.
func listen(cfg Config, pub Publisher, reg *metrics.Registry) (*Receiver, error) {
	r := &Receiver{cfg: cfg, pub: pub, conns: map[*conn]struct{}{}, budget: newBudget(cfg.BufferBudget)}
	if cfg.TCPAddr != "" {
		if cfg.KeyFile == "" {
			return nil, errors.New("--forward-key-file (SIDEWATCH_FORWARD_KEY_FILE) is needed with --forward-tcp-addr (SIDEWATCH_FORWARD_TCP_ADDR)")
		}
		key, err := firelens.LoadOrCreateSharedKey(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--forward-key-file (SIDEWATCH_FORWARD_KEY_FILE): %w", err)
		}
		r.key = key
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("forward tcp listen: %w", err)
		}
		r.ln[onTCP] = ln
	}
	if p := cfg.unixPath(); p != "" {
		ln, err := listenUnix(p)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("forward unix listen: %w", err)
		}
		r.ln[onUnix] = ln
	}
	r.m = newReceiverMetrics(reg, r.budget)
	r.guard = connguard.New(connguard.Config{MaxConns: cfg.MaxConns, FrameTimeout: cfg.FrameTimeout, Waited: r.m.waited})
	return r, nil
}

// listenUnix binds path, replacing a socket left by a previous run (never
// any other kind of file), readable and writable by its owner only: the
// boundary is the volume, which only the log_router mounts.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Addrs returns the bound TCP address and unix path ("" when off).
func (r *Receiver) Addrs() (tcp, unix string) {
	if r.ln[onTCP] != nil {
		tcp = r.ln[onTCP].Addr().String()
	}
	if r.ln[onUnix] != nil {
		unix = r.ln[onUnix].Addr().String()
	}
	return tcp, unix
}

// Run receives until ctx ends. It then stops accepting, closes idle
// connections, lets a connection in the middle of a message finish it for
// a short grace, and returns once every goroutine it started has exited.
// The listeners are closed when it returns.
func (r *Receiver) Run(ctx context.Context) error {
	pubCtx, cancelPub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPub()
	var wg sync.WaitGroup
	for i, ln := range r.ln {
		if ln != nil {
			wg.Go(func() { r.accept(ctx, pubCtx, ln, i, &wg) })
		}
	}
	<-ctx.Done()
	stopAt := time.Now().Add(shutdownGrace)
	r.mu.Lock()
	r.stopAt = stopAt
	for _, ln := range r.ln {
		if ln != nil {
			ln.Close()
		}
	}
	for c := range r.conns {
		c.stop(stopAt)
	}
	r.mu.Unlock()
	timer := time.AfterFunc(shutdownGrace+publishGrace, cancelPub)
	defer timer.Stop()
	wg.Wait()
	return nil
}

func (r *Receiver) accept(ctx, pubCtx context.Context, ln net.Listener, which int, wg *sync.WaitGroup) {
	admit := r.guard.Admit // the unix socket's peers are the volume's: trusted
	if which == onTCP {
		admit = r.guard.AdmitUnauthenticated // until the handshake
	}
	for {
		nc, err := connguard.Accept(ctx, ln, r.m.acceptErrors.Inc)
		if err != nil {
			return
		}
		gc, err := admit(ctx, nc)
		if err != nil {
			// Shutdown began while every slot was busy.
			nc.Close()
			r.m.rejectedShutdown.Inc()
			return
		}
		r.mu.Lock()
		if !r.stopAt.IsZero() {
			r.mu.Unlock()
			gc.Close()
			r.m.rejectedShutdown.Inc()
			return
		}
		c := r.newConn(gc, pubCtx, which)
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

// Close releases the listeners. Run closes them itself when ctx ends, so
// Close matters only for a receiver that is never run (a later startup
// step failed); closing twice is not an error.
func (r *Receiver) Close() error {
	var errs []error
	for _, ln := range r.ln {
		if ln != nil {
			if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
