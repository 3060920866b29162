package detect

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// frame serializes one IPv4 TCP segment or UDP datagram in Ethernet.
func frame(t testing.TB, src, dst string, sport, dport uint16, proto uint8, flags uint8, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Protocol: layers.IPProtocol(proto)}
	var l4 gopacket.SerializableLayer
	if proto == protoTCP {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Window: 1024,
			SYN: flags&tcpSYN != 0, ACK: flags&tcpACK != 0, RST: flags&tcpRST != 0, FIN: flags&tcpFIN != 0, PSH: payload != ""}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	}
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The engine as the flow table's inspector and its emitter's tap: the
// packet-level detections see real decoded packets, alerts carry the
// flow's ids, the flow events of alerted flows say so, and attempts left
// unanswered when the table is flushed (the end of a replay) count.
func TestEngineOnFlowTable(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.HomeNet = []string{"10.0.193.10"} })
	var s collector
	tab := flow.NewTable(flow.DefaultConfig(), e.Tap(&s), nil, e)
	ts := t0
	send := func(src, dst string, sport, dport uint16, proto, flags uint8, payload string) {
		ts = ts.Add(time.Millisecond)
		b := frame(t, src, dst, sport, dport, proto, flags, payload)
		tab.Packet(ts, "eth1", flow.LinkTypeEthernet, b, len(b))
	}
	// IMDS: a SYN that nobody answers.
	send("10.0.193.10", "169.254.169.254", 41000, 80, protoTCP, tcpSYN, "")
	// Stratum after a handshake.
	send("10.0.193.10", "203.0.113.50", 41001, 3333, protoTCP, tcpSYN, "")
	send("203.0.113.50", "10.0.193.10", 3333, 41001, protoTCP, tcpSYN|tcpACK, "")
	send("10.0.193.10", "203.0.113.50", 41001, 3333, protoTCP, tcpACK, "")
	send("10.0.193.10", "203.0.113.50", 41001, 3333, protoTCP, tcpACK, xmrigLogin)
	// A sweep of port 22 over 30 silent hosts, within a second.
	for h := range 30 {
		send("10.0.193.10", "10.0.7."+itoa(h+1), uint16(42000+h), 22, protoTCP, tcpSYN, "")
	}
	tab.Flush(ts.Add(time.Second), flow.ReasonShutdown)

	if got, want := col.sids(), []int{9000401, 9000201, 9000103}; !sameSIDs(got, want) {
		t.Fatalf("alerts %v, want %v\n%s", got, want, col.lines())
	}
	alerted := map[uint64]bool{}
	for _, ev := range s.events {
		if ev.EventType == event.TypeFlow {
			alerted[ev.FlowID] = ev.Flow.Alerted
		}
	}
	for _, a := range col.alerts {
		if a.Alert.SignatureID == 9000103 {
			continue // a sweep is about many flows
		}
		if a.FlowID == 0 || !alerted[a.FlowID] || a.CommunityID == "" {
			t.Errorf("alert %d: flow %d alerted=%v community_id %q", a.Alert.SignatureID, a.FlowID, alerted[a.FlowID], a.CommunityID)
		}
	}
	n := 0
	for _, v := range alerted {
		if v {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d flow events alerted, want 2", n)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// BenchmarkInspect is the packet-level detections' cost per packet of an
// established flow (the common case: nothing to look at).
func BenchmarkInspect(b *testing.B) {
	e, _, _ := newTestEngine(b, nil)
	tab := flow.NewTable(flow.DefaultConfig(), discard{}, nil, e)
	benchTable(b, tab)
}

// BenchmarkInspectOff is the same flow table without the engine.
func BenchmarkInspectOff(b *testing.B) {
	tab := flow.NewTable(flow.DefaultConfig(), discard{}, nil)
	benchTable(b, tab)
}

func benchTable(b *testing.B, tab *flow.Table) {
	frames := [][]byte{
		frame(b, "10.0.193.10", "52.94.236.248", 40112, 443, protoTCP, tcpACK, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		frame(b, "52.94.236.248", "10.0.193.10", 443, 40112, protoTCP, tcpACK, "HTTP/1.1 200 OK\r\n\r\n"),
		frame(b, "10.0.193.10", "10.0.0.2", 53000, 53, protoUDP, 0, "\x12\x34\x01\x00\x00\x01"),
	}
	ts := t0
	for _, f := range frames {
		tab.Packet(ts, "eth1", flow.LinkTypeEthernet, f, len(f))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ts = ts.Add(time.Microsecond)
		f := frames[i%len(frames)]
		tab.Packet(ts, "eth1", flow.LinkTypeEthernet, f, len(f))
		i++
	}
}
