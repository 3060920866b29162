package rules

import (
	"sync"
	"sync/atomic"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Offerer is where the tap hands events on: the pipeline, or replay's writer.
type Offerer interface {
	Offer(event.Event) bool
}

// Tap matches every event against the rules before handing it on, and hands
// on the alerts first. It stands between a producer and the pipeline until
// the detection engine (contract C6) hosts the rules as one of its
// detectors. A flow event whose flow raised an alert says flow.alerted.
type Tap struct {
	engine  *Engine
	next    Offerer
	alerts  func(event.Event) bool // the reserved alert path when next has one
	alerted *alertedFlows
	// dropped counts alerts the next stage refused (a full queue).
	dropped atomic.Uint64
}

// NewTap returns a tap that matches with engine and offers to next;
// maxFlows bounds the set of alerted flows remembered for flow.alerted.
func NewTap(engine *Engine, next Offerer, maxFlows int) *Tap {
	t := &Tap{engine: engine, next: next, alerts: next.Offer, alerted: &alertedFlows{max: max(maxFlows, 1), m: map[uint64]struct{}{}}}
	// The pipeline's reserved alert path (contract C3), when it has one:
	// alerts neither wait nor lose room to network events.
	if ap, ok := next.(interface{ OfferAlert(event.Event) bool }); ok {
		t.alerts = ap.OfferAlert
	}
	return t
}

// Offer matches ev, offers its alerts, then offers ev.
func (t *Tap) Offer(ev event.Event) bool {
	raised := false
	t.engine.Event(&ev, func(a event.Event) {
		raised = true
		if !t.alerts(a) {
			t.dropped.Add(1)
		}
	})
	if ev.FlowID != 0 {
		if raised {
			t.alerted.add(ev.FlowID)
		}
		if ev.Flow != nil && (raised || t.alerted.seen(ev.FlowID, ev.Flow.Reason != "active_timeout")) {
			f := *ev.Flow
			f.Alerted = true
			ev.Flow = &f
		}
	}
	return t.next.Offer(ev)
}

// Dropped returns the number of alerts the next stage refused.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// alertedFlows remembers the flows that alerted until their flow event;
// bounded, cleared when full.
type alertedFlows struct {
	mu  sync.Mutex
	max int
	m   map[uint64]struct{}
}

func (a *alertedFlows) add(id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) >= a.max {
		clear(a.m)
	}
	a.m[id] = struct{}{}
}

// seen reports whether id alerted, and forgets it when its flow record is
// the final one.
func (a *alertedFlows) seen(id uint64, final bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.m[id]
	if final {
		delete(a.m, id)
	}
	return ok
}
