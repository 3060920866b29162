// Package flow decodes captured frames and tracks them as bidirectional
// flows, emitting one Suricata-EVE flow event per flow when it ends, with
// its Community ID, and flow_update events for long flows.
//
// A Table is fed by a packet source (live AF_PACKET capture or a pcap file)
// through Packet, and is driven by its owner's clock through Expire: each
// second of wall time when live, by packet time when replaying, so that both
// paths produce the same events. Flush ends every open flow at shutdown.
// Inspectors (the app-layer parsers) see every TCP and UDP packet of a
// flow through the Inspector hook. Decoding and tracking allocate nothing
// per packet in steady state; events are allocated only when a flow is
// reported.
//
// Counting rules (see docs/flows.md): a flow's bytes are the original
// lengths of its frames, link-layer header included, as tshark's
// conversation statistics and Suricata count them; packets are captured
// frames (with GRO/TSO one frame may stand for several wire packets). The
// client is the sender of the first packet, or its receiver if that packet
// is a SYN-ACK, or (without SYN) goes from a port below 1024 to one above.
// IP fragments after the first count into the flow of their first
// fragment, ICMP errors into the flow of the packet they quote. Frames
// that are not IP or do not decode are counted in metrics and not
// attributed to flows.
package flow

import (
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Emitter receives flow events: the pipeline, whose Offer drops (and counts)
// an event when its queue is full rather than stall the packet path.
type Emitter interface {
	Offer(event.Event) bool
}

// Flow end reasons, as in EVE's flow.reason.
const (
	ReasonTimeout  = "timeout"
	ReasonForced   = "forced"
	ReasonShutdown = "shutdown"
	ReasonTCPReuse = "tcp_reuse"
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
	reportList = 1 // all flows, by last report (start or flow_update)
)

const noEntry = int32(-1)

// Entries live in chunks that are allocated as the table fills and never
// move, so an Entry pointer stays valid and an idle table costs little.
const (
	chunkShift = 8
	chunkSize  = 1 << chunkShift
)

// Table is the flow table. It is not safe for concurrent use: one goroutine
// owns it and calls Packet, Expire and Flush.
type Table struct {
	cfg      Config
	out      Emitter
	insp     []Inspector
	timeouts [numClasses]int64
	active   int64

	dec    decoder
	ix     index
	chunks []*[chunkSize]Entry
	used   int32   // entries handed out from the chunks so far
	free   []int32 // ended entries, for reuse
	open   int
	idle   [numClasses]list
	report list
	frags  fragments
	pkt    Packet // handed to inspectors, reused

	cnt    counts
	maxPkt uint64
	m      *tableMetrics
}

// NewTable returns an empty table that emits to out, registers its metrics
// (sidewatch_flow_* and Suricata's decoder.*, flow.*, tcp.* and defrag.*
// stats) in reg, so there is one table per registry, and shows every TCP
// and UDP packet to the inspectors, in order. cfg must be valid (see
// Config.Validate). reg may be nil in tests.
func NewTable(cfg Config, out Emitter, reg *metrics.Registry, inspectors ...Inspector) *Table {
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
		ix:     newIndex(cfg.MaxFlows),
		frags:  newFragments(),
		report: list{noEntry, noEntry},
		m:      newTableMetrics(reg),
	}
	if len(inspectors) > 0 {
		t.insp = inspectors
	}
	t.dec.cnt = &t.cnt
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
	return t
}

// Len returns the number of open flows.
func (t *Table) Len() int { return t.open }

func (t *Table) entry(i int32) *Entry { return &t.chunks[i>>chunkShift][i&(chunkSize-1)] }

