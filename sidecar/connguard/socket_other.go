//go:build !linux

package connguard

import "net"

// Unread cannot tell outside Linux.
func Unread(net.Conn) int { return 0 }

// busyOnPeer cannot tell outside Linux: the read-wait alone decides.
func busyOnPeer(net.Conn) bool { return false }
