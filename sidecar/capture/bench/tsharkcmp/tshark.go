package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// tsharkFields are the per-frame fields read from tshark, in this order.
// Every field is printed with all its occurrences (comma-separated), so a
// frame's layers are matched to their fields by counting the layers of the
// same protocol in frame.protocols.
var tsharkFields = []string{
	"frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols",
	"ip.src", "ip.dst", "ip.proto", "ip.id", "ip.flags.mf", "ip.frag_offset",
	"ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
	"tcp.srcport", "tcp.dstport", "tcp.flags",
	"udp.srcport", "udp.dstport",
	"sctp.srcport", "sctp.dstport",
	"icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
	"communityid",
}

// Field indexes in tsharkFields.
const (
	fTime = iota
	fLen
	fCapLen
	fProtocols
	fIPSrc
	fIPDst
	fIPProto
	fIPID
	fIPMF
	fIPFragOff
	fIP6Src
	fIP6Dst
	fIP6Nxt
	fIP6FragOff
	fIP6FragMore
	fIP6FragID
	fTCPSport
	fTCPDport
	fTCPFlags
	fUDPSport
	fUDPDport
	fSCTPSport
	fSCTPDport
	fICMPType
	fICMPCode
	fICMP6Type
	fICMP6Code
	fCommunityID
	numFields
)