// Packet decodes one captured frame and updates its flow. ts is the capture
// time, iface the capture interface (in_iface), link the frame's link type,
// data the captured bytes and wireLen the frame's original length (the
// bytes counted). Not safe for concurrent use: one goroutine owns the table.
func (t *Table) Packet(ts time.Time, iface string, link LinkType, data []byte, wireLen int) {
	t.cnt[cPkts]++
	t.cnt[cBytes] += uint64(len(data))
	t.maxPkt = max(t.maxPkt, uint64(len(data)))
	// Bytes are the original length as recorded, even in a damaged record
	// that captured more than that (tshark counts it so too).
	n := uint64(max(wireLen, 0))
	var p packet
	switch t.dec.decode(link, data, &p) {
	case decodedIP:
	case skipFragment:
		if t.fragment(ts.UnixNano(), &p, n) {
			t.cnt[cFlowPkts]++
			t.cnt[cFlowBytes] += n
			return
		}
		t.cnt[cSkipFragment]++
		return
	case skipNotIP:
		t.cnt[cSkipNotIP]++
		return
	case skipLinkType:
		t.cnt[cSkipLinkType]++
		return
	case skipTruncated:
		t.cnt[cInvalid]++
		t.cnt[cSkipTruncated]++
		return
	default:
		t.cnt[cInvalid]++
		t.cnt[cSkipMalformed]++
		return
	}
	t.cnt[cFlowPkts]++
	t.cnt[cFlowBytes] += n
	t.update(ts, iface, &p, n)
}

// update counts packet p of n bytes into its flow.
func (t *Table) update(ts time.Time, iface string, p *packet, n uint64) {
	now := ts.UnixNano()
	if p.emb.ok && t.icmpError(now, p, n) {
		return
	}
	k, fromA := flowKey(p)
	h := t.ix.hash(&k)
	pos, i, ok := t.find(h, &k)
	if ok && p.proto == protoTCP && p.tcpFlags&(tcpSYN|tcpACK) == tcpSYN && t.entry(i).class == classTCPClosed {
		// A new connection on the 5-tuple of a closed one.
		t.end(i, ReasonTCPReuse, now)
		pos, _, _ = t.find(h, &k)
		ok = false
	}
	if !ok {
		i = t.create(now, iface, &k, h, pos, p, fromA)
	}
	e := t.entry(i)
	dir := toClient
	if fromA == e.clientIsA {
		dir = toServer
	}
	t.count(e, dir, now, n)
	first := !e.seen[dir]
	e.seen[dir] = true
	class := uint8(classUDP)
	switch p.proto {
	case protoTCP:
		f := p.tcpFlags
		e.flags[dir] |= f
		switch {
		case f&tcpRST != 0:
			t.cnt[cTCPRst]++
		case f&(tcpSYN|tcpACK) == tcpSYN:
			t.cnt[cTCPSyn]++
		case f&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
			t.cnt[cTCPSynAck]++
		}
		e.trackTCP(dir, p)
		class = e.tcpClass()
	case protoICMP, protoICMPv6:
		if first {
			e.icmp[dir] = [2]byte{byte(p.sport), byte(p.dport)}
		}
		class = classICMP
	}
	t.touch(i, e, class, now)
	if p.fragFirst {
		t.frags.add(t, p, i, dir, now)
	}
	if t.insp != nil && (p.proto == protoTCP || p.proto == protoUDP) {
		t.pkt = Packet{Timestamp: ts, Iface: iface, Direction: Direction(dir), TCPFlags: p.tcpFlags,
			Seq: p.seq, Ack: p.ack, Payload: p.payload, PayloadLen: int(p.payloadLen)}
		for _, in := range t.insp {
			in.Inspect(e, &t.pkt)
		}
		t.pkt.Payload = nil // the frame's memory is not the table's to keep
	}
}

// count adds one packet of n bytes going dir at now to e.
func (t *Table) count(e *Entry, dir int, now int64, n uint64) {
	e.pkts[dir]++
	e.bytes[dir] += n
	if now > e.last {
		e.last = now
	} else if now < e.start { // timestamps going back: start is the earliest
		e.start = now
	}
}

