package s3

import "github.com/sidewatch/sidewatch/sidecar/metrics"

type batchMetrics struct {
	objects, sentEvents, sentBytes *metrics.Counter
}

func newMetrics(reg *metrics.Registry) batchMetrics {
	const sub = "sink"
	l := []string{"sink", Name}
	return batchMetrics{
		objects:    reg.Counter(sub, "objects_total", "Objects uploaded.", l...),
		sentEvents: reg.Counter(sub, "sent_events_total", "Events the service accepted.", l...),
		sentBytes:  reg.Counter(sub, "sent_bytes_total", "Bytes of the requests the service accepted (for S3 the compressed objects).", l...),
	}
}
