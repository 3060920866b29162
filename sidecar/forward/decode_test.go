package forward

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/internal/shareddata"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

var testLimits = limits{maxMessage: 1 << 20, maxLog: 64 << 10, maxFields: 4 << 10}

// decodeLines decodes msg and returns the events as JSON lines.
func decodeLines(t *testing.T, d *decoder, msg []byte) []string {
	t.Helper()
	if err := d.decode(msg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	d.link()
	var out []string
	for i := range d.events {
		out = append(out, string(d.events[i].AppendJSON(nil)))
	}
	return out
}

// The captures are Fluent Bit 4.2.2's out_forward: Forward mode with
// array32/map32 headers, and CompressedPackedForward with the ack option.
func TestDecodeFluentBitCaptures(t *testing.T) {
	want := `{"timestamp":"2023-11-14T22:13:20.123456+0000","event_type":"log","log":{"message":"hello","source":"stdout","format":"forward","transport":"tcp","tag":"web-firelens-x"},"aws_ecs":{"container":{"id":"abc123","name":"web"}}}`
	tests := []struct {
		file      string
		mode      Mode
		wantChunk string
	}{
		{"syslog/forward-out-plain.bin", ModeForward, ""},
		{"syslog/forward-out-gzip-ack.bin", ModeCompressed, "13f18340ff87922e2cf2c520b15f4534"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(tt.file, "syslog/forward-out-"), ".bin"), func(t *testing.T) {
			msg, err := os.ReadFile(shareddata.Path(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if end, _, _, err := scan(msg, 0, 1); err != nil || end != len(msg) {
				t.Fatalf("scan = %d, %v; want the whole %d-byte capture", end, err, len(msg))
			}
			d := newDecoder(testLimits, "tcp", unbounded())
			got := decodeLines(t, d, msg)
			if diff := cmp.Diff([]string{want}, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if d.mode != tt.mode {
				t.Errorf("mode = %v, want %v", d.mode, tt.mode)
			}
			var chunk string
			if d.chunk != nil {
				r := reader{b: d.chunk}
				b, _ := r.bytes()
				chunk = string(b)
			}
			if chunk != tt.wantChunk {
				t.Errorf("chunk = %q, want %q", chunk, tt.wantChunk)
			}
			eveschema.New(t).ValidateLines(t, []byte(strings.Join(got, "\n")+"\n"))
		})
	}
}

func TestDecodeModes(t *testing.T) {
	one := `{"timestamp":"2023-11-14T22:13:20.500000+0000","event_type":"log","log":{"message":"hi","source":"stderr","format":"forward","transport":"unix","tag":"app-firelens-1"},"aws_ecs":{"container":{"id":"c1","name":"app"}}}`
	rec := []string{"container_id", "c1", "container_name", "app", "source", "stderr", "log", "hi"}
	entries := func() []byte {
		m := &mp{}
		m.entry(1700000000, 500000000, rec...)
		m.entry(1700000000, 500000000, rec...)
		return m.b
	}
	tests := []struct {
		name string
		msg  []byte
		mode Mode
		n    int
	}{
		{"message_eventtime", (&mp{}).arr(3).str("app-firelens-1").etime(1700000000, 500000000).record(rec...).b, ModeMessage, 1},
		{"message_ext8_time_with_option", (&mp{}).arr(4).str("app-firelens-1").raw(0xc7, 8, 0, 0x65, 0x53, 0xf1, 0x00, 0x1d, 0xcd, 0x65, 0x00).record(rec...).options("abc", 1).b, ModeMessage, 1},
		{"forward_wide_headers", func() []byte {
			m := &mp{wide: true}
			m.arr(3).str("app-firelens-1").arr(2)
			m.entry(1700000000, 500000000, rec...)
			m.entry(1700000000, 500000000, rec...)
			return m.options("abc", 2).b
		}(), ModeForward, 2},
		{"forward_with_metadata", func() []byte {
			m := &mp{}
			m.arr(2).str("app-firelens-1").arr(1).arr(2).arr(2).etime(1700000000, 500000000).mapn(0).record(rec...)
			return m.b
		}(), ModeForward, 1},
		{"packed_bin", (&mp{}).arr(3).str("app-firelens-1").bin(entries()).options("abc", 2).b, ModePacked, 2},
		{"packed_str", (&mp{}).arr(2).str("app-firelens-1").str(string(entries())).b, ModePacked, 2},
		{"compressed_two_members", (&mp{}).arr(3).str("app-firelens-1").bin(gzipBytes(t, entries(), entries())).options("abc", 4, "compressed", "gzip").b, ModeCompressed, 4},
		{"option_nil", (&mp{}).arr(3).str("app-firelens-1").arr(1).entry(1700000000, 500000000, rec...).raw(0xc0).b, ModeForward, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(testLimits, "unix", unbounded())
			got := decodeLines(t, d, tt.msg)
			want := make([]string, tt.n)
			for i := range want {
				want[i] = one
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if d.mode != tt.mode {
				t.Errorf("mode = %v, want %v", d.mode, tt.mode)
			}
		})
	}
}

func TestDecodeRecordMapping(t *testing.T) {
	m := &mp{}
	m.arr(2).str("web-firelens-0123").arr(1).arr(2).uint(1700000000)
	m.mapn(12).kv(dockerRecord("{\"level\":\"error\"}")...)
	m.kv("partial_message", "true")
	m.str("nested").mapn(3).str("n").uint(7).str("list").arr(3).raw(0xc3).raw(0xc0).raw(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).str("neg").raw(0xd0, 0x85)
	m.str("bytes").bin([]byte("a\x00\"\xff"))
	m.str("when").etime(1700000000, 5)
	m.kv("source", "stderr") // a repeated key: the last one wins
	d := newDecoder(testLimits, "tcp", unbounded())
	got := decodeLines(t, d, m.b)
	want := `{"timestamp":"2023-11-14T22:13:20.000000+0000","event_type":"log","log":{"message":"{\"level\":\"error\"}","source":"stderr","format":"forward","transport":"tcp","tag":"web-firelens-0123","fields":{"partial_message":"true","nested":{"n":7,"list":[true,null,1.5],"neg":-123},"bytes":"a\u0000\"\ufffd","when":1700000000.000000005}},"aws_ecs":{"cluster":"prod-cluster","task_arn":"arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/0123456789abcdef0123456789abcdef","family":"web-task","revision":"7","container":{"id":"0123456789abcdef0123456789abcdef-2495160603","name":"web"}}}`
	if diff := cmp.Diff([]string{want}, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got[0]), &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	eveschema.New(t).ValidateLines(t, []byte(got[0]+"\n"))
}

func TestDecodeTruncation(t *testing.T) {
	lim := limits{maxMessage: 1 << 20, maxLog: 1024, maxFields: 1024}
	tests := []struct {
		name       string
		record     func(*mp)
		wantMsgLen int
		wantFields string
	}{
		{"log_cut_at_limit", func(m *mp) { m.record("log", strings.Repeat("a", 5000)) }, 1024, ""},
		{"log_cut_before_a_split_character", func(m *mp) { m.record("log", strings.Repeat("a", 1023)+"é"+"tail") }, 1023, ""},
		{"fields_beyond_limit_left_out", func(m *mp) { m.record("log", "x", "small", "1", "big", strings.Repeat("b", 2000), "after", "2") }, 1, `{"small":"1","after":"2"}`},
		{"non_string_key_left_out", func(m *mp) { m.mapn(2).kv("log", "x").uint(5).str("v") }, 1, ""},
		{"too_deep_value_is_null", func(m *mp) {
			m.mapn(2).kv("log", "x").str("deep")
			for range maxDepth + 3 {
				m.arr(1)
			}
			m.uint(1)
		}, 1, `{"deep":` + strings.Repeat("[", maxDepth) + "null" + strings.Repeat("]", maxDepth) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &mp{}
			m.arr(3).str("t").uint(1)
			tt.record(m)
			d := newDecoder(lim, "tcp", unbounded())
			if err := d.decode(m.b); err != nil {
				t.Fatal(err)
			}
			d.link()
			l := d.events[0].Log
			if !l.Truncated || d.truncated != 1 {
				t.Errorf("truncated = %v (count %d), want true (1)", l.Truncated, d.truncated)
			}
			if len(l.Message) != tt.wantMsgLen || string(l.Fields) != tt.wantFields {
				t.Errorf("message %d bytes, fields %s; want %d bytes, fields %s", len(l.Message), l.Fields, tt.wantMsgLen, tt.wantFields)
			}
		})
	}
}

// Every bad input the issue names, and then some: rejected with an error
// naming its class, never a panic; the receiver counts it and closes.
func TestDecodeRejects(t *testing.T) {
	good := (&mp{}).arr(3).str("t").etime(1, 2).record("log", "x").b
	bomb := gzipBytes(t, make([]byte, 2<<20)) // 2 MiB of zeros in ~2 KiB
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"not_an_array", (&mp{}).record("log", "x").b, errMessageShape},
		{"one_element", (&mp{}).arr(1).str("t").b, errMessageShape},
		{"five_elements", (&mp{}).arr(5).str("t").uint(1).record().raw(0xc0, 0xc0).b, errMessageShape},
		{"tag_not_string", (&mp{}).arr(3).uint(1).uint(1).record().b, errWrongType},
		{"truncated_record", good[:len(good)-1], errShort},
		{"trailing_bytes", append(append([]byte{}, good...), 0xc0), errMessageShape},
		{"reserved_byte", (&mp{}).arr(3).str("t").raw(0xc1).record().b, errNeverUsed},
		{"time_is_string", (&mp{}).arr(2).str("t").arr(1).arr(2).str("now").record().b, errWrongType},
		{"time_ext_type_1", (&mp{}).arr(3).str("t").raw(0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0).record().b, errWrongType},
		{"record_not_map", (&mp{}).arr(3).str("t").uint(1).str("log").b, errWrongType},
		{"entry_of_three", (&mp{}).arr(2).str("t").arr(1).arr(3).uint(1).record().raw(0xc0).b, errEntryShape},
		{"option_not_map", (&mp{}).arr(3).str("t").arr(0).uint(3).b, errOption},
		{"chunk_not_string", (&mp{}).arr(3).str("t").arr(0).mapn(1).str("chunk").uint(3).b, errOption},
		{"compression_zstd", (&mp{}).arr(3).str("t").bin([]byte{1}).record("compressed", "zstd").b, errCompression},
		{"gzip_garbage", (&mp{}).arr(3).str("t").bin([]byte{0x1f, 0x8b, 8, 0, 1, 2}).record("compressed", "gzip").b, errGzip},
		{"gzip_bomb", (&mp{}).arr(3).str("t").bin(bomb).record("compressed", "gzip").b, errTooLarge},
		{"packed_entry_truncated", (&mp{}).arr(2).str("t").bin(good[:8]).b, errEntryShape},
		{"never_ending_array", append((&mp{}).arr(2).str("t").raw(0xdd, 0xff, 0xff, 0xff, 0xff).b, (&mp{}).entry(1, 1, "log", "x").b...), errShort},
		{"two_gb_string", (&mp{}).arr(3).str("t").uint(1).mapn(1).str("log").raw(0xdb, 0x7f, 0xff, 0xff, 0xff).b, errShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(testLimits, "tcp", unbounded())
			err := d.decode(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Errorf("decode = %v, want %v", err, tt.want)
			}
		})
	}
}

