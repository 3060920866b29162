package flow

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// withLink replaces the Ethernet header of an ethFrame with another link
// header.
func withLink(t testing.TB, link LinkType, eth []byte) []byte {
	t.Helper()
	ip := eth[14:]
	proto := binary.BigEndian.Uint16(eth[12:14])
	switch link {
	case LinkTypeEthernet:
		return eth
	case LinkTypeLinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 4) // outgoing
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], macA)
		binary.BigEndian.PutUint16(h[14:], proto)
		return append(h, ip...)
	case LinkTypeLinuxSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], proto)
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10], h[11] = 0, 6
		copy(h[12:], macA)
		return append(h, ip...)
	case LinkTypeNull:
		fam := uint32(layers.ProtocolFamilyIPv4)
		if proto == uint16(layers.EthernetTypeIPv6) {
			fam = uint32(layers.ProtocolFamilyIPv6Linux)
		}
		return append(binary.LittleEndian.AppendUint32(nil, fam), ip...)
	case LinkTypeLoop:
		fam := uint32(layers.ProtocolFamilyIPv4)
		if proto == uint16(layers.EthernetTypeIPv6) {
			fam = uint32(layers.ProtocolFamilyIPv6Linux)
		}
		return append(binary.BigEndian.AppendUint32(nil, fam), ip...)
	case LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6:
		return append([]byte(nil), ip...)
	}
	t.Fatalf("withLink: no header for %v", link)
	return nil
}

// vlanFrame inserts an 802.1Q tag into an Ethernet frame.
func vlanFrame(eth []byte) []byte {
	out := append([]byte(nil), eth[:12]...)
	out = append(out, 0x81, 0x00, 0x00, 0x64) // VLAN 100
	return append(out, eth[12:]...)
}

// encap puts header between an Ethernet frame's addresses and its IP
// packet, with EtherType typ in front of it.
func encap(eth []byte, typ uint16, header ...byte) []byte {
	out := binary.BigEndian.AppendUint16(append([]byte(nil), eth[:12]...), typ)
	return append(append(out, header...), eth[14:]...)
}

// ipInIP wraps an Ethernet frame's IP packet in an outer IPv4 header
// (protocol 4 or 41) between 192.0.2.1 and 192.0.2.2.
func ipInIP(eth []byte, proto byte) []byte {
	inner := eth[14:]
	h := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(inner)))
	out := binary.BigEndian.AppendUint16(append([]byte(nil), eth[:12]...), 0x0800)
	return append(append(out, h...), inner...)
}

