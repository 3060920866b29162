package applayer

import (
	"runtime"
	"testing"
	"time"
)

func BenchmarkTmpGenpcap(b *testing.B) {
	frames := pack(readFrames(b, "/tmp/appcost-bench.pcap"))
	runtime.GC()
	var cpu [2]time.Duration
	passes := 0
	for b.Loop() {
		for app := range 2 {
			d, _ := replayPacked(frames, app == 1)
			cpu[app] += d
		}
		passes++
	}
	pkts := float64(passes * len(frames.ts))
	b.ReportMetric(float64(cpu[0])/pkts, "flow-cpu-ns/pkt")
	b.ReportMetric(float64(cpu[1])/pkts, "app-cpu-ns/pkt")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "x_flow_only")
}
