package reassembly

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// recv records what a stream hands over. With lines set it consumes only
// whole lines (ending in '\n'), as a parser waiting for a complete message
// head would; otherwise everything. It stops after stopAfter bytes when
// that is positive.
type recv struct {
	log       []string
	got       []byte
	lines     bool
	stopAfter int
	gaps      int
}

func (r *recv) Data(b []byte) (int, bool) {
	r.log = append(r.log, "data "+string(b))
	n := len(b)
	if r.lines {
		n = bytes.LastIndexByte(b, '\n') + 1
	}
	r.got = append(r.got, b[:n]...)
	if r.stopAfter > 0 && len(r.got) >= r.stopAfter {
		return n, false
	}
	return n, true
}

func (r *recv) Gap(n int) bool {
	r.log = append(r.log, fmt.Sprintf("gap %d", n))
	r.gaps += n
	return true
}

// seg is a test segment at an offset from the initial sequence number.
type seg struct {
	off     uint32
	data    string
	syn     bool
	fin     bool
	missing int
}

const isn = 1000

func run(t *testing.T, cfg Config, r *recv, segs ...seg) (*Stream, *Pool, *metrics.Registry) {
	t.Helper()
	reg := metrics.New()
	p := NewPool(cfg, reg)
	var s Stream
	for _, g := range segs {
		seq := uint32(isn) + g.off
		if g.syn {
			seq--
		}
		s.Add(p, Segment{Seq: seq, SYN: g.syn, FIN: g.fin, Data: []byte(g.data), Missing: g.missing}, r)
	}
	return &s, p, reg
}

func counter(reg *metrics.Registry, name string) uint64 {
	stats := reg.Stats()["reassembly"].(map[string]any)
	switch v := stats[name].(type) {
	case uint64:
		return v
	case float64:
		return uint64(v)
	}
	panic(fmt.Sprintf("no counter %s in %v", name, stats))
}