// scan resumed after every byte finds the same end as one scan of the
// whole, and reports a size claim as soon as its header is in.
func TestScanResumes(t *testing.T) {
	m := &mp{wide: true}
	m.arr(3).str("web-firelens-x").arr(3)
	for range 3 {
		m.entry(1700000000, 1, dockerRecord(strings.Repeat("z", 300))...)
	}
	m.options("0123456789abcdef0123456789abcdef", 3)
	msg := m.b
	off, pending := 0, uint64(1)
	for n := 1; n <= len(msg); n++ {
		end, left, _, err := scan(msg[:n], off, pending)
		if err == nil {
			if n != len(msg) || end != len(msg) {
				t.Fatalf("complete after %d of %d bytes at %d", n, len(msg), end)
			}
			return
		}
		if !errors.Is(err, errShort) {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		off, pending = end, left
	}
	t.Fatal("never complete")
}

func TestScanReportsSizeClaim(t *testing.T) {
	msg := (&mp{}).arr(3).str("t").raw(0xc6, 0x80, 0, 0, 0).b // bin32 of 2 GiB
	_, _, need, err := scan(msg, 0, 1)
	if !errors.Is(err, errShort) || need < 1<<31 {
		t.Errorf("scan = need %d, %v; want errShort and a need of at least 2 GiB", need, err)
	}
}

// The decoder's events keep no memory of their own: after reuse, the
// earlier message's strings would change, which is why the receiver syncs
// first. This pins that contract.
func TestDecoderReusesItsBuffers(t *testing.T) {
	d := newDecoder(testLimits, "tcp", unbounded())
	msg := (&mp{}).arr(3).str("t").uint(1).record("log", "first", "k", "v").b
	if err := d.decode(msg); err != nil {
		t.Fatal(err)
	}
	fields := &d.fields[0]
	if err := d.decode(msg); err != nil {
		t.Fatal(err)
	}
	if &d.fields[0] != fields {
		t.Error("fields arena not reused between messages")
	}
	var _ event.Event = d.events[0]
}
