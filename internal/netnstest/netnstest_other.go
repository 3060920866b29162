//go:build !linux

// Package netnstest runs test code inside named network namespaces (made
// with ip netns add), so that the sockets it opens belong to them.
package netnstest

import "testing"

// In skips the test: network namespaces are Linux's.
func In(tb testing.TB, name string, fn func()) {
	tb.Helper()
	tb.Skip("network namespaces need Linux")
}
