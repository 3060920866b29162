package privdrop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drop switches every thread of the process to u with no supplementary
// groups, and clears all capability sets: effective, permitted,
// inheritable, ambient and, when CAP_SETPCAP allows it, the bounding set
// (so no later exec can regain any). It then checks every thread in
// /proc/self/task. The process must be root or hold CAP_SETUID, CAP_SETGID.
//
// Capability calls are per thread in Linux; Drop applies them to all
// threads with syscall.AllThreadsSyscall, which needs a binary built with
// CGO_ENABLED=0.
func Drop(u User) error {
	if u.UID <= 0 || u.GID <= 0 {
		return fmt.Errorf("drop privileges to %v: uid and gid must be > 0", u)
	}
	// Ambient and bounding sets first: changing them needs capabilities that
	// the uid switch takes away.
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return fmt.Errorf("drop privileges to %v: clear ambient capabilities: %w (build with CGO_ENABLED=0)", u, e)
		}
		if e != syscall.EINVAL { // EINVAL: kernel older than 4.3, no ambient set
			return fmt.Errorf("drop privileges to %v: clear ambient capabilities: %w", u, e)
		}
	}
	last, err := lastCap()
	if err != nil {
		return fmt.Errorf("drop privileges to %v: %w", u, err)
	}
	for c := 0; c <= last; c++ {
		_, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		if e == syscall.EPERM {
			break // no CAP_SETPCAP: the bounding set stays, the other sets are still cleared
		}
		if e != 0 && e != syscall.EINVAL {
			return fmt.Errorf("drop privileges to %v: drop capability %d from the bounding set: %w", u, c, e)
		}
	}
	// The syscall package applies these to every thread.
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop privileges to %v: setgroups: %w (needs root, or CAP_SETUID and CAP_SETGID)", u, err)
	}
	if err := syscall.Setresgid(u.GID, u.GID, u.GID); err != nil {
		return fmt.Errorf("drop privileges to %v: setresgid: %w", u, err)
	}
	if err := syscall.Setresuid(u.UID, u.UID, u.UID); err != nil {
		return fmt.Errorf("drop privileges to %v: setresuid: %w", u, err)
	}
	// Leaving uid 0 clears the effective, permitted and ambient sets; the
	// inheritable set needs an explicit capset.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return fmt.Errorf("drop privileges to %v: capset: %w", u, e)
	}
	return verify(u)
}

// verify checks the credentials of every thread as the kernel reports them.
func verify(u User) error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("drop privileges to %v: no /proc/self/task to verify", u)
	}
	wantUID := strings.Repeat(strconv.Itoa(u.UID)+"\t", 4)
	wantGID := strings.Repeat(strconv.Itoa(u.GID)+"\t", 4)
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return fmt.Errorf("drop privileges to %v: verify: %w", u, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			key, val, _ := strings.Cut(line, ":")
			val = strings.TrimSpace(val) + "\t"
			bad := false
			switch key {
			case "Uid":
				bad = val != wantUID
			case "Gid":
				bad = val != wantGID
			case "Groups":
				bad = val != "\t"
			case "CapInh", "CapPrm", "CapEff", "CapAmb":
				bad = strings.Trim(val, "0\t") != ""
			}
			if bad {
				return fmt.Errorf("drop privileges to %v: %s still has %s", u, path, strings.TrimSpace(line))
			}
		}
	}
	return nil
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read last capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("read last capability: bad value %q", b)
	}
	return n, nil
}
