package flow

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used, so that
// benchmarks can report CPU per op, which waiting for a busy CPU does not
// inflate the way it inflates wall time.
func threadCPU() (time.Duration, bool) {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
