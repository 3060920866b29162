package sidecar

import (
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// TestMemoryBoundsAtDefaults pins the figures README.md and docs/sinks.md
// give for the defaults; the formula itself is held by the stalled-sink
// test in cmd/sidewatch.
func TestMemoryBoundsAtDefaults(t *testing.T) {
	cfg := Config{QueueMaxBytes: 32 << 20, Syslog: syslog.DefaultConfig(), Capture: capture.DefaultConfig()}
	records, rss := MemoryBounds(cfg)
	if records>>20 != 66 || rss>>20 != 173 {
		t.Errorf("defaults: records %d MiB, RSS %d MiB; the docs say 66 and 174 (rounded up)", records>>20, rss>>20)
	}
	cfg.NoCapture = true
	if _, rss := MemoryBounds(cfg); rss>>20 != 165 {
		t.Errorf("defaults without capture: RSS %d MiB, the docs say 166 (rounded up)", rss>>20)
	}
}
