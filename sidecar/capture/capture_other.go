//go:build !linux

package capture

import (
	"context"
	"fmt"
	"runtime"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Capture is one open packet capture; live capture exists only on Linux.
type Capture struct{}

// Open reports that live capture is not supported on this GOOS.
func Open(cfg Config, reg *metrics.Registry) (*Capture, error) {
	return nil, fmt.Errorf("live packet capture is not supported on %s", runtime.GOOS)
}

// Close does nothing.
func (c *Capture) Close() error { return nil }

// Run reports that live capture is not supported on this GOOS.
func (c *Capture) Run(ctx context.Context, t Table) error {
	return fmt.Errorf("live packet capture is not supported on %s", runtime.GOOS)
}
