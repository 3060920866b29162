package detect

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// PortScanConfig tunes the scan detection. As Zeek's scan policy does, it
// counts failed connection attempts: refused (RST) or unanswered.
type PortScanConfig struct {
	Enabled     bool          `name:"detect-portscan" env:"SIDEWATCH_DETECT_PORTSCAN" default:"true" negatable:"" help:"Alert on port scans and address sweeps, of the task and by the task (TCP SYN/connect and UDP)."`
	Window      time.Duration `name:"detect-portscan-window" env:"SIDEWATCH_DETECT_PORTSCAN_WINDOW" default:"5m" help:"Window over which failed attempts are counted (Zeek's default)."`
	Ports       int           `name:"detect-portscan-ports" env:"SIDEWATCH_DETECT_PORTSCAN_PORTS" default:"15" help:"Distinct ports of one host with failed attempts from one source within the window that make a port scan (Zeek: 15)."`
	Hosts       int           `name:"detect-portscan-hosts" env:"SIDEWATCH_DETECT_PORTSCAN_HOSTS" default:"25" help:"Distinct hosts with failed attempts on one port from one source within the window that make an address sweep (Zeek: 25)."`
	Failed      int           `name:"detect-portscan-failed" env:"SIDEWATCH_DETECT_PORTSCAN_FAILED" default:"100" help:"Refused or unanswered connections from one outside source to one task address within the window that make a scan of the task whatever the ports (0 disables)."`
	Unanswered  time.Duration `name:"detect-portscan-unanswered" env:"SIDEWATCH_DETECT_PORTSCAN_UNANSWERED" default:"5s" help:"An attempt with no reply within this time has failed (filtered ports, closed UDP ports)."`
	MaxTrackers int           `name:"detect-portscan-max-trackers" env:"SIDEWATCH_DETECT_PORTSCAN_MAX_TRACKERS" default:"4096" help:"Source/host and source/port pairs tracked at once, each; when full, expired and then the oldest are forgotten (counted)."`
}

func defaultPortScanConfig() PortScanConfig {
	return PortScanConfig{Enabled: true, Window: 5 * time.Minute, Ports: 15, Hosts: 25, Failed: 100, Unanswered: 5 * time.Second, MaxTrackers: 4096}
}

// maxScanThreshold bounds the ports and hosts thresholds (a tracker holds
// four times its threshold).
const maxScanThreshold = 256

func (c *PortScanConfig) bounds() []bound {
	return []bound{
		durationBound("detect-portscan-window", c.Window, time.Second, 24*time.Hour),
		intBound("detect-portscan-ports", c.Ports, 2, maxScanThreshold),
		intBound("detect-portscan-hosts", c.Hosts, 2, maxScanThreshold),
		intBound("detect-portscan-failed", c.Failed, 0, 1<<20),
		durationBound("detect-portscan-unanswered", c.Unanswered, 100*time.Millisecond, 10*time.Minute),
		intBound("detect-portscan-max-trackers", c.MaxTrackers, 1, 1<<20),
	}
}

// Signatures of the scan detection.
var (
	sigScanIn = &Signature{GID: 1, ID: 9000101, Rev: 1, Severity: 3,
		Msg:      "SIDEWATCH port scan of the task",
		Category: "Detection of a Network Scan",
		Metadata: meta("mitre_tactic_id", "TA0043", "mitre_technique_id", "T1595.001",
			"guardduty_finding_type", "Recon:EC2/PortProbeUnprotectedPort", "sidewatch_detection", "portscan")}
	sigScanOut = &Signature{GID: 1, ID: 9000102, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH port scan by the task",
		Category: "Detection of a Network Scan",
		Metadata: meta("mitre_tactic_id", "TA0007", "mitre_technique_id", "T1046",
			"guardduty_finding_type", "Recon:EC2/Portscan", "sidewatch_detection", "portscan")}
	sigSweep = &Signature{GID: 1, ID: 9000103, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH address sweep: one port on many hosts",
		Category: "Detection of a Network Scan",
		Metadata: meta("mitre_tactic_id", "TA0007", "mitre_technique_id", "T1046,T1018",
			"guardduty_finding_type", "Recon:EC2/Portscan", "sidewatch_detection", "portscan")}
)

// Attempt states.
const (
	attemptPending uint8 = iota
	attemptFailed
)

