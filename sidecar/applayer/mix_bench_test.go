package applayer

import (
	gotls "crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// frame is one captured frame held in memory. Benchmarks move frames
// into one pointer-free buffer (see pack), so that the garbage collector
// has nothing of theirs to scan.
type frame struct {
	ts      time.Time
	link    flow.LinkType
	data    []byte
	wireLen int
}

// packed is frames laid out for replay: their bytes in one buffer.
type packed struct {
	ts      []int64
	link    []flow.LinkType
	off     []int
	wireLen []int
	bytes   []byte
}

func pack(frames []frame) *packed {
	p := &packed{}
	for _, f := range frames {
		p.ts = append(p.ts, f.ts.UnixNano())
		p.link = append(p.link, f.link)
		p.off = append(p.off, len(p.bytes))
		p.wireLen = append(p.wireLen, f.wireLen)
		p.bytes = append(p.bytes, f.data...)
	}
	p.off = append(p.off, len(p.bytes))
	return p
}

// errNotPcapgo is a file whose header or records pcapgo does not take.
var errNotPcapgo = errors.New("header not read by pcapgo")

func loadFrames(path string) ([]frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, errNotPcapgo, err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", path, errNotPcapgo, err)
		}
		out = append(out, frame{ci.Timestamp, flow.LinkType(r.LinkType()), data, ci.Length})
	}
}

// committedFrames are the frames of every committed test capture (pcap
// format) of the capture and app-layer packages, in turn, each file
// shifted in time after the previous one, the whole set 20 times; files
// pcapgo cannot read (the capture package's tests of a pcap 2.1 header
// and of a record longer than its packet) are left out.
func committedFrames(tb testing.TB) []frame {
	var paths []string
	for _, dir := range []string{"testdata", "../capture/testdata"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
		paths = append(paths, m...)
	}
	var all []string
	for range 20 {
		all = append(all, paths...)
	}
	var out []frame
	var offset time.Duration
	var last time.Time
	for _, p := range all {
		fs, err := loadFrames(p)
		if errors.Is(err, errNotPcapgo) {
			continue // the capture package's reader tests (pcap 2.1, caplen > origlen)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if len(fs) == 0 {
			continue
		}
		if !last.IsZero() {
			offset = last.Add(time.Minute).Sub(fs[0].ts)
		}
		for _, f := range fs {
			f.ts = f.ts.Add(offset)
			out = append(out, f)
			last = f.ts
		}
	}
	return out
}

// frameWriter builds the Ethernet frames of TCP connections and UDP
// exchanges between a client and a server.
type frameWriter struct {
	tb     testing.TB
	frames []frame
	ts     time.Time
	buf    gopacket.SerializeBuffer
}

func (w *frameWriter) add(src, dst net.IP, sport, dport uint16, tcp *layers.TCP, payload []byte) {
	w.ts = w.ts.Add(20 * time.Microsecond)
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Protocol: layers.IPProtocolUDP}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth, ip}
	if tcp != nil {
		ip.Protocol = layers.IPProtocolTCP
		tcp.SrcPort, tcp.DstPort, tcp.Window = layers.TCPPort(sport), layers.TCPPort(dport), 502
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(w.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		w.tb.Fatal(err)
	}
	data := append([]byte(nil), w.buf.Bytes()...)
	w.frames = append(w.frames, frame{w.ts, flow.LinkTypeEthernet, data, len(data)})
}

