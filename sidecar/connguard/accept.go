package connguard

import (
	"context"
	"errors"
	"net"
	"time"
)

// Backoff bounds after failed accepts: the first wait, doubled up to the
// last.
const (
	firstAcceptWait = 5 * time.Millisecond
	maxAcceptWait   = time.Second
)

// Accept returns the next connection of ln, for a receiver's accept loop
// (Admit it next). A transient failure (out of file descriptors, a
// connection reset before it was accepted) is waited out with backoff, as
// net/http does, instead of ending the loop or spinning: Accept calls
// failed (to count it) and waits, longer each time. It returns
// net.ErrClosed once ln is closed and ctx.Err() when ctx ends during a
// wait.
func Accept(ctx context.Context, ln net.Listener, failed func()) (net.Conn, error) {
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
		wait = min(max(2*wait, firstAcceptWait), maxAcceptWait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
