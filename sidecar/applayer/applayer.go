// Package applayer is the application layer of the network watch: it
// looks into the payload of the flows the flow table tracks, identifies
// their protocol by content (not port), and writes EVE dns, tls, http and
// ssh events with the flow's flow_id and community_id.
//
// The flow table calls Inspect for every TCP and UDP packet of a flow and
// Expire once when the flow ends (see flow.Inspector). TCP directions are
// put back in order by sidecar/reassembly within its budgets; the parsers
// (sidecar/applayer/dns, tls, http, ssh) read them as they arrive. A flow
// costs app-layer state only from its first payload byte until its
// protocol is identified and parsed (TLS and SSH after their handshakes,
// DNS and HTTP for as long as the flow lasts), or found to be none of
// these (app_proto "failed"); after that its packets cost one check.
//
// Nothing on the packet path allocates in steady state: parsers reuse the
// Engine's buffers, and events are built in arena slabs (see arena), one
// allocation per many events.
package applayer

import (
	"net/netip"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/applayer/dns"
	"github.com/sidewatch/sidewatch/sidecar/applayer/http"
	"github.com/sidewatch/sidewatch/sidecar/applayer/ssh"
	"github.com/sidewatch/sidewatch/sidecar/applayer/tls"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/reassembly"
)

// Emitter receives the events: the pipeline, whose Offer drops (and
// counts) an event rather than stall the packet path.
type Emitter interface {
	Offer(event.Event) bool
}

// Flow is what the app layer reads of a packet's flow; *flow.Entry
// implements it.
type Flow interface {
	ID() uint64
	CommunityID() string
	Client() netip.AddrPort
	Server() netip.AddrPort
	IPVersion() uint8
	Proto() uint8
	Iface() string
}

// Observer sees every app-layer event before it is offered, on the
// capture goroutine, with the flow it belongs to: the detection engine
// (issue 13). The Event and the Entry are valid for the call only; what
// the event points to (its DNS, TLS, HTTP or SSH object and their
// strings) is never written again and may be kept.
type Observer interface {
	Observe(e *flow.Entry, ev *event.Event)
}

// TCP flag bits of flow.Packet.TCPFlags.
const (
	flagFIN = flow.FlagFIN
	flagSYN = flow.FlagSYN
	flagRST = flow.FlagRST
	flagACK = flow.FlagACK
)

// IP protocol numbers.
const (
	ipTCP = 6
	ipUDP = 17
)

// Protocols, as identified.
const (
	protoNone uint8 = iota
	protoDNS
	protoTLS
	protoHTTP
	protoHTTP2
	protoSSH
	protoFailed
	numProtos
)

// protoNames are EVE's app_proto values.
var protoNames = [numProtos]string{
	protoDNS:    "dns",
	protoTLS:    "tls",
	protoHTTP:   "http",
	protoHTTP2:  "http2",
	protoSSH:    "ssh",
	protoFailed: "failed",
}

// Directions index per-direction state, as in the flow table.
const (
	toServer = 0
	toClient = 1
)

// The flow's AppState slot: the index of its connState plus one, or
// stateDone once there is nothing more to inspect. Before the flow has
// state (no payload yet), two bits remember which sides sent a SYN, so
// that their streams are not taken for ones picked up midway. A TCP flow
// whose one direction matched no protocol while the other has sent
// nothing yet is parked: its state is freed and a bit remembers the
// direction that failed, whose packets then cost this one check (see
// park).
const (
	stateDone     = 1 << 31
	synClient     = 1 << 30
	synServer     = 1 << 29
	parkedClient  = 1 << 28 // the client's bytes matched nothing
	parkedServer  = 1 << 27 // the server's bytes matched nothing
	indexMask     = parkedServer - 1
	chunkShift    = 8
	chunkSize     = 1 << chunkShift
	stateUnparked = stateDone | synClient | synServer
)

// synBits are the SYN bits by direction.
var synBits = [2]uint32{toServer: synClient, toClient: synServer}

