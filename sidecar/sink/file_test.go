package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// fileStat reads one sink{sink="file"} series.
func fileStat(t *testing.T, reg *metrics.Registry, name string) uint64 {
	t.Helper()
	v, ok := reg.Stats()["sink"].(map[string]any)[name].(map[string]any)["file"].(uint64)
	if !ok {
		t.Fatalf("no sink %s{sink=file} in %v", name, reg.Stats()["sink"])
	}
	return v
}

// readDir returns every file in dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func openTemp(t *testing.T, maxBytes int64, keep int) (*File, *metrics.Registry, string) {
	t.Helper()
	dir := t.TempDir()
	reg := metrics.New()
	f, err := OpenFile(FileConfig{Path: filepath.Join(dir, "events.json"), MaxBytes: maxBytes, Keep: keep}, reg)
	if err != nil {
		t.Fatalf("OpenFile() = %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f, reg, dir
}

func TestFileRotation(t *testing.T) {
	tests := []struct {
		name          string
		maxBytes      int64
		keep          int
		batches       []string
		want          map[string]string
		wantRotations uint64
	}{
		{
			name: "fits_exactly", maxBytes: 10, keep: 5,
			batches: []string{"aaaa\n", "bbbb\n"},
			want:    map[string]string{"events.json": "aaaa\nbbbb\n"},
		},
		{
			name: "one_byte_over", maxBytes: 9, keep: 5,
			batches:       []string{"aaaa\n", "bbbb\n"},
			want:          map[string]string{"events.json": "bbbb\n", "events.json.1": "aaaa\n"},
			wantRotations: 1,
		},
		{
			name: "batch_not_split", maxBytes: 8, keep: 5,
			batches:       []string{"aa\n", "bb\ncc\n", "dd\n"},
			want:          map[string]string{"events.json": "dd\n", "events.json.1": "bb\ncc\n", "events.json.2": "aa\n"},
			wantRotations: 2,
		},
		{
			name: "batch_larger_than_max_goes_alone", maxBytes: 8, keep: 5,
			batches:       []string{"aa\n", "bb\ncc\ndd\nee\n", "ff\n"},
			want:          map[string]string{"events.json": "ff\n", "events.json.1": "bb\ncc\ndd\nee\n", "events.json.2": "aa\n"},
			wantRotations: 2,
		},
		{
			name: "oversized_first_batch_not_rotated", maxBytes: 4, keep: 5,
			batches: []string{"0123456789\n"},
			want:    map[string]string{"events.json": "0123456789\n"},
		},
		{
			name: "keep_count", maxBytes: 3, keep: 2,
			batches:       []string{"1\n", "2\n", "3\n", "4\n", "5\n"},
			want:          map[string]string{"events.json": "5\n", "events.json.1": "4\n", "events.json.2": "3\n"},
			wantRotations: 4,
		},
		{
			name: "keep_one", maxBytes: 3, keep: 1,
			batches:       []string{"1\n", "2\n", "3\n"},
			want:          map[string]string{"events.json": "3\n", "events.json.1": "2\n"},
			wantRotations: 2,
		},
		{
			name: "max_zero_never_rotates", maxBytes: 0, keep: 1,
			batches: []string{"1\n", "2\n", "3\n"},
			want:    map[string]string{"events.json": "1\n2\n3\n"},
		},
		{
			name: "empty_batch_ignored", maxBytes: 3, keep: 1,
			batches: []string{"1\n", "", "2\n"},
			want:    map[string]string{"events.json": "2\n", "events.json.1": "1\n"}, wantRotations: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, reg, dir := openTemp(t, tt.maxBytes, tt.keep)
			var total uint64
			for _, b := range tt.batches {
				if err := f.Write(context.Background(), []byte(b)); err != nil {
					t.Fatalf("Write(%q) = %v", b, err)
				}
				total += uint64(len(b))
			}
			if err := f.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			if diff := cmp.Diff(tt.want, readDir(t, dir)); diff != "" {
				t.Errorf("files after writing %q (-want +got):\n%s", tt.batches, diff)
			}
			if got := fileStat(t, reg, "rotations_total"); got != tt.wantRotations {
				t.Errorf("rotations_total = %d, want %d", got, tt.wantRotations)
			}
			if got := fileStat(t, reg, "written_bytes_total"); got != total {
				t.Errorf("written_bytes_total = %d, want %d", got, total)
			}
		})
	}
}

func TestFileAppendsToExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	if err := os.WriteFile(path, []byte("old1\nold2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(FileConfig{Path: path, MaxBytes: 15, Keep: 3}, metrics.New())
	if err != nil {
		t.Fatalf("OpenFile() = %v", err)
	}
	// 10 existing bytes + 4 fit; the next 4 do not.
	for _, b := range []string{"new\n", "nxt\n"} {
		if err := f.Write(context.Background(), []byte(b)); err != nil {
			t.Fatalf("Write(%q) = %v", b, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"events.json": "nxt\n", "events.json.1": "old1\nold2\nnew\n"}
	if diff := cmp.Diff(want, readDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestFileMode(t *testing.T) {
	f, _, dir := openTemp(t, 0, 1)
	f.Close()
	st, err := os.Stat(filepath.Join(dir, "events.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The umask may only remove bits.
	if got := st.Mode().Perm(); got&^0o640 != 0 {
		t.Errorf("new file mode = %v, want at most 0640", got)
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     FileConfig
		wantErr string
	}{
		{"no_path", FileConfig{Keep: 1}, "--file-path (SIDEWATCH_FILE_PATH) is required"},
		{"missing_parent", FileConfig{Path: filepath.Join(dir, "nope", "events.json"), Keep: 1},
			fmt.Sprintf("directory %s of --file-path (SIDEWATCH_FILE_PATH) does not exist", filepath.Join(dir, "nope"))},
		{"parent_is_file", FileConfig{Path: filepath.Join(dir, "plain", "events.json"), Keep: 1}, "is not a directory"},
		{"path_is_directory", FileConfig{Path: filepath.Join(dir, "sub"), Keep: 1}, "is not a regular file"},
		{"not_regular_file", FileConfig{Path: os.DevNull, Keep: 1}, "is not a regular file"},
		{"negative_max", FileConfig{Path: filepath.Join(dir, "e"), MaxBytes: -1, Keep: 1}, "--file-max-bytes (SIDEWATCH_FILE_MAX_BYTES) must be in [0, 68719476736], got -1"},
		{"zero_keep", FileConfig{Path: filepath.Join(dir, "e"), Keep: 0}, "--file-keep (SIDEWATCH_FILE_KEEP) must be in [1, 1000], got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFile(tt.cfg, metrics.New())
			if err == nil {
				f.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("OpenFile(%+v) = %v, want error containing %q", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

func TestFileConfigValidate(t *testing.T) {
	// Defaults, and an unused file sink (no path), are valid.
	for _, c := range []FileConfig{{MaxBytes: 104857600, Keep: 5}, {Path: "/var/log/x", MaxBytes: 0, Keep: 1}} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", c, err)
		}
	}
}

func TestFileWriteAfterClose(t *testing.T) {
	f, reg, _ := openTemp(t, 0, 1)
	if err := f.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := f.Write(context.Background(), []byte("x\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := f.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if got := fileStat(t, reg, "write_errors_total"); got != 2 {
		t.Errorf("write_errors_total = %d, want 2", got)
	}
}

func TestFileRejectsBatchWithoutNewline(t *testing.T) {
	f, reg, dir := openTemp(t, 0, 1)
	if err := f.Write(context.Background(), []byte(`{"a":1}`)); err == nil || !strings.Contains(err.Error(), "newline") {
		t.Errorf("Write(no newline) = %v, want an error about the newline", err)
	}
	if got := readDir(t, dir)["events.json"]; got != "" {
		t.Errorf("file holds %q after a rejected batch, want nothing", got)
	}
	if got := fileStat(t, reg, "write_errors_total"); got != 1 {
		t.Errorf("write_errors_total = %d, want 1", got)
	}
}

// TestFileRotationFailureKeepsData blocks the rotation (the oldest slot is
// a non-empty directory, which cannot be removed) and checks the batch is
// still written, the failure counted, and rotation retried once possible.
func TestFileRotationFailureKeepsData(t *testing.T) {
	f, reg, dir := openTemp(t, 3, 1)
	blocker := filepath.Join(dir, "events.json.1")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []string{"1\n", "2\n"} {
		if err := f.Write(ctx, []byte(b)); err != nil {
			t.Fatalf("Write(%q) = %v, want nil (data kept despite the failed rotation)", b, err)
		}
	}
	if got := fileStat(t, reg, "rotate_errors_total"); got != 1 {
		t.Errorf("rotate_errors_total = %d, want 1", got)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "events.json")); string(got) != "1\n2\n" {
		t.Errorf("events.json = %q (%v), want %q", got, err, "1\n2\n")
	}
	// The file may grow to twice the bound while rotation fails, no more:
	// then the sink fails (the pipeline logs and counts it).
	if err := f.Write(ctx, []byte("33\n")); err == nil {
		t.Errorf("Write taking the unrotatable file past twice --file-max-bytes = nil, want an error")
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, []byte("3\n")); err != nil {
		t.Fatalf("Write(3) = %v", err)
	}
	f.Close()
	want := map[string]string{"events.json": "3\n", "events.json.1": "1\n2\n"}
	if diff := cmp.Diff(want, readDir(t, dir)); diff != "" {
		t.Errorf("files after the blocker went away (-want +got):\n%s", diff)
	}
}

// TestFileNothingLostAcrossRotations writes numbered lines in batches of
// varying size and reads them back from every file, oldest first.
func TestFileNothingLostAcrossRotations(t *testing.T) {
	const lines = 5000
	const maxBytes = 8192
	f, reg, dir := openTemp(t, maxBytes, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	var batch []byte
	for i := 0; i < lines; {
		batch = batch[:0]
		for n := 1 + rng.IntN(40); n > 0 && i < lines; n-- {
			batch = fmt.Appendf(batch, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", rng.IntN(60)))
			i++
		}
		if err := f.Write(ctx, batch); err != nil {
			t.Fatalf("Write() = %v", err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	files := readDir(t, dir)
	rotated := len(files) - 1
	if got := fileStat(t, reg, "rotations_total"); got != uint64(rotated) || rotated < 10 {
		t.Fatalf("rotations_total = %d with %d rotated files, want equal and >= 10", got, rotated)
	}
	next := 0
	for i := rotated; i >= 0; i-- {
		name := "events.json"
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		content, ok := files[name]
		if !ok {
			t.Fatalf("missing %s among %d files", name, len(files))
		}
		if len(content) > maxBytes {
			t.Errorf("%s holds %d bytes, more than MaxBytes %d", name, len(content), maxBytes)
		}
		sc := bufio.NewScanner(strings.NewReader(content))
		for sc.Scan() {
			want := fmt.Sprintf(`{"n":%d,`, next)
			if !strings.HasPrefix(sc.Text(), want) {
				t.Fatalf("%s: line %q, want it to start with %q", name, sc.Text(), want)
			}
			next++
		}
	}
	if next != lines {
		t.Errorf("read back %d lines, want %d", next, lines)
	}
}

func BenchmarkFileWrite(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 299), '\n')
	batch := bytes.Repeat(line, 200) // 60 KB, a typical pipeline batch
	for _, bb := range []struct {
		name     string
		maxBytes int64
	}{
		// Bounded so that a long run does not fill the disk.
		{"rotate_every_64MiB", 64 << 20},
		{"rotate_every_1MiB", 1 << 20},
	} {
		b.Run(bb.name, func(b *testing.B) {
			f, err := OpenFile(FileConfig{Path: filepath.Join(b.TempDir(), "events.json"), MaxBytes: bb.maxBytes, Keep: 1}, metrics.New())
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if err := f.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func TestFileReopensMovedFile(t *testing.T) {
	tests := []struct {
		name        string
		move        func(path string) error
		want        map[string]string
		wantReopens uint64
	}{
		{"unchanged", func(string) error { return nil }, map[string]string{"events.json": "a\nb\n"}, 0},
		{"removed", os.Remove, map[string]string{"events.json": "b\n"}, 1},
		{
			name:        "renamed",
			move:        func(p string) error { return os.Rename(p, p+".old") },
			want:        map[string]string{"events.json": "b\n", "events.json.old": "a\n"},
			wantReopens: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, reg, dir := openTemp(t, 0, 1)
			f.checkEvery = 0
			ctx := context.Background()
			if err := f.Write(ctx, []byte("a\n")); err != nil {
				t.Fatal(err)
			}
			if err := tt.move(filepath.Join(dir, "events.json")); err != nil {
				t.Fatal(err)
			}
			if err := f.Write(ctx, []byte("b\n")); err != nil {
				t.Fatalf("Write after the file was moved = %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, readDir(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if got := fileStat(t, reg, "reopens_total"); got != tt.wantReopens {
				t.Errorf("reopens_total = %d, want %d", got, tt.wantReopens)
			}
		})
	}
}

// BenchmarkFileRotationStall reports the slowest Write that rotated (16 MiB
// files, Keep 1, so every rotation also drops a 16 MiB file), with a pause
// between 60 KB batches as under a steady load: the stall a rotation
// imposes on the pipeline. Run it with -benchtime 2000x (7 rotations).
func BenchmarkFileRotationStall(b *testing.B) {
	batch := bytes.Repeat(append(bytes.Repeat([]byte("x"), 299), '\n'), 200)
	f, err := OpenFile(FileConfig{Path: filepath.Join(b.TempDir(), "events.json"), MaxBytes: 16 << 20, Keep: 1}, metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	var worst time.Duration
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		time.Sleep(500 * time.Microsecond)
		r := f.rotations.Load()
		start := time.Now()
		if err := f.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if f.rotations.Load() != r {
			worst = max(worst, time.Since(start))
		}
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-rotating-write-µs")
}

// TestFileRepairsPartialLastLine is row 3 of issue 10: a kill -9 in the
// middle of a write leaves a partial last line; the next open cuts it off
// (counted, with a warning) so that the next event starts a line of its
// own.
func TestFileRepairsPartialLastLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than one backward read
	tests := []struct {
		name, before, want string
	}{
		{"only_a_partial_line", `{"partial`, ""},
		{"whole_lines_then_partial", "{\"a\":1}\n{\"b\":2}\n{\"transp", "{\"a\":1}\n{\"b\":2}\n"},
		{"long_partial_line", "{\"a\":1}\n" + long, "{\"a\":1}\n"},
		{"long_line_without_newline", long, ""},
		{"whole_lines_untouched", "{\"a\":1}\n", "{\"a\":1}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if err := os.WriteFile(path, []byte(tt.before), 0o640); err != nil {
				t.Fatal(err)
			}
			reg := metrics.New()
			f, err := OpenFile(FileConfig{Path: path, MaxBytes: 1 << 20, Keep: 1}, reg)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Write(context.Background(), []byte("{\"next\":1}\n")); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, _ := os.ReadFile(path)
			if want := tt.want + "{\"next\":1}\n"; string(got) != want {
				t.Errorf("file = %.80q…, want %.80q…", got, want)
			}
			cut := uint64(len(tt.before) - len(tt.want))
			if n := fileStat(t, reg, "repaired_bytes_total"); n != cut {
				t.Errorf("repaired_bytes_total = %d, want %d", n, cut)
			}
			if (len(f.Warnings()) == 1) != (cut > 0) {
				t.Errorf("warnings = %q, want one exactly when a line was cut", f.Warnings())
			}
		})
	}
}

func TestFileEventTypes(t *testing.T) {
	f, _, _ := openTemp(t, 0, 1)
	if got := f.EventTypes(); got != nil {
		t.Errorf("EventTypes without --file-event-types = %q, want none (every type)", got)
	}
	f.cfg.Types = []string{"alert", "stats"}
	if got := f.EventTypes(); len(got) != 2 || got[0] != "alert" || got[1] != "stats" {
		t.Errorf("EventTypes = %q, want [alert stats]", got)
	}
}
