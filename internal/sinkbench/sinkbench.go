// Package sinkbench measures a sink in a benchmark: events per second
// through Write and Flush, CPU time per event and the process's peak RSS.
package sinkbench

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Sink is what is measured (pipeline.Sink's write side).
type Sink interface {
	Write(ctx context.Context, lines []byte) error
	Flush(ctx context.Context) error
}

// Line is a typical log event of about 330 bytes.
func Line(i int) string {
	ts := time.Now().UTC().Add(time.Duration(i) * time.Microsecond)
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"log","log":{"message":"GET /api/v1/items/%d 200 0.012s user-agent=curl/8.5 %s","source":"app","format":"rfc3164","transport":"tcp"},"ecs":{"cluster":"prod","task_arn":"arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef"}}`,
		ts.Format("2006-01-02T15:04:05.000000-0700"), i, strings.Repeat("x", 60))
}

// Run writes b.N events in batches of 500 lines and flushes, reporting
// events/s, CPU µs per event and peak RSS in MB (ru_maxrss is KiB on Linux).
func Run(b *testing.B, s Sink) {
	b.Helper()
	var batch []byte
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		batch = append(batch, Line(i)+"\n"...)
		if len(batch) > 0 && (i%500 == 499 || i == b.N-1) {
			if err := s.Write(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(after.Maxrss)/1024, "peak-RSS-MB")
}
