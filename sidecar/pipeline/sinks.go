package pipeline

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// sinkState is one sink with what the pipeline tracks about it: the event
// types it wants, its counters, and whether it is failing.
type sinkState struct {
	Sink
	want uint64 // type mask
	now  func() time.Time

	// failingSince is the unix ns of the first failure of the current
	// run of failures, 0 while the sink works. Read by Check.
	failingSince atomic.Int64
	// Consumer-only: events lost during the current run of failures.
	lostInRun uint64
	lastErr   string

	errors  *metrics.Counter
	events  *metrics.Counter
	failed  *metrics.Counter
	failing *metrics.Gauge
}

func newSinkState(s Sink, reg *metrics.Registry, types *typeIndex, now func() time.Time) *sinkState {
	st := &sinkState{Sink: s, want: ^uint64(0), now: now}
	if f, ok := s.(EventFilter); ok {
		if ts := f.EventTypes(); len(ts) > 0 {
			st.want = 0
			for _, t := range ts {
				st.want |= types.bit(t)
			}
		}
	}
	name := s.Name()
	st.errors = reg.Counter("pipeline", "sink_errors_total", "Failed sink writes and flushes.", "sink", name)
	st.events = reg.Counter("pipeline", "sink_events_total", "Events handed to a sink, by result.", "sink", name, "result", "written")
	st.failed = reg.Counter("pipeline", "sink_events_total", "Events handed to a sink, by result.", "sink", name, "result", "failed")
	st.failing = reg.Gauge("pipeline", "sink_failing", "1 while the sink's last write failed.", "sink", name)
	return st
}

// write hands lines (n events) to the sink and reports success. A failure
// is logged when a run of failures starts, and once more when the sink
// recovers, with the events lost meanwhile, rather than once per batch.
func (s *sinkState) write(ctx context.Context, lines []byte, n int, log *slog.Logger) bool {
	err := s.Write(ctx, lines)
	if err == nil {
		s.events.Add(uint64(n))
		if s.failingSince.Load() != 0 {
			log.Warn("sink recovered", "sink", s.Name(), "events_lost", s.lostInRun, "last_err", s.lastErr)
			s.failingSince.Store(0)
			s.failing.Set(0)
			s.lostInRun = 0
		}
		return true
	}
	s.errors.Inc()
	s.failed.Add(uint64(n))
	s.lostInRun += uint64(n)
	s.lastErr = err.Error()
	if s.failingSince.Load() == 0 {
		s.failingSince.Store(s.now().UnixNano())
		s.failing.Set(1)
		log.Error("sink failing: its events are counted as lost until it recovers", "sink", s.Name(), "events", n, "err", err)
	}
	return false
}
