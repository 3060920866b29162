// Package flow decodes captured frames and tracks them as bidirectional
// flows, emitting one Suricata-EVE flow event per flow when it ends (plus
// interim records for long flows), with its Community ID.
//
// A Table is fed by a packet source (live AF_PACKET capture or a pcap file)
// through Packet, and is driven by its owner's clock through Expire: each
// second of wall time when live, by packet time when replaying, so that both
// paths produce the same events. Flush ends every open flow at shutdown.
// Decoding and tracking allocate nothing per packet in steady state; events
// are allocated only when a flow is reported.
//
// Counting rules (see docs/flows.md): a flow's bytes are the original
// lengths of its frames, link-layer header included, as tshark's
// conversation statistics and Suricata count them; packets are captured
// frames (with GRO/TSO one frame may stand for several wire packets). The
// client is the sender of the first packet, or its receiver if that packet
// is a SYN-ACK, or (without SYN) goes from a port below 1024 to one above. IP fragments, non-IP frames and malformed frames are counted in
// metrics and not attributed to flows.
package flow

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Emitter receives flow events: the pipeline, whose Offer drops (and counts)
// an event when its queue is full rather than stall the packet path.
type Emitter interface {
	Offer(event.Event) bool
}

// Flow end reasons, as in EVE's flow.reason; ReasonActiveTimeout marks an
// interim record of a flow that is still open.
const (
	ReasonTimeout       = "timeout"
	ReasonForced        = "forced"
	ReasonShutdown      = "shutdown"
	ReasonTCPReuse      = "tcp_reuse"
	ReasonActiveTimeout = "active_timeout"
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

// Timeout classes; each has its own list of flows ordered by last packet,
// so Expire only looks at flows that are due.
const (
	classTCPNew = iota
	classTCPEstablished
	classTCPClosed
	classUDP
	classICMP
	numClasses
)

// Lists an entry belongs to.
const (
	idleList   = 0 // the list of its timeout class, by last packet
	reportList = 1 // all flows, by last report (start or interim record)
)

const noEntry = int32(-1)

type links struct{ prev, next int32 }

type list struct{ head, tail int32 }

type entry struct {
	key       key
	id        uint64
	iface     string
	start     int64 // unix ns of the first packet
	last      int64 // unix ns of the latest packet
	reported  int64 // unix ns of the start or the last interim record
	pkts      [2]uint64
	bytes     [2]uint64
	flags     [2]uint8
	finSeq    [2]uint32 // sequence number just after each side's FIN
	clientIsA bool      // the client is key.a
	icmpType  uint8     // of the first packet
	icmpCode  uint8
	tcp       tcpState
	class     uint8
	links     [2]links
}

// Table is the flow table. It is not safe for concurrent use: one goroutine
// owns it and calls Packet, Expire and Flush.
type Table struct {
	cfg      Config
	out      Emitter
	timeouts [numClasses]int64
	active   int64

	dec     *decoder
	index   map[key]int32
	entries []entry
	free    []int32
	idle    [numClasses]list
	report  list

	m tableMetrics
}

// NewTable returns an empty table that emits to out and registers its
// metrics (sidewatch_flow_*) in reg, so there is one table per registry.
// cfg must be valid (see Config.Validate). reg may be nil in tests.
func NewTable(cfg Config, out Emitter, reg *metrics.Registry) *Table {
	if reg == nil {
		reg = metrics.New()
	}
	if cfg.MaxFlows < 1 {
		cfg.MaxFlows = 1
	}
	t := &Table{
		cfg:    cfg,
		out:    out,
		active: int64(cfg.ActiveTimeout),
		dec:    newDecoder(),
		index:  make(map[key]int32, min(cfg.MaxFlows, 1024)),
		// Reserved, not touched: the pages cost memory only once used, and
		// the table never copies itself while growing.
		entries: make([]entry, 0, cfg.MaxFlows),
		report:  list{noEntry, noEntry},
	}
	t.timeouts = [numClasses]int64{
		classTCPNew:         int64(cfg.TCPNewTimeout),
		classTCPEstablished: int64(cfg.TCPEstablishedTimeout),
		classTCPClosed:      int64(cfg.TCPClosedTimeout),
		classUDP:            int64(cfg.UDPTimeout),
		classICMP:           int64(cfg.ICMPTimeout),
	}
	for i := range t.idle {
		t.idle[i] = list{noEntry, noEntry}
	}
	t.m = newTableMetrics(reg)
	return t
}

// Len returns the number of open flows.
func (t *Table) Len() int { return len(t.index) }

// Packet decodes one captured frame and updates its flow. ts is the capture
// time, iface the capture interface (in_iface), link the frame's link type,
// data the captured bytes and wireLen the frame's original length (the
// bytes counted). Not safe for concurrent use: one goroutine owns the table.
func (t *Table) Packet(ts time.Time, iface string, link layers.LinkType, data []byte, wireLen int) {
	var p packet
	switch t.dec.decode(link, data, &p) {
	case decodedIP:
	case skipNotIP:
		t.m.notIP.Inc()
		return
	case skipFragment:
		t.m.fragment.Inc()
		return
	case skipLinkType:
		t.m.linkType.Inc()
		return
	default:
		t.m.malformed.Inc()
		return
	}
	if wireLen < len(data) {
		wireLen = len(data)
	}
	t.m.packets.Inc()
	t.m.bytes.Add(uint64(wireLen))
	t.update(ts.UnixNano(), iface, &p, uint64(wireLen))
}

func (t *Table) update(now int64, iface string, p *packet, n uint64) {
	k, fromA := flowKey(p)
	i, ok := t.index[k]
	if ok && p.proto == protoTCP && p.tcpFlags&(tcpSYN|tcpACK) == tcpSYN && t.entries[i].class == classTCPClosed {
		// A new connection on the 5-tuple of a closed one.
		t.end(i, ReasonTCPReuse, now)
		ok = false
	}
	if !ok {
		i = t.create(now, iface, k, p, fromA)
	}
	e := &t.entries[i]
	dir := toClient
	if fromA == e.clientIsA {
		dir = toServer
	}
	e.pkts[dir]++
	e.bytes[dir] += n
	if now > e.last {
		e.last = now
	}
	var class uint8
	switch p.proto {
	case protoTCP:
		e.flags[dir] |= p.tcpFlags
		e.trackTCP(dir, p)
		class = e.tcpClass()
	case protoICMP, protoICMPv6:
		class = classICMP
	default:
		class = classUDP
	}
	// Move to the back of its (possibly new) class list: lists stay ordered
	// by last packet.
	if class == e.class && t.idle[class].tail == i {
		return
	}
	t.unlink(&t.idle[e.class], idleList, i)
	e.class = class
	t.pushBack(&t.idle[class], idleList, i)
}

// flowKey returns the key of p's flow and whether p was sent by key.a.
func flowKey(p *packet) (key, bool) {
	sport, dport := p.sport, p.dport
	oneWay := false
	switch p.proto {
	case protoICMP, protoICMPv6:
		sport, dport, oneWay = icmpPorts(p.proto == protoICMPv6, uint8(p.sport), uint8(p.dport))
	}
	k := key{a: p.src, b: p.dst, aport: sport, bport: dport, proto: p.proto, ipv: p.ipv}
	if oneWay {
		return k, true
	}
	if c := bytes.Compare(p.src[:], p.dst[:]); c > 0 || (c == 0 && sport > dport) {
		k.a, k.b, k.aport, k.bport = p.dst, p.src, dport, sport
		return k, false
	}
	return k, true
}

func (t *Table) create(now int64, iface string, k key, p *packet, fromA bool) int32 {
	if len(t.index) >= t.cfg.MaxFlows {
		t.end(t.oldest(), ReasonForced, now)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.entries = append(t.entries, entry{})
		i = int32(len(t.entries) - 1)
	}
	e := &t.entries[i]
	*e = entry{
		key:       k,
		iface:     iface,
		start:     now,
		last:      now,
		reported:  now,
		clientIsA: fromA,
		class:     classUDP,
		links:     [2]links{{noEntry, noEntry}, {noEntry, noEntry}},
	}
	switch p.proto {
	case protoTCP:
		e.class = classTCPNew
		switch {
		case p.tcpFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
			// A first SYN-ACK comes from the server.
			e.clientIsA = !fromA
		case p.tcpFlags&tcpSYN == 0 && serverFirst(p):
			e.clientIsA = !fromA
		}
	case protoUDP, protoSCTP:
		if serverFirst(p) {
			e.clientIsA = !fromA
		}
	case protoICMP, protoICMPv6:
		e.class = classICMP
		e.icmpType, e.icmpCode = uint8(p.sport), uint8(p.dport)
	}
	e.id = flowID(&k, now)
	t.index[k] = i
	t.pushBack(&t.idle[e.class], idleList, i)
	t.pushBack(&t.report, reportList, i)
	t.m.created.Inc()
	t.m.active.Set(int64(len(t.index)))
	return i
}

// serverFirst reports whether p, the first packet seen of a flow picked up
// midway (no SYN), was sent from a well-known port to an ephemeral one, as
// a server's reply is: connections open before the capture started would
// otherwise be reported backwards.
func serverFirst(p *packet) bool {
	return p.sport < 1024 && p.dport >= 1024
}

// oldest returns the open flow whose last packet is the oldest.
func (t *Table) oldest() int32 {
	best := noEntry
	for c := range t.idle {
		h := t.idle[c].head
		if h != noEntry && (best == noEntry || t.entries[h].last < t.entries[best].last) {
			best = h
		}
	}
	return best
}

// end emits the flow's final record and frees its entry.
func (t *Table) end(i int32, reason string, now int64) {
	e := &t.entries[i]
	t.emit(e, reason, now)
	t.unlink(&t.idle[e.class], idleList, i)
	t.unlink(&t.report, reportList, i)
	delete(t.index, e.key)
	*e = entry{links: [2]links{{noEntry, noEntry}, {noEntry, noEntry}}}
	t.free = append(t.free, i)
	t.m.endedCounter(reason).Inc()
	t.m.active.Set(int64(len(t.index)))
}

// Expire ends the flows idle longer than their timeout and emits interim
// records for flows due one. The owner calls it periodically: each second
// of wall time when live, as packet time passes when replaying.
func (t *Table) Expire(now time.Time) {
	n := now.UnixNano()
	for c := range t.idle {
		for i := t.idle[c].head; i != noEntry; i = t.idle[c].head {
			if n-t.entries[i].last < t.timeouts[c] {
				break
			}
			t.end(i, ReasonTimeout, n)
		}
	}
	if t.active <= 0 {
		return
	}
	for i := t.report.head; i != noEntry; i = t.report.head {
		e := &t.entries[i]
		if n-e.reported < t.active {
			break
		}
		// A flow silent since its last report has nothing new to say.
		if e.last > e.reported {
			t.emit(e, ReasonActiveTimeout, n)
			t.m.interim.Inc()
		}
		e.reported = n
		t.unlink(&t.report, reportList, i)
		t.pushBack(&t.report, reportList, i)
	}
}

// Flush ends every open flow with reason (ReasonShutdown at shutdown),
// oldest first.
func (t *Table) Flush(now time.Time, reason string) {
	n := now.UnixNano()
	for i := t.oldest(); i != noEntry; i = t.oldest() {
		t.end(i, reason, n)
	}
}

func (t *Table) pushBack(l *list, w int, i int32) {
	e := &t.entries[i]
	e.links[w] = links{prev: l.tail, next: noEntry}
	if l.tail != noEntry {
		t.entries[l.tail].links[w].next = i
	} else {
		l.head = i
	}
	l.tail = i
}

func (t *Table) unlink(l *list, w int, i int32) {
	lk := t.entries[i].links[w]
	if lk.prev != noEntry {
		t.entries[lk.prev].links[w].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != noEntry {
		t.entries[lk.next].links[w].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	t.entries[i].links[w] = links{noEntry, noEntry}
}

// flowID derives a stable, nonzero id from the key and start time (FNV-1a),
// so that replaying a capture yields the same ids every time. It keeps 53
// bits: JSON consumers that read numbers as doubles lose nothing.
func flowID(k *key, start int64) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b byte) { h ^= uint64(b); h *= prime }
	for _, b := range k.a {
		mix(b)
	}
	for _, b := range k.b {
		mix(b)
	}
	mix(byte(k.aport >> 8))
	mix(byte(k.aport))
	mix(byte(k.bport >> 8))
	mix(byte(k.bport))
	mix(k.proto)
	for s := 0; s < 64; s += 8 {
		mix(byte(start >> s))
	}
	h &= 1<<53 - 1
	if h == 0 {
		h = 1
	}
	return h
}

// emit builds and offers one flow event.
func (t *Table) emit(e *entry, reason string, now int64) {
	client, server := e.key.a, e.key.b
	cport, sport := e.key.aport, e.key.bport
	if !e.clientIsA {
		client, server, cport, sport = server, client, sport, cport
	}
	src, dst := addr(e.key.ipv, &client), addr(e.key.ipv, &server)
	ev := event.Event{
		Timestamp: event.At(time.Unix(0, now).UTC()),
		FlowID:    e.id,
		InIface:   e.iface,
		EventType: event.TypeFlow,
		SrcIP:     src,
		DestIP:    dst,
		Proto:     protoName(e.key.proto),
		IPVersion: e.key.ipv,
		Flow: &event.Flow{
			PktsToServer:  e.pkts[toServer],
			PktsToClient:  e.pkts[toClient],
			BytesToServer: e.bytes[toServer],
			BytesToClient: e.bytes[toClient],
			Start:         event.At(time.Unix(0, e.start).UTC()),
			End:           event.At(time.Unix(0, e.last).UTC()),
			Age:           (e.last - e.start) / int64(time.Second),
			State:         e.flowState(),
			Reason:        reason,
		},
	}
	switch e.key.proto {
	case protoICMP, protoICMPv6:
		typ, code := e.icmpType, e.icmpCode
		ev.ICMPType, ev.ICMPCode = &typ, &code
		ev.CommunityID = CommunityID(t.cfg.CommunityIDSeed, e.key.proto, src, dst, uint16(typ), uint16(code))
	default:
		ev.SrcPort, ev.DestPort = cport, sport
		ev.CommunityID = CommunityID(t.cfg.CommunityIDSeed, e.key.proto, src, dst, cport, sport)
	}
	if e.key.proto == protoTCP {
		all := e.flags[toServer] | e.flags[toClient]
		ev.TCP = &event.TCP{
			TCPFlags:   event.HexByte(all),
			TCPFlagsTS: event.HexByte(e.flags[toServer]),
			TCPFlagsTC: event.HexByte(e.flags[toClient]),
			SYN:        all&tcpSYN != 0,
			FIN:        all&tcpFIN != 0,
			RST:        all&tcpRST != 0,
			PSH:        all&tcpPSH != 0,
			ACK:        all&tcpACK != 0,
			URG:        all&tcpURG != 0,
			ECN:        all&tcpECE != 0,
			CWR:        all&tcpCWR != 0,
			State:      e.tcp.String(),
		}
	}
	t.m.events.Inc()
	t.out.Offer(ev)
}

func addr(ipv uint8, b *[16]byte) netip.Addr {
	if ipv == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(*b)
}

// protoName is EVE's proto: the IANA keyword for common protocols, else
// the number.
func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case protoICMP:
		return "ICMP"
	case protoICMPv6:
		return "IPv6-ICMP"
	case protoSCTP:
		return "SCTP"
	case 2:
		return "IGMP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	}
	return strconv.Itoa(int(p))
}

// flowState is EVE's flow.state: new until both sides have been heard
// from (for TCP: the handshake completed), closed after a RST or FINs from
// both sides.
func (e *entry) flowState() string {
	if e.key.proto == protoTCP {
		switch e.tcpClass() {
		case classTCPNew:
			return "new"
		case classTCPClosed:
			return "closed"
		}
		return "established"
	}
	if e.pkts[toServer] > 0 && e.pkts[toClient] > 0 {
		return "established"
	}
	return "new"
}
