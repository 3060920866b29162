package detect

import (
	"container/list"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Signature is what an alert says about itself: a built-in detection's or
// a rule's. It is shared by all the alerts it raises and must not change
// once in use.
type Signature struct {
	GID      int    // alert.gid; 1 for the built-ins, as Suricata's rules
	ID       int    // alert.signature_id
	Rev      int    // alert.rev
	Msg      string // alert.signature
	Category string // alert.category (a Suricata classtype's description)
	Severity int    // alert.severity: 1 high, 2 medium, 3 low
	// Metadata starts every alert's metadata (MITRE ATT&CK ids, GuardDuty
	// finding type, a rule's metadata keyword); evidence follows it.
	Metadata event.AlertMetadata
}

// Built-in signature ids are in BuiltinSIDMin..BuiltinSIDMax, gid 1; rule
// files must keep out of it.
const (
	BuiltinSIDMin = 9000000
	BuiltinSIDMax = 9000999
)

// meta builds static metadata from key, value pairs.
func meta(kv ...string) event.AlertMetadata {
	var m event.AlertMetadata
	for i := 0; i+1 < len(kv); i += 2 {
		m = append(m, event.AlertMeta{Key: kv[i], Values: strings.Split(kv[i+1], ",")})
	}
	return m
}

// Evidence returns one evidence entry with its values.
func Evidence(key string, values ...string) event.AlertMeta {
	return event.AlertMeta{Key: key, Values: values}
}

// Alerts raises the alerts of one detector. Safe for concurrent use.
type Alerts struct {
	e          *Engine
	raised     *metrics.Counter
	suppressed *metrics.Counter
}

// Raise raises sig about ev, the event (or the packet's flow, as an event
// header) that matched: the alert takes its timestamp, 5-tuple, flow_id,
// community_id, app_proto, in_iface and container. The evidence is added
// to the alert's metadata. Raise copies what it keeps, so ev and the
// evidence may be reused once it returns.
//
// Within --detect-dedup-window, only the first alert of a signature,
// source and destination is emitted; the next one after the window says
// in metadata.suppressed how many were left out. The source is ev's
// src_ip, or for events without one (logs) its container. Raise reports
// whether an alert was emitted.
func (a *Alerts) Raise(sig *Signature, ev *event.Event, evidence ...event.AlertMeta) bool {
	e := a.e
	ts := ev.Timestamp.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	key := dedupKey{gid: sig.GID, sid: sig.ID, src: ev.SrcIP, dst: ev.DestIP}
	if !key.src.IsValid() {
		key.container = ev.ECS.Container.Name
		if key.container == "" {
			key.container = ev.ECS.Container.ID
		}
	}
	e.mu.Lock()
	suppressed, due := e.dedup.check(&key, ts.UnixNano(), int64(e.cfg.DedupWindow))
	if due && ev.FlowID != 0 {
		e.alerted.add(ev.FlowID)
		e.nAlerted.Store(int64(len(e.alerted.ids)))
	}
	e.mu.Unlock()
	if !due {
		a.suppressed.Inc()
		return false
	}
	alert := newAlertEvent(sig, ev, ts, evidence, suppressed)
	if !e.out.OfferAlert(alert) {
		e.m.dropped.Inc()
		return false
	}
	a.raised.Inc()
	return true
}

// newAlertEvent builds the alert event, copying every string it keeps:
// producers may reuse their buffers once the event has passed.
func newAlertEvent(sig *Signature, ev *event.Event, ts time.Time, evidence []event.AlertMeta, suppressed uint64) event.Event {
	md := make(event.AlertMetadata, 0, len(sig.Metadata)+len(evidence)+1)
	md = append(md, sig.Metadata...)
	for _, m := range evidence {
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			vals[i] = strings.Clone(v)
		}
		md = append(md, event.AlertMeta{Key: m.Key, Values: vals})
	}
	if suppressed > 0 {
		md = append(md, event.AlertMeta{Key: "suppressed", Values: []string{strconv.FormatUint(suppressed, 10)}})
	}
	out := event.Event{
		Timestamp:   event.At(ts),
		FlowID:      ev.FlowID,
		InIface:     strings.Clone(ev.InIface),
		EventType:   event.TypeAlert,
		SrcIP:       ev.SrcIP,
		SrcPort:     ev.SrcPort,
		DestIP:      ev.DestIP,
		DestPort:    ev.DestPort,
		Proto:       strings.Clone(ev.Proto),
		IPVersion:   ev.IPVersion,
		CommunityID: strings.Clone(ev.CommunityID),
		AppProto:    strings.Clone(ev.AppProto),
		Alert: &event.Alert{
			Action:      "allowed",
			GID:         sig.GID,
			SignatureID: sig.ID,
			Rev:         sig.Rev,
			Signature:   sig.Msg,
			Category:    sig.Category,
			Severity:    sig.Severity,
			Metadata:    md,
		},
	}
	if out.AppProto == "" {
		// An app-layer event is its flow's protocol, known before the flow
		// record names it.
		switch ev.EventType {
		case event.TypeDNS, event.TypeTLS, event.TypeHTTP, event.TypeSSH:
			out.AppProto = string(ev.EventType)
		}
	}
	if ev.ICMPType != nil {
		t := *ev.ICMPType
		out.ICMPType = &t
	}
	if ev.ICMPCode != nil {
		c := *ev.ICMPCode
		out.ICMPCode = &c
	}
	out.ECS.Container = event.Container{ID: strings.Clone(ev.ECS.Container.ID), Name: strings.Clone(ev.ECS.Container.Name)}
	return out
}

