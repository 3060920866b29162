// Package detect is the sidecar's detection engine: it turns what the
// sidecar sees into Suricata-EVE alert events.
//
// It observes two things (contract C6 in ARCHITECTURE.md):
//
//   - events before they are queued: the Tap sits between every producer
//     and the pipeline and runs the event-level detections on each dns, tls,
//     http, ssh, flow and log event, then forwards it (so it sees what the
//     queue later drops), marking the flow events of alerted flows
//     alerted: true;
//   - packets, as the flow table's Inspector, for what must not wait for a
//     flow record: the first packet to 169.254.169.254, Stratum content,
//     SYN/RST accounting for scans, listed addresses.
//
// Alerts go to the pipeline's reserved alert path, which neither waits
// nor loses room to network events; they are deduplicated per signature,
// source and destination within a window. Every detection keeps bounded
// state and counts what it had to forget. The built-in detections live one
// per file (portscan.go, mining.go, ...); more detectors, such as the
// Suricata-rules matcher, are added with Engine.Add.
package detect

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/intel"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Detector is an event-level detection. The engine calls Event for every
// event a producer hands to the pipeline (dns, tls, http, ssh, flow, log),
// before it is queued, on the producer's goroutine: several goroutines may
// call Event at once (the capture goroutine and each log connection's), so
// a Detector guards its own state. ev and everything it points to are
// valid only during the call (producers reuse their buffers); Alerts.Raise
// copies what an alert needs. Event must not modify ev.
type Detector interface {
	Event(ev *event.Event, out *Alerts)
}

// AlertPath is where alert events go: the pipeline's reserved alert path
// (contract C3), which never waits and never loses room to network events.
// It reports false when the alert could not be queued.
type AlertPath interface {
	OfferAlert(event.Event) bool
}

// Publisher is the pipeline as producers see it: Publish waits for room
// (log records), Offer drops and counts (network events).
type Publisher interface {
	Publish(context.Context, event.Event) error
	Offer(event.Event) bool
}

// Options are the engine's inputs besides its Config.
type Options struct {
	// CommunityIDSeed is the flow table's seed, for the community_id of
	// packet-level alerts.
	CommunityIDSeed uint16
	// HomeFromInterfaces makes Run keep the task's addresses (when
	// --home-net is empty) from the network namespace's interfaces.
	HomeFromInterfaces bool
	// MetadataURI is the task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4),
	// whose task id tells the task's own metadata paths on 169.254.170.2.
	MetadataURI string
	// OnIntelLoad receives the report of every indicator load and every
	// failed reload (the caller logs them). May be nil.
	OnIntelLoad func(intel.Report, error)
}

type registered struct {
	d   Detector
	out *Alerts
}

// Engine runs the detections. Build it with New, add detectors with Add
// before any event flows, put Tap in front of the pipeline and the engine
// in the flow table's inspectors, and run Run as a service.
type Engine struct {
	cfg  Config
	opts Options
	out  AlertPath
	m    *engineMetrics

	mu      sync.Mutex // dedup and alerted
	dedup   dedupTable
	alerted alertedSet
	// nAlerted mirrors len(alerted.ids), so that flow events skip the lock
	// when no flow is alerted.
	nAlerted atomic.Int64

	home    atomic.Pointer[homeNet]
	intel   *intel.Store
	scratch sync.Pool // of *event.Event: what detectors see (see Tap)

	extra []registered

	portScan *portScan
	mining   *mining
	tunnel   *dnsTunnel
	imds     *imds
	creds    *credentials
	intelDet *threatIntel
	logs     *logSecrets
}

