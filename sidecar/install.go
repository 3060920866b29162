package sidecar

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installLauncher copies src into dir/fluent-launch so the log_router finds
// it through volumesFrom. The copy is atomic (temp file in dir, fsync,
// chmod 0755, rename): the log_router may start while we write, and must see
// either the old binary or the new one, never half a file.
func installLauncher(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("launcher source: %w (set --launcher-source / SIDEWATCH_LAUNCHER_SOURCE, or --no-launcher)", err)
	}
	defer in.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("launcher dir: %w", err)
	}
	dst := filepath.Join(dir, "fluent-launch")
	tmp, err := os.CreateTemp(dir, ".fluent-launch-*")
	if err != nil {
		return "", fmt.Errorf("launcher dir: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("install launcher %s: %w", dst, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // persist the rename; best effort, the file itself is synced
		d.Close()
	}
	return dst, nil
}