// vKey identifies a vertical tracker: one source trying ports of one host.
type vKey struct {
	scanner, target netip.Addr
	proto           uint8
}

// hKey identifies a horizontal tracker: one source trying one port on
// many hosts.
type hKey struct {
	scanner netip.Addr
	port    uint16
	proto   uint8
}

// scanItem is one port (vertical) or host (horizontal) tried, pending or
// failed; answered ones are dropped (they do not count, and a new attempt
// is answered again).
type scanItem struct {
	host  [16]byte
	at    int64 // first attempt, unix ns
	port  uint16
	state uint8
}

// tracker counts one pair's attempts within a window. It holds at most
// four times its threshold of items: about 2 KB for a port scan tracker,
// 3 KB for a sweep tracker at the defaults.
type tracker struct {
	start          int64
	last           int64
	items          []scanItem
	pending        int
	failed         int
	refused        int // failed by RST
	answered       int
	failedAttempts int // every refused or unanswered attempt, repeats included
	alerted        bool
}

func (t *tracker) find(port uint16, host [16]byte) int {
	for i := range t.items {
		if t.items[i].port == port && t.items[i].host == host {
			return i
		}
	}
	return -1
}

// portScan keeps the trackers. Packets and ticks come from the flow
// table's goroutine; the lock keeps other callers safe.
type portScan struct {
	cfg        PortScanConfig
	e          *Engine
	out        *Alerts
	mu         sync.Mutex
	vertical   map[vKey]*tracker
	horizontal map[hKey]*tracker
	lastTick   int64
	evicted    *metrics.Counter
	size       *metrics.Gauge
}

func newPortScan(cfg PortScanConfig, e *Engine, out *Alerts) *portScan {
	return &portScan{cfg: cfg, e: e, out: out, vertical: map[vKey]*tracker{}, horizontal: map[hKey]*tracker{},
		evicted: e.m.evictions("portscan"), size: e.m.size("portscan")}
}

// scannable reports whether a target can be scanned: not multicast or
// broadcast (they never answer), not unspecified.
func scannable(a netip.Addr) bool {
	if a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return false
	}
	return !a.Is4() || a.As4() != [4]byte{255, 255, 255, 255}
}

func (s *portScan) packet(p *packet) {
	switch {
	case p.first && p.toServer:
		if p.proto == protoTCP && p.tcpFlags&tcpACK != 0 {
			return // picked up mid-connection: not an attempt
		}
		if scannable(p.server) {
			s.attempt(p)
		}
	case p.firstReply && !p.toServer:
		s.reply(p)
	}
}

// attempt records a connection attempt from the flow's client.
func (s *portScan) attempt(p *packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vt := trackerFor(s, s.vertical, vKey{p.client, p.server, p.proto}, p.ts)
	if vt.find(p.sport, [16]byte{}) < 0 && len(vt.items) < 4*s.cfg.Ports {
		vt.items = append(vt.items, scanItem{port: p.sport, at: p.ts})
		vt.pending++
	}
	ht := trackerFor(s, s.horizontal, hKey{p.client, p.sport, p.proto}, p.ts)
	if host := p.server.As16(); ht.find(0, host) < 0 && len(ht.items) < 4*s.cfg.Hosts {
		ht.items = append(ht.items, scanItem{host: host, at: p.ts})
		ht.pending++
	}
	s.size.Set(int64(len(s.vertical) + len(s.horizontal)))
}

// reply records the server's first answer: SYN-ACK or data (open), RST
// (refused), any UDP datagram (open).
func (s *portScan) reply(p *packet) {
	refused := p.proto == protoTCP && p.tcpFlags&tcpRST != 0
	s.mu.Lock()
	defer s.mu.Unlock()
	vk := vKey{p.client, p.server, p.proto}
	if vt := s.vertical[vk]; vt != nil {
		if refused {
			vt.failedAttempts++
		}
		if i := vt.find(p.sport, [16]byte{}); i >= 0 && vt.items[i].state == attemptPending {
			settle(vt, i, refused)
		}
		s.checkVertical(vk, vt, p, p.ts)
	}
	hk := hKey{p.client, p.sport, p.proto}
	if ht := s.horizontal[hk]; ht != nil {
		if i := ht.find(0, p.server.As16()); i >= 0 && ht.items[i].state == attemptPending {
			settle(ht, i, refused)
			s.checkHorizontal(hk, ht, p.ts)
		}
	}
}