// dedupKey is (signature, source, destination).
type dedupKey struct {
	gid, sid  int
	src, dst  netip.Addr
	container string // the source of events without addresses
}

type dedupEntry struct {
	key        dedupKey
	until      int64 // unix ns: alerts before this are suppressed
	suppressed uint64
	elem       *list.Element
}

// dedupTable remembers the last alert of each key, at most max keys; the
// key alerted longest ago is forgotten first.
type dedupTable struct {
	max     int
	entries map[dedupKey]*dedupEntry
	order   *list.List // of *dedupEntry, oldest alert first
	evicted *metrics.Counter
	size    *metrics.Gauge
}

func newDedupTable(max int, m *engineMetrics) dedupTable {
	return dedupTable{max: max, entries: map[dedupKey]*dedupEntry{}, order: list.New(),
		evicted: m.evictions("dedup"), size: m.size("dedup")}
}

// check decides whether an alert for key at ts is due, and if so returns
// the number suppressed since the previous one and starts a new window.
func (d *dedupTable) check(key *dedupKey, ts, window int64) (suppressed uint64, due bool) {
	if window <= 0 {
		return 0, true
	}
	if en := d.entries[*key]; en != nil {
		if ts < en.until {
			en.suppressed++
			return 0, false
		}
		suppressed, en.suppressed, en.until = en.suppressed, 0, ts+window
		d.order.MoveToBack(en.elem)
		return suppressed, true
	}
	if len(d.entries) >= d.max {
		old := d.order.Remove(d.order.Front()).(*dedupEntry)
		delete(d.entries, old.key)
		d.evicted.Inc()
	}
	k := *key
	k.container = strings.Clone(k.container)
	en := &dedupEntry{key: k, until: ts + window}
	en.elem = d.order.PushBack(en)
	d.entries[k] = en
	d.size.Set(int64(len(d.entries)))
	return 0, true
}

// alertedSet remembers the flows that raised an alert, so that their flow
// events say alerted: true. It holds at most max flows; the oldest is
// forgotten first.
type alertedSet struct {
	ids map[uint64]struct{}
	// ring holds the ids in the order they were added; it grows to max
	// as alerts come (512 KiB at the default max, which a sidecar that
	// never alerts should not hold), then next is the oldest.
	ring    []uint64
	max     int
	next    int
	evicted *metrics.Counter
}

func newAlertedSet(max int, m *engineMetrics) alertedSet {
	return alertedSet{ids: map[uint64]struct{}{}, max: max, evicted: m.evictions("alerted_flows")}
}

func (s *alertedSet) add(id uint64) {
	if _, ok := s.ids[id]; ok {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, id)
	} else {
		// The oldest goes, unless it was taken already (it may even be
		// id, taken and now added again).
		if _, ok := s.ids[s.ring[s.next]]; ok {
			delete(s.ids, s.ring[s.next])
			s.evicted.Inc()
		}
		s.ring[s.next] = id
		s.next = (s.next + 1) % s.max
	}
	s.ids[id] = struct{}{}
}

// take reports whether id alerted, and forgets it.
func (s *alertedSet) take(id uint64) bool {
	if _, ok := s.ids[id]; !ok {
		return false
	}
	delete(s.ids, id)
	return true
}

// BuiltinSignatures returns the built-in detections' signatures, by id.
func BuiltinSignatures() []*Signature {
	return []*Signature{
		sigScanIn, sigScanOut, sigSweep,
		sigStratum, sigPoolDNS, sigPoolTLS,
		sigTunnelNames, sigTunnelRare, sigTunnelTyped,
		sigIMDSAccess, sigIMDSRebind, sigIMDSSSRF,
		sigCredsOther, sigCredsEnum, sigCredsTool,
		sigIntelIP, sigIntelDNS, sigIntelSNI, sigIntelJA3, sigIntelJA4, sigIntelHTTP,
		sigAWSKey, sigPrivateKey, sigToken, sigJNDILog, sigJNDIHTTP,
	}
}
