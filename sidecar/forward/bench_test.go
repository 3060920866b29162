package forward

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/chunk.msgpack")

// chunkRecords is the number of records in testdata/chunk.msgpack.
const chunkRecords = 200

// benchChunk is a Fluent Bit-style Forward message (array32/map32
// headers, EventTime) of log-driver records with FireLens metadata and a
// few structured keys: the input of every msgpack benchmark, including
// the library comparison in msgpackcmp/.
func benchChunk() []byte {
	m := &mp{wide: true}
	m.arr(3).str("sidewatch.web-firelens-0123456789abcdef0123456789abcdef").arr(chunkRecords)
	for i := range chunkRecords {
		m.arr(2).etime(1700000000+uint32(i), 123456789)
		m.mapn(10).kv(dockerRecord(fmt.Sprintf("%d GET /api/v1/items?page=%d HTTP/1.1 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=0.%03d", i, i%50, i%1000))...)
		m.kv("partial_message", "false", "level", "info")
		m.str("request").mapn(2).kv("method", "GET").str("status").uint(200)
	}
	return m.options("0123456789abcdef0123456789abcdef", chunkRecords).b
}

// TestGoldenChunk keeps testdata/chunk.msgpack equal to benchChunk (make
// golden rewrites it).
func TestGoldenChunk(t *testing.T) {
	path := filepath.Join("testdata", "chunk.msgpack")
	want := benchChunk()
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(want) {
		t.Fatalf("%s differs from benchChunk (%v): run make golden", path, err)
	}
}

// BenchmarkDecode is the per-record cost of the receiver's decoder on a
// Fluent Bit chunk: framing scan, decode, log.fields as JSON. Steady
// state (buffers reused between messages) allocates nothing.
func BenchmarkDecode(b *testing.B) {
	msg := benchChunk()
	d := newDecoder(limits{maxMessage: 64 << 20, maxLog: 1 << 20, maxFields: 256 << 10}, "tcp", unbounded())
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := scan(msg, 0, 1); err != nil {
			b.Fatal(err)
		}
		if err := d.decode(msg); err != nil {
			b.Fatal(err)
		}
		d.link()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkRecords), "ns/record")
}

// BenchmarkDecodeEncode adds the pipeline's EVE encoding of each record.
func BenchmarkDecodeEncode(b *testing.B) {
	msg := benchChunk()
	d := newDecoder(limits{maxMessage: 64 << 20, maxLog: 1 << 20, maxFields: 256 << 10}, "tcp", unbounded())
	buf := make([]byte, 0, 1<<20)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.decode(msg); err != nil {
			b.Fatal(err)
		}
		d.link()
		buf = buf[:0]
		for i := range d.events {
			buf = d.events[i].AppendJSON(buf)
			buf = append(buf, '\n')
		}
	}
	if !strings.Contains(string(buf), `"fields":{"partial_message":"false","level":"info","request":{"method":"GET","status":200}}`) {
		b.Fatalf("unexpected encoding: %.300s", buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkRecords), "ns/record")
}

func TestDecodeAllocatesNothingPerRecord(t *testing.T) {
	msg := benchChunk()
	d := newDecoder(limits{maxMessage: 64 << 20, maxLog: 1 << 20, maxFields: 256 << 10}, "tcp", unbounded())
	if err := d.decode(msg); err != nil { // warm: buffers sized
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := d.decode(msg); err != nil {
			t.Fatal(err)
		}
		d.link()
	})
	if allocs != 0 {
		t.Errorf("decode of a %d-record chunk allocates %.1f times in steady state, want 0", chunkRecords, allocs)
	}
}
