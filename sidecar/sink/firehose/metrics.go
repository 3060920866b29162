package firehose

import "github.com/sidewatch/sidewatch/sidecar/metrics"

type batchMetrics struct {
	sentEvents, truncated, failedRecords *metrics.Counter
}

func newMetrics(reg *metrics.Registry) batchMetrics {
	const sub = "sink"
	l := []string{"sink", Name}
	return batchMetrics{
		sentEvents:    reg.Counter(sub, "sent_events_total", "Events the service accepted.", l...),
		truncated:     reg.Counter(sub, "truncated_events_total", "Events cut down to the service's per-event maximum (marked \"truncated\":true).", l...),
		failedRecords: reg.Counter(sub, "failed_records_total", "Records PutRecordBatch reported failed (FailedPutCount), each sent again.", l...),
	}
}
