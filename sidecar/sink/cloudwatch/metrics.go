package cloudwatch

import "github.com/sidewatch/sidewatch/sidecar/metrics"

type batchMetrics struct {
	sentEvents, sentBytes *metrics.Counter
	truncated, retimed    *metrics.Counter
	created               *metrics.Counter
}

func newMetrics(reg *metrics.Registry) batchMetrics {
	const sub = "sink"
	l := []string{"sink", Name}
	return batchMetrics{
		sentEvents: reg.Counter(sub, "sent_events_total", "Events the service accepted.", l...),
		sentBytes:  reg.Counter(sub, "sent_bytes_total", "Bytes of the requests the service accepted (for S3 the compressed objects).", l...),
		truncated:  reg.Counter(sub, "truncated_events_total", "Events cut down to the service's per-event maximum (marked \"truncated\":true).", l...),
		retimed:    reg.Counter(sub, "retimed_events_total", "Events sent with the current time because CloudWatch Logs does not take their own timestamp (too old, too new, or expired).", l...),
		created:    reg.Counter(sub, "created_total", "Log groups and streams created.", l...),
	}
}
