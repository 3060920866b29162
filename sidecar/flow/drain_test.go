package flow

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// slowQueue is a Publisher with room for cap events at a time: Offer
// refuses beyond it, Publish waits until the test frees room or ctx ends.
type slowQueue struct {
	room    chan struct{}
	got     []event.Event
	refused int
}

func (q *slowQueue) Offer(ev event.Event) bool {
	select {
	case <-q.room:
		q.got = append(q.got, ev)
		return true
	default:
		q.refused++
		return false
	}
}

func (q *slowQueue) Publish(ctx context.Context, ev event.Event) error {
	select {
	case <-q.room:
		q.got = append(q.got, ev)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestFlushWaitKeepsFinalRecords is row 7 of issue 10: at shutdown, with
// the queue full, final flow records wait for room within the budget
// instead of being dropped; once the budget is spent the rest are offered
// and counted.
func TestFlushWaitKeepsFinalRecords(t *testing.T) {
	q := &slowQueue{room: make(chan struct{})}
	tab := NewTable(DefaultConfig(), q, nil)
	start := time.Unix(1700000000, 0)
	const flows = 200
	for i := range flows {
		f := ethFrame(t, seg{src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(), dst: "10.1.0.1", sport: 40000, dport: 53, proto: protoUDP})
		tab.Packet(start, "eth0", LinkTypeEthernet, f, len(f))
	}
	// The consumer frees room slowly: one event per millisecond.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case q.room <- struct{}{}:
				time.Sleep(time.Millisecond)
			case <-stop:
				return
			}
		}
	}()
	dropped := tab.FlushWait(context.Background(), start.Add(time.Second), ReasonShutdown)
	close(stop)
	if dropped != 0 || len(q.got) != flows || q.refused != 0 {
		t.Errorf("FlushWait with a slow queue and time to spare: %d accepted, %d refused, %d reported dropped; want all %d accepted", len(q.got), q.refused, dropped, flows)
	}

	// No time left: what the queue cannot take at once is dropped, counted.
	q2 := &slowQueue{room: make(chan struct{})}
	tab2 := NewTable(DefaultConfig(), q2, nil)
	for i := range 10 {
		f := ethFrame(t, seg{src: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).String(), dst: "10.1.0.1", sport: 40000, dport: 53, proto: protoUDP})
		tab2.Packet(start, "eth0", LinkTypeEthernet, f, len(f))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := tab2.FlushWait(ctx, start.Add(time.Second), ReasonShutdown); got != 10 || q2.refused != 10 {
		t.Errorf("FlushWait after the budget = %d dropped (%d refused), want 10", got, q2.refused)
	}
}
