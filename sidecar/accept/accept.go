// Package accept takes connections from a listener the way a long-running
// server must: a transient failure (out of file descriptors, a connection
// reset before it was accepted) is waited out with backoff, as net/http
// does, instead of ending the server or spinning.
package accept

import (
	"context"
	"errors"
	"net"
	"time"
)

// Backoff bounds after failed accepts: the first wait, doubled up to the
// last.
const (
	firstWait = 5 * time.Millisecond
	maxWait   = time.Second
)

// Next returns the next connection of ln. After a failed accept it calls
// failed (to count it) and waits before trying again, longer each time.
// It returns net.ErrClosed once ln is closed and ctx.Err() when ctx ends
// during a wait.
func Next(ctx context.Context, ln net.Listener, failed func()) (net.Conn, error) {
	var wait time.Duration
	for {
		nc, err := ln.Accept()
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, net.ErrClosed
		}
		failed()
		wait = min(max(2*wait, firstWait), maxWait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
