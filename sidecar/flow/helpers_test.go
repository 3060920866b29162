package flow

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// recorder is an Emitter that keeps every event.
type recorder struct{ events []event.Event }

func (r *recorder) Offer(ev event.Event) bool {
	r.events = append(r.events, ev)
	return true
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// seg describes one test segment or datagram.
type seg struct {
	src, dst     string // IP addresses
	sport, dport uint16
	proto        uint8
	flags        uint8 // TCP
	seq, ack     uint32
	payload      int
	data         []byte // the payload's bytes, if not payload zeros
	icmpType     uint8
	icmpCode     uint8
}

// ethFrame serializes s as Ethernet / IPv4 or IPv6 / transport.
func ethFrame(t testing.TB, s seg) []byte {
	t.Helper()
	src, dst := net.ParseIP(s.src), net.ParseIP(s.dst)
	v4 := src.To4() != nil
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if v4 {
		l := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.To4(), DstIP: dst.To4(), Protocol: layers.IPProtocol(s.proto)}
		ip, ipl = l, l
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		l := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src, DstIP: dst, NextHeader: layers.IPProtocol(s.proto)}
		ip, ipl = l, l
	}
	ls := []gopacket.SerializableLayer{eth, ipl}
	switch s.proto {
	case protoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack, Window: 1024,
			FIN: s.flags&tcpFIN != 0, SYN: s.flags&tcpSYN != 0, RST: s.flags&tcpRST != 0, PSH: s.flags&tcpPSH != 0,
			ACK: s.flags&tcpACK != 0, URG: s.flags&tcpURG != 0, ECE: s.flags&tcpECE != 0, CWR: s.flags&tcpCWR != 0}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case protoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case protoICMP:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(s.icmpType, s.icmpCode), Id: 1, Seq: 1})
	case protoICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(s.icmpType, s.icmpCode)}
		icmp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, icmp)
	}
	if s.data != nil {
		ls = append(ls, gopacket.Payload(s.data))
	} else {
		ls = append(ls, gopacket.Payload(make([]byte, s.payload)))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tcpSession is a complete connection: handshake, 100 bytes each way,
// FIN from the client, FIN+ACK from the server, final ACK.
func tcpSession(c, s string, cport, sport uint16) []seg {
	return []seg{
		{src: c, dst: s, sport: cport, dport: sport, proto: protoTCP, flags: tcpSYN, seq: 1000},
		{src: s, dst: c, sport: sport, dport: cport, proto: protoTCP, flags: tcpSYN | tcpACK, seq: 5000, ack: 1001},
		{src: c, dst: s, sport: cport, dport: sport, proto: protoTCP, flags: tcpACK, seq: 1001, ack: 5001},
		{src: c, dst: s, sport: cport, dport: sport, proto: protoTCP, flags: tcpACK | tcpPSH, seq: 1001, ack: 5001, payload: 100},
		{src: s, dst: c, sport: sport, dport: cport, proto: protoTCP, flags: tcpACK | tcpPSH, seq: 5001, ack: 1101, payload: 100},
		{src: c, dst: s, sport: cport, dport: sport, proto: protoTCP, flags: tcpFIN | tcpACK, seq: 1101, ack: 5101},
		{src: s, dst: c, sport: sport, dport: cport, proto: protoTCP, flags: tcpFIN | tcpACK, seq: 5101, ack: 1102},
		{src: c, dst: s, sport: cport, dport: sport, proto: protoTCP, flags: tcpACK, seq: 1102, ack: 5102},
	}
}

var t0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// feed sends segs to tab as Ethernet frames 10 ms apart from start and
// returns the time of the last one.
func feed(t testing.TB, tab *Table, start time.Time, segs []seg) time.Time {
	t.Helper()
	ts := start
	for i, s := range segs {
		ts = start.Add(time.Duration(i) * 10 * time.Millisecond)
		b := ethFrame(t, s)
		tab.Packet(ts, "eth1", LinkTypeEthernet, b, len(b))
	}
	return ts
}

// flowStats publishes the table's counts and returns its group of the
// registry's stats.
func flowStats(tab *Table, reg *metrics.Registry) map[string]any {
	tab.publish()
	return reg.Stats()["flow"].(map[string]any)
}
