package sidecar

import (
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// TestMemoryBoundsAtDefaults pins the figures README.md and docs/sinks.md
// give for the defaults; the formula itself is held by the stalled-sink
// test in cmd/sidewatch.
func TestMemoryBoundsAtDefaults(t *testing.T) {
	tests := []struct {
		name               string
		change             func(*Config)
		recordsMiB, rssMiB int64 // rounded down; the docs round up
	}{
		{"defaults", func(*Config) {}, 215, 470},
		{"defaults_without_capture", func(c *Config) { c.NoCapture = true }, 215, 462},
		{"forward_off", func(c *Config) { c.Forward.TCPAddr, c.Forward.UnixPath = "", forward.Off }, 66, 173},
		{"forward_smaller_budget", func(c *Config) { c.Forward.BufferBudget = 32 << 20 }, 119, 278},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{QueueMaxBytes: 32 << 20, Syslog: syslog.DefaultConfig(), Forward: forward.DefaultConfig(), Capture: capture.DefaultConfig()}
			tt.change(&cfg)
			records, rss := MemoryBounds(cfg)
			if records>>20 != tt.recordsMiB || rss>>20 != tt.rssMiB {
				t.Errorf("records %d MiB, RSS %d MiB; want %d and %d (the docs round up)", records>>20, rss>>20, tt.recordsMiB, tt.rssMiB)
			}
		})
	}
}
