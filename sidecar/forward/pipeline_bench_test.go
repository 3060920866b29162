package forward

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
)

type discardSink struct{}

func (discardSink) Name() string                        { return "discard" }
func (discardSink) Write(context.Context, []byte) error { return nil }
func (discardSink) Flush(context.Context) error         { return nil }
func (discardSink) Close() error                        { return nil }

// BenchmarkReceiverPipeline is the sidecar's whole path for forward
// records over a unix socket: read, decode, Publish, the pipeline's
// encoding, Sync, ack; the sink discards.
func BenchmarkReceiverPipeline(b *testing.B) {
	reg := metrics.New()
	p := pipeline.New(pipeline.Config{}, reg, nil, discardSink{})
	ctx, cancel := context.WithCancel(context.Background())
	pdone := make(chan error, 1)
	go func() { pdone <- p.Run(ctx) }()
	cfg := DefaultConfig()
	cfg.TCPAddr = ""
	cfg.UnixPath = filepath.Join(b.TempDir(), "f.sock")
	r, err := listen(cfg, p, reg)
	if err != nil {
		b.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	c, err := net.Dial("unix", cfg.UnixPath)
	if err != nil {
		b.Fatal(err)
	}
	msg := benchChunk()
	ack := make([]byte, 64)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(ack); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkRecords), "ns/record")
	c.Close()
	rcancel()
	<-rdone
	cancel()
	<-pdone
}
