//go:build !unix

package launcher

import (
	"fmt"
	"runtime"
)

func execve(path string, argv, env []string) error {
	return fmt.Errorf("exec is not supported on %s", runtime.GOOS)
}
