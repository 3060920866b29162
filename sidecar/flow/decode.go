package flow

import "encoding/binary"

// packet is what the decoder extracts from one frame.
type packet struct {
	src, dst     [16]byte
	ipv          uint8
	proto        uint8
	sport, dport uint16 // ICMP: type and code
	tcpFlags     uint8
	seq, ack     uint32
	payload      []byte // the captured transport payload (TCP, UDP)
	payloadLen   uint32 // the payload length the headers declare

	// IP fragments: the first (offset 0) and the others.
	fragFirst, fragRest bool
	fragID              uint32

	// An ICMP error: the header of the packet it refers to.
	emb embedded
}

// embedded is the start of the packet an ICMP error quotes.
type embedded struct {
	ok           bool
	src, dst     [16]byte
	proto        uint8
	sport, dport uint16
}

// decodeResult says why a frame did or did not yield a packet.
type decodeResult uint8

const (
	decodedIP decodeResult = iota
	skipNotIP
	skipFragment
	skipLinkType
	skipMalformed
	skipTruncated
)

// Link-layer header types (EtherType values) the decoder follows.
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	etherVLAN     = 0x8100
	etherQinQ     = 0x88a8
	etherQinQOld  = 0x9100
	etherMPLS     = 0x8847
	etherMPLSMult = 0x8848
	etherPPPoE    = 0x8864
)

// maxTunnelDepth bounds IP-in-IP nesting (and the recursion it costs).
const maxTunnelDepth = 4

// decoder turns frames into packets by reading the headers in place: it
// allocates nothing and keeps the layer counts of Suricata's decoder.*
// stats in cnt (owned by the table's goroutine).
type decoder struct {
	cnt *counts
}

// decode fills p from one frame of link type link.
func (d *decoder) decode(link LinkType, b []byte, p *packet) decodeResult {
	switch link {
	case LinkTypeEthernet:
		d.cnt[cEthernet]++
		if len(b) < 14 {
			return skipMalformed
		}
		return d.ether(binary.BigEndian.Uint16(b[12:14]), b[14:], p)
	case LinkTypeLinuxSLL:
		d.cnt[cSLL]++
		if len(b) < 16 {
			return skipMalformed
		}
		return d.ether(binary.BigEndian.Uint16(b[14:16]), b[16:], p)
	case LinkTypeLinuxSLL2:
		d.cnt[cSLL2]++
		if len(b) < 20 {
			return skipMalformed
		}
		return d.ether(binary.BigEndian.Uint16(b[0:2]), b[20:], p)
	case LinkTypeNull, LinkTypeLoop:
		d.cnt[cNull]++
		if len(b) < 4 {
			return skipMalformed
		}
		// The address family is in the capturing host's byte order (Null)
		// or big-endian (Loop); BSDs number AF_INET6 24, 28 or 30.
		fam := binary.LittleEndian.Uint32(b)
		if link == LinkTypeLoop || fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			return d.ipv4(b[4:], p, 0)
		case 10, 24, 28, 30:
			return d.ipv6(b[4:], p, 0)
		}
		return skipNotIP
	case LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6, LinkTypeRaw12, LinkTypeRaw14:
		// 12 and 14 are DLT_RAW of some BSDs, found in old files.
		d.cnt[cRaw]++
		return d.rawIP(b, p, 0)
	}
	return skipLinkType
}

