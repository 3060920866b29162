package flow

import "github.com/sidewatch/sidewatch/sidecar/metrics"

type tableMetrics struct {
	packets, bytes                       *metrics.Counter
	notIP, fragment, linkType, malformed *metrics.Counter
	created, interim, events             *metrics.Counter
	ended                                map[string]*metrics.Counter
	reg                                  *metrics.Registry
	active                               *metrics.Gauge
}

func newTableMetrics(reg *metrics.Registry) tableMetrics {
	const sub = "flow"
	skipped := func(reason string) *metrics.Counter {
		return reg.Counter(sub, "packets_skipped_total", "Captured frames not attributed to a flow, by reason: not_ip (ARP, LLDP...), fragment (IP fragments are not reassembled), link_type (unsupported link type), malformed (a header failed to decode).", "reason", reason)
	}
	m := tableMetrics{
		packets:   reg.Counter(sub, "packets_total", "Captured frames attributed to a flow."),
		bytes:     reg.Counter(sub, "bytes_total", "Original frame lengths of the frames attributed to a flow."),
		notIP:     skipped("not_ip"),
		fragment:  skipped("fragment"),
		linkType:  skipped("link_type"),
		malformed: skipped("malformed"),
		created:   reg.Counter(sub, "created_total", "Flows created."),
		interim:   reg.Counter(sub, "interim_total", "Interim records of long flows (reason active_timeout)."),
		events:    reg.Counter(sub, "events_total", "Flow events offered to the pipeline (final and interim)."),
		ended:     map[string]*metrics.Counter{},
		reg:       reg,
		active:    reg.Gauge(sub, "active", "Flows open in the table."),
	}
	for _, r := range []string{ReasonTimeout, ReasonForced, ReasonShutdown, ReasonTCPReuse} {
		m.endedCounter(r)
	}
	return m
}

// endedCounter returns the counter of flows ended for reason, registering
// it on first use (Flush takes any reason).
func (m *tableMetrics) endedCounter(reason string) *metrics.Counter {
	c := m.ended[reason]
	if c == nil {
		c = m.reg.Counter("flow", "ended_total", "Flows ended, by reason: timeout (idle), forced (evicted because the table was full), shutdown (flushed), tcp_reuse (a new SYN on a closed flow's 5-tuple).", "reason", reason)
		m.ended[reason] = c
	}
	return c
}
