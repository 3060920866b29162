package flow

import (
	"testing"
	"time"
)

// checkInvariants verifies the table's internal structure: every open flow
// is indexed under its key, sits in the idle list of its class and in the
// report list, and the lists are well linked and ordered (for a clock
// that does not go back).
func checkInvariants(t *testing.T, tab *Table) {
	t.Helper()
	seen := map[int32]int{}
	walk := func(name string, l list, w int, order func(*entry) int64) {
		prev := noEntry
		var last int64
		for i := l.head; i != noEntry; i = tab.entries[i].links[w].next {
			e := &tab.entries[i]
			if e.links[w].prev != prev {
				t.Fatalf("%s: entry %d has prev %d, want %d", name, i, e.links[w].prev, prev)
			}
			if j, ok := tab.index[e.key]; !ok || j != i {
				t.Fatalf("%s: entry %d is not indexed under its key", name, i)
			}
			if o := order(e); prev != noEntry && o < last {
				t.Fatalf("%s: entry %d out of order", name, i)
			} else {
				last = o
			}
			seen[i]++
			prev = i
		}
		if l.tail != prev {
			t.Fatalf("%s: tail %d, want %d", name, l.tail, prev)
		}
	}
	for c := range tab.idle {
		walk("idle", tab.idle[c], idleList, func(e *entry) int64 { return e.last })
		for i := tab.idle[c].head; i != noEntry; i = tab.entries[i].links[idleList].next {
			if int(tab.entries[i].class) != c {
				t.Fatalf("entry %d of class %d in list %d", i, tab.entries[i].class, c)
			}
		}
	}
	walk("report", tab.report, reportList, func(e *entry) int64 { return e.reported })
	for k, i := range tab.index {
		if tab.entries[i].key != k {
			t.Fatalf("index maps a key to entry %d holding another", i)
		}
		if seen[i] != 2 {
			t.Fatalf("entry %d is in %d lists, want 2", i, seen[i])
		}
	}
	if len(seen) != len(tab.index) || len(tab.index) > tab.cfg.MaxFlows {
		t.Fatalf("%d entries in lists, %d indexed, max %d", len(seen), len(tab.index), tab.cfg.MaxFlows)
	}
	if len(tab.index)+len(tab.free) != len(tab.entries) {
		t.Fatalf("%d open + %d free != %d entries", len(tab.index), len(tab.free), len(tab.entries))
	}
}

// FuzzTableOps drives a small table with a program read from the input:
// packets between a few endpoints with arbitrary TCP flags and protocols,
// and clock jumps with Expire, checking the invariants after each step.
func FuzzTableOps(f *testing.F) {
	f.Add([]byte{0x00, 0x12, 0x21, 0x33, 0xff, 0x40, 0x01, 0x80, 0x7f})
	f.Add([]byte{0x02, 0x02, 0x12, 0x10, 0x11, 0x19, 0x10, 0xf0, 0xf0, 0xf0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		cfg := DefaultConfig()
		cfg.MaxFlows = 3
		cfg.ActiveTimeout = 90 * time.Second
		tab := NewTable(cfg, &recorder{}, nil)
		now := t0.UnixNano()
		addrs := [][16]byte{{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}}
		for len(prog) >= 2 {
			op, arg := prog[0], prog[1]
			prog = prog[2:]
			if op >= 0xf0 { // advance the clock by arg seconds and expire
				now += int64(arg) * int64(time.Second)
				tab.Expire(time.Unix(0, now))
				checkInvariants(t, tab)
				continue
			}
			p := packet{ipv: 4, src: addrs[op%3], dst: addrs[(op/3)%3], sport: uint16(op>>4) % 3, dport: uint16(arg>>6) % 3,
				tcpFlags: arg, seq: uint32(arg), ack: uint32(op)}
			switch (op >> 2) % 4 {
			case 0, 1:
				p.proto = protoTCP
			case 2:
				p.proto = protoUDP
			default:
				p.proto = protoICMP
				p.sport, p.dport = uint16(arg%20), uint16(op%4)
			}
			now += int64(op) * int64(time.Millisecond)
			tab.update(now, "eth1", &p, 60)
			checkInvariants(t, tab)
		}
		tab.Flush(time.Unix(0, now), ReasonShutdown)
		checkInvariants(t, tab)
		if tab.Len() != 0 {
			t.Fatalf("Len() = %d after Flush", tab.Len())
		}
	})
}
