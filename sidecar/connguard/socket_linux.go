package connguard

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Unread returns the bytes waiting in a TCP connection's receive queue
// (SIOCINQ), 0 if it cannot tell.
func Unread(c net.Conn) int {
	n := 0
	control(c, func(fd int) {
		if v, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil {
			n = v
		}
	})
	return n
}

// busyOnPeer reports whether c has something its reader has not seen yet:
// unread bytes, or the peer's FIN (CLOSE_WAIT). Such a connection is not
// idle, however long its reader has been descheduled.
func busyOnPeer(c net.Conn) bool {
	busy := false
	control(c, func(fd int) {
		if v, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil && v > 0 {
			busy = true
			return
		}
		if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && ti.State == tcpCloseWait {
			busy = true
		}
	})
	return busy
}

// tcpCloseWait is TCP_CLOSE_WAIT in include/net/tcp_states.h.
const tcpCloseWait = 8

func control(c net.Conn, f func(fd int)) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) { f(int(fd)) })
}
