package syslog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

type frame struct {
	Text      string
	Truncated bool
}

// frames feeds the chunks to a new framer (idle between the chunks when
// idle is set) and returns what it emits and its metrics.
func frames(max int, chunks []string, idle bool) ([]frame, *receiverMetrics) {
	var out []frame
	m := newReceiverMetrics(metrics.New())
	f := newFramer(max, m, func(b []byte, truncated bool) {
		out = append(out, frame{string(b), truncated})
	})
	for _, c := range chunks {
		f.feed([]byte(c))
		if idle {
			f.idle()
		}
	}
	f.end()
	return out, m
}

const h1 = "<14>Nov 14 22:13:20 abc123 web[1]: "

var framerTests = []struct {
	name   string
	max    int
	chunks []string
	idle   bool // call idle after each chunk
	want   []frame
}{
	{"one_line", 100, []string{h1 + "hello\n"}, false, []frame{{h1 + "hello", false}}},
	{"no_final_newline", 100, []string{h1 + "hello"}, false, []frame{{h1 + "hello", false}}},
	{"two_lines", 100, []string{h1 + "a\n" + h1 + "b\n"}, false, []frame{{h1 + "a", false}, {h1 + "b", false}}},
	{"continuation", 200, []string{h1 + "line1\nline2\n\tat x\n"}, false, []frame{{h1 + "line1\nline2\n\tat x", false}}},
	{"blank_line_inside_record", 200, []string{h1 + "a\n\nb\n"}, false, []frame{{h1 + "a\n\nb", false}}},
	{"raw_lt_is_its_own_record", 200, []string{h1 + "line1\nline2\n<html>starts with lt\n" + h1 + "x\n"}, false,
		[]frame{{h1 + "line1\nline2", false}, {"<html>starts with lt", false}, {h1 + "x", false}}},
	{"raw_lt_takes_continuations", 200, []string{"<a>\n  <b/>\n<14>Nov 14 22:13:20 x\n"}, false,
		[]frame{{"<a>\n  <b/>", false}, {"<14>Nov 14 22:13:20 x", false}}},
	{"text_without_record", 100, []string{"garbage\n" + h1 + "x\n"}, false, []frame{{"garbage", false}, {h1 + "x", false}}},
	{"blank_lines_outside_records", 100, []string{"\n\n" + h1 + "x\n"}, false, []frame{{h1 + "x", false}}},
	{"idle_flushes_held_record", 200, []string{h1 + "a\n", "\tat b\n"}, true, []frame{{h1 + "a", false}, {"\tat b", false}}},
	{"idle_waits_for_line_end", 200, []string{h1 + "a", "bc\n"}, true, []frame{{h1 + "abc", false}}},
	{"split_header", 200, []string{"<14>Nov 1", "4 22:13:20 abc123 web[1]: hi\n"}, false, []frame{{h1 + "hi", false}}},
	{"long_line_truncated_once", 40, []string{h1 + strings.Repeat("x", 100) + "\n" + h1 + "y\n"}, false,
		[]frame{{(h1 + strings.Repeat("x", 100))[:40], true}, {h1 + "y", false}}},
	{"continuations_truncated", 40, []string{h1 + "a\n" + strings.Repeat("z", 50) + "\n"}, false,
		[]frame{{(h1 + "a\n" + strings.Repeat("z", 50))[:40], true}}},
	{"octet_counted", 100, []string{"5 hello6 world!"}, false, []frame{{"hello", false}, {"world!", false}}},
	{"octet_counted_split", 100, []string{"1", "3 <14>Nov 1", "4 22"}, false, []frame{{"<14>Nov 14 22", false}}},
	{"octet_counted_with_newlines", 100, []string{"11 line1\nline2\n5 third\n"}, false, []frame{{"line1\nline2", false}, {"third", false}}},
	{"octet_counted_oversize", 4, []string{"10 0123456789", "3 abc"}, false, []frame{{"0123", true}, {"abc", false}}},
	{"octet_count_999999999", 8, []string{"999999999 abcdefghij"}, false, []frame{{"abcdefgh", true}}},
	{"octet_count_too_long", 100, []string{"1234567890 x\n"}, false, []frame{{"1234567890 x", false}}},
	{"octet_count_not_a_number", 100, []string{"12x y\n" + h1 + "z\n"}, false, []frame{{"12x y", false}, {h1 + "z", false}}},
	{"octet_frame_cut_by_eof", 100, []string{"10 abc"}, false, []frame{{"abc", true}}},
	{"octet_length_cut_by_eof", 100, []string{"5 hello12"}, false, []frame{{"hello", false}, {"12", false}}},
	{"empty_stream", 100, nil, false, nil},
}