// New builds the engine and its built-in detections from cfg (which must
// be valid), loading the intel files: an unreadable file is an error.
// Alerts go to out. reg may be nil in tests.
func New(cfg Config, out AlertPath, reg *metrics.Registry, opts Options) (*Engine, error) {
	if reg == nil {
		reg = metrics.New()
	}
	e := &Engine{cfg: cfg, opts: opts, out: out, m: newEngineMetrics(reg)}
	e.scratch.New = func() any { return new(event.Event) }
	e.dedup = newDedupTable(max(cfg.DedupMax, 1), e.m)
	e.alerted = newAlertedSet(max(cfg.AlertedFlowsMax, 1), e.m)
	nets, _ := parseNets(cfg.HomeNet)
	e.home.Store(newHomeNet(nets))
	if cfg.Off {
		return e, nil
	}
	if err := e.openIntel(reg); err != nil {
		return nil, err
	}
	if cfg.PortScan.Enabled {
		e.portScan = newPortScan(cfg.PortScan, e, e.alerts("portscan"))
	}
	if cfg.Mining.Enabled {
		e.mining = newMining(e, e.alerts("mining"))
	}
	if cfg.DNSTunnel.Enabled {
		e.tunnel = newDNSTunnel(cfg.DNSTunnel, e.m, e.alerts("dns_tunnel"))
	}
	if cfg.IMDS.Enabled {
		e.imds = newIMDS(e, e.alerts("imds"))
	}
	if cfg.Credentials.Enabled {
		e.creds = newCredentials(cfg.Credentials, opts.MetadataURI, e.m, e.alerts("credentials"))
	}
	if len(cfg.Intel.Files) > 0 {
		e.intelDet = newThreatIntel(e, e.alerts("intel"))
	}
	if cfg.Logs.Secrets || cfg.Logs.Exploits {
		e.logs = newLogSecrets(cfg.Logs, e.alerts("logs"))
	}
	return e, nil
}

// alerts returns a detection's handle for raising alerts.
func (e *Engine) alerts(name string) *Alerts {
	raised, suppressed := e.m.detection(name)
	return &Alerts{e: e, raised: raised, suppressed: suppressed}
}

// Add registers an event-level detector under name, the label of its
// alert counters (sidewatch_detect_alerts_total{detection="rules"}). Call
// it before events flow; with --no-detect the detector is not added.
func (e *Engine) Add(name string, d Detector) {
	if e.cfg.Off {
		return
	}
	e.extra = append(e.extra, registered{d: d, out: e.alerts(name)})
}

// Intel returns the current indicator set (nil without intel files).
func (e *Engine) Intel() *intel.Set {
	if e.intel == nil {
		return nil
	}
	return e.intel.Set()
}

// IntelLists returns the names of the indicator lists (the sources'
// labels: each intel or mining-pool file's base name, and
// builtin-mining-pools), for rules that name a list.
func (e *Engine) IntelLists() []string {
	if e.intel == nil {
		return nil
	}
	return e.intel.Lists()
}

// Run keeps the engine's inputs fresh until ctx ends: it reloads the
// intel files when they change and, when asked to, re-reads the task's
// addresses. It is a service: alerts are raised on the producers' paths.
// It wakes only when one of them is due (every 30 s at the defaults), not
// on a ticker: an idle sidecar's CPU is mostly its wakeups.
func (e *Engine) Run(ctx context.Context) error {
	reload := e.intel != nil && e.cfg.Intel.Reload > 0
	home := e.opts.HomeFromInterfaces && len(e.cfg.HomeNet) == 0
	if !reload && !home {
		<-ctx.Done()
		return nil
	}
	lastIntel, lastHome := time.Now(), time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var next time.Time
		if reload {
			next = lastIntel.Add(e.cfg.Intel.Reload)
		}
		if d := lastHome.Add(homeRefresh); home && (next.IsZero() || d.Before(next)) {
			next = d
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case now := <-timer.C:
			if reload && now.Sub(lastIntel) >= e.cfg.Intel.Reload {
				e.intel.Check()
				lastIntel = now
			}
			if home && now.Sub(lastHome) >= homeRefresh {
				e.RefreshHome()
				lastHome = now
			}
		}
	}
}

// homeRefresh is how often Run re-reads the interface addresses.
const homeRefresh = 30 * time.Second