// settle ends a pending attempt: failed if refused, else answered (and
// dropped).
func settle(t *tracker, i int, refused bool) {
	t.pending--
	if refused {
		t.items[i].state = attemptFailed
		t.failed++
		t.refused++
		return
	}
	t.answered++
	t.items[i] = t.items[len(t.items)-1]
	t.items = t.items[:len(t.items)-1]
}

// tick fails the attempts unanswered for too long and forgets the
// trackers whose window ended, once a second.
func (s *portScan) tick(now int64) {
	if now-s.lastTick < int64(time.Second) {
		return
	}
	s.lastTick = now
	s.mu.Lock()
	defer s.mu.Unlock()
	sweepTrackers(s, s.vertical, now, func(k vKey, t *tracker, at int64) { s.checkVertical(k, t, nil, at) })
	sweepTrackers(s, s.horizontal, now, func(k hKey, t *tracker, at int64) { s.checkHorizontal(k, t, at) })
	s.size.Set(int64(len(s.vertical) + len(s.horizontal)))
}

// sweepTrackers forgets m's trackers whose window ended and fails the
// attempts unanswered for --detect-portscan-unanswered, calling check with
// the time the last of them failed.
func sweepTrackers[K comparable](s *portScan, m map[K]*tracker, now int64, check func(K, *tracker, int64)) {
	grace := int64(s.cfg.Unanswered)
	for k, t := range m {
		switch {
		case now-t.last > int64(s.cfg.Window)+grace:
			delete(m, k)
		case t.pending > 0:
			if at, ok := expire(t, now-grace); ok {
				check(k, t, at+grace)
			}
		}
	}
}

// expire fails t's attempts made before cutoff that are still pending
// and returns the time of the latest one.
func expire(t *tracker, cutoff int64) (int64, bool) {
	var latest int64
	changed := false
	for i := range t.items {
		it := &t.items[i]
		if it.state == attemptPending && it.at <= cutoff {
			fail(t, it)
			latest, changed = max(latest, it.at), true
		}
	}
	return latest, changed
}

// fail marks a pending attempt unanswered.
func fail(t *tracker, it *scanItem) {
	it.state = attemptFailed
	t.pending--
	t.failed++
	t.failedAttempts++
}

// unanswered fails the attempt of a flow that ended with its attempt still
// pending: no reply was inspected (an ICMP error may have come, or
// nothing), and the table ended the flow before the tick did (a replay
// reaching the end of its files, a shutdown).
func (s *portScan) unanswered(client, server netip.Addr, port uint16, proto uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grace := int64(s.cfg.Unanswered)
	vk := vKey{client, server, proto}
	if vt := s.vertical[vk]; vt != nil {
		if i := vt.find(port, [16]byte{}); i >= 0 && vt.items[i].state == attemptPending {
			fail(vt, &vt.items[i])
			s.checkVertical(vk, vt, nil, vt.items[i].at+grace)
		}
	}
	hk := hKey{client, port, proto}
	if ht := s.horizontal[hk]; ht != nil {
		if i := ht.find(0, server.As16()); i >= 0 && ht.items[i].state == attemptPending {
			fail(ht, &ht.items[i])
			s.checkHorizontal(hk, ht, ht.items[i].at+grace)
		}
	}
}

// trackerFor returns k's tracker in m, starting a new window when the last
// one ended and making room when m is full.
func trackerFor[K comparable](s *portScan, m map[K]*tracker, k K, ts int64) *tracker {
	t := m[k]
	if t == nil {
		if len(m) >= s.cfg.MaxTrackers {
			evictTrackers(s, m, ts)
		}
		t = &tracker{start: ts}
		m[k] = t
	}
	s.touch(t, ts)
	return t
}

// touch starts a new window when the tracker's has ended.
func (s *portScan) touch(t *tracker, ts int64) {
	if ts-t.start > int64(s.cfg.Window) {
		*t = tracker{start: ts, items: t.items[:0]}
	}
	t.last = ts
}