// requeueAfter is how long a flow stays where it is in its idle list
// while its packets keep coming (see touch).
const requeueAfter = int64(time.Second)

// touch moves entry i to the back of the idle list of class when its class
// changed or it joined its list requeueAfter or more before now, and
// otherwise leaves it in place. So the lists are ordered by e.queued, not
// by e.last, and a flow's last packet is less than requeueAfter after its
// queued time (with a clock that does not go back). Moving on every packet
// would cost three more cache misses per packet (the entry's neighbours
// and the list's tail); Expire and NextDeadline read a flow's due time
// from e.last, so flows still end exactly when their timeout has passed.
func (t *Table) touch(i int32, e *Entry, class uint8, now int64) {
	if class == e.class && now-e.queued < requeueAfter {
		return
	}
	t.unlink(&t.idle[e.class], idleList, i)
	e.class = class
	e.queued = now
	t.pushBack(&t.idle[class], idleList, i)
}

// icmpError counts an ICMP error into the open flow of the packet it
// quotes, in the direction back to that packet's sender, as Suricata does
// (without making a one-sided flow look answered). It reports false when
// there is no such flow: the error is then a flow of its own.
func (t *Table) icmpError(now int64, p *packet, n uint64) bool {
	q := packet{ipv: p.ipv, proto: p.emb.proto, src: p.emb.src, dst: p.emb.dst, sport: p.emb.sport, dport: p.emb.dport}
	k, fromA := flowKey(&q)
	_, i, ok := t.find(t.ix.hash(&k), &k)
	if !ok {
		return false
	}
	e := t.entry(i)
	dir := toServer
	if fromA == e.clientIsA { // the quoted packet went to the server
		dir = toClient
	}
	t.count(e, dir, now, n)
	t.touch(i, e, e.class, now)
	t.cnt[cICMPErrAttached]++
	return true
}

// find returns the index slot of the flow of k (hash h) and its entry, or
// the empty slot where it would go.
func (t *Table) find(h uint32, k *key) (pos uint32, i int32, ok bool) {
	ix := &t.ix
	for pos = h & ix.mask; ; pos = (pos + 1) & ix.mask {
		s := ix.slots[pos]
		if s.ref == 0 {
			return pos, noEntry, false
		}
		if s.hash == h && t.entry(int32(s.ref-1)).key == *k {
			return pos, int32(s.ref - 1), true
		}
	}
}

// flowKey returns the key of p's flow and whether p was sent by key.a.
func flowKey(p *packet) (key, bool) {
	sport, dport := p.sport, p.dport
	oneWay := false
	switch p.proto {
	case protoICMP, protoICMPv6:
		sport, dport, oneWay = icmpPorts(p.proto == protoICMPv6, uint8(p.sport), uint8(p.dport))
	case protoTCP, protoUDP, protoSCTP:
	default:
		sport, dport = 0, 0
	}
	k := key{a: p.src, b: p.dst, aport: sport, bport: dport, proto: p.proto, ipv: p.ipv}
	if oneWay {
		return k, true
	}
	if c := compareAddr(&p.src, &p.dst); c > 0 || (c == 0 && sport > dport) {
		k.a, k.b, k.aport, k.bport = p.dst, p.src, dport, sport
		return k, false
	}
	return k, true
}