// ether follows an EtherType: VLAN tags, MPLS and PPPoE in front of IP.
func (d *decoder) ether(typ uint16, b []byte, p *packet) decodeResult {
	for tags := 0; ; tags++ {
		switch typ {
		case etherIPv4:
			return d.ipv4(b, p, 0)
		case etherIPv6:
			return d.ipv6(b, p, 0)
		case etherVLAN, etherQinQ, etherQinQOld:
			if tags == 0 {
				d.cnt[cVLAN]++
			} else {
				d.cnt[cVLANQinQ]++
			}
			if len(b) < 4 || tags == 8 {
				return skipMalformed
			}
			typ, b = binary.BigEndian.Uint16(b[2:4]), b[4:]
		case etherMPLS, etherMPLSMult:
			d.cnt[cMPLS]++
			for {
				if len(b) < 4 {
					return skipMalformed
				}
				bottom := b[2]&1 != 0
				b = b[4:]
				if bottom {
					break
				}
			}
			if len(b) == 0 {
				return skipMalformed
			}
			switch b[0] >> 4 {
			case 4, 6:
				return d.rawIP(b, p, 0)
			}
			return skipNotIP // Ethernet pseudowire, control word...
		case etherPPPoE:
			d.cnt[cPPPoE]++
			if len(b) < 7 {
				return skipMalformed
			}
			// The PPP protocol field is one byte when compressed
			// (RFC 1661 PFC): its first byte is then odd.
			proto, hdr := uint16(b[6]), 7
			if b[6]&1 == 0 {
				if len(b) < 8 {
					return skipMalformed
				}
				proto, hdr = binary.BigEndian.Uint16(b[6:8]), 8
			}
			switch proto {
			case 0x0021:
				return d.ipv4(b[hdr:], p, 0)
			case 0x0057:
				return d.ipv6(b[hdr:], p, 0)
			}
			return skipNotIP
		default:
			return skipNotIP
		}
	}
}

// rawIP decodes an IP packet of either version, told by its first nibble.
func (d *decoder) rawIP(b []byte, p *packet, depth int) decodeResult {
	if len(b) == 0 {
		return skipMalformed
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b, p, depth)
	case 6:
		return d.ipv6(b, p, depth)
	}
	return skipMalformed
}

