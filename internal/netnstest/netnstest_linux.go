// Package netnstest runs test code inside named network namespaces (made
// with ip netns add), so that the sockets it opens belong to them.
package netnstest

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// In runs fn on a thread switched into network namespace name.
func In(tb testing.TB, name string, fn func()) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	defer func() {
		// A thread left in the wrong namespace must die with its goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}
