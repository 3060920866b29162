package sink

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

func TestOpenFileRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opening a FIFO for writing with no reader would block: this returns.
	f, err := OpenFile(FileConfig{Path: path, Keep: 1}, metrics.New())
	if err == nil {
		f.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("OpenFile(FIFO) = %v, want an error saying it is not a regular file", err)
	}
}

// TestFileDiskFullKeepsWholeLines fills a 64 KiB tmpfs: the batch that hits
// ENOSPC is partly written by the kernel, and the sink must cut it off so
// the file ends on a line boundary.
func TestFileDiskFullKeepsWholeLines(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a 64 KiB tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("needs CAP_SYS_ADMIN to mount a tmpfs: %v", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})

	reg := metrics.New()
	path := filepath.Join(dir, "events.json")
	f, err := OpenFile(FileConfig{Path: path, MaxBytes: 0, Keep: 1}, reg)
	if err != nil {
		t.Fatalf("OpenFile() = %v", err)
	}
	defer f.Close()
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	batch := bytes.Repeat(line, 30) // 3000 bytes: not a divisor of the page size
	var written int
	var werr error
	for range 100 { // 300 KB > 64 KiB
		if werr = f.Write(context.Background(), batch); werr != nil {
			break
		}
		written += len(batch)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("Write on a full tmpfs = %v, want ENOSPC", werr)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != written {
		t.Errorf("file holds %d bytes, want %d (the whole batches written before ENOSPC)", len(got), written)
	}
	if len(got) > 0 && got[len(got)-1] != '\n' {
		t.Errorf("file ends in %q, want a newline", got[len(got)-1])
	}
	if n := fileStat(t, reg, "write_errors_total"); n != 1 {
		t.Errorf("write_errors_total = %d, want 1", n)
	}
}
