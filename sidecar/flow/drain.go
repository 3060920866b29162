package flow

import (
	"context"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Publisher is an Emitter that can also wait for room: the pipeline's
// Publish. FlushWait uses it for the final records at shutdown, when the
// shutdown budget can afford to wait rather than drop.
type Publisher interface {
	Emitter
	Publish(context.Context, event.Event) error
}

// FlushWait ends every open flow as Flush does, but hands each final
// record to the emitter's Publish, waiting for room in the queue until ctx
// ends; records emitted after that are offered (dropped and counted by
// the emitter when the queue is full). It returns how many records were
// not accepted. With an emitter that cannot wait it is Flush.
func (t *Table) FlushWait(ctx context.Context, now time.Time, reason string) (dropped int) {
	p, ok := t.out.(Publisher)
	if !ok {
		t.Flush(now, reason)
		return 0
	}
	w := &waitingEmitter{ctx: ctx, p: p}
	t.out = w
	defer func() { t.out = p }()
	t.Flush(now, reason)
	return w.dropped
}

// waitingEmitter publishes until ctx ends, then offers.
type waitingEmitter struct {
	ctx     context.Context
	p       Publisher
	dropped int
}

func (w *waitingEmitter) Offer(ev event.Event) bool {
	if w.ctx.Err() == nil && w.p.Publish(w.ctx, ev) == nil {
		return true
	}
	if w.p.Offer(ev) {
		return true
	}
	w.dropped++
	return false
}