// compareAddr orders addresses as bytes.Compare does, eight bytes at a time.
func compareAddr(a, b *[16]byte) int {
	for i := 0; i < 16; i += 8 {
		x, y := be64(a[i:]), be64(b[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func (t *Table) create(now int64, iface string, k *key, h, pos uint32, p *packet, fromA bool) int32 {
	if t.open >= t.cfg.MaxFlows {
		t.end(t.oldest(), ReasonForced, now)
		pos, _, _ = t.find(h, k) // the slots may have shifted
	}
	i := t.alloc()
	e := t.entry(i)
	*e = Entry{
		key:       *k,
		hash:      h,
		iface:     iface,
		start:     now,
		last:      now,
		queued:    now,
		reported:  now,
		clientIsA: fromA,
		class:     classUDP,
		seed:      t.cfg.CommunityIDSeed,
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
		t.cnt[cCreatedTCP]++
	case protoUDP, protoSCTP:
		if serverFirst(p) {
			e.clientIsA = !fromA
		}
		if p.proto == protoUDP {
			t.cnt[cCreatedUDP]++
		}
	case protoICMP:
		e.class = classICMP
		t.cnt[cCreatedICMPv4]++
	case protoICMPv6:
		e.class = classICMP
		t.cnt[cCreatedICMPv6]++
	}
	e.id = flowID(k, now)
	t.ix.insert(pos, h, i)
	t.open++
	t.pushBack(&t.idle[e.class], idleList, i)
	t.pushBack(&t.report, reportList, i)
	t.cnt[cCreated]++
	return i
}

// alloc returns a free entry, from the free list or a chunk.
func (t *Table) alloc() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	i := t.used
	if int(i>>chunkShift) == len(t.chunks) {
		t.chunks = append(t.chunks, new([chunkSize]Entry))
	}
	t.used++
	return i
}

// serverFirst reports whether p, the first packet seen of a flow picked up
// midway (no SYN), was sent from a well-known port to an ephemeral one, as
// a server's reply is: connections open before the capture started would
// otherwise be reported backwards.
func serverFirst(p *packet) bool {
	return p.sport < 1024 && p.dport >= 1024
}

// oldest returns the open flow whose last packet is the oldest, to within
// requeueAfter: the heads of the idle lists are the flows queued first.
func (t *Table) oldest() int32 {
	best := noEntry
	for c := range t.idle {
		h := t.idle[c].head
		if h != noEntry && (best == noEntry || t.entry(h).queued < t.entry(best).queued) {
			best = h
		}
	}
	return best
}

// end lets the inspectors finish with the flow, emits its final record
// (after a last flow_update if it had any) and frees its entry.
func (t *Table) end(i int32, reason string, now int64) {
	e := t.entry(i)
	for _, in := range t.insp {
		in.Expire(e)
	}
	// By the counters, not by time: a packet stamped before the last
	// update was written (a ring block read after Expire ran) is not in it.
	if e.updated && e.pkts != e.updPkts {
		t.emitUpdate(e, now, true)
	}
	t.emit(e, reason, now)
	t.unlink(&t.idle[e.class], idleList, i)
	t.unlink(&t.report, reportList, i)
	t.ix.remove(e.hash, i)
	t.open--
	switch reason {
	case ReasonTimeout:
		t.cnt[cEndTimeout]++
	case ReasonForced:
		t.cnt[cEndForced]++
	case ReasonTCPReuse:
		t.cnt[cEndTCPReuse]++
	default:
		t.cnt[cEndShutdown]++
	}
	switch e.flowState() {
	case "new":
		t.cnt[cEndStateNew]++
	case "established":
		t.cnt[cEndStateEstablished]++
	default:
		t.cnt[cEndStateClosed]++
	}
	if e.key.proto == protoTCP {
		t.cnt[cEndTCPState+counter(e.tcp)]++
	}
	*e = Entry{links: [2]links{{noEntry, noEntry}, {noEntry, noEntry}}}
	t.free = append(t.free, i)
}

// Expire ends the flows idle longer than their timeout and writes the
// flow_update events that are due. The owner calls it periodically: each
// second of wall time when live, as packet time passes when replaying. It
// also publishes the table's counters to the registry.
func (t *Table) Expire(now time.Time) {
	for _, in := range t.insp {
		if tk, ok := in.(Ticker); ok {
			tk.Tick(now)
		}
	}
	n := now.UnixNano()
	for c := range t.idle {
		// Every flow queued a timeout or more ago may be due; those after
		// the first queued later cannot be, since last >= queued. The ones
		// passed over had a packet since (less than requeueAfter after
		// they were queued) and are looked at again next time.
		for i := t.idle[c].head; i != noEntry; {
			e := t.entry(i)
			if n-e.queued < t.timeouts[c] {
				break
			}
			next := e.links[idleList].next
			if n-e.last >= t.timeouts[c] {
				t.end(i, ReasonTimeout, n)
			}
			i = next
		}
	}
	if t.active > 0 {
		for i := t.report.head; i != noEntry; i = t.report.head {
			e := t.entry(i)
			if n-e.reported < t.active {
				break
			}
			// A flow silent since its last report has nothing new to say:
			// no packet counted since its last update, or, before its
			// first, none after the packet that opened it.
			if e.updated && e.pkts != e.updPkts || !e.updated && e.last > e.reported {
				t.emitUpdate(e, n, false)
			}
			e.reported = n
			t.unlink(&t.report, reportList, i)
			t.pushBack(&t.report, reportList, i)
		}
	}
	t.publish()
}

// NextDeadline returns the earliest time at which Expire has something to
// do (a flow's idle timeout or flow_update), and false when no flow is
// open. A replay steps its clock straight there across a gap in packet
// time, so that its cost does not grow with the gap.
func (t *Table) NextDeadline() (time.Time, bool) {
	var best int64
	found := false
	for c := range t.idle {
		h := t.idle[c].head
		if h == noEntry {
			continue
		}
		// The earliest last packet of the list is among the flows queued
		// less than requeueAfter after its head (see touch).
		until := t.entry(h).queued + requeueAfter
		for i := h; i != noEntry && t.entry(i).queued < until; i = t.entry(i).links[idleList].next {
			if d := t.entry(i).last + t.timeouts[c]; !found || d < best {
				best, found = d, true
			}
		}
	}
	if h := t.report.head; t.active > 0 && h != noEntry {
		if d := t.entry(h).reported + t.active; d < best {
			best = d
		}
	}
	return time.Unix(0, best), found
}

// Flush ends every open flow with reason (ReasonShutdown at shutdown),
// oldest first, and publishes the counters.
func (t *Table) Flush(now time.Time, reason string) {
	n := now.UnixNano()
	for i := t.oldest(); i != noEntry; i = t.oldest() {
		t.end(i, reason, n)
	}
	t.publish()
}

func (t *Table) publish() { t.m.publish(&t.cnt, t.open, t.maxPkt) }

func (t *Table) pushBack(l *list, w int, i int32) {
	e := t.entry(i)
	e.links[w] = links{prev: l.tail, next: noEntry}
	if l.tail != noEntry {
		t.entry(l.tail).links[w].next = i
	} else {
		l.head = i
	}
	l.tail = i
}

func (t *Table) unlink(l *list, w int, i int32) {
	lk := t.entry(i).links[w]
	if lk.prev != noEntry {
		t.entry(lk.prev).links[w].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != noEntry {
		t.entry(lk.next).links[w].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	t.entry(i).links[w] = links{noEntry, noEntry}
}

// flowID derives a stable, nonzero id from the key (IP version included)
// and the start time (FNV-1a), so that replaying a capture yields the same
// ids every time. It keeps 53 bits: JSON consumers that read numbers as
// doubles lose nothing.
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
	mix(k.ipv)
	for s := 0; s < 64; s += 8 {
		mix(byte(start >> s))
	}
	h &= 1<<53 - 1
	if h == 0 {
		h = 1
	}
	return h
}

// flowState is EVE's flow.state: new until both sides have been heard
// from (for TCP: as Suricata maps tcp.state), closed after a RST or once
// both sides' FINs are acknowledged.
func (e *Entry) flowState() string {
	if e.key.proto == protoTCP {
		return e.tcp.flowState()
	}
	if e.seen[toServer] && e.seen[toClient] {
		return "established"
	}
	return "new"
}