func (d *decoder) ipv4(b []byte, p *packet, depth int) decodeResult {
	d.cnt[cIPv4]++
	if len(b) < 20 {
		// Without both addresses there is nothing to attribute.
		if len(b) > 0 && b[0]>>4 != 4 {
			return skipMalformed
		}
		return skipTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	if b[0]>>4 != 4 || ihl < 20 {
		return skipMalformed
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	switch {
	case total == 0:
		// Segmentation offload (and BIG TCP) leave the length unset in
		// what the capture sees: the frame is the packet.
		total = len(b)
	case total < ihl:
		return skipMalformed
	}
	*p = packet{ipv: 4, proto: b[9]}
	copy(p.src[:], b[12:16])
	copy(p.dst[:], b[16:20])
	frag := binary.BigEndian.Uint16(b[6:8])
	if off, more := frag&0x1fff, frag&0x2000 != 0; off != 0 || more {
		d.cnt[cFrag4]++
		p.fragID = uint32(binary.BigEndian.Uint16(b[4:6]))
		if off != 0 {
			p.fragRest = true
			return skipFragment
		}
		p.fragFirst = true
	}
	if len(b) < ihl {
		return skipTruncated // options cut by the snap length
	}
	// The captured part of the transport, without link-layer padding.
	l4 := b[ihl:min(total, len(b))]
	return d.transport(l4, total-ihl, p, depth)
}

func (d *decoder) ipv6(b []byte, p *packet, depth int) decodeResult {
	d.cnt[cIPv6]++
	if len(b) < 40 {
		if len(b) > 0 && b[0]>>4 != 6 {
			return skipMalformed
		}
		return skipTruncated
	}
	if b[0]>>4 != 6 {
		return skipMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		// A jumbogram, or offloaded segments (BIG TCP): the frame is the
		// packet.
		plen = len(b) - 40
	}
	*p = packet{ipv: 6}
	copy(p.src[:], b[8:24])
	copy(p.dst[:], b[24:40])
	next := b[6]
	rest := b[40:min(40+plen, len(b))] // captured, without padding
	declared := plen
	for {
		var hlen int
		switch {
		case next == 44: // fragment
			if len(rest) < 8 {
				return d.cutExtension(p, declared)
			}
			d.cnt[cFrag6]++
			p.fragID = binary.BigEndian.Uint32(rest[4:8])
			off, more := binary.BigEndian.Uint16(rest[2:4])>>3, rest[3]&1 != 0
			if off != 0 {
				p.proto, p.fragRest = rest[0], true
				return skipFragment
			}
			p.fragFirst = more
			hlen = 8
		case ipv6Extension(next):
			if len(rest) < 2 {
				return d.cutExtension(p, declared)
			}
			hlen = extensionLen(next, rest[1])
		default:
			p.proto = next
			return d.transport(rest, declared, p, depth)
		}
		if hlen > declared {
			return skipMalformed
		}
		if hlen > len(rest) {
			return d.cutExtension(p, declared)
		}
		next, rest, declared = rest[0], rest[hlen:], declared-hlen
	}
}

// ipv6Extension reports whether an IPv6 next header is an extension header
// (the fragment header apart) that the decoders skip to find the transport.
func ipv6Extension(next uint8) bool {
	switch next {
	case 0, 43, 51, 60, 135, 139, 140: // hop-by-hop, routing, AH, destination, mobility, HIP, shim6
		return true
	}
	return false
}

// extensionLen is the length of extension header next whose length field
// (its second byte) is l.
func extensionLen(next, l uint8) int {
	if next == 51 { // AH counts 4-byte words, less 2
		return (int(l) + 2) * 4
	}
	return (int(l) + 1) * 8
}

// cutExtension is the result for an IPv6 packet whose extension headers
// the snap length cut: the transport protocol is unknown.
func (d *decoder) cutExtension(p *packet, declared int) decodeResult {
	if declared < 2 {
		return skipMalformed
	}
	return skipTruncated
}

// transport reads the transport header from b, the captured part of a
// segment of declared bytes (what the IP header says).
func (d *decoder) transport(b []byte, declared int, p *packet, depth int) decodeResult {
	switch p.proto {
	case protoTCP:
		d.cnt[cTCP]++
		if declared < 20 && !p.fragFirst {
			return skipMalformed
		}
		if len(b) < 4 {
			return noPorts(b, declared, p)
		}
		p.sport, p.dport = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
		if len(b) < 13 {
			// A snap length (or a tiny first fragment) cut the header
			// after the ports: the packet still counts; its flags,
			// sequence numbers and payload are unknown.
			return decodedIP
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > declared && !p.fragFirst {
			return skipMalformed
		}
		p.seq, p.ack = binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[8:12])
		if len(b) >= 14 {
			p.tcpFlags = b[13]
		}
		if off <= declared { // else the header goes on in the next fragment
			p.payloadLen = uint32(declared - off)
			if len(b) > off {
				p.payload = b[off:]
			}
		}
	case protoUDP:
		d.cnt[cUDP]++
		if declared < 8 && !p.fragFirst {
			return skipMalformed
		}
		if len(b) < 4 {
			return noPorts(b, declared, p)
		}
		p.sport, p.dport = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
		if declared >= 8 {
			p.payloadLen = uint32(declared - 8)
		}
		if len(b) > 8 {
			p.payload = b[8:]
		}
	case protoSCTP:
		d.cnt[cSCTP]++
		if declared < 12 && !p.fragFirst {
			return skipMalformed
		}
		if len(b) < 4 {
			return noPorts(b, declared, p)
		}
		p.sport, p.dport = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	case protoICMP, protoICMPv6:
		if (p.proto == protoICMP) != (p.ipv == 4) {
			return decodedIP // ICMP in IPv6 or ICMPv6 in IPv4: a protocol without type
		}
		if p.ipv == 4 {
			d.cnt[cICMPv4]++
		} else {
			d.cnt[cICMPv6]++
		}
		if declared < 4 && !p.fragFirst {
			return skipMalformed
		}
		if len(b) < 2 {
			// Not even in a tiny first fragment: type 0 would read
			// as an echo reply, where a port 0 reads as unknown.
			return skipTruncated
		}
		p.sport, p.dport = uint16(b[0]), uint16(b[1])
		if icmpError(p.ipv == 6, b[0]) && len(b) > 8 {
			quoted(b[8:], p.ipv, &p.emb)
		}
	case 4, 41: // IP in IP: the inner packet is the flow's
		if p.fragFirst || depth >= maxTunnelDepth {
			return decodedIP
		}
		d.cnt[tunnelCounter(p.ipv, p.proto)]++
		if p.proto == 4 {
			return d.ipv4(b, p, depth+1)
		}
		return d.ipv6(b, p, depth+1)
	}
	return decodedIP
}

// noPorts is the result for a TCP, UDP or SCTP packet whose captured part
// b of declared bytes ends before the ports. The snap length cut it:
// skipped. Or it is a first fragment that short (a tiny-fragment evasion
// puts the ports in the next one): the fragment counts, as its later
// fragments do, into the flow of its addresses with ports 0, as tshark
// shows it, rather than lose the packet.
func noPorts(b []byte, declared int, p *packet) decodeResult {
	if p.fragFirst && len(b) == declared {
		return decodedIP
	}
	return skipTruncated
}

func tunnelCounter(outer, proto uint8) counter {
	switch {
	case outer == 4 && proto == 4:
		return cIPv4InIPv4
	case outer == 4:
		return cIPv6InIPv4
	case proto == 4:
		return cIPv4InIPv6
	}
	return cIPv6InIPv6
}

// icmpError reports whether an ICMP type is an error message, which quotes
// the start of the packet that caused it.
func icmpError(v6 bool, typ uint8) bool {
	if v6 {
		return typ >= 1 && typ <= 4 // unreachable, too big, time exceeded, parameter problem
	}
	switch typ {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// quoted reads the IP header and the ports (or ICMP type and code) of the
// packet an ICMP error quotes. It needs both; otherwise e stays unset.
func quoted(b []byte, ipv uint8, e *embedded) {
	var l4 []byte
	switch ipv {
	case 4:
		if len(b) < 20 || b[0]>>4 != 4 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl+4 || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return
		}
		copy(e.src[:], b[12:16])
		copy(e.dst[:], b[16:20])
		e.proto, l4 = b[9], b[ihl:]
	default:
		if len(b) < 44 || b[0]>>4 != 6 {
			return
		}
		copy(e.src[:], b[8:24])
		copy(e.dst[:], b[24:40])
		// Follow the extension headers as the decoder does, so that the
		// error finds the flow its packet made.
		var ok bool
		if e.proto, l4, ok = quotedTransport(b[6], b[40:]); !ok || len(l4) < 4 {
			return
		}
	}
	switch e.proto {
	case protoTCP, protoUDP, protoSCTP:
		e.sport, e.dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case protoICMP, protoICMPv6:
		if (e.proto == protoICMP) != (ipv == 4) || icmpError(ipv == 6, l4[0]) {
			return // an error about an error is never sent
		}
		e.sport, e.dport = uint16(l4[0]), uint16(l4[1])
	default:
		return
	}
	e.ok = true
}

// quotedTransport skips the extension headers of a quoted IPv6 packet from
// next, the first next header, and rest, what follows the IPv6 header. It
// returns the transport protocol and its bytes, or false when they are not
// there: headers cut, or a fragment after the first.
func quotedTransport(next uint8, rest []byte) (uint8, []byte, bool) {
	for {
		var hlen int
		switch {
		case next == 44: // fragment: only the first has ports
			if len(rest) < 8 || binary.BigEndian.Uint16(rest[2:4])>>3 != 0 {
				return 0, nil, false
			}
			hlen = 8
		case ipv6Extension(next):
			if len(rest) < 2 {
				return 0, nil, false
			}
			hlen = extensionLen(next, rest[1])
		default:
			return next, rest, true
		}
		if hlen > len(rest) {
			return 0, nil, false
		}
		next, rest = rest[0], rest[hlen:]
	}
}
