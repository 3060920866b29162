package delivery

import "github.com/sidewatch/sidewatch/sidecar/metrics"

type sinkMetrics struct {
	requests *metrics.Counter
	rejected *metrics.Counter
	errors   [len(classNames)]*metrics.Counter
}

func newMetrics(reg *metrics.Registry, name string, s *Sink) sinkMetrics {
	const sub = "sink"
	m := sinkMetrics{
		requests: reg.Counter(sub, "requests_total", "Requests sent to the service, retries included.", "sink", name),
		rejected: reg.Counter(sub, "rejected_events_total", "Events in batches the service refused for their content after every retry: dropped.", "sink", name),
	}
	for c := range m.errors {
		m.errors[c] = reg.Counter(sub, "send_errors_total", "Failed requests, by class: network, throttled, server (retried), failing (configuration or permission; retried, health failing), rejected (content).", "sink", name, "class", Class(c).String())
	}
	reg.GaugeFunc(sub, "failing", "1 while the sink reports failing in /healthz.", func() float64 {
		if s.Health() != nil {
			return 1
		}
		return 0
	}, "sink", name)
	return m
}
