package syslog

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobSize holds one SO_RXQ_OVFL control message.
const oobSize = 64

// setReadBuffer asks for a receive buffer of n bytes, beyond
// net.core.rmem_max when the process has CAP_NET_ADMIN (SO_RCVBUFFORCE),
// and returns the size the kernel gave (it reports twice what it accounts
// for data, which is what the caller compares with n).
func setReadBuffer(pc *net.UDPConn, n int) (int, error) {
	raw, err := pc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n); serr != nil {
				return
			}
		}
		got, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("set receive buffer: %w", err)
	}
	return got, nil
}

// countOverflows asks the kernel to attach its count of datagrams dropped
// on this socket (receive buffer full) to every datagram read.
func countOverflows(pc *net.UDPConn) error {
	raw, err := pc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_RXQ_OVFL: %w", serr)
	}
	return nil
}

// readUDP reads one datagram and its control messages without allocating.
func readUDP(pc *net.UDPConn, buf, oob []byte) (n, oobn int, err error) {
	n, oobn, _, _, err = pc.ReadMsgUDPAddrPort(buf, oob)
	return n, oobn, err
}

// parseOverflow returns the SO_RXQ_OVFL count in the control messages:
// the socket's total of datagrams dropped so far.
func parseOverflow(oob []byte) (uint32, bool) {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= hdr+4 {
			return binary.NativeEndian.Uint32(oob[hdr:]), true
		}
		oob = oob[min(cmsgAlign(l), len(oob)):]
	}
	return 0, false
}

func cmsgAlign(n int) int {
	const a = int(unsafe.Sizeof(uintptr(0)))
	return (n + a - 1) &^ (a - 1)
}