// parkedBits are the parked bits by direction.
var parkedBits = [2]uint32{toServer: parkedClient, toClient: parkedServer}

// connState is the app-layer state of one flow.
type connState struct {
	proto   uint8
	nomatch [2]bool // the direction's first bytes matched no protocol
	done    [2]bool // the direction needs nothing more
	syn     [2]bool // the direction's SYN was seen before the state existed
	last    int64   // unix ns of the latest packet: the time of events written at expiry
	txs     uint64  // transactions numbered so far (tx_id)
	streams [2]reassembly.Stream
	dns     dnsConn
	tls     tlsConn
	http    httpConn
	ssh     sshConn
}

// Engine is the app layer. It is not safe for concurrent use: the
// capture goroutine, which owns the flow table, calls it.
type Engine struct {
	cfg  Config
	out  Emitter
	pool *reassembly.Pool
	a    arena
	m    engineMetrics

	chunks    [][]connState
	free      []uint32
	used      int
	rx        receiver
	observers []Observer

	// Parser state reused for every message.
	dnsMsg     dns.Message
	hello      tls.ClientHello
	serverHi   tls.ServerHello
	cert       tls.Certificate
	ja4        tls.JA4
	tlsScratch []byte
	req        http.Request
	resp       http.Response
	kex        ssh.KexInit
	scratch    []byte
	names      []string    // strings of the DNS message being logged
	ev         event.Event // the event shown to observers
}

// New returns an engine writing events to out, and showing them first to
// the observers, and registering its metrics (sidewatch_applayer_*,
// sidewatch_reassembly_*) in reg. cfg must be valid.
func New(cfg Config, out Emitter, reg *metrics.Registry, observers ...Observer) *Engine {
	if reg == nil {
		reg = metrics.New()
	}
	en := &Engine{
		cfg:        cfg,
		out:        out,
		pool:       reassembly.NewPool(cfg.reassembly(), reg),
		a:          newArena(),
		m:          newEngineMetrics(reg),
		tlsScratch: make([]byte, 0, tls.MaxMessageLen+4),
		scratch:    make([]byte, 0, 4096),
		names:      make([]string, 0, 16),
		observers:  observers,
	}
	en.rx.en = en
	return en
}

// Inspect takes one TCP or UDP packet of a flow (flow.Inspector).
func (en *Engine) Inspect(e *flow.Entry, p *flow.Packet) {
	en.rx.entry = e
	en.inspect(e, &e.AppState, &e.AppProto, p)
}

// Expire ends a flow (flow.Inspector): what is pending (an HTTP request
// without response, a TLS hello without certificate) is written,
// app_proto is settled and the state freed.
func (en *Engine) Expire(e *flow.Entry) {
	en.rx.entry = e
	en.expire(e, &e.AppState, &e.AppProto)
}

