package flow

// TCP header flag bits, as in the header's 13th byte and EVE's tcp_flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
	tcpECE = 0x40
	tcpCWR = 0x80
)

// tcpState is the connection state, named as Suricata's tcp.state. It is
// tracked from flags and, to tell when a FIN is acknowledged, sequence
// numbers; there is no reassembly and no window checking.
type tcpState uint8

const (
	tcpNone tcpState = iota
	tcpSynSent
	tcpSynRecv
	tcpEstablished
	tcpFinWait1 // the client sent a FIN
	tcpFinWait2 // ... and the server acknowledged it
	tcpClosing  // both sent a FIN, the client's is not acknowledged
	tcpTimeWait // both sent a FIN, the client's is acknowledged
	tcpCloseWait
	tcpLastAck // the server sent a FIN, then the client
	tcpClosed
	numTCPStates
)

var tcpStateNames = [...]string{
	tcpNone:        "none",
	tcpSynSent:     "syn_sent",
	tcpSynRecv:     "syn_recv",
	tcpEstablished: "established",
	tcpFinWait1:    "fin_wait1",
	tcpFinWait2:    "fin_wait2",
	tcpClosing:     "closing",
	tcpTimeWait:    "time_wait",
	tcpCloseWait:   "close_wait",
	tcpLastAck:     "last_ack",
	tcpClosed:      "closed",
}

func (s tcpState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "unknown"
}

// trackTCP advances the state with one segment sent in direction dir. A
// FIN moves a connection to the closing states only once it is
// established (or its SYN-ACK was seen, as Suricata): a FIN scan or one
// side of a connection captured alone stays none/syn_sent, so its flow
// stays "new".
func (e *Entry) trackTCP(dir int, p *packet) {
	f := p.tcpFlags
	fromClient := dir == toServer
	if e.tcp == tcpNone {
		switch {
		case f&(tcpSYN|tcpACK|tcpRST) == tcpSYN && fromClient:
			e.tcp = tcpSynSent
		case f&(tcpSYN|tcpACK|tcpRST) == tcpSYN|tcpACK:
			e.tcp = tcpSynRecv
		case e.seen[toServer] && e.seen[toClient]:
			// Picked up midstream: both sides are talking.
			e.tcp = tcpEstablished
		}
	}
	if f&tcpRST != 0 {
		// A RST without a connection (backscatter, a RST scan) leaves
		// the state alone, as Suricata does.
		if e.tcp != tcpNone {
			e.tcp = tcpClosed
		}
		return
	}
	peer := 1 - dir
	// Does this segment acknowledge the peer's FIN?
	acksFIN := f&tcpACK != 0 && e.flags[peer]&tcpFIN != 0 && int32(p.ack-e.finSeq[peer]) >= 0
	fin := f&tcpFIN != 0
	if fin {
		e.finSeq[dir] = p.seq + p.payloadLen + 1
		if f&tcpSYN != 0 {
			e.finSeq[dir]++
		}
	}
	switch e.tcp {
	case tcpSynSent:
		// The SYN-ACK, or any later segment of the server's if the capture
		// missed it: a lost frame must not leave a busy flow "new".
		if f&tcpACK != 0 && !fromClient {
			e.tcp = tcpSynRecv
		}
	case tcpSynRecv:
		if f&(tcpSYN|tcpACK) == tcpACK && fromClient {
			e.tcp = tcpEstablished
		}
	}
	switch e.tcp {
	case tcpSynRecv, tcpEstablished:
		if !fin {
			return
		}
		if fromClient {
			e.tcp = tcpFinWait1
		} else {
			e.tcp = tcpCloseWait
		}
	case tcpFinWait1:
		if fromClient {
			return
		}
		switch {
		case fin && acksFIN:
			e.tcp = tcpTimeWait
		case fin:
			e.tcp = tcpClosing
		case acksFIN:
			e.tcp = tcpFinWait2
		}
	case tcpFinWait2:
		if fin && !fromClient {
			e.tcp = tcpTimeWait
		}
	case tcpClosing:
		if acksFIN && !fromClient {
			e.tcp = tcpTimeWait
		}
	case tcpTimeWait:
		if acksFIN && fromClient {
			e.tcp = tcpClosed
		}
	case tcpCloseWait:
		if fin && fromClient {
			e.tcp = tcpLastAck
		}
	case tcpLastAck:
		if acksFIN && !fromClient {
			e.tcp = tcpClosed
		}
	}
}

// tcpClass is the timeout class of a TCP flow: new before the handshake
// completes, closed once a RST or FINs from both sides were seen.
func (e *Entry) tcpClass() uint8 {
	switch e.tcp {
	case tcpNone, tcpSynSent, tcpSynRecv:
		return classTCPNew
	case tcpClosing, tcpTimeWait, tcpLastAck, tcpClosed:
		return classTCPClosed
	}
	return classTCPEstablished
}

// flowState is EVE's flow.state of a TCP flow, mapped from tcp.state as
// Suricata does: established from the handshake through fin_wait, closing
// and close_wait; closed from last_ack, time_wait and closed.
func (s tcpState) flowState() string {
	switch s {
	case tcpNone, tcpSynSent, tcpSynRecv:
		return "new"
	case tcpLastAck, tcpTimeWait, tcpClosed:
		return "closed"
	}
	return "established"
}
