package flow

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers the flow table and Community ID treat specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// CommunityID returns the Community ID v1 (corelight/community-id-spec) of a
// flow seen from src to dst, in its usual base64 form ("1:" + 28 chars).
// For ICMP and ICMPv6, sport is the ICMP type and dport the code. Ports are
// ignored for protocols that have none (anything but TCP, UDP, SCTP and
// ICMP). src and dst must be of the same family.
func CommunityID(seed uint16, proto uint8, src, dst netip.Addr, sport, dport uint16) string {
	sum := communityHash(seed, proto, src, dst, sport, dport)
	buf := make([]byte, 2, 2+base64.StdEncoding.EncodedLen(len(sum)))
	copy(buf, "1:")
	return string(base64.StdEncoding.AppendEncode(buf, sum[:]))
}

// communityHash is the SHA-1 the spec encodes; the spec's hex variant is
// the same digest in hex.
func communityHash(seed uint16, proto uint8, src, dst netip.Addr, sport, dport uint16) [sha1.Size]byte {
	hasPorts := true
	oneWay := false
	switch proto {
	case protoICMP, protoICMPv6:
		sport, dport, oneWay = icmpPorts(proto == protoICMPv6, uint8(sport), uint8(dport))
	case protoTCP, protoUDP, protoSCTP:
	default:
		hasPorts = false
		sport, dport = 0, 0
	}
	if !oneWay && !endpointLess(src, sport, dst, dport) {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	// seed(2) + two 16-byte addresses + proto + pad + two ports.
	var in [2 + 16 + 16 + 2 + 4]byte
	b := binary.BigEndian.AppendUint16(in[:0], seed)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, proto, 0)
	if hasPorts {
		b = binary.BigEndian.AppendUint16(b, sport)
		b = binary.BigEndian.AppendUint16(b, dport)
	}
	return sha1.Sum(b)
}

// endpointLess reports whether (a, ap) orders before or equal to (b, bp):
// address bytes first, then port, so that both directions of a flow hash
// alike.
func endpointLess(a netip.Addr, ap uint16, b netip.Addr, bp uint16) bool {
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return ap < bp
}

// icmpPorts maps an ICMP type and code to the port pair of Community ID:
// types with a request/reply counterpart pair with it and form a
// bidirectional flow; the others pair with their code and are one-way.
func icmpPorts(v6 bool, typ, code uint8) (sport, dport uint16, oneWay bool) {
	if peer, ok := icmpCounterpart(v6, typ); ok {
		return uint16(typ), uint16(peer), false
	}
	return uint16(typ), uint16(code), true
}

func icmpCounterpart(v6 bool, typ uint8) (uint8, bool) {
	if v6 {
		switch typ {
		case 128, 133, 135, 130, 139, 144:
			return typ + 1, true
		case 129, 134, 136, 131, 140, 145:
			return typ - 1, true
		}
		return 0, false
	}
	switch typ {
	case 8:
		return 0, true
	case 0:
		return 8, true
	case 13, 15, 17:
		return typ + 1, true
	case 14, 16, 18:
		return typ - 1, true
	case 10:
		return 9, true
	case 9:
		return 10, true
	}
	return 0, false
}