func TestStream(t *testing.T) {
	small := Config{StreamBytes: 16, MemoryBytes: 1 << 20}
	tests := []struct {
		name  string
		cfg   Config
		lines bool
		segs  []seg
		want  string
	}{
		{"in_order_from_syn", DefaultConfig(), false,
			[]seg{{syn: true}, {off: 0, data: "abc"}, {off: 3, data: "def"}},
			"data abc|data def"},
		{"out_of_order", DefaultConfig(), false,
			[]seg{{syn: true}, {off: 3, data: "def"}, {off: 6, data: "ghi"}, {off: 0, data: "abc"}},
			"data abcdefghi"},
		{"retransmission_delivered_once", DefaultConfig(), false,
			[]seg{{syn: true}, {off: 0, data: "abc"}, {off: 0, data: "abc"}, {off: 1, data: "bcde"}},
			"data abc|data de"},
		{"overlap_first_copy_wins", DefaultConfig(), false,
			[]seg{{syn: true}, {off: 5, data: "XXXXX"}, {off: 0, data: "abcdefghij"}},
			"data abcdeXXXXX"},
		{"midstream_pickup", DefaultConfig(), false,
			[]seg{{off: 5000, data: "in the middle"}, {off: 5013, data: "!"}},
			"data in the middle|data !"},
		{"data_in_syn", DefaultConfig(), false,
			[]seg{{syn: true, data: "fast open"}, {off: 9, data: "!"}},
			"data fast open|data !"},
		{"partial_messages_kept", DefaultConfig(), true,
			[]seg{{syn: true}, {off: 0, data: "GET / HT"}, {off: 8, data: "TP/1.1\nHost"}, {off: 19, data: ": x\n"}},
			"data GET / HT|data GET / HTTP/1.1\nHost|data Host: x\n"},
		{"snap_length_cut", DefaultConfig(), false,
			[]seg{{syn: true}, {off: 0, data: "abc", missing: 5}, {off: 8, data: "ijk"}},
			"data abc|gap 5|data ijk"},
		{"snap_length_cut_with_partial_message", DefaultConfig(), true,
			[]seg{{syn: true}, {off: 0, data: "a\nbc", missing: 5}, {off: 9, data: "j\n"}},
			"data a\nbc|gap 7|data j\n"},
		{"hole_given_up_when_budget_fills", small, false,
			[]seg{{syn: true}, {off: 4, data: "efghijkl"}, {off: 12, data: "mnopqrst"}},
			"gap 4|data efghijkl|data mnopqrst"},
		{"beyond_budget_skipped", small, false,
			[]seg{{syn: true}, {off: 30, data: "far"}, {off: 0, data: "abc"}},
			"data abc"},
		{"receiver_stuck_over_budget", small, true,
			[]seg{{syn: true}, {off: 0, data: "0123456789"}, {off: 10, data: "0123456789"}, {off: 20, data: "x\n"}},
			"data 0123456789|data 0123456789012345|gap 16"},
		{"sequence_wraps", DefaultConfig(), false,
			[]seg{{syn: true, off: 1<<32 - isn - 2}, {off: 1<<32 - isn + 1, data: "cd"}, {off: 1<<32 - isn - 2, data: "xab"}},
			"data xabcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recv{lines: tt.lines}
			run(t, tt.cfg, r, tt.segs...)
			if got := strings.Join(r.log, "|"); got != tt.want {
				t.Errorf("receiver saw %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStreamCounters(t *testing.T) {
	r := &recv{}
	_, _, reg := run(t, DefaultConfig(), r,
		seg{off: 0, data: "abc"}, // no SYN: picked up midstream
		seg{off: 6, data: "ghi"}, // out of order
		seg{off: 6, data: "gXi"}, // overlaps held bytes with different data
		seg{off: 0, data: "abc"}, // retransmitted (already consumed)
		seg{off: 3, data: "def", missing: 2})
	for name, want := range map[string]uint64{
		"midstream_total": 1, "out_of_order_total": 1, "overlap_conflicts_total": 1,
		"retransmitted_bytes_total": 6, "snaplen_bytes_total": 2,
	} {
		if got := counter(reg, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := string(r.got); got != "abcdefghi" {
		t.Errorf("received %q, want abcdefghi (the first copy of ghi)", got)
	}
}

func TestStreamAcked(t *testing.T) {
	reg := metrics.New()
	p := NewPool(DefaultConfig(), reg)
	r := &recv{}
	var s Stream
	s.Add(p, Segment{Seq: isn - 1, SYN: true}, r)
	s.Add(p, Segment{Seq: isn, Data: []byte("abc")}, r)
	// 3 bytes at isn+3 were never captured; the peer acknowledges them.
	s.Acked(p, isn+6, r)
	s.Add(p, Segment{Seq: isn + 6, Data: []byte("ghi")}, r)
	// A hole before held data, acknowledged.
	s.Add(p, Segment{Seq: isn + 12, Data: []byte("mno")}, r)
	s.Acked(p, isn+15, r)
	// The FIN's sequence number is not a lost byte.
	s.Add(p, Segment{Seq: isn + 15, FIN: true}, r)
	s.Acked(p, isn+16, r)
	if got, want := strings.Join(r.log, "|"), "data abc|gap 3|data ghi|gap 3|data mno"; got != want {
		t.Errorf("receiver saw %q, want %q", got, want)
	}
	if !s.Ended() {
		t.Error("Ended() = false after the FIN and every byte before it")
	}
	if got := counter(reg, "lost_bytes_total"); got != 6 {
		t.Errorf("lost_bytes_total = %d, want 6", got)
	}
}

func TestStreamFinishReleases(t *testing.T) {
	reg := metrics.New()
	p := NewPool(DefaultConfig(), reg)
	r := &recv{lines: true, stopAfter: 4}
	var s Stream
	s.Add(p, Segment{Seq: isn, Data: []byte("abc")}, r) // held: no line end
	if p.InUse() == 0 {
		t.Fatal("nothing held for an incomplete line")
	}
	s.Add(p, Segment{Seq: isn + 3, Data: []byte("\nrest")}, r) // the receiver is done
	if !s.Done() || p.InUse() != 0 {
		t.Fatalf("Done %v, InUse %d after the receiver finished; want true, 0", s.Done(), p.InUse())
	}
	s.Add(p, Segment{Seq: isn + 8, Data: []byte("more")}, r)
	if len(r.log) != 2 {
		t.Errorf("receiver called after it finished: %q", r.log)
	}
}

func TestPoolBudget(t *testing.T) {
	cfg := Config{StreamBytes: 4 << 10, MemoryBytes: 8 << 10}
	reg := metrics.New()
	p := NewPool(cfg, reg)
	streams := make([]Stream, 4)
	r := &recv{lines: true}
	for i := range streams {
		// 3000 bytes without a line end: held, a 4 KiB buffer each.
		streams[i].Add(p, Segment{Seq: isn, Data: bytes.Repeat([]byte{'x'}, 3000)}, r)
	}
	if p.held > cfg.MemoryBytes {
		t.Errorf("pool holds %d bytes, budget %d", p.held, cfg.MemoryBytes)
	}
	if got := reg.Stats()["reassembly"].(map[string]any)["skipped_bytes_total"].(map[string]any)["memory"]; got == uint64(0) {
		t.Errorf("nothing counted as skipped for lack of memory")
	}
	for i := range streams {
		streams[i].Finish(p)
	}
	if p.InUse() != 0 {
		t.Errorf("InUse = %d after every stream finished", p.InUse())
	}
	// The buffers are reused, within the budget.
	var s Stream
	s.Add(p, Segment{Seq: isn, Data: bytes.Repeat([]byte{'x'}, 3000)}, r)
	if p.InUse() != 4<<10 || p.held > cfg.MemoryBytes {
		t.Errorf("InUse %d held %d, want 4096 within %d", p.InUse(), p.held, cfg.MemoryBytes)
	}
}

func TestTooManySpans(t *testing.T) {
	r := &recv{}
	_, _, reg := run(t, DefaultConfig(), r, append([]seg{{syn: true}},
		seg{off: 2, data: "a"}, seg{off: 4, data: "b"}, seg{off: 6, data: "c"}, seg{off: 8, data: "d"},
		seg{off: 10, data: "e"}, seg{off: 12, data: "f"}, seg{off: 14, data: "g"}, seg{off: 16, data: "h"},
		seg{off: 18, data: "i"})...)
	stats := reg.Stats()["reassembly"].(map[string]any)["skipped_bytes_total"].(map[string]any)
	if stats["out_of_order"] != uint64(1) {
		t.Errorf("skipped out_of_order = %v, want 1", stats["out_of_order"])
	}
}

// TestStreamAllocatesNothing checks the in-order path and a held partial
// message once the pool is warm.
func TestStreamAllocatesNothing(t *testing.T) {
	p := NewPool(DefaultConfig(), nil)
	r := &lineCounter{}
	var s Stream
	seq := uint32(isn)
	first, second := []byte("GET / HT"), []byte("TP/1.1\n")
	step := func() {
		s.Add(p, Segment{Seq: seq, Data: first}, r)
		s.Add(p, Segment{Seq: seq + 8, Data: second}, r)
		seq += 15
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%.1f allocations per message, want 0", n)
	}
}

// lineCounter consumes whole lines and records nothing.
type lineCounter struct{ lines int }

func (l *lineCounter) Data(b []byte) (int, bool) {
	n := bytes.LastIndexByte(b, '\n') + 1
	if n > 0 {
		l.lines++
	}
	return n, true
}

func (l *lineCounter) Gap(int) bool { return true }

// FuzzStream sends a random stream as shuffled, duplicated, dropped and
// cut segments, with acknowledgements, to a receiver consuming random
// amounts, and checks that every byte handed over is the stream's byte at
// that position and that gaps keep positions aligned.
func FuzzStream(f *testing.F) {
	f.Add(uint64(1), uint16(2000), uint8(10))
	f.Add(uint64(7), uint16(40000), uint8(200))
	f.Fuzz(func(t *testing.T, seed uint64, size uint16, chaos uint8) {
		rng := rand.New(rand.NewPCG(seed, uint64(chaos)))
		truth := make([]byte, int(size)+1)
		for i := range truth {
			truth[i] = byte(rng.IntN(256))
		}
		type piece struct{ off, n int }
		var pieces []piece
		for off := 0; off < len(truth); {
			n := min(1+rng.IntN(1500), len(truth)-off)
			pieces = append(pieces, piece{off, n})
			off += n
		}
		// Shuffle locally, duplicate and drop some.
		for i := range pieces {
			if rng.IntN(256) < int(chaos) {
				j := min(len(pieces)-1, i+rng.IntN(4))
				pieces[i], pieces[j] = pieces[j], pieces[i]
			}
		}
		cfg := Config{StreamBytes: 2048 + rng.IntN(8192), MemoryBytes: 64 << 10}
		p := NewPool(cfg, nil)
		r := &checker{t: t, truth: truth, rng: rng}
		var s Stream
		base := rng.Uint32()
		s.Add(p, Segment{Seq: base - 1, SYN: true}, r)
		for _, pc := range pieces {
			switch x := rng.IntN(256); {
			case x < int(chaos)/4:
				continue // lost in capture
			case x < int(chaos)/2:
				s.Add(p, Segment{Seq: base + uint32(pc.off), Data: truth[pc.off : pc.off+pc.n]}, r)
			}
			cut := 0
			if rng.IntN(256) < int(chaos)/8 {
				cut = rng.IntN(pc.n)
			}
			s.Add(p, Segment{Seq: base + uint32(pc.off), Data: truth[pc.off : pc.off+pc.n-cut], Missing: cut}, r)
			if rng.IntN(4) == 0 {
				s.Acked(p, base+uint32(pc.off+pc.n), r)
			}
		}
		s.Acked(p, base+uint32(len(truth)), r)
		if !s.Done() && r.pos != len(truth) && s.Held() == 0 {
			t.Fatalf("receiver at %d of %d after everything was acknowledged", r.pos, len(truth))
		}
		if p.held > cfg.MemoryBytes {
			t.Fatalf("pool holds %d, budget %d", p.held, cfg.MemoryBytes)
		}
	})
}

type checker struct {
	t     *testing.T
	truth []byte
	pos   int
	rng   *rand.Rand
}

func (c *checker) Data(b []byte) (int, bool) {
	if c.pos+len(b) > len(c.truth) || !bytes.Equal(b, c.truth[c.pos:c.pos+len(b)]) {
		c.t.Fatalf("handed %d bytes at %d that are not the stream's", len(b), c.pos)
	}
	n := len(b)
	if c.rng.IntN(3) == 0 {
		n = c.rng.IntN(len(b) + 1)
	}
	c.pos += n
	return n, true
}

func (c *checker) Gap(n int) bool {
	c.pos += n
	return true
}

func BenchmarkInOrder(b *testing.B) {
	p := NewPool(DefaultConfig(), nil)
	r := &lineCounter{}
	var s Stream
	payload := bytes.Repeat([]byte{'x'}, 1448)
	payload[len(payload)-1] = '\n'
	seq := uint32(isn)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		s.Add(p, Segment{Seq: seq, Data: payload}, r)
		seq += uint32(len(payload))
	}
}
