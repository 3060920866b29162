package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Kernel constants used by the filter. They are spelled out here rather than
// taken from x/sys/unix so that the program (and its test) builds on every
// GOOS.
const (
	packetOutgoing = 4      // PACKET_OUTGOING: skb->pkt_type of a transmitted copy
	arphrdLoopback = 772    // ARPHRD_LOOPBACK: dev->type of lo
	etherTypeIPv4  = 0x0800 // on lo the frame still has a 14-byte Ethernet header
	etherTypeIPv6  = 0x86dd
	protoTCP       = 6
	protoUDP       = 17
)

// Snaplen is the most bytes kept of one packet: libpcap's MAXIMUM_SNAPLEN,
// enough for the 64 KiB GSO/GRO frames seen on lo and on an MTU 9001 ENI.
const Snaplen = 262144

// Limits that keep every conditional jump of the filter within its 8-bit
// offset.
const (
	maxInterfaces = 32
	maxPorts      = 16
)

// filter builds the classic BPF program attached to the capture socket. In
// order, it
//   - drops the PACKET_OUTGOING copy of every lo packet (AF_PACKET sees each
//     loopback packet once leaving and once arriving), so loopback flows are
//     counted once;
//   - with ifindexes, drops packets of every other interface;
//   - with ports, drops TCP and UDP on lo from or to those ports: the
//     sidecar's own receivers, which would otherwise watch themselves;
//   - accepts the rest, up to Snaplen bytes.
//
// Dropped packets never reach the ring.
func filter(ifindexes []int, ports []uint16) ([]bpf.RawInstruction, error) {
	if len(ifindexes) > maxInterfaces {
		return nil, fmt.Errorf("filter: %d interfaces, at most %d", len(ifindexes), maxInterfaces)
	}
	if len(ports) > maxPorts {
		return nil, fmt.Errorf("filter: %d ports, at most %d", len(ports), maxPorts)
	}
	var p program
	p.add(bpf.LoadExtension{Num: bpf.ExtType})
	p.jeq(packetOutgoing, "", "not_outgoing")
	p.add(bpf.LoadExtension{Num: bpf.ExtLinkLayerType})
	p.jeq(arphrdLoopback, "", "not_outgoing")
	p.add(bpf.RetConstant{Val: 0})
	p.label("not_outgoing")

	if len(ifindexes) > 0 {
		p.add(bpf.LoadExtension{Num: bpf.ExtInterfaceIndex})
		for _, idx := range ifindexes {
			p.jeq(uint32(idx), "interface_ok", "")
		}
		p.add(bpf.RetConstant{Val: 0})
		p.label("interface_ok")
	}

	if len(ports) > 0 {
		p.add(bpf.LoadExtension{Num: bpf.ExtLinkLayerType})
		p.jeq(arphrdLoopback, "", "accept")
		p.add(bpf.LoadAbsolute{Off: 12, Size: 2})
		p.jeq(etherTypeIPv4, "ipv4", "")
		p.jeq(etherTypeIPv6, "ipv6", "accept")

		p.label("ipv4")
		p.add(bpf.LoadAbsolute{Off: 14 + 9, Size: 1})
		p.jeq(protoTCP, "ipv4_ports", "")
		p.jeq(protoUDP, "ipv4_ports", "accept")
		p.label("ipv4_ports")
		// Only the first fragment carries the ports.
		p.add(bpf.LoadAbsolute{Off: 14 + 6, Size: 2})
		p.jset(0x1fff, "accept", "")
		p.add(bpf.LoadMemShift{Off: 14})
		p.add(bpf.LoadIndirect{Off: 14, Size: 2})
		p.ports(ports)
		p.add(bpf.LoadIndirect{Off: 14 + 2, Size: 2})
		p.ports(ports)
		p.ja("accept")

		// Extension headers before TCP or UDP are rare on lo and pass.
		p.label("ipv6")
		p.add(bpf.LoadAbsolute{Off: 14 + 6, Size: 1})
		p.jeq(protoTCP, "ipv6_ports", "")
		p.jeq(protoUDP, "ipv6_ports", "accept")
		p.label("ipv6_ports")
		p.add(bpf.LoadAbsolute{Off: 14 + 40, Size: 2})
		p.ports(ports)
		p.add(bpf.LoadAbsolute{Off: 14 + 40 + 2, Size: 2})
		p.ports(ports)
		p.ja("accept")

		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
	}
	p.label("accept")
	p.add(bpf.RetConstant{Val: Snaplen})
	return p.assemble()
}

// program is a classic BPF program whose jumps name labels, resolved by
// assemble. An empty label means the next instruction.
type program struct {
	ins    []bpf.Instruction
	jumps  map[int][2]string // instruction index -> true, false targets
	labels map[string]int
}

func (p *program) add(in bpf.Instruction) { p.ins = append(p.ins, in) }

func (p *program) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

func (p *program) jump(in bpf.Instruction, ifTrue, ifFalse string) {
	if p.jumps == nil {
		p.jumps = map[int][2]string{}
	}
	p.jumps[len(p.ins)] = [2]string{ifTrue, ifFalse}
	p.add(in)
}

func (p *program) jeq(val uint32, ifTrue, ifFalse string) {
	p.jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: val}, ifTrue, ifFalse)
}

func (p *program) jset(mask uint32, ifTrue, ifFalse string) {
	p.jump(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: mask}, ifTrue, ifFalse)
}

func (p *program) ja(target string) { p.jump(bpf.Jump{}, target, "") }

// ports drops the packet when A is one of ports.
func (p *program) ports(ports []uint16) {
	for _, port := range ports {
		p.jeq(uint32(port), "drop", "")
	}
}

func (p *program) assemble() ([]bpf.RawInstruction, error) {
	for i, targets := range p.jumps {
		var skip [2]uint32
		for k, name := range targets {
			if name == "" {
				continue
			}
			at, ok := p.labels[name]
			if !ok || at <= i {
				return nil, fmt.Errorf("filter: instruction %d jumps to bad label %q", i, name)
			}
			skip[k] = uint32(at - i - 1)
		}
		switch in := p.ins[i].(type) {
		case bpf.JumpIf:
			if skip[0] > 255 || skip[1] > 255 {
				return nil, fmt.Errorf("filter: jump at %d too far", i)
			}
			in.SkipTrue, in.SkipFalse = uint8(skip[0]), uint8(skip[1])
			p.ins[i] = in
		case bpf.Jump:
			in.Skip = skip[0]
			p.ins[i] = in
		}
	}
	return bpf.Assemble(p.ins)
}
