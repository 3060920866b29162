//go:build !linux

package syslog

import (
	"errors"
	"net"
)

// oobSize: no control messages are asked for outside Linux.
const oobSize = 0

func setReadBuffer(pc *net.UDPConn, n int) (int, error) {
	if err := pc.SetReadBuffer(n); err != nil {
		return 0, err
	}
	return n, nil
}

// countOverflows: SO_RXQ_OVFL is Linux's.
func countOverflows(*net.UDPConn) error {
	return errors.New("SO_RXQ_OVFL is Linux-only")
}

func readUDP(pc *net.UDPConn, buf, _ []byte) (n, oobn int, err error) {
	n, _, err = pc.ReadFromUDPAddrPort(buf)
	return n, 0, err
}

func parseOverflow([]byte) (uint32, bool) { return 0, false }