// tcpConn writes one connection: handshake, the client's and server's
// bytes in turn (segments of 1448 bytes, each acknowledged), FINs.
func (w *frameWriter) tcpConn(client, server net.IP, cport, sport uint16, exchanges ...[]byte) {
	seq := [2]uint32{1000, 90000}
	ends := [2]net.IP{client, server}
	ports := [2]uint16{cport, sport}
	send := func(dir int, flags func(*layers.TCP), payload []byte) {
		t := &layers.TCP{Seq: seq[dir], Ack: seq[1-dir], ACK: true}
		flags(t)
		w.add(ends[dir], ends[1-dir], ports[dir], ports[1-dir], t, payload)
		seq[dir] += uint32(len(payload))
		if t.SYN || t.FIN {
			seq[dir]++
		}
	}
	send(0, func(t *layers.TCP) { t.SYN, t.ACK = true, false }, nil)
	send(1, func(t *layers.TCP) { t.SYN = true }, nil)
	send(0, func(*layers.TCP) {}, nil)
	for i, b := range exchanges {
		dir := i % 2
		for len(b) > 0 {
			n := min(1448, len(b))
			send(dir, func(t *layers.TCP) { t.PSH = true }, b[:n])
			b = b[n:]
			send(1-dir, func(*layers.TCP) {}, nil)
		}
	}
	send(0, func(t *layers.TCP) { t.FIN = true }, nil)
	send(1, func(t *layers.TCP) { t.FIN = true }, nil)
	send(0, func(*layers.TCP) {}, nil)
}

// httpsDNSFrames generates an HTTPS- and DNS-heavy capture: 300 TLS 1.3
// connections (a real crypto/tls handshake, then 40 KB of records down and
// 4 KB up) and 600 DNS lookups (query and response, each its own flow),
// interleaved.
func httpsDNSFrames(tb testing.TB) []frame {
	cert, _ := testCertificate(tb)
	client, server := tlsBytes(tb, gotls.VersionTLS13, cert)
	appUp, appDown := make([]byte, 4096), make([]byte, 40960)
	for i := 0; i < len(appDown); i += 5 { // TLS application data records
		copy(appDown[i:], []byte{23, 3, 3, 0, 0})
	}
	copy(appUp, []byte{23, 3, 3, 0x0f, 0xfb})
	q, r := dnsExchange(tb, 7, "sts.us-east-1.amazonaws.com.")
	w := &frameWriter{tb: tb, ts: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC), buf: gopacket.NewSerializeBuffer()}
	resolver := net.IPv4(10, 0, 0, 2)
	for i := range 300 {
		c := net.IPv4(10, 1, byte(i>>8), byte(i))
		s := net.IPv4(52, 94, byte(i>>8), byte(i))
		w.tcpConn(c, s, uint16(40000+i), 443, client, server, appUp, appDown)
		for j := range 2 {
			binary.BigEndian.PutUint16(q, uint16(i*2+j))
			binary.BigEndian.PutUint16(r, uint16(i*2+j))
			w.add(c, resolver, uint16(50000+i*2+j), 53, nil, q)
			w.add(resolver, c, 53, uint16(50000+i*2+j), nil, r)
		}
	}
	return w.frames
}

// bulkFrames generates a transfer-heavy capture: 40 HTTP/1.1 downloads
// of 1 MB each (request, response head, body in 1448-byte segments, each
// acknowledged) and one DNS lookup per download.
func bulkFrames(tb testing.TB) []frame {
	body := make([]byte, 1<<20)
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"), body...)
	req := []byte("GET /artifact.tar HTTP/1.1\r\nHost: artifacts.internal\r\nUser-Agent: curl/7.88.1\r\n\r\n")
	q, r := dnsExchange(tb, 7, "artifacts.internal.")
	w := &frameWriter{tb: tb, ts: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC), buf: gopacket.NewSerializeBuffer()}
	resolver := net.IPv4(10, 0, 0, 2)
	for i := range 40 {
		c := net.IPv4(10, 1, 0, byte(i))
		w.add(c, resolver, uint16(50000+i), 53, nil, q)
		w.add(resolver, c, 53, uint16(50000+i), nil, r)
		w.tcpConn(c, net.IPv4(10, 2, 0, 1), uint16(40000+i), 80, req, resp)
	}
	return w.frames
}