func TestPacketLinkTypes(t *testing.T) {
	udp4 := ethFrame(t, udp(cli, srv, 5000, 53))
	udp6 := ethFrame(t, udp(cli6, srv6, 5000, 53))
	pppoeLen := func(b []byte) []byte { // PPPoE session header: length of the PPP frame
		return []byte{0x11, 0, 0, 1, byte((len(b) - 14 + 2) >> 8), byte(len(b) - 14 + 2)}
	}
	pppoeLenPFC := func(b []byte) []byte { // the same with a one-byte protocol
		return []byte{0x11, 0, 0, 1, byte((len(b) - 14 + 1) >> 8), byte(len(b) - 14 + 1)}
	}
	tests := []struct {
		name string
		link LinkType
		data []byte
		want string // src -> dst
	}{
		{"ethernet", LinkTypeEthernet, udp4, "10.0.0.1:5000"},
		{"ethernet_vlan", LinkTypeEthernet, vlanFrame(udp4), "10.0.0.1:5000"},
		{"ethernet_ipv6", LinkTypeEthernet, udp6, "[fd00::1]:5000"},
		{"ethernet_qinq", LinkTypeEthernet, append(append(append([]byte(nil), udp4[:12]...), 0x88, 0xa8, 0x00, 0xc8), vlanFrame(udp4)[12:]...), "10.0.0.1:5000"},
		{"ethernet_mpls", LinkTypeEthernet, encap(udp4, 0x8847, 0x00, 0x01, 0x01, 0x40), "10.0.0.1:5000"},
		{"ethernet_mpls_two_labels_ipv6", LinkTypeEthernet, encap(udp6, 0x8847, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40), "[fd00::1]:5000"},
		{"ethernet_pppoe", LinkTypeEthernet, encap(udp4, 0x8864, append(pppoeLen(udp4), 0x00, 0x21)...), "10.0.0.1:5000"},
		{"ethernet_pppoe_ipv6", LinkTypeEthernet, encap(udp6, 0x8864, append(pppoeLen(udp6), 0x00, 0x57)...), "[fd00::1]:5000"},
		{"ipv4_in_ipv4_inner_flow", LinkTypeEthernet, ipInIP(udp4, 4), "10.0.0.1:5000"},
		{"ipv6_in_ipv4_inner_flow", LinkTypeEthernet, ipInIP(udp6, 41), "[fd00::1]:5000"},
		// RFC 1661 protocol-field compression: a one-byte PPP protocol.
		{"ethernet_pppoe_compressed_protocol", LinkTypeEthernet, encap(udp4, 0x8864, append(pppoeLenPFC(udp4), 0x21)...), "10.0.0.1:5000"},
		{"ethernet_pppoe_compressed_protocol_ipv6", LinkTypeEthernet, encap(udp6, 0x8864, append(pppoeLenPFC(udp6), 0x57)...), "[fd00::1]:5000"},
		{"linux_sll", LinkTypeLinuxSLL, withLink(t, LinkTypeLinuxSLL, udp4), "10.0.0.1:5000"},
		{"linux_sll_ipv6", LinkTypeLinuxSLL, withLink(t, LinkTypeLinuxSLL, udp6), "[fd00::1]:5000"},
		{"linux_sll2", LinkTypeLinuxSLL2, withLink(t, LinkTypeLinuxSLL2, udp4), "10.0.0.1:5000"},
		{"null", LinkTypeNull, withLink(t, LinkTypeNull, udp4), "10.0.0.1:5000"},
		{"null_ipv6", LinkTypeNull, withLink(t, LinkTypeNull, udp6), "[fd00::1]:5000"},
		{"loop", LinkTypeLoop, withLink(t, LinkTypeLoop, udp4), "10.0.0.1:5000"},
		{"raw_ipv4", LinkTypeRaw, withLink(t, LinkTypeRaw, udp4), "10.0.0.1:5000"},
		{"raw_ipv6", LinkTypeRaw, withLink(t, LinkTypeRaw, udp6), "[fd00::1]:5000"},
		{"ipv4", LinkTypeIPv4, withLink(t, LinkTypeIPv4, udp4), "10.0.0.1:5000"},
		{"ipv6", LinkTypeIPv6, withLink(t, LinkTypeIPv6, udp6), "[fd00::1]:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tab := NewTable(DefaultConfig(), rec, nil)
			// wireLen larger than the capture: a snap length cut the frame.
			tab.Packet(t0, "lo", tt.link, tt.data, len(tt.data)+100)
			tab.Flush(t0, ReasonShutdown)
			if len(rec.events) != 1 {
				t.Fatalf("%d events, want 1", len(rec.events))
			}
			got := summarize(rec.events[0])
			if got.Src != tt.want || got.Proto != "UDP" || got.BytesTS != uint64(len(tt.data)+100) {
				t.Errorf("flow %s %s, %d bytes; want %s UDP, %d bytes (the wire length)", got.Src, got.Proto, got.BytesTS, tt.want, len(tt.data)+100)
			}
		})
	}
}

