package detect

import (
	"sync"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const subsystem = "detect"

// engineMetrics are the engine's own counters; each detection adds its
// alert counters through detectionMetrics.
type engineMetrics struct {
	reg      *metrics.Registry
	dropped  *metrics.Counter
	events   *metrics.Counter
	mu       sync.Mutex
	evicted  map[string]*metrics.Counter
	tracked  map[string]*metrics.Gauge
	alerts   map[string]*metrics.Counter
	suppress map[string]*metrics.Counter
}

func newEngineMetrics(reg *metrics.Registry) *engineMetrics {
	return &engineMetrics{
		reg:      reg,
		dropped:  reg.Counter(subsystem, "alerts_dropped_total", "Alerts the pipeline's alert path refused (no reserved room left or shutting down)."),
		events:   reg.Counter(subsystem, "events_total", "Events inspected on their way to the pipeline."),
		evicted:  map[string]*metrics.Counter{},
		tracked:  map[string]*metrics.Gauge{},
		alerts:   map[string]*metrics.Counter{},
		suppress: map[string]*metrics.Counter{},
	}
}

// lazy returns cache[key], registering it with add on first use: the
// tables and detections name themselves when they are built.
func lazy[T any](m *engineMetrics, cache map[string]T, key string, add func() T) T {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := cache[key]
	if !ok {
		v = add()
		cache[key] = v
	}
	return v
}

// evictions returns the counter of entries forgotten from a bounded state
// table because it was full.
func (m *engineMetrics) evictions(table string) *metrics.Counter {
	return lazy(m, m.evicted, table, func() *metrics.Counter {
		return m.reg.Counter(subsystem, "state_evicted_total", "Entries forgotten from a full state table, by table: dedup (alerts may repeat early), alerted_flows (a flow event may say alerted: false), and each detection's own.", "table", table)
	})
}

// size returns the gauge of a state table's entries.
func (m *engineMetrics) size(table string) *metrics.Gauge {
	return lazy(m, m.tracked, table, func() *metrics.Gauge {
		return m.reg.Gauge(subsystem, "state_entries", "Entries held in each bounded state table.", "table", table)
	})
}

// detection returns the alert and suppression counters of one detection.
func (m *engineMetrics) detection(name string) (raised, suppressed *metrics.Counter) {
	raised = lazy(m, m.alerts, name, func() *metrics.Counter {
		return m.reg.Counter(subsystem, "alerts_total", "Alerts raised, by detection.", "detection", name)
	})
	suppressed = lazy(m, m.suppress, name, func() *metrics.Counter {
		return m.reg.Counter(subsystem, "suppressed_total", "Alerts suppressed as duplicates within --detect-dedup-window, by detection.", "detection", name)
	})
	return raised, suppressed
}
