package detect

import (
	"net/netip"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/intel"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// IntelConfig names the threat-intelligence files.
type IntelConfig struct {
	Files  []string      `name:"detect-intel-files" env:"SIDEWATCH_DETECT_INTEL_FILES" sep:"," type:"path" placeholder:"FILE" help:"Indicator files (IPs and CIDRs, domains, JA3, JA4): one per line with # comments, CSV with a header as abuse.ch publishes, Spamhaus DROP, hosts files. Traffic, DNS queries, TLS SNI and fingerprints and HTTP hosts that match raise alerts."`
	Reload time.Duration `name:"detect-intel-reload" env:"SIDEWATCH_DETECT_INTEL_RELOAD" default:"30s" help:"How often the intel and mining-pool files are checked for changes and reloaded (0: never; replace files by rename)."`
}

func (c *IntelConfig) bounds() []bound {
	return []bound{durationBound("detect-intel-reload", c.Reload, 0, 24*time.Hour)}
}

// Tags of the intel store's sources.
const (
	tagIntel  = "intel"
	tagMining = "mining"
)

// Signatures of the threat intelligence detection.
var (
	sigIntelIP = &Signature{GID: 1, ID: 9000601, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH traffic with a listed IP address",
		Category: "Misc Attack",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071",
			"guardduty_finding_type", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "sidewatch_detection", "intel")}
	sigIntelDNS = &Signature{GID: 1, ID: 9000602, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH DNS query for a listed domain",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071.004",
			"guardduty_finding_type", "Impact:Runtime/MaliciousDomainRequest.Reputation", "sidewatch_detection", "intel")}
	sigIntelSNI = &Signature{GID: 1, ID: 9000603, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH TLS connection to a listed domain (SNI)",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071.001",
			"guardduty_finding_type", "Impact:Runtime/MaliciousDomainRequest.Reputation", "sidewatch_detection", "intel")}
	sigIntelJA3 = &Signature{GID: 1, ID: 9000604, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH TLS client with a listed JA3 fingerprint",
		Category: "A Network Trojan was detected",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071.001",
			"guardduty_finding_type", "Backdoor:Runtime/C&CActivity.B", "sidewatch_detection", "intel")}
	sigIntelJA4 = &Signature{GID: 1, ID: 9000605, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH TLS client with a listed JA4 fingerprint",
		Category: "A Network Trojan was detected",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071.001",
			"guardduty_finding_type", "Backdoor:Runtime/C&CActivity.B", "sidewatch_detection", "intel")}
	sigIntelHTTP = &Signature{GID: 1, ID: 9000606, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH HTTP request to a listed host",
		Category: "Potentially Bad Traffic",
		Metadata: meta("mitre_tactic_id", "TA0011", "mitre_technique_id", "T1071.001",
			"guardduty_finding_type", "Impact:Runtime/MaliciousDomainRequest.Reputation", "sidewatch_detection", "intel")}
)

// openIntel loads the intel and mining-pool sources into one store: the
// pool lists first, so that a pool also listed as intel alerts as mining.
func (e *Engine) openIntel(reg *metrics.Registry) error {
	var sources []intel.Source
	if e.cfg.Mining.Enabled {
		sources = append(sources, intel.Source{Name: "builtin-mining-pools", Data: []byte(builtinPools), Tag: tagMining})
		for _, f := range e.cfg.Mining.PoolFiles {
			sources = append(sources, intel.Source{Path: f, Tag: tagMining})
		}
	}
	for _, f := range e.cfg.Intel.Files {
		sources = append(sources, intel.Source{Path: f, Tag: tagIntel})
	}
	if len(sources) == 0 {
		return nil
	}
	st, err := intel.NewStore(sources, reg, e.opts.OnIntelLoad)
	if err != nil {
		return err
	}
	e.intel = st
	return nil
}

// threatIntel matches traffic, names and fingerprints against the
// indicators tagged intel.
type threatIntel struct {
	e   *Engine
	out *Alerts
}

func newThreatIntel(e *Engine, out *Alerts) *threatIntel { return &threatIntel{e: e, out: out} }

func matchEvidence(m intel.Match, what string) []event.AlertMeta {
	ind := m.Name
	if m.Kind == intel.KindIP {
		ind = m.Prefix.String()
	}
	ev := []event.AlertMeta{Evidence("intel_indicator", ind), Evidence("intel_list", m.List)}
	if m.Description != "" {
		ev = append(ev, Evidence("intel_description", cutString(m.Description, 200)))
	}
	if what != "" {
		ev = append(ev, Evidence("matched", what))
	}
	return ev
}

// packet checks both ends of a new flow.
func (t *threatIntel) packet(p *packet) {
	set := t.e.intel.Set()
	for _, side := range [...]struct {
		addr netip.Addr
		name string
	}{{p.server, "dest_ip"}, {p.client, "src_ip"}} {
		if m, ok := set.LookupAddr(side.addr); ok && m.Tag == tagIntel {
			h := t.e.header(p)
			t.out.Raise(sigIntelIP, &h, matchEvidence(m, side.name)...)
			return
		}
	}
}

// lookupDomain matches name against the indicators of tag.
func lookupDomain(set *intel.Set, name, tag string) (intel.Match, bool) {
	if name == "" {
		return intel.Match{}, false
	}
	m, ok := set.LookupDomain(name)
	return m, ok && m.Tag == tag
}

// raiseListedName raises sig when name is listed with tag.
func raiseListedName(set *intel.Set, ev *event.Event, name, tag string, sig *Signature, out *Alerts) bool {
	m, ok := lookupDomain(set, name, tag)
	if ok {
		out.Raise(sig, ev, matchEvidence(m, name)...)
	}
	return ok
}

// raiseListedQuery raises sig for the first of a DNS request's queries
// that is listed with tag. The response repeats the question: it is left
// out, so that one lookup makes one alert (from the client).
func raiseListedQuery(set *intel.Set, ev *event.Event, tag string, sig *Signature, out *Alerts) {
	if ev.DNS.Type == "response" {
		return
	}
	for i := range ev.DNS.Queries {
		if raiseListedName(set, ev, ev.DNS.Queries[i].RRName, tag, sig, out) {
			return
		}
	}
}

func (t *threatIntel) dns(ev *event.Event) {
	raiseListedQuery(t.e.intel.Set(), ev, tagIntel, sigIntelDNS, t.out)
}

func (t *threatIntel) tls(ev *event.Event) {
	set := t.e.intel.Set()
	raiseListedName(set, ev, ev.TLS.SNI, tagIntel, sigIntelSNI, t.out)
	if ev.TLS.JA3 != nil {
		if m, ok := set.LookupJA3(ev.TLS.JA3.Hash); ok && m.Tag == tagIntel {
			t.out.Raise(sigIntelJA3, ev, matchEvidence(m, "")...)
		}
	}
	if m, ok := set.LookupJA4(ev.TLS.JA4); ok && m.Tag == tagIntel {
		t.out.Raise(sigIntelJA4, ev, matchEvidence(m, "")...)
	}
}

func (t *threatIntel) http(ev *event.Event) {
	host := hostOnly(ev.HTTP.Hostname)
	if host == "" {
		return
	}
	raiseListedName(t.e.intel.Set(), ev, host, tagIntel, sigIntelHTTP, t.out)
}

// hostOnly drops a port from an HTTP Host value.
func hostOnly(h string) string {
	if len(h) > 0 && h[0] == '[' {
		return ""
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
		if h[i] < '0' || h[i] > '9' {
			break
		}
	}
	return h
}