// TestPacketBytesAsRecorded checks that a frame counts its recorded
// original length, also when a damaged record captured more than that
// (tshark's frame.len), and that its captured bytes are still decoded.
func TestPacketBytesAsRecorded(t *testing.T) {
	udp4 := ethFrame(t, udp(cli, srv, 5000, 53))
	tests := []struct {
		name    string
		wireLen int
		want    uint64
	}{
		{"wire_length_above_capture", len(udp4) + 100, uint64(len(udp4) + 100)},
		{"wire_length_equal", len(udp4), uint64(len(udp4))},
		{"wire_length_below_capture", len(udp4) - 10, uint64(len(udp4) - 10)},
		{"wire_length_negative", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tab := NewTable(DefaultConfig(), rec, nil)
			tab.Packet(t0, "eth0", LinkTypeEthernet, udp4, tt.wireLen)
			tab.Flush(t0, ReasonShutdown)
			if len(rec.events) != 1 {
				t.Fatalf("got %d events, want 1", len(rec.events))
			}
			if got := summarize(rec.events[0]); got.BytesTS != tt.want || got.PktsTS != 1 {
				t.Errorf("got %d packets, %d bytes; want 1 packet, %d bytes", got.PktsTS, got.BytesTS, tt.want)
			}
		})
	}
}

