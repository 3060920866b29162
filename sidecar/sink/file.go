package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// FileConfig configures the file sink.
type FileConfig struct {
	Path     string `name:"file-path" env:"SIDEWATCH_FILE_PATH" help:"File the file sink appends events to; its directory must exist. Rotated files are PATH.1 (newest) to PATH.N."`
	MaxBytes int64  `name:"file-max-bytes" env:"SIDEWATCH_FILE_MAX_BYTES" default:"104857600" help:"Rotate the file before it would exceed this size in bytes; 0 never rotates."`
	Keep     int    `name:"file-keep" env:"SIDEWATCH_FILE_KEEP" default:"5" help:"Rotated files to keep; the oldest beyond this is removed."`
}

// Validate checks the values. An empty Path is accepted here, so that the
// config can be validated when the file sink is not in use; OpenFile
// rejects it.
func (c FileConfig) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("--file-max-bytes (SIDEWATCH_FILE_MAX_BYTES) must be >= 0, got %d", c.MaxBytes))
	}
	if c.Keep < 1 {
		errs = append(errs, fmt.Errorf("--file-keep (SIDEWATCH_FILE_KEEP) must be >= 1, got %d", c.Keep))
	}
	return errors.Join(errs...)
}

// File is the "file" sink: it appends batches to a file and rotates it by
// size (path → path.1 → path.2 …, keeping cfg.Keep rotated files). A batch
// is never split across files; a batch larger than MaxBytes goes alone into
// a fresh file. The file is fsynced on rotation, Flush and Close.
type File struct {
	cfg FileConfig
	dir string

	mu     sync.Mutex
	f      *os.File // nil after a failed reopen; Write retries the open
	size   int64
	closed bool

	rotations    *metrics.Counter
	rotateErrors *metrics.Counter
	written      *metrics.Counter
	writeErrors  *metrics.Counter
}

const fileFlags = os.O_WRONLY | os.O_APPEND | os.O_CREATE

// OpenFile validates cfg and opens (creating with mode 0640) or appends to
// cfg.Path, registering the sink's metrics in reg.
func OpenFile(cfg FileConfig, reg *metrics.Registry) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("--file-path (SIDEWATCH_FILE_PATH) is required by the file sink")
	}
	dir := filepath.Dir(cfg.Path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file sink: directory %s of --file-path (SIDEWATCH_FILE_PATH) does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("file sink: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("file sink: %s, the directory of --file-path (SIDEWATCH_FILE_PATH), is not a directory", dir)
	}
	s := &File{cfg: cfg, dir: dir}
	if err := s.open(); err != nil {
		return nil, err
	}
	const sub = "sink"
	s.rotations = reg.Counter(sub, "rotations_total", "File rotations.", "sink", "file")
	s.rotateErrors = reg.Counter(sub, "rotate_errors_total", "Failed rotations; the batch is appended to the unrotated file.", "sink", "file")
	s.written = reg.Counter(sub, "written_bytes_total", "Bytes written.", "sink", "file")
	s.writeErrors = reg.Counter(sub, "write_errors_total", "Failed writes, flushes and closes.", "sink", "file")
	return s, nil
}

// open opens the file for appending and takes its size. It refuses
// anything but a regular file: rotation would rename a device or FIFO.
func (s *File) open() error {
	f, err := os.OpenFile(s.cfg.Path, fileFlags, 0o640)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("file sink: %s is not a regular file", s.cfg.Path)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Name returns "file".
func (s *File) Name() string { return "file" }

// Write appends lines, which must end in '\n', rotating first if they would
// take the file past MaxBytes. A failed write is cut back off the file so
// that it keeps whole lines only. ctx is not consulted.
func (s *File) Write(_ context.Context, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeLocked(lines); err != nil {
		s.writeErrors.Inc()
		return err
	}
	return nil
}

func (s *File) writeLocked(lines []byte) error {
	if s.closed {
		return fmt.Errorf("file sink: %w", ErrClosed)
	}
	if lines[len(lines)-1] != '\n' {
		return errors.New("file sink: batch does not end with a newline")
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.cfg.MaxBytes > 0 && s.size > 0 && s.size+int64(len(lines)) > s.cfg.MaxBytes {
		if err := s.rotate(); err != nil {
			s.rotateErrors.Inc()
			if s.f == nil {
				return err
			}
			// Keeping the events beats keeping the size bound; the next
			// batch tries the rotation again.
		}
	}
	n, err := s.f.Write(lines)
	if err != nil {
		if n > 0 {
			if terr := s.f.Truncate(s.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut partial batch: %w", terr))
			}
		}
		return fmt.Errorf("file sink: %w", err)
	}
	s.size += int64(n)
	s.written.Add(uint64(n))
	return nil
}

// rotate syncs and closes the file, shifts the rotated files up by one
// (dropping the oldest), and opens a new file. Whatever happens, it leaves
// s.f open on cfg.Path if it can.
func (s *File) rotate() error {
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		err = fmt.Errorf("file sink: rotate: %w", err)
	} else if err = s.shift(); err == nil {
		err = syncDir(s.dir)
	}
	if oerr := s.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	if err != nil {
		return err
	}
	s.rotations.Inc()
	return nil
}

func (s *File) shift() error {
	name := func(i int) string { return s.cfg.Path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(s.cfg.Keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	for i := s.cfg.Keep - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
	}
	if err := os.Rename(s.cfg.Path, name(1)); err != nil {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	return nil
}

// syncDir makes the renames durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("file sink: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file sink: sync directory %s: %w", dir, err)
	}
	return nil
}

// Flush fsyncs the file.
func (s *File) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.writeErrors.Inc()
		return fmt.Errorf("file sink: %w", ErrClosed)
	}
	if s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		s.writeErrors.Inc()
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// Close fsyncs and closes the file. Closing again returns nil.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		s.writeErrors.Inc()
		return fmt.Errorf("file sink: close: %w", err)
	}
	return nil
}
