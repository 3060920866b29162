package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestSyncReturnsAfterTheSinksHaveEveryEarlierEvent(t *testing.T) {
	s := &memSink{gate: make(chan struct{})}
	p, _, done, stop := start(t, Config{MaxBytes: 1 << 20}, s)
	const publishers, each = 4, 10
	var wg sync.WaitGroup
	for g := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := p.Publish(context.Background(), logEv(fmt.Sprintf("g%d-%d", g, i))); err != nil {
					t.Error(err)
				}
			}
			if err := p.Sync(context.Background()); err != nil {
				t.Error(err)
			}
			// Every event of this publisher is in the sink now.
			got := map[string]bool{}
			for _, e := range s.events(t) {
				got[e.Log.Message] = true
			}
			for i := range each {
				if m := fmt.Sprintf("g%d-%d", g, i); !got[m] {
					t.Errorf("after Sync, sink lacks %q", m)
				}
			}
		})
	}
	// The sink is blocked: no Sync may return yet.
	synced := make(chan struct{})
	go func() { wg.Wait(); close(synced) }()
	select {
	case <-synced:
		t.Fatal("Sync returned while the sink had not written anything")
	case <-time.After(50 * time.Millisecond):
	}
	close(s.gate)
	<-synced
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(s.events(t)); n != publishers*each+1 {
		t.Errorf("sink lines = %d, want %d events and the final stats (markers are never written)", n, publishers*each+1)
	}
}

func TestSyncContextAndClose(t *testing.T) {
	s := &memSink{gate: make(chan struct{})}
	p, _, done, stop := start(t, Config{MaxBytes: 1 << 20}, s)
	if err := p.Publish(context.Background(), logEv("x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sync with a stalled sink = %v, want the context's deadline", err)
	}
	close(s.gate)
	stop()
	<-done
	if err := p.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
}
