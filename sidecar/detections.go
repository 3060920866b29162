package sidecar

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/intel"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
)

// producers is what the inputs hand their events to: the pipeline, or the
// detection engine's tap in front of it.
type producers interface {
	Publish(context.Context, event.Event) error
	Offer(event.Event) bool
	Sync(context.Context) error
}

// openDetect builds the detection engine (loading its intel files) and
// returns what the inputs publish to: its tap in front of pipe. With
// --no-detect it returns pipe and no engine.
func openDetect(cfg Config, pipe *pipeline.Pipeline, log *slog.Logger, reg *metrics.Registry) (producers, *detect.Engine, error) {
	if cfg.Detect.Off {
		return pipe, nil, nil
	}
	// Alerts take the pipeline's reserved alert path (contract C3).
	eng, err := detect.New(cfg.Detect, pipe, reg, detect.Options{
		CommunityIDSeed:    cfg.Flow.CommunityIDSeed,
		HomeFromInterfaces: true,
		MetadataURI:        cfg.Metadata.URI,
		OnIntelLoad:        IntelLogger(log.With("component", "intel")),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("detections: %w", err)
	}
	eng.RefreshHome()
	return eng.Tap(pipe), eng, nil
}

// IntelLogger returns the engine's report callback for indicator loads:
// one line per file with its counts, the first rejected lines with their
// numbers and reasons, and failed reloads.
func IntelLogger(log *slog.Logger) func(intel.Report, error) {
	return func(rep intel.Report, err error) {
		if err != nil {
			log.Error("intel reload failed; the indicators loaded before stay in force", "err", err)
			return
		}
		for _, f := range rep.Files {
			log.Info("intel loaded", "source", f.Source, "lines", f.Lines,
				"ip", f.Loaded[intel.KindIP], "domain", f.Loaded[intel.KindDomain], "ja3", f.Loaded[intel.KindJA3], "ja4", f.Loaded[intel.KindJA4],
				"duplicates", f.Duplicates, "rejected", f.RejectedLines())
			for _, r := range f.Examples {
				log.Warn("intel line rejected", "source", f.Source, "line", r.Line, "reason", r.Reason, "text", r.Text)
			}
		}
		log.Info("intel ready", "took", rep.Took.String(), "memory_bytes", rep.Bytes)
	}
}