// evictTrackers makes room in a full map: it forgets the trackers whose
// window ended and, if that frees less than a sixteenth of the map, more
// in the map's (random) order, so that a flood of new sources costs O(1)
// per attempt on average.
func evictTrackers[K comparable](s *portScan, m map[K]*tracker, ts int64) {
	want := max(1, len(m)/16)
	freed := 0
	for k, t := range m {
		if ts-t.last > int64(s.cfg.Window) {
			delete(m, k)
			freed++
		}
	}
	for k := range m {
		if freed >= want {
			break
		}
		delete(m, k)
		freed++
		s.evicted.Inc()
	}
}

// checkVertical raises a port scan once per window when enough distinct
// ports failed, or, for scans of the task, enough attempts did.
func (s *portScan) checkVertical(k vKey, t *tracker, p *packet, ts int64) {
	if t.alerted {
		return
	}
	outbound := s.e.isHome(k.scanner)
	reason := ""
	switch {
	case t.failed >= s.cfg.Ports:
		reason = "distinct_ports"
	case !outbound && s.cfg.Failed > 0 && t.failedAttempts >= s.cfg.Failed:
		reason = "failed_connections"
	default:
		return
	}
	t.alerted = true
	sig := sigScanIn
	if outbound {
		sig = sigScanOut
	}
	var ports []int
	for _, it := range t.items {
		if it.state == attemptFailed {
			ports = append(ports, int(it.port))
		}
	}
	slices.Sort(ports)
	shown := make([]string, 0, min(len(ports), 32))
	for _, pt := range ports[:min(len(ports), 32)] {
		shown = append(shown, strconv.Itoa(pt))
	}
	h := s.context(p, k.scanner, k.target, 0, k.proto, ts)
	s.out.Raise(sig, &h,
		Evidence("reason", reason),
		Evidence("failed_ports", strconv.Itoa(t.failed)),
		Evidence("refused", strconv.Itoa(t.refused)),
		Evidence("unanswered", strconv.Itoa(t.failed-t.refused)),
		Evidence("answered", strconv.Itoa(t.answered)),
		Evidence("failed_attempts", strconv.Itoa(t.failedAttempts)),
		Evidence("ports", shown...),
		Evidence("window_seconds", strconv.FormatInt(int64(s.cfg.Window/time.Second), 10)))
}

// checkHorizontal raises an address sweep once per window when enough
// distinct hosts failed on one port.
func (s *portScan) checkHorizontal(k hKey, t *tracker, ts int64) {
	if t.alerted || t.failed < s.cfg.Hosts {
		return
	}
	t.alerted = true
	var hosts []netip.Addr
	for _, it := range t.items {
		if it.state == attemptFailed {
			a := netip.AddrFrom16(it.host)
			if k.scanner.Is4() {
				a = a.Unmap()
			}
			hosts = append(hosts, a)
		}
	}
	// sort.Slice rather than a generic sort: one instantiation less in a
	// binary with a size budget.
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Less(hosts[j]) })
	shown := make([]string, 0, min(len(hosts), 16))
	for _, a := range hosts[:min(len(hosts), 16)] {
		shown = append(shown, a.String())
	}
	h := s.context(nil, k.scanner, netip.Addr{}, k.port, k.proto, ts)
	s.out.Raise(sigSweep, &h,
		Evidence("failed_hosts", strconv.Itoa(t.failed)),
		Evidence("refused", strconv.Itoa(t.refused)),
		Evidence("unanswered", strconv.Itoa(t.failed-t.refused)),
		Evidence("answered", strconv.Itoa(t.answered)),
		Evidence("hosts", shown...),
		Evidence("window_seconds", strconv.FormatInt(int64(s.cfg.Window/time.Second), 10)))
}

// context is a scan alert's header: the scanner and its target host (for
// a port scan) or port (for a sweep); with the flow of the packet that
// completed the count when that flow is between the two.
func (s *portScan) context(p *packet, scanner, target netip.Addr, port uint16, proto uint8, ts int64) event.Event {
	var h event.Event
	if p != nil && target.IsValid() && p.client == scanner && p.server == target {
		h = s.e.header(p)
	} else {
		h = event.Event{SrcIP: scanner, DestIP: target, DestPort: port, Proto: flow.ProtoName(proto), IPVersion: 4}
		if scanner.Is6() {
			h.IPVersion = 6
		}
	}
	h.Timestamp = event.At(time.Unix(0, ts).UTC())
	return h
}