// inspect takes one packet of a flow. state and appProto are the flow's
// slots owned by the app layer (flow.Entry's AppState and AppProto).
func (en *Engine) inspect(f Flow, state *uint32, appProto *string, p *flow.Packet) {
	st := *state
	dir := toClient
	if p.Direction == flow.ToServer {
		dir = toServer
	}
	if st&(stateDone|parkedBits[dir]) != 0 {
		if st&stateDone == 0 && p.TCPFlags&flagRST != 0 {
			en.failParked(state, appProto) // reset: nothing more to identify
		}
		return
	}
	if st&indexMask == 0 {
		parked := st&(parkedClient|parkedServer) != 0
		if len(p.Payload) == 0 && p.PayloadLen == 0 {
			switch {
			case parked && p.TCPFlags&flagRST != 0:
				en.failParked(state, appProto)
				return
			case parked && p.TCPFlags&(flagSYN|flagFIN) != 0:
				// The silent direction's stream starts or ends: rebuilt
				// below to take it as the freed state would have.
			default:
				// Nothing to look at yet (handshakes, pure ACKs, scans): no
				// state, only whether a SYN went this way.
				if p.TCPFlags&flagSYN != 0 {
					*state = st | synBits[dir]
				}
				return
			}
		}
		idx := en.alloc()
		cs := en.get(idx)
		cs.syn = [2]bool{st&synClient != 0, st&synServer != 0}
		for d := range 2 {
			if st&parkedBits[d] != 0 {
				// Parked: the direction matched nothing, as before.
				cs.nomatch[d], cs.done[d] = true, true
				cs.streams[d].Finish(en.pool)
			}
		}
		st = idx
		*state = st
	}
	cs := en.get(st)
	cs.last = p.Timestamp.UnixNano()
	en.rx = receiver{en: en, cs: cs, dir: dir, f: f, entry: en.rx.entry, appProto: appProto, ts: p.Timestamp, iface: p.Iface}
	switch f.Proto() {
	case ipTCP:
		en.tcp(cs, dir, p)
	case ipUDP:
		en.udp(cs, dir, p)
	}
	if cs.done[toServer] && cs.done[toClient] {
		en.finish(cs, appProto)
		en.release(st)
		*state = stateDone
		return
	}
	if cs.proto == protoNone && f.Proto() == ipTCP {
		en.park(cs, state)
	}
}

// park frees the state of a TCP flow whose one direction matched no
// protocol while the other has sent nothing (a capture that started in
// the middle of a bulk transfer, a server banner no one answers): its
// stream holds nothing and its SYN, if seen before the state, is kept in
// the slot, so the state rebuilt from the slot when that direction sends
// behaves as the freed one would have. Until then the flow's packets
// cost one check instead of a state lookup and reassembly calls each.
func (en *Engine) park(cs *connState, state *uint32) {
	for d := range 2 {
		o := 1 - d
		if !cs.nomatch[d] || cs.done[o] || !cs.streams[o].Untouched() {
			continue
		}
		st := *state
		slot := parkedBits[d] | st&stateUnparked
		if cs.syn[o] {
			slot |= synBits[o]
		}
		cs.streams[d].Finish(en.pool)
		en.release(st)
		*state = slot
		en.m.parked.Inc()
		return
	}
}

// failParked settles a parked flow: app_proto failed, as a flow whose
// state had been kept would have been.
func (en *Engine) failParked(state *uint32, appProto *string) {
	*appProto = protoNames[protoFailed]
	en.m.flows[protoFailed].Inc()
	*state = stateDone
}

func (en *Engine) expire(f Flow, state *uint32, appProto *string) {
	st := *state
	if st&stateDone != 0 {
		return
	}
	if st&indexMask == 0 {
		if st&(parkedClient|parkedServer) != 0 {
			en.failParked(state, appProto)
		}
		return
	}
	cs := en.get(st)
	en.rx = receiver{en: en, cs: cs, f: f, entry: en.rx.entry, appProto: appProto, ts: time.Unix(0, cs.last).UTC(), iface: f.Iface()}
	if f.Proto() == ipTCP {
		for dir := range 2 {
			en.rx.dir = dir
			en.endDirection(cs, dir)
		}
	}
	en.finish(cs, appProto)
	en.release(st)
	*state = stateDone
}

