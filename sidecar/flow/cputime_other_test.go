//go:build !linux

package flow

import "time"

// threadCPU is Linux-only (RUSAGE_THREAD).
func threadCPU() (time.Duration, bool) { return 0, false }
