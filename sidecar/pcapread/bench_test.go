package pcapread

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// loopReader serves head once, then body over and over: an endless
// capture, so that a benchmark reads frames without reopening a file.
type loopReader struct {
	head, body []byte
	off        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.body[l.off:])
		n += c
		l.off = (l.off + c) % len(l.body)
	}
	return n, nil
}

// endless returns a reader of the file head followed by body repeated.
func endless(tb testing.TB, head, body []byte) *Reader {
	tb.Helper()
	r, err := NewReader(&loopReader{head: head, body: body})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// captures are the two benchmark inputs: 1400-byte frames in a pcap, and
// in a pcapng of two interfaces taking turns.
func captures() map[string][2][]byte {
	frame := bytes.Repeat([]byte{0x5a}, 1400)
	sec := uint32(t0.Unix())
	var recs []byte
	for i := range 16 {
		recs = pcapRecord(recs, le, sec+uint32(i), 0, 1400, 1400, frame)
	}
	head := (&ng{}).shb(le).idb(1, 0, optIfName("eth0")).idb(113, 0, optIfName("any"))
	body := &ng{order: le}
	for i := range 16 {
		body.epb(uint32(i%2), uint64(t0.UnixMicro())+uint64(i), 1400, 1400, frame)
	}
	return map[string][2][]byte{
		"pcap":   {pcapFile(le, false, 2, 4, 262144, 1), recs},
		"pcapng": {head.b, body.b},
	}
}

// BenchmarkNext reads one frame per op from an endless capture: a frame
// costs no allocation.
func BenchmarkNext(b *testing.B) {
	for name, c := range captures() {
		b.Run(name, func(b *testing.B) {
			r := endless(b, c[0], c[1])
			b.SetBytes(1400)
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.Next()
				if err != nil || len(f.Data) != 1400 {
					b.Fatalf("Next: %d bytes, %v", len(f.Data), err)
				}
			}
		})
	}
}

// TestNextAllocatesNothing holds the benchmark's claim as a test.
func TestNextAllocatesNothing(t *testing.T) {
	for name, c := range captures() {
		t.Run(name, func(t *testing.T) {
			r := endless(t, c[0], c[1])
			var last time.Time
			allocs := testing.AllocsPerRun(1000, func() {
				f, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				last = f.Time
			})
			if allocs != 0 {
				t.Errorf("Next: got %v allocations per frame, want 0", allocs)
			}
			if last.IsZero() {
				t.Error("no frame read")
			}
		})
	}
}

// FuzzReader reads arbitrary bytes as a capture: no panic, every frame
// within bounds and of a declared interface, and the file read the same way
// twice.
func FuzzReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "capture", "testdata", "*.pcap*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		if filepath.Ext(path) == ".jsonl" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2000)])
	}
	us := uint64(t0.UnixMicro())
	two := (&ng{}).shb(le).idb(1, 4, optIfName("eth0")).epb(0, us, 1, 1, []byte("a")).spb(9, []byte("bcdefg"))
	two.shb(be).idb(113, 0, optIfTSResol(0x80|20)).pb(0, us, 2, 1, []byte("hi")).block(4, []byte("nrb"))
	f.Add(two.b)
	f.Add(pcapRecord(pcapFile(be, true, 2, 1, 0, 1), be, 1, 2, 9, 1, []byte("a")))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, st, err := readAll(data)
		for i, g := range frames {
			if len(g.Data) > MaxCapLen {
				t.Errorf("frame %d: %d bytes, above %d", i, len(g.Data), MaxCapLen)
			}
		}
		again, st2, err2 := readAll(data)
		if len(again) != len(frames) || st != st2 || (err == nil) != (err2 == nil) {
			t.Errorf("second read: %d frames, %+v, %v; first: %d, %+v, %v", len(again), st2, err2, len(frames), st, err)
		}
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for {
			fr, err := r.Next()
			if err != nil {
				break
			}
			if fr.Interface < 0 || fr.Interface >= r.Interfaces() {
				t.Fatalf("frame of interface %d, %d declared", fr.Interface, r.Interfaces())
			}
		}
	})
}