// tcp feeds a segment to its direction's stream and the acknowledgement
// to the other's.
func (en *Engine) tcp(cs *connState, dir int, p *flow.Packet) {
	s := &cs.streams[dir]
	if cs.syn[dir] {
		// The SYN went before the state existed: this is the start.
		cs.syn[dir] = false
		if p.TCPFlags&flagSYN == 0 {
			s.Open(p.Seq)
		}
	}
	if !cs.done[dir] && (len(p.Payload) > 0 || p.PayloadLen > 0 || p.TCPFlags&(flagSYN|flagFIN) != 0) {
		s.Add(en.pool, reassembly.Segment{
			Seq:     p.Seq,
			SYN:     p.TCPFlags&flagSYN != 0,
			FIN:     p.TCPFlags&flagFIN != 0,
			Data:    p.Payload,
			Missing: max(p.PayloadLen-len(p.Payload), 0),
		}, &en.rx)
		en.syncDone(cs, dir)
		if !cs.done[dir] && s.Ended() {
			en.endDirection(cs, dir)
		}
	}
	other := 1 - dir
	if p.TCPFlags&flagACK != 0 && !cs.done[other] {
		en.rx.dir = other
		cs.streams[other].Acked(en.pool, p.Ack, &en.rx)
		en.syncDone(cs, other)
		en.rx.dir = dir
	}
	if p.TCPFlags&flagRST != 0 {
		for d := range 2 {
			en.rx.dir = d
			en.endDirection(cs, d)
		}
		en.rx.dir = dir
	}
}

// syncDone marks a direction done when its stream was finished (its
// parser is done, or the budgets gave it up).
func (en *Engine) syncDone(cs *connState, dir int) {
	if cs.streams[dir].Done() {
		cs.done[dir] = true
	}
}

// endDirection closes a direction: its FIN was reached, the connection
// was reset, or the flow ended.
func (en *Engine) endDirection(cs *connState, dir int) {
	if cs.done[dir] {
		return
	}
	if cs.proto == protoHTTP {
		en.httpEnd(cs, dir)
	}
	cs.streams[dir].Finish(en.pool)
	cs.done[dir] = true
}

// udp looks at one datagram: only DNS is spoken over UDP here.
func (en *Engine) udp(cs *connState, dir int, p *flow.Packet) {
	if cs.proto == protoNone {
		if !en.detectDNS(p.Payload, dir) {
			cs.nomatch[dir] = true
			cs.done[dir] = true
			if cs.nomatch[1-dir] {
				en.identify(cs, protoFailed)
			}
			return
		}
		en.identify(cs, protoDNS)
	}
	if cs.proto != protoDNS || !en.cfg.DNS {
		return
	}
	if len(p.Payload) < p.PayloadLen {
		en.m.dnsErrors[dnsErrSnaplen].Inc()
		return
	}
	en.dnsMessage(cs, dir, p.Payload)
}

// identify records the flow's protocol. With the protocol's events off,
// the flow is labelled and left alone.
func (en *Engine) identify(cs *connState, proto uint8) {
	cs.proto = proto
	*en.rx.appProto = protoNames[proto]
	en.m.flows[proto].Inc()
	if proto == protoFailed || proto == protoHTTP2 || !en.enabled(proto) {
		cs.done = [2]bool{true, true}
	}
}

func (en *Engine) enabled(proto uint8) bool {
	switch proto {
	case protoDNS:
		return en.cfg.DNS
	case protoTLS:
		return en.cfg.TLS
	case protoHTTP:
		return en.cfg.HTTP
	case protoSSH:
		return en.cfg.SSH
	}
	return false
}

// finish writes what the flow still owes and settles app_proto.
func (en *Engine) finish(cs *connState, appProto *string) {
	switch cs.proto {
	case protoNone:
		if cs.nomatch[toServer] || cs.nomatch[toClient] {
			en.identify(cs, protoFailed)
		}
	case protoTLS:
		en.tlsFinish(cs)
	case protoHTTP:
		en.httpFinish(cs)
	case protoSSH:
		en.sshFinish(cs)
	case protoDNS:
		en.dnsFinish(cs)
	}
	for dir := range cs.streams {
		cs.streams[dir].Finish(en.pool)
	}
}

// alloc returns a fresh state's slot value.
func (en *Engine) alloc() uint32 {
	var i uint32
	if n := len(en.free); n > 0 {
		i = en.free[n-1]
		en.free = en.free[:n-1]
	} else {
		i = uint32(len(en.chunks)) << chunkShift
		en.chunks = append(en.chunks, make([]connState, chunkSize))
		for j := uint32(chunkSize) - 1; j > 0; j-- {
			en.free = append(en.free, i+j)
		}
	}
	en.used++
	en.m.active.Set(int64(en.used))
	return i + 1
}

