package flow

import (
	"strconv"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// header builds the common part of a flow's events.
func (t *Table) header(e *Entry, typ event.Type, now int64) event.Event {
	c, s := e.Client(), e.Server()
	ev := event.Event{
		Timestamp:   event.At(time.Unix(0, now).UTC()),
		FlowID:      e.id,
		InIface:     e.iface,
		EventType:   typ,
		SrcIP:       c.Addr(),
		SrcPort:     c.Port(),
		DestIP:      s.Addr(),
		DestPort:    s.Port(),
		Proto:       ProtoName(e.key.proto),
		IPVersion:   e.key.ipv,
		CommunityID: e.CommunityID(),
		AppProto:    e.AppProto,
	}
	if e.key.proto == protoICMP || e.key.proto == protoICMPv6 {
		q := e.icmp
		ev.ICMPType, ev.ICMPCode = &q[toServer][0], &q[toServer][1]
		if e.seen[toClient] {
			ev.ResponseICMPType, ev.ResponseICMPCode = &q[toClient][0], &q[toClient][1]
		}
	}
	return ev
}

// emit builds and offers a flow's final event.
func (t *Table) emit(e *Entry, reason string, now int64) {
	ev := t.header(e, event.TypeFlow, now)
	ev.Flow = &event.Flow{
		PktsToServer:  e.pkts[toServer],
		PktsToClient:  e.pkts[toClient],
		BytesToServer: e.bytes[toServer],
		BytesToClient: e.bytes[toClient],
		Start:         event.At(time.Unix(0, e.start).UTC()),
		End:           event.At(time.Unix(0, e.last).UTC()),
		Age:           seconds(e.last) - seconds(e.start),
		State:         e.flowState(),
		Reason:        reason,
		Alerted:       e.Alerted,
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
	t.cnt[cEvents]++
	t.out.Offer(ev)
}

// emitUpdate writes a flow_update: what the flow carried since its last
// one (or its start), and its totals so far. final marks the one written
// as the flow ends, so that the updates of a flow add up to its final
// record.
func (t *Table) emitUpdate(e *Entry, now int64, final bool) {
	since := e.start
	if e.updated {
		since = e.reported
	}
	ev := t.header(e, event.TypeFlowUpdate, now)
	ev.FlowUpdate = &event.FlowUpdate{
		PktsToServer:  e.pkts[toServer] - e.updPkts[toServer],
		PktsToClient:  e.pkts[toClient] - e.updPkts[toClient],
		BytesToServer: e.bytes[toServer] - e.updBytes[toServer],
		BytesToClient: e.bytes[toClient] - e.updBytes[toClient],
		Total: event.FlowCounter{
			PktsToServer:  e.pkts[toServer],
			PktsToClient:  e.pkts[toClient],
			BytesToServer: e.bytes[toServer],
			BytesToClient: e.bytes[toClient],
		},
		Start: event.At(time.Unix(0, e.start).UTC()),
		Since: event.At(time.Unix(0, since).UTC()),
		End:   event.At(time.Unix(0, e.last).UTC()),
		Age:   seconds(e.last) - seconds(e.start),
		State: e.flowState(),
		Final: final,
	}
	e.updated = true
	e.updPkts, e.updBytes = e.pkts, e.bytes
	t.cnt[cUpdates]++
	t.cnt[cEvents]++
	t.out.Offer(ev)
}

// seconds is the whole seconds of a unix time in ns (floor), as Suricata's
// flow.age takes them: secs(end) - secs(start).
func seconds(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		s--
	}
	return s
}

// ProtoName is EVE's proto: the name Suricata writes (its table of IANA
// keywords, whose few departures from IANA's registry are kept so that
// the strings join with Suricata's), else the number.
func ProtoName(p uint8) string {
	if int(p) < len(protoNames) && protoNames[p] != "" {
		return protoNames[p]
	}
	return strconv.Itoa(int(p))
}

// protoNames are the names of IP protocols 0 to 143. Where Suricata's
// spelling differs from IANA's keyword it is Suricata's: 4 IP-in-IP
// (IANA IPv4), 94 OS (IPIP), 61, 63, 68, 99 and 114 Any (no keyword).
var protoNames = [...]string{
	"HOPOPT", "ICMP", "IGMP", "GGP", "IP-in-IP", "ST", "TCP", "CBT", "EGP", "IGP",
	"BBN-RCC-MON", "NVP-II", "PUP", "ARGUS", "EMCON", "XNET", "CHAOS", "UDP", "MUX", "DCN-MEAS",
	"HMP", "PRM", "XNS-IDP", "TRUNK-1", "TRUNK-2", "LEAF-1", "LEAF-2", "RDP", "IRTP", "ISO-TP4",
	"NETBLT", "MFE-NSP", "MERIT-INP", "DCCP", "3PC", "IDPR", "XTP", "DDP", "IDPR-CMTP", "TP++",
	"IL", "IPv6", "SDRP", "IPv6-Route", "IPv6-Frag", "IDRP", "RSVP", "GRE", "DSR", "BNA",
	"ESP", "AH", "I-NLSP", "SwIPe", "NARP", "MOBILE", "TLSP", "SKIP", "IPv6-ICMP", "IPv6-NoNxt",
	"IPv6-Opts", "Any", "CFTP", "Any", "SAT-EXPAK", "KRYPTOLAN", "RVD", "IPPC", "Any", "SAT-MON",
	"VISA", "IPCU", "CPNX", "CPHB", "WSN", "PVP", "BR-SAT-MON", "SUN-ND", "WB-MON", "WB-EXPAK",
	"ISO-IP", "VMTP", "SECURE-VMTP", "VINES", "TTP", "NSFNET-IGP", "DGP", "TCF", "EIGRP", "OSPF",
	"Sprite-RPC", "LARP", "MTP", "AX.25", "OS", "MICP", "SCC-SP", "ETHERIP", "ENCAP", "Any",
	"GMTP", "IFMP", "PNNI", "PIM", "ARIS", "SCPS", "QNX", "A/N", "IPComp", "SNP",
	"Compaq-Peer", "IPX-in-IP", "VRRP", "PGM", "Any", "L2TP", "DDX", "IATP", "STP", "SRP",
	"UTI", "SMP", "SM", "PTP", "IS-IS", "FIRE", "CRTP", "CRUDP", "SSCOPMCE", "IPLT",
	"SPS", "PIPE", "SCTP", "FC", "RSVP-E2E-IGNORE", "Mobility", "UDPLite", "MPLS-in-IP", "manet", "HIP",
	"Shim6", "WESP", "ROHC", "Ethernet",
}
