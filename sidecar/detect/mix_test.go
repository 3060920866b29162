package detect

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// mixFrame is one frame of the benchmark mix, held in memory.
type mixFrame struct {
	ts    time.Time
	iface string
	link  flow.LinkType
	data  []byte
}

// packetMix is a task's traffic for benchmarks: the committed corpus
// captures (scans, DNS, HTTP, Stratum...) and a bulk of established
// connections, since most packets of a task belong to long flows: 400
// HTTPS-like connections of 60 data packets, and 2,000 DNS exchanges.
func packetMix(tb testing.TB) []mixFrame {
	tb.Helper()
	var mix []mixFrame
	paths, _ := filepath.Glob("testdata/*.pcapng")
	for _, p := range paths {
		mix = append(mix, readFrames(tb, p)...)
	}
	r := rand.New(rand.NewPCG(5, 5))
	ts := t0
	payload := string(make([]byte, 1200))
	for c := range 400 {
		client, server := "10.0.193.10", fmt.Sprintf("52.94.%d.%d", c/200, c%200+1)
		cport := uint16(30000 + c)
		add := func(src, dst string, sport, dport uint16, flags uint8, p string) {
			ts = ts.Add(time.Duration(r.IntN(200)) * time.Microsecond)
			mix = append(mix, mixFrame{ts, "eth1", flow.LinkTypeEthernet, frame(tb, src, dst, sport, dport, protoTCP, flags, p)})
		}
		add(client, server, cport, 443, tcpSYN, "")
		add(server, client, 443, cport, tcpSYN|tcpACK, "")
		add(client, server, cport, 443, tcpACK, "")
		for i := range 60 {
			if i%4 == 0 {
				add(client, server, cport, 443, tcpACK, payload[:200])
			} else {
				add(server, client, 443, cport, tcpACK, payload)
			}
		}
		add(client, server, cport, 443, tcpFIN|tcpACK, "")
		add(server, client, 443, cport, tcpFIN|tcpACK, "")
	}
	for q := range 2000 {
		ts = ts.Add(50 * time.Microsecond)
		sport := uint16(40000 + q)
		mix = append(mix,
			mixFrame{ts, "eth1", flow.LinkTypeEthernet, frame(tb, "10.0.193.10", "10.0.0.2", sport, 53, protoUDP, 0, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03sts\x09us-east-1\x09amazonaws\x03com\x00\x00\x01\x00\x01")},
			mixFrame{ts.Add(300 * time.Microsecond), "eth1", flow.LinkTypeEthernet, frame(tb, "10.0.0.2", "10.0.193.10", 53, sport, protoUDP, 0, "\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00")})
	}
	return mix
}

func readFrames(tb testing.TB, path string) []mixFrame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		tb.Fatal(err)
	}
	var out []mixFrame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		out = append(out, mixFrame{ci.Timestamp, intf.Name, flow.LinkType(intf.LinkType), data})
	}
}

// runMix feeds the mix through the table, shifted in time by shift so
// that each run starts after the last, expiring each second of packet
// time as a replay does, and ends every flow.
func runMix(tab *flow.Table, mix []mixFrame, shift time.Duration) {
	var last, next time.Time
	for _, f := range mix {
		ts := f.ts.Add(shift)
		if ts.After(next) {
			tab.Expire(ts)
			next = ts.Add(time.Second)
		}
		tab.Packet(ts, f.iface, f.link, f.data, len(f.data))
		last = ts
	}
	tab.Flush(last, flow.ReasonShutdown)
}

// BenchmarkMixDetectOn and BenchmarkMixDetectOff measure the flow path's
// CPU per packet on the mix with and without the detection engine (make
// bench-detect prints their ratio).
func BenchmarkMixDetectOn(b *testing.B) {
	mix := packetMix(b)
	e, _, _ := newTestEngine(b, func(c *Config) { c.Intel.Files = []string{"testdata/intel.txt"} })
	benchMix(b, mix, flow.NewTable(flow.DefaultConfig(), e.Tap(discard{}), nil, e))
}

func BenchmarkMixDetectOff(b *testing.B) {
	mix := packetMix(b)
	benchMix(b, mix, flow.NewTable(flow.DefaultConfig(), discard{}, nil))
}

func benchMix(b *testing.B, mix []mixFrame, tab *flow.Table) {
	runMix(tab, mix, 0) // warm up: table pages, engine state
	b.ReportAllocs()
	shift := 24 * time.Hour
	for b.Loop() {
		runMix(tab, mix, shift)
		shift += 24 * time.Hour
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(mix)), "ns/pkt")
	b.ReportMetric(float64(len(mix)), "pkts/op")
}
