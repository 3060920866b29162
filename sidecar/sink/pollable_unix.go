//go:build unix

package sink

import (
	"os"
	"syscall"
)

// pollable returns a non-blocking duplicate of f's descriptor, registered
// with Go's poller so that writes take deadlines, when f is a pipe or a
// socket that stderr does not share (the non-blocking flag belongs to the
// open file, which a `2>&1` would share with the logger's writes). release
// closes the duplicate and puts the open file back in blocking mode.
func pollable(f *os.File) (pf *os.File, release func(), ok bool) {
	fd, ok := fdOf(f)
	if !ok {
		return nil, nil, false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(fd), &st); err != nil {
		return nil, nil, false
	}
	if m := st.Mode & syscall.S_IFMT; m != syscall.S_IFIFO && m != syscall.S_IFSOCK {
		return nil, nil, false
	}
	var errSt syscall.Stat_t
	if syscall.Fstat(2, &errSt) == nil && errSt.Dev == st.Dev && errSt.Ino == st.Ino {
		return nil, nil, false
	}
	dup, err := syscall.Dup(int(fd))
	if err != nil {
		return nil, nil, false
	}
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, nil, false
	}
	pf = os.NewFile(uintptr(dup), f.Name())
	return pf, func() {
		syscall.SetNonblock(dup, false)
		pf.Close()
	}, true
}

// fdOf returns f's descriptor without switching it to blocking mode, as
// f.Fd() would.
func fdOf(f *os.File) (fd uintptr, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	err = rc.Control(func(d uintptr) { fd = d })
	return fd, err == nil
}