func TestFramer(t *testing.T) {
	for _, tt := range framerTests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := frames(tt.max, tt.chunks, tt.idle)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frames(%q) mismatch (-want +got):\n%s", tt.chunks, diff)
			}
			if tt.idle {
				return
			}
			// Without idle calls, how the bytes are chunked must not matter.
			joined := strings.Join(tt.chunks, "")
			var bytewise []string
			for i := range len(joined) {
				bytewise = append(bytewise, joined[i:i+1])
			}
			got, _ = frames(tt.max, bytewise, false)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("byte-at-a-time frames(%q) mismatch (-want +got):\n%s", joined, diff)
			}
		})
	}
}

func TestFramerCounters(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		stream  string
		counter func(*receiverMetrics) *metrics.Counter
		want    uint64
	}{
		{"invalid_octet_count", 100, "12x y\n", func(m *receiverMetrics) *metrics.Counter { return m.invalidOctetCount }, 1},
		{"oversize_octet_count", 4, "10 0123456789", func(m *receiverMetrics) *metrics.Counter { return m.oversizeOctetCount }, 1},
		{"short_frame", 100, "10 abc", func(m *receiverMetrics) *metrics.Counter { return m.shortFrame }, 1},
		{"empty_lines", 100, "\n\n\n", func(m *receiverMetrics) *metrics.Counter { return m.emptyLines }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m := frames(tt.max, []string{tt.stream}, false)
			if got := tt.counter(m).Load(); got != tt.want {
				t.Errorf("counter after %q = %d, want %d", tt.stream, got, tt.want)
			}
		})
	}
}

// FuzzFramer checks that any stream is framed in bounded memory, the same
// way however it is chunked, and that line framing loses no byte of an
// untruncated stream.
func FuzzFramer(f *testing.F) {
	for _, tt := range framerTests {
		f.Add(strings.Join(tt.chunks, ""), uint16(7))
	}
	f.Fuzz(func(t *testing.T, stream string, split uint16) {
		const max = 64
		whole, _ := frames(max, []string{stream}, false)
		cut := int(split) % (len(stream) + 1)
		parts, _ := frames(max, []string{stream[:cut], stream[cut:]}, false)
		if diff := cmp.Diff(whole, parts); diff != "" {
			t.Fatalf("frames differ when split at %d (-whole +split):\n%s", cut, diff)
		}
		total := 0
		truncated := false
		for _, fr := range whole {
			if len(fr.Text) > max {
				t.Fatalf("frame of %d bytes exceeds max %d", len(fr.Text), max)
			}
			total += len(fr.Text)
			truncated = truncated || fr.Truncated
		}
		if stream != "" && (stream[0] < '1' || stream[0] > '9') && !truncated {
			// Line framing: every byte but the newlines between records and
			// blank lines ends up in a frame.
			if want := len(strings.ReplaceAll(stream, "\n", "")); total < want {
				t.Fatalf("frames hold %d non-newline bytes, stream has %d", total, want)
			}
		}
	})
}

// TestFramerMemoryBounded feeds a 10 MiB line in read-sized chunks and
// checks that the record buffer never grows beyond max.
func TestFramerMemoryBounded(t *testing.T) {
	const max = 786432 + headerRoom
	var emitted int
	f := newFramer(max, newReceiverMetrics(metrics.New()), func(b []byte, truncated bool) { emitted++ })
	chunk := []byte(strings.Repeat("x", readBufSize))
	f.feed([]byte(h1))
	for range (10 << 20) / readBufSize {
		f.feed(chunk)
		if c := cap(f.rec); c > max {
			t.Fatalf("record buffer capacity %d exceeds max %d", c, max)
		}
	}
	f.feed([]byte("\n" + h1 + "next\n"))
	f.end()
	if emitted != 2 {
		t.Errorf("emitted %d records, want 2", emitted)
	}
	if cap(f.rec) > keepRecordCap {
		t.Errorf("record buffer of %d bytes kept after a large record, want at most %d", cap(f.rec), keepRecordCap)
	}
}
