package flow

import "time"

// Inspector looks into the payload of tracked flows (the app-layer parsers,
// detections). The table calls it on the capture goroutine; nothing passed
// may be retained after the call except through the Entry's AppState slot.
type Inspector interface {
	// Inspect is called for every TCP/UDP packet of a tracked flow (TCP
	// control packets with an empty payload too, so a reassembler sees
	// SYN/FIN/RST), after the flow's counters are updated.
	Inspect(e *Entry, p *Packet)
	// Expire is called once when the flow's final record is about to be
	// emitted (idle, evicted, shutdown, TCP reuse), before encoding, so the
	// inspector can set e.AppProto / e.Alerted and free its state.
	Expire(e *Entry)
}

// Ticker is an Inspector that also follows the table's clock: Expire calls
// Tick first, with its own now (each second of wall time when live, of
// packet time when replaying), so that an inspector can time out what it
// waits for (a reply to a connection attempt) without a packet to do it.
type Ticker interface {
	Tick(now time.Time)
}

// Direction is the way a packet travels within its flow.
type Direction uint8

// Directions: from the client (the flow's src_ip) or to it.
const (
	ToServer Direction = toServer
	ToClient Direction = toClient
)

func (d Direction) String() string {
	if d == ToServer {
		return "to_server"
	}
	return "to_client"
}

// TCP header flag bits, as in Packet.TCPFlags (the header's 13th byte).
const (
	FlagFIN = tcpFIN
	FlagSYN = tcpSYN
	FlagRST = tcpRST
	FlagPSH = tcpPSH
	FlagACK = tcpACK
	FlagURG = tcpURG
	FlagECE = tcpECE
	FlagCWR = tcpCWR
)

// Packet is one TCP or UDP packet of a tracked flow as an Inspector sees
// it. It and its Payload are valid only during the Inspect call.
type Packet struct {
	Timestamp time.Time
	Iface     string // capture interface
	Direction Direction
	TCPFlags  uint8  // TCP only
	Seq, Ack  uint32 // TCP only
	// Payload is the captured transport payload, which a snap length may
	// have cut short: PayloadLen is the payload's length on the wire (from
	// the IP header), at least len(Payload). A TCP header cut by the snap
	// length gives a packet with TCPFlags 0 and no payload.
	Payload    []byte
	PayloadLen int
}