// tsharkArgs is the tshark command line for file: one line per frame,
// IP reassembly off (sidewatch counts each fragment as a frame) and TCP
// reassembly off (it only costs time here).
func tsharkArgs(file string) []string {
	args := []string{"-n", "-r", file,
		"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-o", "tcp.desegment_tcp_streams:FALSE",
		"--enable-protocol", "communityid",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	return args
}

// IP protocol numbers.
const (
	protoICMP   = 1
	protoIPIP   = 4
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoICMPv6 = 58
	protoSCTP   = 132
)

// maxTunnelDepth is how many IP-in-IP layers sidewatch follows.
const maxTunnelDepth = 4

// key is a flow's bidirectional 5-tuple in canonical order (a before b),
// except one-way ICMP types, which keep sender first as in Community ID.
type key struct {
	proto  int // -1: unknown
	a, b   netip.Addr
	ap, bp uint16
}

func (k key) String() string {
	return fmt.Sprintf("%s %s:%d-%s:%d", protoLabel(k.proto), k.a, k.ap, k.b, k.bp)
}

// newKey orders the endpoints of a packet from src to dst and reports
// whether src came first (the packet goes a→b).
func newKey(proto int, src, dst netip.Addr, sport, dport uint16) (key, bool) {
	oneWay := false
	switch proto {
	case protoICMP, protoICMPv6:
		sport, dport, oneWay = icmpPorts(proto == protoICMPv6, uint8(sport), uint8(dport))
	case protoTCP, protoUDP, protoSCTP:
	default:
		sport, dport = 0, 0
	}
	k := key{proto: proto, a: src, b: dst, ap: sport, bp: dport}
	if oneWay {
		return k, true
	}
	if c := src.Compare(dst); c > 0 || (c == 0 && sport > dport) {
		return key{proto: proto, a: dst, b: src, ap: dport, bp: sport}, false
	}
	return k, true
}

// icmpPorts maps an ICMP type and code to Community ID's port pair: the
// request/response types are paired both ways; others are one-way, with
// the code as the second port (Community ID spec, section "ICMP").
func icmpPorts(v6 bool, typ, code uint8) (sport, dport uint16, oneWay bool) {
	if peer, ok := icmpCounterpart(v6, typ); ok {
		return uint16(typ), uint16(peer), false
	}
	return uint16(typ), uint16(code), true
}

func icmpCounterpart(v6 bool, typ uint8) (uint8, bool) {
	pairs4 := map[uint8]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
	pairs6 := map[uint8]uint8{128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
	m := pairs4
	if v6 {
		m = pairs6
	}
	p, ok := m[typ]
	return p, ok
}

// icmpError reports whether an ICMP type quotes the packet it is about.
func icmpError(v6 bool, typ uint8) bool {
	if v6 {
		return typ >= 1 && typ <= 4
	}
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// counts is what one tool says about one flow (one 5-tuple): index 0 is
// a→b, 1 is b→a.
type counts struct {
	pkts, bytes [2]uint64
	start       float64 // seconds since the epoch of the first packet
	records     int     // flow records (sidewatch) for the tuple
	communityID string
	// client is the side the tool calls the client: 0 a, 1 b, -1 unknown.
	client int
	// chains are the first distinct frame.protocols of the flow (tshark),
	// to tell what kind of traffic a mismatch is about.
	chains []string
}

// frameStats counts the frames tshark showed by what became of them.
type frameStats struct {
	frames       int
	attributed   int
	notDecoded   int // link layers and encapsulations sidewatch does not decode, non-IP
	fragments    int // fragments after the first whose first fragment was not seen
	fragJoined   int // fragments after the first counted into their first fragment's flow
	icmpJoined   int // ICMP errors counted into the flow they quote
	badLines     int
	notDecodedBy map[string]int // first unknown layer → frames
}

// tsharkFlows reads tshark's per-frame lines and sums them per flow as
// sidewatch counts them: bytes are the frame's original length, fragments
// after the first count into the flow of their first fragment, ICMP
// errors into the flow they quote (when it was seen before), IP in IP
// into the inner flow, other tunnels into the outer one.
func tsharkFlows(r io.Reader) (map[key]*counts, frameStats, error) {
	flows := make(map[key]*counts)
	frags := make(map[fragKey]fragDest)
	st := frameStats{notDecodedBy: make(map[string]int)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		st.frames++
		f := strings.Split(sc.Text(), "\t")
		if len(f) != numFields {
			st.badLines++
			continue
		}
		var fr frame
		if !fr.parse(f) {
			st.badLines++
			continue
		}
		switch fr.kind {
		case frameNotDecoded:
			st.notDecoded++
			st.notDecodedBy[fr.why]++
			continue
		case frameFragRest:
			d, ok := frags[fr.frag]
			if !ok || fr.time-d.at > 30 || fr.time < d.at-30 {
				st.fragments++
				continue
			}
			c := flows[d.k]
			c.pkts[d.dir]++
			c.bytes[d.dir] += fr.n
			st.fragJoined++
			st.attributed++
			continue
		}
		if fr.quoted != nil {
			qk, fromA := newKey(fr.quoted.proto, fr.quoted.src, fr.quoted.dst, fr.quoted.sport, fr.quoted.dport)
			if c, ok := flows[qk]; ok {
				dir := 1 // back to the quoted packet's sender
				if !fromA {
					dir = 0
				}
				c.pkts[dir]++
				c.bytes[dir] += fr.n
				st.icmpJoined++
				st.attributed++
				continue
			}
		}
		k, fromA := newKey(fr.proto, fr.src, fr.dst, fr.sport, fr.dport)
		dir := 0
		if !fromA {
			dir = 1
		}
		c, ok := flows[k]
		if !ok {
			c = &counts{start: fr.time, client: clientSide(&fr, dir), communityID: fr.communityID}
			flows[k] = c
		}
		if fr.time < c.start {
			c.start = fr.time
		}
		c.pkts[dir]++
		c.bytes[dir] += fr.n
		if len(c.chains) < 3 && !contains(c.chains, fr.chain) {
			c.chains = append(c.chains, fr.chain)
		}
		if fr.fragFirst {
			frags[fr.frag] = fragDest{k: k, dir: dir, at: fr.time}
		}
		st.attributed++
	}
	if err := sc.Err(); err != nil {
		return flows, st, fmt.Errorf("read tshark output: %w", err)
	}
	return flows, st, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// clientSide is sidewatch's documented rule (docs/flows.md): the client
// sends the first packet, unless that packet is a SYN-ACK or, without
// SYN, goes from a port below 1024 to one above. dir is the first
// packet's direction; the result is the client's side (0 a, 1 b).
func clientSide(fr *frame, dir int) int {
	serverFirst := fr.sport < 1024 && fr.dport >= 1024
	reverse := false
	switch fr.proto {
	case protoTCP:
		const syn, ack = 0x02, 0x10
		switch {
		case fr.tcpFlags&(syn|ack) == syn|ack:
			reverse = true
		case fr.tcpFlags&syn == 0 && serverFirst:
			reverse = true
		}
	case protoUDP, protoSCTP:
		reverse = serverFirst
	}
	if reverse {
		return 1 - dir
	}
	return dir
}

type fragKey struct {
	src, dst netip.Addr
	proto    int
	id       uint32
}

type fragDest struct {
	k   key
	dir int
	at  float64
}

type frameKind uint8

const (
	frameFlow frameKind = iota
	frameFragRest
	frameNotDecoded
)

type endpoint struct {
	proto        int
	src, dst     netip.Addr
	sport, dport uint16
}

// frame is one tshark line, reduced to what the flow needs.
type frame struct {
	kind         frameKind
	why          string // frameNotDecoded: the layer sidewatch stops at
	time         float64
	n            uint64
	chain        string
	proto        int
	src, dst     netip.Addr
	sport, dport uint16
	tcpFlags     uint16
	fragFirst    bool
	frag         fragKey
	quoted       *endpoint
	communityID  string
}

// occ returns occurrence i of a comma-separated field ("" if absent).
func occ(field string, i int) string {
	for j := 0; ; j++ {
		c := strings.IndexByte(field, ',')
		if j == i {
			if c < 0 {
				return field
			}
			return field[:c]
		}
		if c < 0 {
			return ""
		}
		field = field[c+1:]
	}
}

func parseUint(s string) uint64 {
	if strings.HasPrefix(s, "0x") {
		v, _ := strconv.ParseUint(s[2:], 16, 64)
		return v
	}
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// linkTokens are the frame.protocols layers sidewatch decodes on the way
// to the first IP header: the link types it reads and, on Ethernet, VLAN
// tags, MPLS and PPPoE sessions.
var linkTokens = map[string]bool{
	"eth": true, "ethertype": true, "sll": true, "null": true, "loop": true, "raw": true,
	"vlan": true, "ieee8021ad": true, "mpls": true, "pppoes": true, "ppp": true,
}

// parse fills fr from the fields of one line and reports whether the line
// was well formed.
func (fr *frame) parse(f []string) bool {
	t, err := strconv.ParseFloat(f[fTime], 64)
	if err != nil {
		return false
	}
	fr.time = t
	fr.n = max(parseUint(f[fLen]), parseUint(f[fCapLen]))
	fr.chain = f[fProtocols]
	fr.communityID = occ(f[fCommunityID], 0)
	layers := strings.Split(f[fProtocols], ":")
	seen := map[string]int{} // layers of each protocol before position i
	i := 0
	for ; i < len(layers); i++ {
		l := layers[i]
		if l == "ip" || l == "ipv6" {
			break
		}
		if !linkTokens[l] || (i == 0 && !isLink(l)) {
			fr.kind, fr.why = frameNotDecoded, l
			return true
		}
		seen[l]++
	}
	if i == len(layers) {
		fr.kind, fr.why = frameNotDecoded, "no IP"
		return true
	}
	var ep endpoint
	depth := 0
	for {
		next, ok := fr.ipLayer(f, layers, &i, seen, &ep, depth)
		if !ok {
			return true
		}
		if fr.kind == frameFragRest {
			return true
		}
		if next && depth < maxTunnelDepth && !fr.fragFirst {
			depth++
			continue
		}
		break
	}
	fr.proto, fr.src, fr.dst, fr.sport, fr.dport = anyProto(ep.proto), ep.src, ep.dst, ep.sport, ep.dport
	if ipLayers(layers) > 1 {
		// tshark's Community ID is of the innermost tuple; sidewatch's
		// is of the flow's (the outer one but for IP in IP).
		fr.communityID = ""
	}
	return true
}

func ipLayers(layers []string) int {
	n := 0
	for _, l := range layers {
		if l == "ip" || l == "ipv6" {
			n++
		}
	}
	return n
}

func isLink(l string) bool {
	switch l {
	case "eth", "sll", "null", "loop", "raw":
		return true
	}
	return false
}

// ipLayer reads the IP layer at layers[*i] and the transport after it into
// ep. It reports whether the transport is another IP layer (IP in IP),
// with *i moved to it.
func (fr *frame) ipLayer(f, layers []string, i *int, seen map[string]int, ep *endpoint, depth int) (inner, ok bool) {
	l := layers[*i]
	n := seen[l]
	seen[l]++
	if l == "ip" {
		ep.src, _ = netip.ParseAddr(occ(f[fIPSrc], n))
		ep.dst, _ = netip.ParseAddr(occ(f[fIPDst], n))
		ep.proto = int(parseUint(occ(f[fIPProto], n)))
		off := parseUint(occ(f[fIPFragOff], n))
		mf := occ(f[fIPMF], n) == "1" || occ(f[fIPMF], n) == "True"
		if off != 0 || mf {
			fr.frag = fragKey{src: ep.src, dst: ep.dst, proto: ep.proto, id: uint32(parseUint(occ(f[fIPID], n)))}
			if off != 0 {
				fr.kind = frameFragRest
				return false, true
			}
			fr.fragFirst = true
		}
	} else {
		ep.src, _ = netip.ParseAddr(occ(f[fIP6Src], n))
		ep.dst, _ = netip.ParseAddr(occ(f[fIP6Dst], n))
		ep.proto = int(parseUint(occ(f[fIP6Nxt], n)))
	}
	if !ep.src.IsValid() || !ep.dst.IsValid() {
		// tshark showed an IP layer without addresses (a wrong version,
		// a header too short): sidewatch skips such frames as malformed.
		fr.kind, fr.why = frameNotDecoded, l+" without addresses"
		return false, false
	}
	ep.sport, ep.dport = 0, 0
	*i++
	// IPv6 extension headers.
	// sidewatch, as Suricata, also reads AH as one (the flow's protocol is
	// what AH protects).
	// Under IPv4 (protocol 44 in an IPv4 header) tshark shows an IPv6
	// fragment header too, but it is then the flow's protocol.
	for *i < len(layers) && l == "ipv6" && (strings.HasPrefix(layers[*i], "ipv6.") || layers[*i] == "ah") {
		x := layers[*i]
		xn := seen[x]
		seen[x]++
		if x == "ipv6.fraghdr" {
			off := parseUint(occ(f[fIP6FragOff], xn))
			more := occ(f[fIP6FragMore], xn)
			fr.frag = fragKey{src: ep.src, dst: ep.dst, id: uint32(parseUint(occ(f[fIP6FragID], xn)))}
			if off != 0 {
				fr.kind = frameFragRest
				return false, true
			}
			fr.fragFirst = more == "1" || more == "True"
		}
		ep.proto = -1 // known again from the transport's name below
		*i++
	}
	if *i >= len(layers) {
		return false, true
	}
	t := layers[*i]
	tn := seen[t]
	seen[t]++
	switch t {
	case "tcp":
		ep.proto = protoTCP
		ep.sport, ep.dport = uint16(parseUint(occ(f[fTCPSport], tn))), uint16(parseUint(occ(f[fTCPDport], tn)))
		fr.tcpFlags = uint16(parseUint(occ(f[fTCPFlags], tn)))
	case "udp":
		ep.proto = protoUDP
		ep.sport, ep.dport = uint16(parseUint(occ(f[fUDPSport], tn))), uint16(parseUint(occ(f[fUDPDport], tn)))
	case "sctp":
		ep.proto = protoSCTP
		ep.sport, ep.dport = uint16(parseUint(occ(f[fSCTPSport], tn))), uint16(parseUint(occ(f[fSCTPDport], tn)))
	case "icmp", "icmpv6":
		v6 := t == "icmpv6"
		ep.proto = protoICMP
		ty, co := f[fICMPType], f[fICMPCode]
		if v6 {
			ep.proto = protoICMPv6
			ty, co = f[fICMP6Type], f[fICMP6Code]
		}
		if v6 != (l == "ipv6") {
			return false, true // ICMP in the other IP version: no type
		}
		ep.sport, ep.dport = uint16(parseUint(occ(ty, tn))), uint16(parseUint(occ(co, tn)))
		if icmpError(v6, uint8(ep.sport)) && *i+1 < len(layers) && (layers[*i+1] == "ip" || layers[*i+1] == "ipv6") {
			*i++
			var q endpoint
			var qf frame
			qf.ipLayer(f, layers, i, seen, &q, maxTunnelDepth)
			switch q.proto {
			case protoTCP, protoUDP, protoSCTP, protoICMP, protoICMPv6:
				if (q.proto == protoICMP || q.proto == protoICMPv6) && icmpError(q.proto == protoICMPv6, uint8(q.sport)) {
					break
				}
				if q.src.IsValid() && q.dst.IsValid() && qf.kind == frameFlow {
					fr.quoted = &q
				}
			}
		}
	case "ip", "ipv6":
		if ep.proto == -1 {
			ep.proto = protoIPIP
			if t == "ipv6" {
				ep.proto = protoIPv6
			}
		}
		seen[t]-- // read again as the next IP layer
		if depth >= maxTunnelDepth || fr.fragFirst {
			return false, true
		}
		return true, true
	default:
		if ep.proto == -1 {
			ep.proto = protoByLayer(t)
		}
	}
	return false, true
}

// protoByLayer is the IP protocol number of a tshark layer name, for IPv6
// packets whose extension headers hide the next-header value.
func protoByLayer(l string) int {
	switch l {
	case "gre":
		return 47
	case "esp":
		return 50
	case "ah":
		return 51
	case "ospf":
		return 89
	case "pim":
		return 103
	case "vrrp":
		return 112
	case "udplite":
		return 136
	}
	return -1
}
