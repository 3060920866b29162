package detect

import (
	"time"

	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// Inspect is the engine's flow.Inspector hook: it runs the packet-level
// detections on one packet of a tracked flow, on the capture goroutine. It
// allocates nothing unless it raises an alert.
func (e *Engine) Inspect(en *flow.Entry, p *flow.Packet) {
	n := en.Packets(p.Direction)
	// Past a flow's first packets each way there is nothing to look at:
	// attempts and replies are first packets, Stratum opens a flow.
	if n > stratumScanPackets || e.cfg.Off || (n > 1 && len(p.Payload) == 0) {
		return
	}
	c, s := en.Client(), en.Server()
	toServer := p.Direction == flow.ToServer
	pk := packet{
		ts:         p.Timestamp.UnixNano(),
		flowID:     en.ID(),
		iface:      p.Iface,
		client:     c.Addr(),
		server:     s.Addr(),
		cport:      c.Port(),
		sport:      s.Port(),
		proto:      en.Proto(),
		toServer:   toServer,
		first:      n == 1 && en.Packets(1-p.Direction) == 0,
		firstReply: !toServer && n == 1,
		dirPackets: n,
		tcpFlags:   p.TCPFlags,
		payload:    p.Payload,
		appProto:   en.AppProto,
		entry:      en,
	}
	e.inspectPacket(&pk)
}

// Expire is called as a flow's final record is written: a connection
// attempt still waiting for a reply has failed (whatever the clock), and
// a flow that raised an alert says so in its record.
func (e *Engine) Expire(en *flow.Entry) {
	if e.cfg.Off {
		return
	}
	if e.portScan != nil && en.Packets(flow.ToServer) > 0 {
		c, s := en.Client(), en.Server()
		e.portScan.unanswered(c.Addr(), s.Addr(), s.Port(), en.Proto())
	}
	if e.nAlerted.Load() > 0 {
		e.mu.Lock()
		_, ok := e.alerted.ids[en.ID()]
		e.mu.Unlock()
		if ok {
			en.Alerted = true
		}
	}
}

// Tick is the flow.Ticker hook: the table's clock, each second.
func (e *Engine) Tick(now time.Time) {
	if e.portScan != nil {
		e.portScan.tick(now.UnixNano())
	}
}
