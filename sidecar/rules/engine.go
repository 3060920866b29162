package rules

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Engine matches events against the rule set in force and raises an EVE
// alert for each matching rule. Swap replaces the set without stopping
// matching: a call in progress finishes on the set it started with, so a
// reload never drops or stalls an event. Engine is safe for concurrent use.
type Engine struct {
	set atomic.Pointer[Set]
	// free keeps match scratch between calls. Unlike a sync.Pool it is not
	// emptied by the garbage collector, so steady-state matching allocates
	// nothing; it holds one per concurrent caller, up to its capacity.
	free  chan *scratch
	th    *thresholds
	flows *flowSeen

	events, alerts, passed, limited, flowRepeats *metrics.Counter
}

// EngineConfig bounds the engine's state.
type EngineConfig struct {
	// MaxThresholds bounds the threshold/detection_filter counters.
	MaxThresholds int
	// MaxFlows bounds the flows remembered for once-per-flow rules.
	MaxFlows int
}

// NewEngine returns an engine with no rules; reg receives its counters
// (sidewatch_rules_*).
func NewEngine(cfg EngineConfig, reg *metrics.Registry) *Engine {
	e := &Engine{
		th:    newThresholds(max(cfg.MaxThresholds, 1)),
		flows: newFlowSeen(max(cfg.MaxFlows, 1)),
	}
	e.free = make(chan *scratch, 16)
	e.events = reg.Counter("rules", "events_total", "Events matched against the rules.")
	e.alerts = reg.Counter("rules", "alerts_total", "Rule matches past pass rules, once-per-flow and thresholds, before the detection engine's deduplication (sidewatch_detect_alerts_total counts those written).")
	e.passed = reg.Counter("rules", "passed_total", "Events on which a pass rule matched, so that no rule alerted.")
	e.limited = reg.Counter("rules", "thresholded_total", "Rule matches held back by threshold or detection_filter.")
	e.flowRepeats = reg.Counter("rules", "flow_repeats_total", "Matches of once-per-flow (IP-only) rules on a flow that had already alerted.")
	reg.GaugeFunc("rules", "loaded", "Rules in force.", func() float64 {
		if s := e.set.Load(); s != nil {
			return float64(len(s.Rules))
		}
		return 0
	})
	reg.GaugeFunc("rules", "threshold_entries", "Threshold counters held.", func() float64 {
		n, _ := e.th.stats()
		return float64(n)
	})
	reg.CounterFunc("rules", "threshold_evictions_total", "Threshold counters dropped because the table was full.", func() float64 {
		_, ev := e.th.stats()
		return float64(ev)
	})
	reg.CounterFunc("rules", "flow_evictions_total", "Remembered flows dropped because the table was full (an IP-only rule may alert again on them).", func() float64 {
		return float64(e.flows.evictions.Load())
	})
	return e
}

// Swap puts s in force (nil: no rules) and returns the previous set.
func (e *Engine) Swap(s *Set) *Set { return e.set.Swap(s) }

// Set returns the set in force.
func (e *Engine) Set() *Set { return e.set.Load() }

// match calls alert for each rule that matches ev and may alert now (no
// pass rule matched, once-per-flow and threshold state allow it), with the
// direction it matched in.
func (e *Engine) match(ev *event.Event, alert func(*Rule, dir)) {
	set := e.set.Load()
	if set == nil || len(set.Rules) == 0 || ev.EventType == event.TypeAlert || !ev.SrcIP.IsValid() || !ev.DestIP.IsValid() {
		return
	}
	e.events.Inc()
	var s *scratch
	select {
	case s = <-e.free:
	default:
		s = new(scratch)
	}
	defer func() {
		select {
		case e.free <- s:
		default:
		}
	}()
	s.reset(len(set.Rules))
	app := eventApp(ev)
	set.ix.candidates(s, ev, app)
	if len(s.cand) == 0 {
		return
	}
	slices.Sort(s.cand)
	// Verify every candidate first: one matching pass rule silences the
	// event. hits is reused to hold the matches and their directions.
	s.hits = s.hits[:0]
	for _, id := range s.cand {
		r := set.Rules[id]
		s.depth = 0
		d, ok := r.match(s, ev, app)
		if !ok {
			continue
		}
		if r.Action == "pass" {
			e.passed.Inc()
			return
		}
		s.hits = append(s.hits, id, int32(d))
	}
	for i := 0; i < len(s.hits); i += 2 {
		r := set.Rules[s.hits[i]]
		if r.perFlow && ev.FlowID != 0 && !e.flows.first(r.GID, r.SID, ev.FlowID) {
			e.flowRepeats.Inc()
			continue
		}
		if r.threshold != nil && !e.th.allow(r.threshold, thresholdKeyOf(r, ev, dir(s.hits[i+1])), ev.Timestamp.Time) {
			e.limited.Inc()
			continue
		}
		e.alerts.Inc()
		alert(r, dir(s.hits[i+1]))
	}
}

func thresholdKeyOf(r *Rule, ev *event.Event, d dir) thresholdKey {
	k := thresholdKey{gid: r.GID, sid: r.SID}
	client, server, _, _ := endpoints(ev)
	src, dst := client, server
	if d == dirToClient {
		src, dst = server, client
	}
	switch r.threshold.track {
	case "by_src":
		k.a = src
	case "by_dst":
		k.a = dst
	case "by_both":
		k.a, k.b = src, dst
	case "by_flow":
		k.flow = ev.FlowID
	}
	return k
}

// alertHeader is ev as the event an alert is about: its flow's identity,
// with the addresses written in the direction of the match, as Suricata
// writes them (a certificate rule's alert goes from the server to the
// client). The detection engine copies what the alert keeps.
func alertHeader(ev *event.Event, d dir, app string) event.Event {
	client, server, cport, sport := endpoints(ev)
	a := event.Event{
		Timestamp:   ev.Timestamp,
		FlowID:      ev.FlowID,
		InIface:     ev.InIface,
		EventType:   event.TypeAlert,
		SrcIP:       client,
		SrcPort:     cport,
		DestIP:      server,
		DestPort:    sport,
		Proto:       ev.Proto,
		IPVersion:   ev.IPVersion,
		ICMPType:    ev.ICMPType,
		ICMPCode:    ev.ICMPCode,
		CommunityID: ev.CommunityID,
		AppProto:    ev.AppProto,
		ECS:         ev.ECS,
	}
	if d == dirToClient {
		a.SrcIP, a.SrcPort, a.DestIP, a.DestPort = server, sport, client, cport
	}
	if a.AppProto == "" {
		a.AppProto = app
	}
	return a
}

// flowSeen remembers which (rule, flow) pairs have alerted, so that an
// IP-only rule alerts once per flow and not on each of its events. Bounded:
// when full it is cleared (counted), at worst letting a rule alert again.
type flowSeen struct {
	mu        sync.Mutex
	max       int
	m         map[flowKey]struct{}
	evictions atomic.Uint64
}

type flowKey struct {
	gid, sid int
	flow     uint64
}

func newFlowSeen(max int) *flowSeen { return &flowSeen{max: max, m: map[flowKey]struct{}{}} }

func (f *flowSeen) first(gid, sid int, flow uint64) bool {
	k := flowKey{gid, sid, flow}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[k]; ok {
		return false
	}
	if len(f.m) >= f.max {
		f.evictions.Add(uint64(len(f.m)))
		clear(f.m)
	}
	f.m[k] = struct{}{}
	return true
}