func (en *Engine) get(st uint32) *connState {
	i := st&indexMask - 1
	return &en.chunks[i>>chunkShift][i&(chunkSize-1)]
}

func (en *Engine) release(st uint32) {
	*en.get(st) = connState{}
	en.free = append(en.free, st&indexMask-1)
	en.used--
	en.m.active.Set(int64(en.used))
}

// receiver is the reassembly.Receiver of the direction being fed: the
// engine sets it before each call, so handing it over allocates nothing.
type receiver struct {
	en       *Engine
	cs       *connState
	dir      int
	f        Flow
	entry    *flow.Entry // nil in tests that drive inspect directly
	appProto *string
	ts       time.Time
	iface    string
}

// Data dispatches a direction's bytes: to detection until the protocol is
// known, then to its parser.
func (r *receiver) Data(b []byte) (int, bool) {
	en, cs := r.en, r.cs
	if cs.proto == protoNone {
		proto, decided := detectStream(b, r.dir)
		if !decided {
			return 0, true
		}
		if proto == protoNone {
			cs.nomatch[r.dir] = true
			cs.done[r.dir] = true
			if cs.nomatch[1-r.dir] {
				en.identify(cs, protoFailed)
			}
			return len(b), false
		}
		en.identify(cs, proto)
		if cs.done[r.dir] {
			return len(b), false
		}
	}
	var n int
	var more bool
	switch cs.proto {
	case protoDNS:
		n, more = en.dnsStream(cs, r.dir, b)
	case protoTLS:
		n, more = en.tlsData(cs, r.dir, b)
	case protoHTTP:
		n, more = en.httpData(cs, r.dir, b)
	case protoSSH:
		n, more = en.sshData(cs, r.dir, b)
	}
	if !more {
		cs.done[r.dir] = true
	}
	return n, more
}

// Gap tells the direction's parser of lost bytes; only an HTTP body being
// skipped survives one.
func (r *receiver) Gap(n int) bool {
	cs := r.cs
	if cs.proto == protoHTTP && cs.http.streams[r.dir].Gap(int64(n)) {
		return true
	}
	if cs.proto == protoNone {
		cs.nomatch[r.dir] = true
	}
	r.en.m.gaps[cs.proto].Inc()
	cs.done[r.dir] = true
	return false
}

// header starts an event of the flow. With fromServer the server is the
// source (DNS responses, as Suricata writes them).
func (en *Engine) header(typ event.Type, fromServer bool) event.Event {
	r := &en.rx
	src, dst := r.f.Client(), r.f.Server()
	if fromServer {
		src, dst = dst, src
	}
	proto := "UDP"
	if r.f.Proto() == ipTCP {
		proto = "TCP"
	}
	return event.Event{
		Timestamp:   event.At(r.ts.UTC()),
		FlowID:      r.f.ID(),
		InIface:     r.iface,
		EventType:   typ,
		SrcIP:       src.Addr(),
		SrcPort:     src.Port(),
		DestIP:      dst.Addr(),
		DestPort:    dst.Port(),
		Proto:       proto,
		IPVersion:   r.f.IPVersion(),
		CommunityID: r.f.CommunityID(),
	}
}

// emit offers an event.
func (en *Engine) emit(ev event.Event) {
	for i, t := range eventTypes {
		if t == ev.EventType {
			en.m.events[i].Inc()
		}
	}
	en.m.slabs.Add(en.a.slabs)
	en.a.slabs = 0
	if len(en.observers) > 0 {
		// Shown through the engine's copy: taking the address of ev would
		// move every event to the heap.
		en.ev = ev
		for _, o := range en.observers {
			o.Observe(en.rx.entry, &en.ev)
		}
		ev = en.ev
	}
	en.out.Offer(ev)
}
