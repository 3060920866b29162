package flow

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// benchMix is a realistic packet mix over 1024 concurrent flows: mostly TCP
// (IPv4 and IPv6, bulk data and ACKs, some on port 443), DNS over UDP and a
// little ICMP.
func benchMix(b *testing.B) [][]byte {
	var frames [][]byte
	for i := range 1024 {
		c := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		c6 := fmt.Sprintf("fd00::1:%x", i+1)
		switch i % 8 {
		case 0, 1, 2:
			frames = append(frames,
				ethFrame(b, seg{src: c, dst: "10.0.0.2", sport: uint16(30000 + i), dport: 443, proto: protoTCP, flags: tcpACK | tcpPSH, seq: 1, ack: 1, payload: 1400}),
				ethFrame(b, seg{src: "10.0.0.2", dst: c, sport: 443, dport: uint16(30000 + i), proto: protoTCP, flags: tcpACK, seq: 1, ack: 1401}))
		case 3, 4:
			frames = append(frames,
				ethFrame(b, seg{src: c6, dst: "fd00::2", sport: uint16(30000 + i), dport: 80, proto: protoTCP, flags: tcpACK | tcpPSH, seq: 1, ack: 1, payload: 300}),
				ethFrame(b, seg{src: "fd00::2", dst: c6, sport: 80, dport: uint16(30000 + i), proto: protoTCP, flags: tcpACK, seq: 1, ack: 301}))
		case 5, 6:
			frames = append(frames,
				ethFrame(b, seg{src: c, dst: "10.0.0.53", sport: uint16(30000 + i), dport: 53, proto: protoUDP, payload: 40}),
				ethFrame(b, seg{src: "10.0.0.53", dst: c, sport: 53, dport: uint16(30000 + i), proto: protoUDP, payload: 120}))
		case 7:
			frames = append(frames,
				ethFrame(b, seg{src: c, dst: "10.0.0.2", proto: protoICMP, icmpType: 8, payload: 56}),
				ethFrame(b, seg{src: "10.0.0.2", dst: c, proto: protoICMP, icmpType: 0, payload: 56}))
		}
	}
	return frames
}

func BenchmarkPacket(b *testing.B) { benchPacket(b) }

func benchPacket(b *testing.B, inspectors ...Inspector) {
	frames := benchMix(b)
	tab := NewTable(DefaultConfig(), &recorder{}, nil, inspectors...)
	ts := t0
	for _, f := range frames { // create the flows outside the timing
		tab.Packet(ts, "eth1", LinkTypeEthernet, f, len(f))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, cpuOK := threadCPU()
	n := 0
	for i := 0; b.Loop(); i++ {
		f := frames[i%len(frames)]
		tab.Packet(ts.Add(time.Duration(i)), "eth1", LinkTypeEthernet, f, len(f))
		n++
	}
	if cpu1, ok := threadCPU(); ok && cpuOK && n > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkTableMemory reports the heap held by a table with 65536 open
// flows (metric heap_MiB, after a GC) and the process's peak resident set
// (rss_peak_MiB, Linux only: the test binary's own footprint included).
func BenchmarkTableMemory(b *testing.B) {
	const flows = 65536
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tab := NewTable(DefaultConfig(), &recorder{}, nil)
		p := packet{ipv: 4, proto: protoTCP, sport: 40000, dport: 443, tcpFlags: tcpSYN}
		p.dst = [16]byte{10, 0, 0, 2}
		for i := range flows {
			p.src = [16]byte{10, 1, byte(i >> 8), byte(i)}
			tab.update(t0, "eth1", &p, 60)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tab.Len() != flows {
			b.Fatalf("Len() = %d, want %d", tab.Len(), flows)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap_MiB")
		if kib, ok := peakRSSKiB(); ok {
			b.ReportMetric(float64(kib)/1024, "rss_peak_MiB")
		}
		runtime.KeepAlive(tab)
	}
}

// peakRSSKiB reads VmHWM from /proc/self/status.
func peakRSSKiB() (int, bool) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n, err == nil
		}
	}
	return 0, false
}

// nopEmitter drops every event, so that BenchmarkPacketChurn measures the
// table, not the recorder's growth.
type nopEmitter struct{}

func (nopEmitter) Offer(event.Event) bool { return true }

// BenchmarkPacketChurn sends every packet on a new 5-tuple to a full table
// of 4096 flows: each packet creates a flow and evicts one, which is
// written as an event (the allocations per op are the event's).
func BenchmarkPacketChurn(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MaxFlows = 4096
	tab := NewTable(cfg, nopEmitter{}, nil)
	frame := ethFrame(b, udp(cli, srv, 1, 53))
	const sportOff = 14 + 20
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(frame[sportOff:], uint16(i))
		frame[14+12+2] = byte(i >> 16) // vary the source address too
		tab.Packet(t0, "eth1", LinkTypeEthernet, frame, len(frame))
	}
}

// BenchmarkPacketFragments sends fragmented UDP datagrams over 64 open
// flows: first fragments with 1024 ids in turn, each other frame the rest
// of one sent 100, 200 or 300 first fragments earlier, so that the
// fragment cache both finds entries and replaces them (one rest in three
// comes after its first was pushed out).
func BenchmarkPacketFragments(b *testing.B) {
	const ids = 1024
	firsts := make([][]byte, ids)
	rests := make([][]byte, ids)
	for i := range ids {
		src := fmt.Sprintf("10.1.0.%d", 1+i%64)
		firsts[i] = frag4(b, src, srv, uint16(i), 0, true)
		rests[i] = frag4(b, src, srv, uint16(i), 208, false)
	}
	tab := NewTable(DefaultConfig(), &recorder{}, nil)
	for _, f := range firsts { // create the flows outside the timing
		tab.Packet(t0, "eth1", LinkTypeEthernet, f, len(f))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := i / 2
		f := firsts[n%ids]
		if i%2 == 1 {
			f = rests[(n+ids-100*(1+n%3))%ids]
		}
		tab.Packet(t0.Add(time.Duration(i)), "eth1", LinkTypeEthernet, f, len(f))
	}
}
