package detect

import (
	"net/netip"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// IP protocol numbers.
const (
	protoTCP = 6
	protoUDP = 17
)

// TCP flags, as in the header's 13th byte.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// packet is one TCP or UDP packet of a tracked flow as the packet-level
// detections see it, oriented client to server as the flow is.
type packet struct {
	ts             int64 // unix ns, packet time
	flowID         uint64
	iface          string
	client, server netip.Addr
	cport, sport   uint16
	proto          uint8
	toServer       bool
	// first is set on the flow's first packet, firstReply on the server's
	// first packet.
	first, firstReply bool
	// dirPackets counts the packets of this direction so far, this one
	// included.
	dirPackets uint64
	tcpFlags   uint8
	payload    []byte // captured payload (may be cut by the snap length)
	appProto   string
	entry      *flow.Entry // nil in tests: the community_id is computed
}

// header is the alert context of a packet's flow: the flow's 5-tuple from
// client to server, with its flow_id and community_id.
func (e *Engine) header(p *packet) event.Event {
	ev := event.Event{
		Timestamp: event.At(time.Unix(0, p.ts).UTC()),
		FlowID:    p.flowID,
		InIface:   p.iface,
		SrcIP:     p.client,
		SrcPort:   p.cport,
		DestIP:    p.server,
		DestPort:  p.sport,
		Proto:     flow.ProtoName(p.proto),
		AppProto:  p.appProto,
	}
	ev.IPVersion = 4
	if p.client.Is6() {
		ev.IPVersion = 6
	}
	if p.entry != nil {
		ev.CommunityID = p.entry.CommunityID()
	} else {
		ev.CommunityID = flow.CommunityID(e.opts.CommunityIDSeed, p.proto, p.client, p.server, p.cport, p.sport)
	}
	return ev
}

// inspectPacket runs the packet-level detections on one packet.
func (e *Engine) inspectPacket(p *packet) {
	if p.first {
		if e.imds != nil {
			e.imds.packet(p)
		}
		if e.intelDet != nil {
			e.intelDet.packet(p)
		}
	}
	if e.portScan != nil {
		e.portScan.packet(p)
	}
	if e.mining != nil {
		e.mining.packet(p)
	}
}
