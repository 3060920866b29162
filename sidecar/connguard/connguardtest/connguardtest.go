// Package connguardtest is the hostile peer of the receivers' tests: a
// slow-loris attack on a listener that admits its connections through
// connguard. Each peer holds a slot by sending a frame that never ends, a
// byte at a time, and comes back when its connection is reset, as an
// attacker would; the test then checks that a real sender is still
// served.
package connguardtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard"
)

// Slowloris describes the peers.
type Slowloris struct {
	// Dial returns a connection ready for Head: connected, and past any
	// handshake the attacker is able to pass.
	Dial func() (net.Conn, error)
	// Head is sent first, then Fill for ever, one byte every Every.
	Head  []byte
	Fill  byte
	Every time.Duration
}

// Attack is a running Slowloris.
type Attack struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	conns atomic.Int64
}

// Start runs n peers until Stop or the end of the test.
func (s Slowloris) Start(t testing.TB, n int) *Attack {
	a := &Attack{stop: make(chan struct{})}
	for range n {
		a.wg.Go(func() { s.peer(a) })
	}
	t.Cleanup(a.Stop)
	return a
}

// peer connects, trickles, and reconnects when the connection fails.
func (s Slowloris) peer(a *Attack) {
	tick := time.NewTicker(s.Every)
	defer tick.Stop()
	for {
		nc, err := s.Dial()
		if err == nil {
			a.conns.Add(1)
			err = s.trickle(a, nc, tick.C)
			nc.Close()
		}
		if err == nil { // stopped
			return
		}
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
	}
}

// trickle writes to nc until it fails, or returns nil when stopped.
func (s Slowloris) trickle(a *Attack, nc net.Conn, tick <-chan time.Time) error {
	for i := 0; ; i++ {
		select {
		case <-a.stop:
			return nil
		case <-tick:
		}
		b := s.Fill
		if i < len(s.Head) {
			b = s.Head[i]
		}
		if _, err := nc.Write([]byte{b}); err != nil {
			return err
		}
	}
}

// Stop ends every peer and closes its connection; calling it twice is
// harmless.
func (a *Attack) Stop() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
}

// Connections returns how many connections the peers opened: more than
// their number once the receiver has reset some.
func (a *Attack) Connections() int64 { return a.conns.Load() }

// WaitHolding waits (up to 20 s) until g reads n connections: the
// attack holds every slot once n is the cap.
func WaitHolding(t testing.TB, g *connguard.Guard, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for g.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d connections to be read, got %d", n, g.Open())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
