package capture

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

// TestFilterLoopbackRows checks the raw program against the six-row table of
// network.md §2, and that the sections added after it leave its first five
// rows (the loopback OUTGOING drop) unchanged.
func TestFilterLoopbackRows(t *testing.T) {
	want := []bpf.RawInstruction{
		{Op: 0x20, K: 0xfffff004},
		{Op: 0x15, Jt: 0, Jf: 3, K: 4},
		{Op: 0x20, K: 0xfffff01c},
		{Op: 0x15, Jt: 0, Jf: 1, K: 772},
		{Op: 0x06, K: 0},
		{Op: 0x06, K: 262144},
	}
	got, err := filter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filter(nil, nil) mismatch (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name      string
		ifindexes []int
		ports     []uint16
	}{
		{"ports", nil, []uint16{1514}},
		{"interfaces", []int{1, 3}, nil},
		{"both", []int{2}, []uint16{1514, 24224}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := filter(tc.ifindexes, tc.ports)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[:5], got[:5]); diff != "" {
				t.Errorf("filter(%v, %v) first rows mismatch (-want +got):\n%s", tc.ifindexes, tc.ports, diff)
			}
			if last := got[len(got)-1]; last != want[5] {
				t.Errorf("filter(%v, %v) last row = %+v, want %+v", tc.ifindexes, tc.ports, last, want[5])
			}
		})
	}
}

func TestFilterLimits(t *testing.T) {
	if _, err := filter(make([]int, maxInterfaces+1), nil); err == nil {
		t.Errorf("filter(%d interfaces) succeeded, want an error", maxInterfaces+1)
	}
	if _, err := filter(nil, make([]uint16, maxPorts+1)); err == nil {
		t.Errorf("filter(%d ports) succeeded, want an error", maxPorts+1)
	}
	// The largest allowed program must still assemble (its jumps fit).
	many := make([]uint16, maxPorts)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	idx := make([]int, maxInterfaces)
	if _, err := filter(idx, many); err != nil {
		t.Errorf("filter(%d interfaces, %d ports) = %v, want nil", maxInterfaces, maxPorts, err)
	}
}

// skb is what the filter can see of one packet.
type skb struct {
	pktType, hatype uint32
	ifindex         uint32
	data            []byte
}

// run interprets the classic BPF subset the filter uses, with the kernel's
// ancillary loads, and returns the accepted length (0: dropped).
func run(t *testing.T, prog []bpf.RawInstruction, p skb) uint32 {
	t.Helper()
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if int(off)+size > len(p.data) {
			return 0, false
		}
		switch size {
		case 1:
			return uint32(p.data[off]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(p.data[off:])), true
		}
		return binary.BigEndian.Uint32(p.data[off:]), true
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		var ok = true
		switch in.Op {
		case 0x20: // ld [k] or an ancillary load
			switch in.K {
			case 0xfffff000 + 4:
				a = p.pktType
			case 0xfffff000 + 28:
				a = p.hatype
			case 0xfffff000 + 8:
				a = p.ifindex
			default:
				a, ok = load(in.K, 4)
			}
		case 0x28:
			a, ok = load(in.K, 2)
		case 0x30:
			a, ok = load(in.K, 1)
		case 0x48:
			a, ok = load(x+in.K, 2)
		case 0xb1: // ldxb 4*([k]&0xf)
			var b uint32
			b, ok = load(in.K, 1)
			x = 4 * (b & 0xf)
		case 0x15:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case 0x45:
			if a&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case 0x05:
			pc += int(in.K)
		case 0x06:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not interpreted", pc, in.Op)
		}
		if !ok {
			return 0 // the kernel drops on an out-of-bounds load
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

// frame builds an Ethernet frame carrying IPv4 or IPv6 with a TCP or UDP
// header (ports only matter).
func frame(v6 bool, proto byte, sport, dport uint16, fragOff uint16) []byte {
	eth := make([]byte, 14)
	var ip []byte
	if v6 {
		binary.BigEndian.PutUint16(eth[12:], 0x86dd)
		ip = make([]byte, 40)
		ip[0] = 0x60
		ip[6] = proto
	} else {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		ip = make([]byte, 24) // 20 bytes plus 4 of options: IHL 6
		ip[0] = 0x46
		binary.BigEndian.PutUint16(ip[6:], fragOff)
		ip[9] = proto
	}
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	return append(append(eth, ip...), l4...)
}

func TestFilterDecisions(t *testing.T) {
	const (
		host     = 0
		outgoing = packetOutgoing
		ether    = 1
		loop     = arphrdLoopback
	)
	prog, err := filter([]int{1, 3}, []uint16{1514, 24224})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		skb  skb
		want bool
	}{
		{"lo_outgoing_copy", skb{outgoing, loop, 1, frame(false, protoUDP, 40000, 53, 0)}, false},
		{"lo_incoming_copy", skb{host, loop, 1, frame(false, protoUDP, 40000, 53, 0)}, true},
		{"eth_outgoing", skb{outgoing, ether, 3, frame(false, protoTCP, 40000, 443, 0)}, true},
		{"eth_incoming", skb{host, ether, 3, frame(false, protoTCP, 443, 40000, 0)}, true},
		{"other_interface", skb{host, ether, 2, frame(false, protoTCP, 443, 40000, 0)}, false},
		{"lo_tcp_to_receiver", skb{host, loop, 1, frame(false, protoTCP, 40000, 1514, 0)}, false},
		{"lo_tcp_from_receiver", skb{host, loop, 1, frame(false, protoTCP, 1514, 40000, 0)}, false},
		{"lo_udp_to_receiver", skb{host, loop, 1, frame(false, protoUDP, 40000, 1514, 0)}, false},
		{"lo_second_port", skb{host, loop, 1, frame(false, protoTCP, 40000, 24224, 0)}, false},
		{"lo_tcp6_to_receiver", skb{host, loop, 1, frame(true, protoTCP, 40000, 1514, 0)}, false},
		{"lo_udp6_from_receiver", skb{host, loop, 1, frame(true, protoUDP, 1514, 40000, 0)}, false},
		{"lo_tcp6_other_port", skb{host, loop, 1, frame(true, protoTCP, 40000, 8080, 0)}, true},
		{"lo_tcp_other_port", skb{host, loop, 1, frame(false, protoTCP, 40000, 8080, 0)}, true},
		{"lo_icmp", skb{host, loop, 1, frame(false, 1, 1514, 1514, 0)}, true},
		{"lo_later_fragment", skb{host, loop, 1, frame(false, protoUDP, 1514, 1514, 0x00b9)}, true},
		{"lo_first_fragment_more", skb{host, loop, 1, frame(false, protoUDP, 40000, 1514, 0x2000)}, false},
		{"eth_tcp_to_1514", skb{host, ether, 3, frame(false, protoTCP, 40000, 1514, 0)}, true},
		{"lo_arp", skb{host, loop, 1, append(make([]byte, 12), 0x08, 0x06, 0, 1)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, prog, tc.skb) != 0
			if got != tc.want {
				t.Errorf("filter accepts %s = %v, want %v", describe(tc.skb), got, tc.want)
			}
		})
	}
}

func describe(p skb) string {
	return fmt.Sprintf("{pkttype %d, hatype %d, ifindex %d, % x}", p.pktType, p.hatype, p.ifindex, p.data)
}
