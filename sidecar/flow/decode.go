package flow

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// packet is what the flow table needs from one decoded frame.
type packet struct {
	src, dst     [16]byte // IPv4 in the first 4 bytes, the rest zero
	sport, dport uint16   // for ICMP: type and code
	proto        uint8
	ipv          uint8 // 4 or 6
	tcpFlags     uint8
	seq, ack     uint32 // TCP only
	payload      uint32 // TCP payload length, for telling when a FIN is acknowledged
}

// decodeResult says why a frame did or did not yield a packet.
type decodeResult uint8

const (
	decodedIP decodeResult = iota
	skipNotIP
	skipFragment
	skipLinkType
	skipMalformed
)

// decoder turns frames into packets with gopacket's DecodingLayerParser,
// one parser per link type, all sharing the same preallocated layers so
// that decoding allocates nothing.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6

	ethP, sllP, sll2P, loopP *gopacket.DecodingLayerParser
	v4P, v6P                 *gopacket.DecodingLayerParser // raw IP link types
	decoded                  []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	d.ethP = d.parser(layers.LayerTypeEthernet)
	d.sllP = d.parser(layers.LayerTypeLinuxSLL)
	d.sll2P = d.parser(layers.LayerTypeLinuxSLL2)
	d.loopP = d.parser(layers.LayerTypeLoopback)
	d.v4P = d.parser(layers.LayerTypeIPv4)
	d.v6P = d.parser(layers.LayerTypeIPv6)
	return d
}

func (d *decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first)
	// The sparse container is the fastest; the skipper goes in before the
	// fragment decoder so that fragments get their own layer type.
	p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ip6ext, &d.ip6frag,
		&d.tcp, &d.udp, &d.icmp4, &d.icmp6,
	} {
		p.AddDecodingLayer(l)
	}
	// Unknown layers (TLS behind port 443, ARP, GRE...) end decoding
	// without an error; what was decoded so far still counts.
	p.IgnoreUnsupported = true
	return p
}

// decode fills p from one frame.
func (d *decoder) decode(link layers.LinkType, data []byte, p *packet) decodeResult {
	var parser *gopacket.DecodingLayerParser
	switch link {
	case layers.LinkTypeEthernet:
		parser = d.ethP
	case layers.LinkTypeLinuxSLL:
		parser = d.sllP
	case layers.LinkTypeLinuxSLL2:
		parser = d.sll2P
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		parser = d.loopP
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(data) == 0 {
			return skipMalformed
		}
		switch data[0] >> 4 {
		case 4:
			parser = d.v4P
		case 6:
			parser = d.v6P
		default:
			return skipMalformed
		}
	default:
		return skipLinkType
	}
	err := parser.DecodeLayers(data, &d.decoded)
	// The last IP layer decoded is the packet's (the inner one of a tunnel
	// gopacket decodes, such as IP in IP).
	var ip gopacket.LayerType
	transport := gopacket.LayerTypeZero
	var extNext layers.IPProtocol
	var ipPayload []byte // what follows the IP header and its extensions
	fragment := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			ip, transport, fragment = t, gopacket.LayerTypeZero, d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0
			ipPayload = d.ip4.Payload
		case layers.LayerTypeIPv6:
			ip, transport, fragment, extNext = t, gopacket.LayerTypeZero, false, d.ip6.NextHeader
			// gopacket decodes a hop-by-hop header as part of IPv6.
			if d.ip6.HopByHop != nil {
				extNext = d.ip6.HopByHop.NextHeader
			}
			ipPayload = d.ip6.Payload
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			extNext, ipPayload = d.ip6ext.NextHeader, d.ip6ext.Payload
		case layers.LayerTypeIPv6Fragment:
			extNext, ipPayload = d.ip6frag.NextHeader, d.ip6frag.Payload
			fragment = d.ip6frag.FragmentOffset != 0 || d.ip6frag.MoreFragments
		case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
			transport = t
		}
	}
	if err != nil {
		return skipMalformed
	}
	switch ip {
	case layers.LayerTypeIPv4:
		*p = packet{ipv: 4, proto: uint8(d.ip4.Protocol)}
		copy(p.src[:], d.ip4.SrcIP)
		copy(p.dst[:], d.ip4.DstIP)
	case layers.LayerTypeIPv6:
		*p = packet{ipv: 6, proto: uint8(extNext)}
		copy(p.src[:], d.ip6.SrcIP)
		copy(p.dst[:], d.ip6.DstIP)
	default:
		return skipNotIP
	}
	if fragment {
		return skipFragment
	}
	switch transport {
	case layers.LayerTypeTCP:
		p.sport, p.dport = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
		p.tcpFlags = d.tcp.Contents[13]
		p.seq, p.ack = d.tcp.Seq, d.tcp.Ack
		p.payload = uint32(len(d.tcp.Payload))
		// A snap length may have cut the segment short: the IP header
		// still tells its size.
		if n, ok := d.declaredL4Len(ip, ipPayload); ok && n >= len(d.tcp.Contents) {
			p.payload = uint32(n - len(d.tcp.Contents))
		}
	case layers.LayerTypeUDP:
		p.sport, p.dport = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
	case layers.LayerTypeICMPv4:
		p.sport, p.dport = uint16(d.icmp4.TypeCode.Type()), uint16(d.icmp4.TypeCode.Code())
	case layers.LayerTypeICMPv6:
		p.sport, p.dport = uint16(d.icmp6.TypeCode.Type()), uint16(d.icmp6.TypeCode.Code())
	default:
		switch p.proto {
		case protoTCP, protoUDP, protoICMP, protoICMPv6:
			// The IP header names a transport whose header did not decode.
			return skipMalformed
		case protoSCTP:
			// gopacket's SCTP layer allocates; the ports are all we need.
			if len(ipPayload) < 4 {
				return skipMalformed
			}
			p.sport = uint16(ipPayload[0])<<8 | uint16(ipPayload[1])
			p.dport = uint16(ipPayload[2])<<8 | uint16(ipPayload[3])
		}
	}
	return decodedIP
}

// declaredL4Len is the length of the transport segment that the IP header
// declares, whatever was captured of it; ipPayload is the captured part
// after the IP header and its extensions.
func (d *decoder) declaredL4Len(ip gopacket.LayerType, ipPayload []byte) (int, bool) {
	switch ip {
	case layers.LayerTypeIPv4:
		return int(d.ip4.Length) - int(d.ip4.IHL)*4, true
	case layers.LayerTypeIPv6:
		if d.ip6.Length == 0 { // jumbogram
			return 0, false
		}
		ext := len(d.ip6.Payload) - len(ipPayload)
		if d.ip6.HopByHop != nil {
			ext += d.ip6.HopByHop.ActualLength
		}
		return int(d.ip6.Length) - ext, true
	}
	return 0, false
}
