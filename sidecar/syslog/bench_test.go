package syslog

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc3164"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
)

// line200 is a 200-byte RFC 3164 line as Fluent Bit writes it.
var line200 = func() []byte {
	head := "<14>Nov 14 22:13:20 cd189a933e5849daa93386466019ab50-2495160603 web[1]: "
	msg := `10.0.1.23 - - [14/Nov/2023:22:13:20 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.4.0"`
	l := head + msg
	return []byte(l + strings.Repeat(".", 200-len(l)))
}()

var sinkEvent *event.Event

// BenchmarkParseEvent3164 is the per-record hot path: parse a 200-byte
// Fluent Bit RFC 3164 line and build its event. It allocates nothing: the
// record's strings are views of the frame and the event is the reader's
// reusable one (see logEvent).
func BenchmarkParseEvent3164(b *testing.B) {
	if len(line200) != 200 {
		b.Fatalf("line is %d bytes", len(line200))
	}
	p := newParser(time.Now)
	var le logEvent
	b.ReportAllocs()
	b.SetBytes(int64(len(line200)))
	for b.Loop() {
		r := p.parse(line200, false)
		sinkEvent = le.set(&r, "tcp")
	}
}

// BenchmarkParseEvent3164GoSyslog is the same with go-syslog's RFC 3164
// machine, for comparison (not used: see parse3164).
func BenchmarkParseEvent3164GoSyslog(b *testing.B) {
	m := rfc3164.NewMachine(rfc3164.WithBestEffort(), rfc3164.WithEmbeddedNewlines(), rfc3164.WithYear(rfc3164.CurrentYear{}))
	var le logEvent
	b.ReportAllocs()
	b.SetBytes(int64(len(line200)))
	for b.Loop() {
		msg, err := m.Parse(line200)
		if err != nil {
			b.Fatal(err)
		}
		sm := msg.(*rfc3164.SyslogMessage)
		r := firelens.Record{Time: *sm.Timestamp, ContainerID: deref(sm.Hostname), ContainerName: deref(sm.Appname), ProcID: deref(sm.ProcID), Message: deref(sm.Message), Format: firelens.FormatRFC3164}
		sinkEvent = le.set(&r, "tcp")
	}
}

// BenchmarkParseEvent5424 parses a Fluent Bit RFC 5424 line of about 200
// bytes with go-syslog.
func BenchmarkParseEvent5424(b *testing.B) {
	line := []byte("<14>1 2023-11-14T22:13:20.123456Z cd189a933e5849daa93386466019ab50-2495160603 web 1 - - \xEF\xBB\xBF" +
		`10.0.1.23 - - [14/Nov/2023:22:13:20 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.4.0"`)
	p := newParser(time.Now)
	var le logEvent
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		r := p.parse(line, false)
		sinkEvent = le.set(&r, "tcp")
	}
}

// BenchmarkFramerParse3164 is what a connection does per line: a
// 1000-line stream is cut, parsed and turned into events (per op: one
// line).
func BenchmarkFramerParse3164(b *testing.B) {
	const lines = 1000
	stream := bytes.Repeat(append(append([]byte(nil), line200...), '\n'), lines)
	p := newParser(time.Now)
	var le logEvent
	f := newFramer(DefaultConfig().maxFrame(), newReceiverMetrics(metrics.New()), func(frame []byte, truncated bool) {
		r := p.parse(frame, truncated)
		sinkEvent = le.set(&r, "tcp")
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(line200) + 1))
	for i := 0; b.Loop(); i++ {
		if i%lines == 0 {
			p.at = time.Now() // as a connection does per read
			f.feed(stream[:len(stream)/2])
			f.feed(stream[len(stream)/2:])
		}
	}
}

type discard struct{}

func (discard) Publish(context.Context, event.Event) error { return nil }

// BenchmarkReceiverTCP is end to end over loopback TCP into a publisher
// that discards: one sender connection, 200-byte lines (per op: one line).
func BenchmarkReceiverTCP(b *testing.B) {
	reg := metrics.New()
	r, stop := serve(b, testConfig(), discard{}, reg, time.Now)
	tcp, _ := r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		b.Fatal(err)
	}
	const batch = 256
	chunk := bytes.Repeat(append(append([]byte(nil), line200...), '\n'), batch)
	b.ReportAllocs()
	b.SetBytes(int64(len(line200) + 1))
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		n := min(batch, b.N-sent)
		if _, err := c.Write(chunk[:n*(len(line200)+1)]); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	c.Close()
	for r.m.records[firelens.FormatRFC3164].Load() < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	stop(time.Second)
}

// nullSink takes batches and drops them.
type nullSink struct{}

func (nullSink) Name() string                        { return "null" }
func (nullSink) Write(context.Context, []byte) error { return nil }
func (nullSink) Flush(context.Context) error         { return nil }
func (nullSink) Close() error                        { return nil }

// logPath runs a receiver into a real pipeline (enrichment and JSON
// encoding included) with a sink that drops, and returns a function that
// sends n 200-byte lines over one TCP connection and waits until the
// pipeline has written them.
func logPath(tb testing.TB) (send func(n int)) {
	reg := metrics.New()
	p := pipeline.New(pipeline.Config{}, reg, nil, nullSink{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { p.Run(ctx); close(ran) }()
	r, stop := serve(tb, testConfig(), p, reg, time.Now)
	tb.Cleanup(func() {
		stop(time.Second)
		cancel()
		<-ran
		p.Drain(context.Background())
		p.Close()
	})
	tcp, _ := r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	const batch = 256
	chunk := bytes.Repeat(append(append([]byte(nil), line200...), '\n'), batch)
	var total uint64
	return func(n int) {
		for sent := 0; sent < n; {
			k := min(batch, n-sent)
			if _, err := c.Write(chunk[:k*(len(line200)+1)]); err != nil {
				tb.Fatal(err)
			}
			sent += k
		}
		total += uint64(n)
		for r.m.records[firelens.FormatRFC3164].Load() < total || queued(reg) > 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func queued(reg *metrics.Registry) uint64 {
	v, _ := reg.Stats()["pipeline"].(map[string]any)["queue_events"].(uint64)
	return v
}

// TestLogPathAllocatesNothingPerLine is the log path's zero-allocation
// guarantee (issue 11): socket read, framing, RFC 3164 parse, publish,
// enrichment, JSON encoding and the sink write allocate nothing per line
// in steady state. What remains is per read or per batch (deadline timers,
// wake-ups), far below one per line.
func TestLogPathAllocatesNothingPerLine(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200,000 lines")
	}
	send := logPath(t)
	send(50000) // warm up: buffers and blocks reach their steady size
	const n = 200000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send(n)
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 0.02 {
		t.Errorf("%.3f allocations per line (%d for %d lines), want none in steady state", per, after.Mallocs-before.Mallocs, n)
	}
}

// BenchmarkLogPathTCP is the whole log path per line over loopback TCP:
// receiver, pipeline with enrichment and encoding, a sink that drops.
func BenchmarkLogPathTCP(b *testing.B) {
	send := logPath(b)
	send(10000)
	b.ReportAllocs()
	b.SetBytes(int64(len(line200) + 1))
	b.ResetTimer()
	send(b.N)
}
