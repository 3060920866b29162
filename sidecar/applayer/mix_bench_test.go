package applayer

import (
	gotls "crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// frame is one captured frame held in memory.
type frame struct {
	ts      time.Time
	link    layers.LinkType
	data    []byte
	wireLen int
}

// readFrames loads a pcap file.
func readFrames(tb testing.TB, path string) []frame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, frame{ci.Timestamp, r.LinkType(), data, ci.Length})
	}
}

// committedFrames are the frames of every committed test capture (pcap
// format) of the capture and app-layer packages, in turn, each file
// shifted in time after the previous one, the whole set 20 times.
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
		fs := readFrames(tb, p)
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
	w.frames = append(w.frames, frame{w.ts, layers.LinkTypeEthernet, data, len(data)})
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

// encodingEmitter encodes every event into a reused buffer, as the
// pipeline's writer does: the cost of an event includes its JSON.
type encodingEmitter struct{ buf []byte }

func (e *encodingEmitter) Offer(ev event.Event) bool {
	e.buf = ev.AppendJSON(e.buf[:0])
	return true
}

// BenchmarkReplayMix replays frames through the flow table alone and with
// the app layer, reporting CPU per packet (the process's CPU time, so that
// garbage collection counts) and, for the app layer, its ratio to
// flow-only measured in the same run. Events are encoded to JSON (as the
// pipeline would) in both.
func BenchmarkReplayMix(b *testing.B) {
	for _, mix := range []struct {
		name   string
		frames func(testing.TB) []frame
	}{{"committed_pcaps", committedFrames}, {"https_dns", httpsDNSFrames}} {
		frames := mix.frames(b)
		var flowOnly float64
		for _, app := range []bool{false, true} {
			name := mix.name + "/flow_only"
			if app {
				name = mix.name + "/app_layer"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				var cpu time.Duration
				ok := true
				packets := 0
				for b.Loop() {
					// A fresh table each pass (the frames' times repeat).
					out := &encodingEmitter{buf: make([]byte, 0, 64<<10)}
					reg := metrics.New()
					var insp []flow.Inspector
					if app {
						insp = append(insp, New(DefaultConfig(), out, reg))
					}
					table := flow.NewTable(flow.DefaultConfig(), out, reg, insp...)
					cpu0, ok0 := processCPU()
					next := frames[0].ts.Truncate(time.Second).Add(time.Second)
					for _, f := range frames {
						for !f.ts.Before(next) {
							table.Expire(next)
							next = next.Add(time.Second)
						}
						table.Packet(f.ts, "eth1", f.link, f.data, f.wireLen)
					}
					table.Flush(frames[len(frames)-1].ts, flow.ReasonShutdown)
					cpu1, ok1 := processCPU()
					cpu += cpu1 - cpu0
					ok = ok && ok0 && ok1
					packets += len(frames)
				}
				if ok && packets > 0 {
					perPkt := float64(cpu) / float64(packets)
					b.ReportMetric(perPkt, "cpu-ns/pkt")
					if !app {
						flowOnly = perPkt
					} else if flowOnly > 0 {
						b.ReportMetric(perPkt/flowOnly, "x_flow_only")
					}
				}
				b.ReportMetric(float64(len(frames)), "pkts/op")
			})
		}
	}
}