// RefreshHome reads the task's addresses from the network namespace's
// interfaces (unless --home-net gives them).
func (e *Engine) RefreshHome() {
	if len(e.cfg.HomeNet) > 0 {
		return
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return
	}
	var nets []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ip = ip.Unmap()
				nets = append(nets, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	e.home.Store(newHomeNet(nets))
}

// Tap returns the publisher producers use: it runs the event-level
// detections on each event, then hands it to next.
func (e *Engine) Tap(next Publisher) *Tap { return &Tap{e: e, next: next} }

// Tap is the engine between the producers and the pipeline.
type Tap struct {
	e    *Engine
	next Publisher
}

// Publish inspects ev, then queues it, waiting for room.
func (t *Tap) Publish(ctx context.Context, ev event.Event) error {
	t.e.observe(&ev)
	return t.next.Publish(ctx, ev)
}

// Offer inspects ev, then queues it if there is room.
func (t *Tap) Offer(ev event.Event) bool {
	t.e.observe(&ev)
	return t.next.Offer(ev)
}

// syncer is a pipeline that can say when what was published has reached
// the sinks (the forward receiver acknowledges chunks with it).
type syncer interface {
	Sync(context.Context) error
}

// Sync passes on to the pipeline's Sync, if it has one: the tap keeps
// nothing of the events it inspected, so the pipeline alone decides.
func (t *Tap) Sync(ctx context.Context) error {
	if s, ok := t.next.(syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}

// observe runs the detections on a copy of ev held in a pooled scratch
// event: detectors take a pointer, and a pointer to the caller's value
// would move it to the heap on every call. Sub-objects are shared, so
// marking a flow alerted reaches the event that is forwarded.
func (e *Engine) observe(ev *event.Event) {
	if e.cfg.Off {
		return
	}
	e.m.events.Inc()
	if ev.EventType == event.TypeFlow && len(e.extra) == 0 {
		e.markAlerted(ev)
		return
	}
	s := e.scratch.Get().(*event.Event)
	*s = *ev
	e.inspect(s)
	*s = event.Event{}
	e.scratch.Put(s)
	if ev.EventType == event.TypeFlow {
		// After the detectors: an IP-only rule alerts on the flow event
		// itself, and that flow event must say so.
		e.markAlerted(ev)
	}
}

// inspect dispatches one event to the detections that read its type.
func (e *Engine) inspect(ev *event.Event) {
	switch ev.EventType {
	case event.TypeDNS:
		if ev.DNS != nil {
			if e.tunnel != nil {
				e.tunnel.dns(ev)
			}
			if e.mining != nil {
				e.mining.dns(ev)
			}
			if e.imds != nil {
				e.imds.dns(ev)
			}
			if e.intelDet != nil {
				e.intelDet.dns(ev)
			}
		}
	case event.TypeTLS:
		if ev.TLS != nil {
			if e.mining != nil {
				e.mining.tls(ev)
			}
			if e.intelDet != nil {
				e.intelDet.tls(ev)
			}
		}
	case event.TypeHTTP:
		if ev.HTTP != nil {
			if e.imds != nil {
				e.imds.http(ev)
			}
			if e.creds != nil {
				e.creds.http(ev)
			}
			if e.intelDet != nil {
				e.intelDet.http(ev)
			}
			if e.logs != nil {
				e.logs.http(ev)
			}
		}
	case event.TypeLog:
		if ev.Log != nil && e.logs != nil {
			e.logs.log(ev)
		}
	}
	for _, r := range e.extra {
		r.d.Event(ev, r.out)
	}
}

// markAlerted sets flow.alerted on the flow event (a flow's final record)
// of a flow that raised an alert, and forgets the flow.
func (e *Engine) markAlerted(ev *event.Event) {
	if ev.Flow == nil || ev.FlowID == 0 || e.nAlerted.Load() == 0 {
		return
	}
	e.mu.Lock()
	if e.alerted.take(ev.FlowID) {
		ev.Flow.Alerted = true
	}
	e.nAlerted.Store(int64(len(e.alerted.ids)))
	e.mu.Unlock()
}

// homeNet is the set of the task's own addresses.
type homeNet struct{ nets []netip.Prefix }

func newHomeNet(nets []netip.Prefix) *homeNet { return &homeNet{nets: nets} }

// contains reports whether a is one of the task's addresses. Loopback
// always is: a container scanning 127.0.0.1 scans its own task.
func (h *homeNet) contains(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, n := range h.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// HomeNet returns the task's addresses and networks in force: --home-net,
// or the interfaces' addresses as RefreshHome last read them.
func (e *Engine) HomeNet() []netip.Prefix { return slices.Clone(e.home.Load().nets) }

func (e *Engine) isHome(a netip.Addr) bool { return e.home.Load().contains(a.Unmap()) }
