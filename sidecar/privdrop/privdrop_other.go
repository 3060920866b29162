//go:build !linux

package privdrop

import (
	"fmt"
	"runtime"
)

// Drop reports that switching users is not supported on this GOOS.
func Drop(u User) error {
	return fmt.Errorf("drop privileges to %v: not supported on %s", u, runtime.GOOS)
}