func TestPacketSkipped(t *testing.T) {
	arp := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	// An IPv4 fragment after the first (offset 8 bytes) whose first
	// fragment was not seen.
	frag4 := ethFrame(t, udp(cli, srv, 5000, 53))
	frag4[14+7] = 1
	// An IPv6 fragment header in front of UDP, not the first fragment.
	frag6 := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
			&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment,
				SrcIP: []byte{0xfd, 15: 1}, DstIP: []byte{0xfd, 15: 2}},
			&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 100},
			gopacket.Payload(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	tcp := ethFrame(t, tcpSeg(cli, srv, 40000, 80, tcpSYN, 1, 0))
	badIHL := append([]byte(nil), tcp...)
	badIHL[14] = 0x42
	// An IPv4 header with version 2 behind EtherType IPv4.
	badVersion := append([]byte(nil), tcp...)
	badVersion[14] = 0x25
	// IPv6 behind EtherType IPv4.
	v6AsV4 := ethFrame(t, tcpSeg(cli6, srv6, 40000, 80, tcpSYN, 1, 0))
	v6AsV4[12], v6AsV4[13] = 0x08, 0x00
	// IPv4 behind EtherType IPv6.
	v4AsV6 := append([]byte(nil), tcp...)
	v4AsV6[12], v4AsV6[13] = 0x86, 0xdd
	// A TCP segment whose IP length leaves less than a TCP header.
	shortTCP := append([]byte(nil), tcp...)
	binary.BigEndian.PutUint16(shortTCP[14+2:], 20+12)
	// A TCP header claiming a 16-byte header (data offset 4).
	badOffset := append([]byte(nil), tcp...)
	badOffset[14+20+12] = 0x40
	// SCTP with an 8-byte common header (it has 12).
	shortSCTP := ethFrame(t, seg{src: cli, dst: srv, proto: protoSCTP, payload: 8})
	syn := synWithOptions()
	tests := []struct {
		name   string
		link   LinkType
		data   []byte
		reason string
	}{
		{"arp", LinkTypeEthernet, arp, "not_ip"},
		// A tiny first fragment cut before its ports by the snap length,
		// not by the fragmentation.
		{"tiny_first_fragment_cut_by_snaplen", LinkTypeEthernet, rawFrag(false, protoTCP, 0, true, syn[:8])[:14+20+2], "truncated"},
		// Without its type and code an ICMP packet has nothing to key.
		{"icmp_first_fragment_of_one_byte", LinkTypeEthernet, rawFrag(false, protoICMP, 0, true, []byte{8}), "truncated"},
		// An atomic fragment (offset 0, no more) is a whole packet: its
		// TCP header must fit.
		{"atomic_ipv6_fragment_shorter_than_tcp_header", LinkTypeEthernet, rawFrag(true, protoTCP, 0, false, syn[:8]), "malformed"},
		{"ipv4_fragment", LinkTypeEthernet, frag4, "fragment"},
		{"ipv6_fragment", LinkTypeEthernet, frag6, "fragment"},
		{"ip_header_cut_by_snaplen", LinkTypeEthernet, tcp[:14+16], "truncated"},
		{"tcp_cut_before_ports", LinkTypeEthernet, tcp[:14+20+3], "truncated"},
		{"bad_ipv4_header_length", LinkTypeEthernet, badIHL, "malformed"},
		{"wrong_ip_version", LinkTypeEthernet, badVersion, "malformed"},
		{"ipv6_behind_ipv4_ethertype", LinkTypeEthernet, v6AsV4, "malformed"},
		{"ipv4_behind_ipv6_ethertype", LinkTypeEthernet, v4AsV6, "malformed"},
		{"wrong_ip_version_sll", LinkTypeLinuxSLL, withLink(t, LinkTypeLinuxSLL, badVersion), "malformed"},
		{"ipv6_behind_ipv4_sll", LinkTypeLinuxSLL, withLink(t, LinkTypeLinuxSLL, v6AsV4), "malformed"},
		{"wrong_ip_version_sll2", LinkTypeLinuxSLL2, withLink(t, LinkTypeLinuxSLL2, badVersion), "malformed"},
		{"ipv4_behind_ipv6_sll2", LinkTypeLinuxSLL2, withLink(t, LinkTypeLinuxSLL2, v4AsV6), "malformed"},
		{"wrong_ip_version_vlan", LinkTypeEthernet, vlanFrame(badVersion), "malformed"},
		{"ip_length_shorter_than_tcp_header", LinkTypeEthernet, shortTCP, "malformed"},
		{"tcp_data_offset_below_5", LinkTypeEthernet, badOffset, "malformed"},
		{"sctp_shorter_than_its_header", LinkTypeEthernet, shortSCTP, "malformed"},
		{"short_ethernet", LinkTypeEthernet, tcp[:10], "malformed"},
		{"empty_raw", LinkTypeRaw, nil, "malformed"},
		{"raw_not_ip", LinkTypeRaw, []byte{0x10, 0, 0, 0}, "malformed"},
		{"unknown_link_type", LinkType(105), tcp, "link_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.New()
			rec := &recorder{}
			tab := NewTable(DefaultConfig(), rec, reg)
			tab.Packet(t0, "eth1", tt.link, tt.data, len(tt.data))
			if tab.Len() != 0 {
				t.Errorf("Len() = %d, want 0: the frame must not make a flow", tab.Len())
			}
			got := flowStats(tab, reg)["packets_skipped_total"].(map[string]any)
			want := map[string]any{"not_ip": uint64(0), "fragment": uint64(0), "malformed": uint64(0), "link_type": uint64(0), "truncated": uint64(0)}
			want[tt.reason] = uint64(1)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("packets_skipped_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPacketOtherProtocols(t *testing.T) {
	tests := []struct {
		name      string
		proto     layers.IPProtocol
		payload   []byte
		wantProto string
		wantPorts [2]uint16
	}{
		{"gre_has_no_ports", layers.IPProtocolGRE, make([]byte, 8), "GRE", [2]uint16{}},
		{"sctp_ports", layers.IPProtocolSCTP, []byte{0x1f, 0x90, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0}, "SCTP", [2]uint16{8080, 80}},
		{"unknown_number", 253, []byte{1, 2, 3}, "253", [2]uint16{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := gopacket.NewSerializeBuffer()
			err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
				&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: tt.proto, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}},
				gopacket.Payload(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			tab := NewTable(DefaultConfig(), rec, nil)
			tab.Packet(t0, "eth1", LinkTypeRaw, buf.Bytes(), len(buf.Bytes()))
			tab.Flush(t0, ReasonShutdown)
			if len(rec.events) != 1 {
				t.Fatalf("%d events, want 1", len(rec.events))
			}
			ev := rec.events[0]
			if ev.Proto != tt.wantProto || ev.SrcPort != tt.wantPorts[0] || ev.DestPort != tt.wantPorts[1] || ev.CommunityID == "" {
				t.Errorf("proto %q ports %d/%d community_id %q; want %q %v and an ID", ev.Proto, ev.SrcPort, ev.DestPort, ev.CommunityID, tt.wantProto, tt.wantPorts)
			}
		})
	}
}

// TestPacketIPv6HopByHop checks that the protocol after a hop-by-hop
// header (MLD reports carry one) is the flow's.
func TestPacketIPv6HopByHop(t *testing.T) {
	plain := ethFrame(t, seg{src: "fe80::1", dst: "ff02::16", proto: protoICMPv6, icmpType: 143, payload: 20})
	const ip6 = 14
	hbh := []byte{protoICMPv6, 0, 1, 4, 0, 0, 0, 0} // next header, length, PadN
	b := append(append(append([]byte(nil), plain[:ip6+40]...), hbh...), plain[ip6+40:]...)
	b[ip6+6] = 0 // next header: hop-by-hop
	binary.BigEndian.PutUint16(b[ip6+4:], binary.BigEndian.Uint16(plain[ip6+4:])+8)
	rec := &recorder{}
	tab := NewTable(DefaultConfig(), rec, nil)
	tab.Packet(t0, "eth1", LinkTypeEthernet, b, len(b))
	tab.Flush(t0, ReasonShutdown)
	if len(rec.events) != 1 {
		t.Fatalf("%d events, want 1", len(rec.events))
	}
	if ev := rec.events[0]; ev.Proto != "IPv6-ICMP" || ev.ICMPType == nil || *ev.ICMPType != 143 {
		t.Errorf("proto %q icmp_type %v, want IPv6-ICMP 143", ev.Proto, ev.ICMPType)
	}
}

// TestPacketTLSPort checks that port 443, which gopacket maps to a TLS
// layer it has no decoder for here, does not make decoding fail.
func TestPacketTLSPort(t *testing.T) {
	reg := metrics.New()
	tab := NewTable(DefaultConfig(), &recorder{}, reg)
	s := tcpSeg(cli, srv, 40000, 443, tcpACK|tcpPSH, 1, 1)
	s.payload = 200
	b := ethFrame(t, s)
	copy(b[len(b)-200:], []byte{0x16, 0x03, 0x01, 0x00, 0xc3, 0x01})
	tab.Packet(t0, "eth1", LinkTypeEthernet, b, len(b))
	if tab.Len() != 1 || flowStats(tab, reg)["packets_total"] != uint64(1) {
		t.Errorf("a TLS segment on 443 made %d flows, want 1", tab.Len())
	}
}

// FuzzPacket feeds arbitrary frames of every supported link type to a
// small table: no panic, every frame counted exactly once, and the table
// never above its bound.
func FuzzPacket(f *testing.F) {
	links := []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2,
		LinkTypeNull, LinkTypeLoop, LinkTypeRaw}
	for _, s := range append(tcpSession(cli, srv, 40000, 80), udp(cli6, srv6, 1, 2),
		seg{src: cli, dst: srv, proto: protoICMP, icmpType: 3, icmpCode: 1, payload: 28}) {
		eth := ethFrame(f, s)
		for i, l := range links {
			f.Add(uint8(i), withLink(f, l, eth))
		}
	}
	f.Add(uint8(0), vlanFrame(ethFrame(f, udp(cli, srv, 1, 2))))
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		reg := metrics.New()
		cfg := DefaultConfig()
		cfg.MaxFlows = 4
		tab := NewTable(cfg, &recorder{}, reg)
		l := LinkType(link)
		if int(link) < len(links) {
			l = links[link]
		}
		for i := range 3 { // the same frame thrice exercises the update path
			tab.Packet(t0.Add(time.Duration(i)*time.Second), "eth1", l, data, len(data))
			if tab.Len() > cfg.MaxFlows {
				t.Fatalf("Len() = %d, above MaxFlows %d", tab.Len(), cfg.MaxFlows)
			}
		}
		st := flowStats(tab, reg)
		n := st["packets_total"].(uint64)
		for _, v := range st["packets_skipped_total"].(map[string]any) {
			n += v.(uint64)
		}
		if n != 3 {
			t.Errorf("packets attributed + skipped = %d, want 3", n)
		}
		tab.Flush(t0.Add(time.Hour), ReasonShutdown)
		if tab.Len() != 0 {
			t.Errorf("Len() = %d after Flush, want 0", tab.Len())
		}
	})
}
