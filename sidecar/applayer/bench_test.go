package applayer

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	gotls "crypto/tls"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// nopEmitter drops events, so that benchmarks measure the app layer.
type nopEmitter struct{}

func (nopEmitter) Offer(event.Event) bool { return true }

// reportAllocsPerPacket reports the exact mallocs per packet (testing's
// allocs/op rounds down) from the runtime's counter.
func reportAllocsPerPacket(b *testing.B, before runtime.MemStats, packets int) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if packets > 0 {
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(packets), "mallocs/pkt")
	}
}

// BenchmarkDNSUDP is a query and its response on each of 1024 flows in
// turn: two packets and two events per op.
func BenchmarkDNSUDP(b *testing.B) {
	en := New(DefaultConfig(), nopEmitter{}, nil)
	flows := make([]testFlow, 1024)
	for i := range flows {
		flows[i] = testFlow{id: uint64(i + 1), client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
	}
	q, r := dnsExchange(b, 0x1234, "sts.us-east-1.amazonaws.com.")
	var ms runtime.MemStats
	step := func(i int) {
		f := &flows[i%len(flows)]
		datagram(en, f, toServer, t0, q)
		datagram(en, f, toClient, t0, r)
	}
	for i := range 4096 { // warm the arena and parser buffers
		step(i)
	}
	b.ReportAllocs()
	runtime.ReadMemStats(&ms)
	n := 0
	for i := 0; b.Loop(); i++ {
		step(i)
		n += 2
	}
	reportAllocsPerPacket(b, ms, n)
}

// BenchmarkTLSConnection replays a whole TLS 1.2 connection (handshake,
// certificate, some encrypted data, close) on a new flow each op; the
// metric is per packet.
func BenchmarkTLSConnection(b *testing.B) {
	cert, _ := testCertificate(b)
	client, server := tlsBytes(b, gotls.VersionTLS12, cert)
	en := New(DefaultConfig(), nopEmitter{}, nil)
	packets := 0
	conns := make([]*conn, 256)
	for i := range conns {
		conns[i] = newConn(b, en, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 40000).String(), "10.0.0.9:443", uint64(i))
		conns[i].f.CommunityID()
	}
	run := func(id uint64) {
		c := conns[id%uint64(len(conns))]
		c.f.state, c.f.app = 0, ""
		c.handshake()
		c.send(toServer, client)
		c.send(toClient, server)
		c.close()
		c.expire()
		packets += 6 + (len(client)+c.mss-1)/c.mss + (len(server)+c.mss-1)/c.mss
	}
	for i := range 1000 {
		run(uint64(i))
	}
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	packets = 0
	for i := 0; b.Loop(); i++ {
		run(uint64(i))
	}
	reportAllocsPerPacket(b, ms, packets)
	b.ReportMetric(float64(packets)/float64(b.N), "pkts/op")
}

// BenchmarkHTTPKeepAlive sends requests and 4 KB responses on one
// keep-alive connection: two segments a request, four a response.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	en := New(DefaultConfig(), nopEmitter{}, nil)
	c := newConn(b, en, "10.0.1.5:40000", "10.0.0.9:80", 1)
	c.handshake()
	req := []byte("GET /v2/credentials/96574b15-39b9-41fb-b2ea-2362089cd242 HTTP/1.1\r\nHost: 169.254.170.2\r\nUser-Agent: aws-sdk-go-v2/1.30.0 os/linux lang/go#1.24.4\r\nAccept-Encoding: gzip\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n" + strings.Repeat("x", 4000))
	c.mss = 100 // the request in two segments
	step := func() {
		c.send(toServer, req)
		c.mss = 1448
		c.send(toClient, resp)
		c.mss = 100
	}
	for range 1000 {
		step()
	}
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := 0
	for b.Loop() {
		step()
		n += 2 + 3
	}
	reportAllocsPerPacket(b, ms, n)
}

// BenchmarkEngineMemory holds 10,000 concurrent TCP connections whose
// first segment (half a ClientHello) waits in reassembly for the rest,
// and reports the heap they take (heap_MiB) and the reassembly memory.
func BenchmarkEngineMemory(b *testing.B) {
	cert, _ := testCertificate(b)
	client, _ := tlsBytes(b, gotls.VersionTLS13, cert)
	for _, flows := range []int{10000} {
		b.Run(fmt.Sprint(flows), func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				en := New(DefaultConfig(), nopEmitter{}, nil)
				conns := make([]*conn, flows)
				for i := range conns {
					c := newConn(b, en, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000).String(), "10.0.0.9:443", uint64(i))
					c.mss = 200
					c.handshake()
					c.send(toServer, client[:200])
					conns[i] = c
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap_MiB")
				b.ReportMetric(float64(en.pool.InUse())/(1<<20), "reassembly_MiB")
				b.ReportMetric(float64(en.used), "states")
				runtime.KeepAlive(conns)
			}
		})
	}
}

// TestSteadyStateAllocations keeps the packet paths free of allocations:
// what remains are the arena's slabs, a fraction of one per packet (the
// runtime's average rounds them down to 0).
func TestSteadyStateAllocations(t *testing.T) {
	en := New(DefaultConfig(), nopEmitter{}, nil)
	f := &testFlow{id: 1, client: netip.MustParseAddrPort("10.1.0.1:40000"), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
	q, r := dnsExchange(t, 0x1234, "sts.us-east-1.amazonaws.com.")
	dnsPair := func() {
		datagram(en, f, toServer, t0, q)
		datagram(en, f, toClient, t0, r)
	}
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:80", 2)
	c.handshake()
	req := []byte("GET /a HTTP/1.1\r\nHost: svc\r\nUser-Agent: test\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("x", 3000))
	httpPair := func() {
		c.send(toServer, req)
		c.send(toClient, resp)
	}
	mid := newConn(t, en, "10.0.1.6:40000", "10.0.0.9:443", 3)
	junk := make([]byte, 1448)
	parked := func() {
		// A connection picked up mid-download, parked, then its packets.
		mid.f.state, mid.f.app = 0, ""
		for range 4 {
			mid.send(toClient, junk)
			mid.packet(toServer, flagACK, mid.seq[toServer], nil)
		}
	}
	for name, fn := range map[string]func(){"dns": dnsPair, "http": httpPair, "parked": parked} {
		for range 2000 {
			fn() // warm the arena and buffers
		}
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %.0f allocations per exchange, want amortized 0", name, n)
		}
	}
}
