package flow

import (
	"net/netip"
	"time"
)

// key identifies a flow in both directions: the endpoints are ordered so
// that (a, aport) <= (b, bport), except for one-way ICMP types, which keep
// the packet's order as Community ID does.
type key struct {
	a, b         [16]byte
	aport, bport uint16
	proto        uint8
	ipv          uint8
}

// Directions index per-direction counters.
const (
	toServer = 0
	toClient = 1
)

type links struct{ prev, next int32 }

type list struct{ head, tail int32 }

// Entry is one open flow. The table owns it; an Inspector gets a pointer
// that stays valid until its Expire call for the flow, and may write only
// AppState, AppProto and Alerted. The rest is read through the methods.
type Entry struct {
	// Read or written by every packet: the first 128 bytes, two cache
	// lines (a chunk starts on a page, and an Entry is 256 bytes), so a
	// packet costs its index slot and these two lines. Keep them so.
	key       key
	class     uint8
	tcp       tcpState
	clientIsA bool       // the client is key.a
	seen      [2]bool    // a packet of the flow's own came this way (ICMP errors do not count)
	flags     [2]uint8   // TCP flags seen each way
	icmp      [2][2]byte // ICMP type and code of the first packet each way
	// AppState belongs to the inspector: an index or handle into its own
	// table (0: none). With several inspectors they must agree on its use.
	AppState uint32
	links    [2]links  // idle list of its class, report list
	last     int64     // unix ns of the latest packet
	queued   int64     // unix ns at which it joined its idle list (see Table.touch)
	pkts     [2]uint64 // each way
	bytes    [2]uint64 // each way
	finSeq   [2]uint32 // sequence number just after each side's FIN

	hash     uint32 // of key, for the index
	start    int64  // unix ns of the earliest packet
	reported int64  // unix ns of the start or the last flow_update
	id       uint64
	iface    string
	cid      string // Community ID, computed on first use
	seed     uint16 // Community ID seed
	updated  bool   // a flow_update was written
	updPkts  [2]uint64
	updBytes [2]uint64

	// AppProto is EVE's app_proto, set by an inspector ("dns", "tls",
	// "failed"...); the flow's events carry it.
	AppProto string
	// Alerted is EVE's flow.alerted, set by a detection.
	Alerted bool
}

// ID returns the flow's EVE flow_id.
func (e *Entry) ID() uint64 { return e.id }

// CommunityID returns the flow's Community ID v1 (base64).
func (e *Entry) CommunityID() string {
	if e.cid == "" {
		c, s := e.Client(), e.Server()
		sport, dport := c.Port(), s.Port()
		if e.key.proto == protoICMP || e.key.proto == protoICMPv6 {
			// The first packet's type and code (it went to the server).
			sport, dport = uint16(e.icmp[toServer][0]), uint16(e.icmp[toServer][1])
		}
		e.cid = CommunityID(e.seed, e.key.proto, c.Addr(), s.Addr(), sport, dport)
	}
	return e.cid
}

// Client returns the client's address and port (0 for protocols without
// ports): the src_ip and src_port of the flow's events.
func (e *Entry) Client() netip.AddrPort {
	if e.clientIsA {
		return netip.AddrPortFrom(addr(e.key.ipv, &e.key.a), e.port(e.key.aport))
	}
	return netip.AddrPortFrom(addr(e.key.ipv, &e.key.b), e.port(e.key.bport))
}

// Server returns the server's address and port: dest_ip and dest_port.
func (e *Entry) Server() netip.AddrPort {
	if e.clientIsA {
		return netip.AddrPortFrom(addr(e.key.ipv, &e.key.b), e.port(e.key.bport))
	}
	return netip.AddrPortFrom(addr(e.key.ipv, &e.key.a), e.port(e.key.aport))
}

func (e *Entry) port(p uint16) uint16 {
	if hasPorts(e.key.proto) {
		return p
	}
	return 0
}

// Packets returns the packets seen going d so far (in Inspect, the
// current one included).
func (e *Entry) Packets(d Direction) uint64 { return e.pkts[d] }

// IPVersion returns 4 or 6.
func (e *Entry) IPVersion() uint8 { return e.key.ipv }

// Proto returns the IP protocol number.
func (e *Entry) Proto() uint8 { return e.key.proto }

// Start returns the time of the flow's earliest packet.
func (e *Entry) Start() time.Time { return time.Unix(0, e.start).UTC() }

// Iface returns the capture interface of the flow's first packet.
func (e *Entry) Iface() string { return e.iface }

// hasPorts reports whether a protocol's flows are keyed by ports.
func hasPorts(proto uint8) bool {
	return proto == protoTCP || proto == protoUDP || proto == protoSCTP
}

func addr(ipv uint8, b *[16]byte) netip.Addr {
	if ipv == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(*b)
}
