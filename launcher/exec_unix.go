//go:build unix

package launcher

import "syscall"

// execve replaces the process with path, so Fluent Bit keeps the PID (PID 1
// in the container) and receives ECS's SIGTERM itself.
func execve(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}