// midstreamFrames generates the traffic of make bench-capture's TCP
// flows: 4,096 connections to port 443 picked up mid-transfer (no
// handshake), visited in turn, each round one packet per connection: a
// full segment of bytes no protocol starts with from the server every
// third round, a bare ACK from the client otherwise.
func midstreamFrames(tb testing.TB) []frame {
	const conns, rounds = 4096, 15
	w := &frameWriter{tb: tb, ts: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC), buf: gopacket.NewSerializeBuffer()}
	payload := make([]byte, 1448)
	server := net.IPv4(10, 200, 0, 1)
	for r := range rounds {
		for i := range conns {
			client := net.IPv4(10, 100, byte(i>>8), byte(i))
			cseq, sseq := uint32(1000), uint32(90000+r/3*1448)
			if r%3 == 2 {
				w.add(server, client, 443, uint16(32768+i), &layers.TCP{Seq: sseq, Ack: cseq, ACK: true, PSH: true}, payload)
			} else {
				w.add(client, server, uint16(32768+i), 443, &layers.TCP{Seq: cseq, Ack: sseq, ACK: true}, nil)
			}
		}
	}
	return w.frames
}

// encodingEmitter encodes every event into a reused buffer, as the
// pipeline's writer does: the cost of an event includes its JSON.
type encodingEmitter struct{ buf []byte }

func (e *encodingEmitter) Offer(ev event.Event) bool {
	e.buf = ev.AppendJSON(e.buf[:0])
	return true
}

// BenchmarkReplayMix replays each mix through the flow table alone and
// with the app layer, alternately in every iteration so that the load of
// a shared machine falls on both alike, and reports the process's CPU per
// packet for each (garbage collection included: an app layer that
// allocates pays for it there) and their ratio. Events are encoded to
// JSON, as the pipeline would, in both.
func BenchmarkReplayMix(b *testing.B) {
	for _, mix := range []struct {
		name   string
		frames func(testing.TB) []frame
	}{{"committed_pcaps", committedFrames}, {"https_dns", httpsDNSFrames}, {"bulk_http", bulkFrames}, {"midstream_bulk", midstreamFrames}} {
		b.Run(mix.name, func(b *testing.B) {
			frames := pack(mix.frames(b))
			runtime.GC() // the frames' construction is garbage now
			var cpu [2]time.Duration
			ok := true
			passes := 0
			b.ReportAllocs()
			for b.Loop() {
				for app := range 2 {
					d, measured := replayPacked(frames, app == 1)
					cpu[app] += d
					ok = ok && measured
				}
				passes++
			}
			if ok && passes > 0 {
				pkts := float64(passes * len(frames.ts))
				b.ReportMetric(float64(cpu[0])/pkts, "flow-cpu-ns/pkt")
				b.ReportMetric(float64(cpu[1])/pkts, "app-cpu-ns/pkt")
				b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "x_flow_only")
			}
			b.ReportMetric(float64(len(frames.ts)), "pkts/pass")
		})
	}
}

// replayPacked replays the frames through a fresh table, with the app
// layer or not, and returns the process CPU time it took.
func replayPacked(frames *packed, app bool) (time.Duration, bool) {
	out := &encodingEmitter{buf: make([]byte, 0, 64<<10)}
	reg := metrics.New()
	var insp []flow.Inspector
	if app {
		insp = append(insp, New(DefaultConfig(), out, reg))
	}
	table := flow.NewTable(flow.DefaultConfig(), out, reg, insp...)
	n := len(frames.ts)
	cpu0, ok0 := processCPU()
	next := time.Unix(0, frames.ts[0]).Truncate(time.Second).Add(time.Second)
	for i := range n {
		ts := time.Unix(0, frames.ts[i])
		for !ts.Before(next) {
			table.Expire(next)
			next = next.Add(time.Second)
		}
		table.Packet(ts, "eth1", frames.link[i], frames.bytes[frames.off[i]:frames.off[i+1]], frames.wireLen[i])
	}
	table.Flush(time.Unix(0, frames.ts[n-1]), flow.ReasonShutdown)
	cpu1, ok1 := processCPU()
	return cpu1 - cpu0, ok0 && ok1
}
