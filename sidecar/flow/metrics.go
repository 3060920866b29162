package flow

import (
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// counter indexes the table's counts. The capture goroutine increments
// plain integers; publish copies them to the registry's atomic counters at
// each Expire and Flush (about once a second), so the packet path has no
// atomic operation.
type counter int

const (
	// Suricata's decoder.* (frames and layers seen, valid or not).
	cPkts counter = iota
	cBytes
	cInvalid
	cEthernet
	cVLAN
	cVLANQinQ
	cSLL
	cSLL2
	cNull
	cRaw
	cPPPoE
	cMPLS
	cIPv4
	cIPv6
	cTCP
	cUDP
	cSCTP
	cICMPv4
	cICMPv6
	cIPv4InIPv4
	cIPv6InIPv4
	cIPv4InIPv6
	cIPv6InIPv6
	cFrag4
	cFrag6
	// Suricata's tcp.*: segments with these flags.
	cTCPSyn
	cTCPSynAck
	cTCPRst
	// sidewatch's own (some also Suricata's flow.*).
	cFlowPkts
	cFlowBytes
	cSkipNotIP
	cSkipFragment
	cSkipLinkType
	cSkipMalformed
	cSkipTruncated
	cFragAttributed
	cICMPErrAttached
	cCreated
	cCreatedTCP
	cCreatedUDP
	cCreatedICMPv4
	cCreatedICMPv6
	cEndTimeout
	cEndForced
	cEndShutdown
	cEndTCPReuse
	cEndStateNew
	cEndStateEstablished
	cEndStateClosed
	cUpdates
	cEvents
	cEndTCPState // one per tcpState: cEndTCPState+counter(tcpNone) ... +counter(tcpClosed)
	numCounters  = cEndTCPState + counter(numTCPStates)
)

// counts is the table's array of counts.
type counts [numCounters]uint64

// counterSpec names a count: as a Prometheus series (sub, name, labels) in
// sidewatch's own stats group, and/or as the Suricata stats name eve.
type counterSpec struct {
	name, help string
	labels     []string
	eve        string
}

const (
	helpSkipped = "Captured frames not attributed to a flow, by reason: not_ip (ARP, LLDP...), fragment (a fragment of an IP packet whose first fragment was not seen), link_type (unsupported link type), malformed (a header failed to decode), truncated (the snap length cut the headers before the ports)."
	helpEnded   = "Flows ended, by reason: timeout (idle), forced (evicted because the table was full), shutdown (flushed), tcp_reuse (a new SYN on a closed flow's 5-tuple)."
)

func counterSpecs() [numCounters]counterSpec {
	s := [numCounters]counterSpec{
		cPkts:                {eve: "decoder.pkts"},
		cBytes:               {eve: "decoder.bytes"},
		cInvalid:             {eve: "decoder.invalid"},
		cEthernet:            {eve: "decoder.ethernet"},
		cVLAN:                {eve: "decoder.vlan"},
		cVLANQinQ:            {eve: "decoder.vlan_qinq"},
		cSLL:                 {eve: "decoder.sll"},
		cSLL2:                {eve: "decoder.sll2"},
		cNull:                {eve: "decoder.null"},
		cRaw:                 {eve: "decoder.raw"},
		cPPPoE:               {eve: "decoder.pppoe"},
		cMPLS:                {eve: "decoder.mpls"},
		cIPv4:                {eve: "decoder.ipv4"},
		cIPv6:                {eve: "decoder.ipv6"},
		cTCP:                 {eve: "decoder.tcp"},
		cUDP:                 {eve: "decoder.udp"},
		cSCTP:                {eve: "decoder.sctp"},
		cICMPv4:              {eve: "decoder.icmpv4"},
		cICMPv6:              {eve: "decoder.icmpv6"},
		cIPv4InIPv4:          {eve: "decoder.ipv4_in_ipv4"},
		cIPv6InIPv4:          {eve: "decoder.ipv6_in_ipv4"},
		cIPv4InIPv6:          {eve: "decoder.ipv4_in_ipv6"},
		cIPv6InIPv6:          {eve: "decoder.ipv6_in_ipv6"},
		cFrag4:               {eve: "defrag.ipv4.fragments"},
		cFrag6:               {eve: "defrag.ipv6.fragments"},
		cTCPSyn:              {eve: "tcp.syn"},
		cTCPSynAck:           {eve: "tcp.synack"},
		cTCPRst:              {eve: "tcp.rst"},
		cFlowPkts:            {name: "packets_total", help: "Captured frames attributed to a flow."},
		cFlowBytes:           {name: "bytes_total", help: "Original frame lengths of the frames attributed to a flow."},
		cSkipNotIP:           {name: "packets_skipped_total", help: helpSkipped, labels: []string{"reason", "not_ip"}},
		cSkipFragment:        {name: "packets_skipped_total", help: helpSkipped, labels: []string{"reason", "fragment"}},
		cSkipLinkType:        {name: "packets_skipped_total", help: helpSkipped, labels: []string{"reason", "link_type"}},
		cSkipMalformed:       {name: "packets_skipped_total", help: helpSkipped, labels: []string{"reason", "malformed"}},
		cSkipTruncated:       {name: "packets_skipped_total", help: helpSkipped, labels: []string{"reason", "truncated"}},
		cFragAttributed:      {name: "fragments_attributed_total", help: "IP fragments after the first counted into the flow of their first fragment."},
		cICMPErrAttached:     {name: "icmp_errors_attributed_total", help: "ICMP errors counted into the flow of the packet they quote."},
		cCreated:             {name: "created_total", help: "Flows created.", eve: "flow.total"},
		cCreatedTCP:          {eve: "flow.tcp"},
		cCreatedUDP:          {eve: "flow.udp"},
		cCreatedICMPv4:       {eve: "flow.icmpv4"},
		cCreatedICMPv6:       {eve: "flow.icmpv6"},
		cEndTimeout:          {name: "ended_total", help: helpEnded, labels: []string{"reason", ReasonTimeout}},
		cEndForced:           {name: "ended_total", help: helpEnded, labels: []string{"reason", ReasonForced}},
		cEndShutdown:         {name: "ended_total", help: helpEnded, labels: []string{"reason", ReasonShutdown}},
		cEndTCPReuse:         {name: "ended_total", help: helpEnded, labels: []string{"reason", ReasonTCPReuse}, eve: "flow.tcp_reuse"},
		cEndStateNew:         {eve: "flow.end.state.new"},
		cEndStateEstablished: {eve: "flow.end.state.established"},
		cEndStateClosed:      {eve: "flow.end.state.closed"},
		cUpdates:             {name: "updates_total", help: "flow_update events of long flows (see --flow-active-timeout)."},
		cEvents:              {name: "events_total", help: "Flow and flow_update events offered to the pipeline."},
	}
	for st := tcpNone; st <= tcpClosed; st++ {
		s[cEndTCPState+counter(st)] = counterSpec{eve: "flow.end.tcp_state." + st.String()}
	}
	return s
}

// tableMetrics publishes a table's counts.
type tableMetrics struct {
	c         [numCounters]*metrics.Counter
	published counts
	active    *metrics.Gauge
	maxPkt    *metrics.Gauge
}

func newTableMetrics(reg *metrics.Registry) *tableMetrics {
	m := &tableMetrics{}
	for i, s := range counterSpecs() {
		if s.name != "" {
			m.c[i] = reg.Counter("flow", s.name, s.help, s.labels...)
		} else {
			m.c[i] = &metrics.Counter{}
		}
		if s.eve != "" {
			reg.Suricata(s.eve, m.c[i].Load)
		}
	}
	m.active = reg.Gauge("flow", "active", "Flows open in the table.")
	reg.Suricata("flow.active", func() uint64 { return uint64(max(m.active.Load(), 0)) })
	m.maxPkt = &metrics.Gauge{}
	reg.Suricata("decoder.max_pkt_size", func() uint64 { return uint64(max(m.maxPkt.Load(), 0)) })
	pkts, bytes := m.c[cPkts], m.c[cBytes]
	reg.Suricata("decoder.avg_pkt_size", func() uint64 {
		if n := pkts.Load(); n > 0 {
			return bytes.Load() / n
		}
		return 0
	})
	return m
}

// publish adds what was counted since the last call to the registry.
func (m *tableMetrics) publish(c *counts, active int, maxPkt uint64) {
	for i := range c {
		if d := c[i] - m.published[i]; d != 0 {
			m.c[i].Add(d)
		}
	}
	m.published = *c
	m.active.Set(int64(active))
	m.maxPkt.Set(int64(maxPkt))
}
