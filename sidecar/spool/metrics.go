package spool

import "github.com/sidewatch/sidewatch/sidecar/metrics"

// Drop reasons, the values of sidewatch_spool_dropped_total's reason label.
const (
	// ReasonFull: network events removed oldest-first (or refused) to make
	// room when the spool was full.
	ReasonFull = "full"
	// ReasonTooLarge: one event larger than the whole spool.
	ReasonTooLarge = "too_large"
	// ReasonWriteError: the disk write or fsync failed (disk full, I/O error).
	ReasonWriteError = "write_error"
	// ReasonCorrupt: records cut off at replay because their checksum failed
	// (a torn write at a crash); counted in bytes by corrupt_bytes_total, as
	// their number cannot be known.
	ReasonCorrupt = "corrupt"
)

type spoolMetrics struct {
	appended, acked              *metrics.Counter
	droppedFull, droppedTooLarge *metrics.Counter
	droppedWriteError            *metrics.Counter
	waits                        *metrics.Counter
	replayed, possibleDuplicates *metrics.Counter
	corruptBytes                 *metrics.Counter
	fsyncs                       *metrics.Counter
}

func newMetrics(reg *metrics.Registry, name string, s *Spool) spoolMetrics {
	const sub = "spool"
	l := func(kv ...string) []string { return append([]string{"sink", name}, kv...) }
	dropped := func(reason string) *metrics.Counter {
		return reg.Counter(sub, "dropped_total", "Events removed from or refused by the spool without delivery, by reason.", l("reason", reason)...)
	}
	m := spoolMetrics{
		appended:           reg.Counter(sub, "appended_total", "Events written to the spool.", l()...),
		acked:              reg.Counter(sub, "acked_total", "Events the destination accepted and the spool released.", l()...),
		droppedFull:        dropped(ReasonFull),
		droppedTooLarge:    dropped(ReasonTooLarge),
		droppedWriteError:  dropped(ReasonWriteError),
		waits:              reg.Counter(sub, "waits_total", "Times a log, alert or stats event waited for room in a full spool (backpressure into the pipeline).", l()...),
		replayed:           reg.Counter(sub, "replayed_total", "Events found in the spool at start, to be delivered.", l()...),
		possibleDuplicates: reg.Counter(sub, "possible_duplicates_total", "Events replayed at start that had been sent but not acknowledged before a crash: the destination may have them twice.", l()...),
		corruptBytes:       reg.Counter(sub, "corrupt_bytes_total", "Bytes cut off segment files at start because a record's checksum failed (torn writes).", l()...),
		fsyncs:             reg.Counter(sub, "fsyncs_total", "fsync calls on segment and acknowledgement files.", l()...),
	}
	reg.GaugeFunc(sub, "bytes", "Bytes in the spool's segment files.", func() float64 { return float64(s.Bytes()) }, l()...)
	reg.GaugeFunc(sub, "max_bytes", "The spool's size bound (--spool-max-bytes).", func() float64 { return float64(s.max) }, l()...)
	reg.GaugeFunc(sub, "events", "Events in the spool waiting for delivery or acknowledgement.", func() float64 { return float64(s.Pending()) }, l()...)
	return m
}
