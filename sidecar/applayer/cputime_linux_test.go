package applayer

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time of the process, garbage collection on
// other threads included (an app layer that allocates pays for it there).
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
