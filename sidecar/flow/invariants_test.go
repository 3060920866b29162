package flow

import (
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// checkInvariants verifies the table's internal structure: every open flow
// is indexed under its key and hash, sits in the idle list of its class and
// in the report list, the lists are well linked and ordered (for a clock
// that does not go back), the idle lists by queued time, and every probe chain of the index is unbroken.
func checkInvariants(t *testing.T, tab *Table) {
	t.Helper()
	seen := map[int32]int{}
	walk := func(name string, l list, w int, order func(*Entry) int64) {
		prev := noEntry
		var last int64
		for i := l.head; i != noEntry; i = tab.entry(i).links[w].next {
			e := tab.entry(i)
			if e.links[w].prev != prev {
				t.Fatalf("%s: entry %d has prev %d, want %d", name, i, e.links[w].prev, prev)
			}
			if h := tab.ix.hash(&e.key); h != e.hash {
				t.Fatalf("%s: entry %d holds hash %x, its key hashes to %x", name, i, e.hash, h)
			}
			if _, j, ok := tab.find(e.hash, &e.key); !ok || j != i {
				t.Fatalf("%s: entry %d is not found under its key (got %d, %v)", name, i, j, ok)
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
		walk("idle", tab.idle[c], idleList, func(e *Entry) int64 { return e.queued })
		for i := tab.idle[c].head; i != noEntry; i = tab.entry(i).links[idleList].next {
			e := tab.entry(i)
			if int(e.class) != c {
				t.Fatalf("entry %d of class %d in list %d", i, e.class, c)
			}
			// Expire finds a due flow by its queued time, NextDeadline
			// the earliest last packet near the head.
			if e.queued > e.last || e.last-e.queued >= requeueAfter {
				t.Fatalf("entry %d: last packet %d ns after it was queued, want 0 to %d", i, e.last-e.queued, requeueAfter-1)
			}
		}
	}
	walk("report", tab.report, reportList, func(e *Entry) int64 { return e.reported })
	occupied := 0
	for pos, s := range tab.ix.slots {
		if s.ref == 0 {
			continue
		}
		occupied++
		i := int32(s.ref - 1)
		if seen[i] != 2 {
			t.Fatalf("slot %d points at entry %d, which is in %d lists, want 2", pos, i, seen[i])
		}
		// Every slot between the hash's home and this one is occupied,
		// or a lookup would stop before reaching it.
		for p := s.hash & tab.ix.mask; p != uint32(pos); p = (p + 1) & tab.ix.mask {
			if tab.ix.slots[p].ref == 0 {
				t.Fatalf("slot %d (home %d) is cut off by the empty slot %d", pos, s.hash&tab.ix.mask, p)
			}
		}
	}
	if occupied != tab.ix.n || occupied != tab.open || len(seen) != tab.open || tab.open > tab.cfg.MaxFlows {
		t.Fatalf("%d slots occupied (index says %d), %d entries in lists, %d open, max %d", occupied, tab.ix.n, len(seen), tab.open, tab.cfg.MaxFlows)
	}
	if tab.open+len(tab.free) != int(tab.used) {
		t.Fatalf("%d open + %d free != %d entries", tab.open, len(tab.free), tab.used)
	}
	if 2*tab.ix.n > len(tab.ix.slots) && len(tab.ix.slots) < tab.ix.max {
		t.Fatalf("index %d of %d slots full: it should have grown", tab.ix.n, len(tab.ix.slots))
	}
}

// checkUpdatesAddUp verifies a table's output: each flow_update's total is
// the sum of its flow's deltas so far, and a flow's updates, if it had any,
// add up to its flow record, which comes once.
func checkUpdatesAddUp(t *testing.T, evs []event.Event) {
	t.Helper()
	sums := map[uint64]event.FlowCounter{}
	done := map[uint64]bool{}
	for _, ev := range evs {
		if done[ev.FlowID] {
			t.Fatalf("flow %d: an event after its flow record", ev.FlowID)
		}
		switch {
		case ev.FlowUpdate != nil:
			u, s := ev.FlowUpdate, sums[ev.FlowID]
			s.PktsToServer += u.PktsToServer
			s.PktsToClient += u.PktsToClient
			s.BytesToServer += u.BytesToServer
			s.BytesToClient += u.BytesToClient
			if s != u.Total {
				t.Fatalf("flow %d: update total %+v, want the deltas so far %+v", ev.FlowID, u.Total, s)
			}
			sums[ev.FlowID] = s
		case ev.Flow != nil:
			done[ev.FlowID] = true
			f := ev.Flow
			if s, ok := sums[ev.FlowID]; ok && s != (event.FlowCounter{PktsToServer: f.PktsToServer, PktsToClient: f.PktsToClient, BytesToServer: f.BytesToServer, BytesToClient: f.BytesToClient}) {
				t.Fatalf("flow %d: updates add up to %+v, want the flow record's %+v", ev.FlowID, s, *f)
			}
		}
	}
}

// FuzzTableOps drives a small table with a program read from the input:
// packets between a few endpoints with arbitrary TCP flags and protocols,
// and clock jumps with Expire, checking the invariants after each step
// and, at the end, that flow_update events add up to their flow records.
func FuzzTableOps(f *testing.F) {
	f.Add([]byte{0x00, 0x12, 0x21, 0x33, 0xff, 0x40, 0x01, 0x80, 0x7f})
	f.Add([]byte{0x02, 0x02, 0x12, 0x10, 0x11, 0x19, 0x10, 0xf0, 0xf0, 0xf0})
	// A packet stamped at the very time an update was written (op 0
	// advances the clock by 0 ms).
	f.Add([]byte{0x00, 0x00, 0xf0, 0x32, 0x00, 0x00, 0xf0, 0x28, 0x00, 0x00})
	// UDP flow A, flow B 9 ms later, A again 232 ms after that (A stays
	// ahead of B in the idle list), then Expire when B is due and A not.
	f.Add([]byte{0xe8, 0x00, 0x09, 0x00, 0xe8, 0x00, 0xf9, 0x3b})
	f.Fuzz(func(t *testing.T, prog []byte) {
		cfg := DefaultConfig()
		cfg.MaxFlows = 3
		cfg.ActiveTimeout = 90 * time.Second
		rec := &recorder{}
		tab := NewTable(cfg, rec, nil)
		now := t0.UnixNano()
		addrs := [][16]byte{{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}}
		for len(prog) >= 2 {
			op, arg := prog[0], prog[1]
			prog = prog[2:]
			if op >= 0xf0 { // advance the clock by arg seconds and (op&0xf) tenths, and expire
				now += int64(arg)*int64(time.Second) + int64(op&0xf)*int64(100*time.Millisecond)
				tab.Expire(time.Unix(0, now))
				checkInvariants(t, tab)
				checkNoneDue(t, tab, now)
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
			tab.update(time.Unix(0, now), "eth1", &p, 60)
			checkInvariants(t, tab)
		}
		tab.Flush(time.Unix(0, now), ReasonShutdown)
		checkInvariants(t, tab)
		if tab.Len() != 0 {
			t.Fatalf("Len() = %d after Flush", tab.Len())
		}
		checkUpdatesAddUp(t, rec.events)
	})
}

// checkNoneDue verifies that Expire at now left no flow open whose idle
// timeout had passed: the idle lists are ordered by queued time, not by
// last packet, and Expire must still find every due flow.
func checkNoneDue(t *testing.T, tab *Table, now int64) {
	t.Helper()
	for c := range tab.idle {
		for i := tab.idle[c].head; i != noEntry; i = tab.entry(i).links[idleList].next {
			if e := tab.entry(i); now-e.last >= tab.timeouts[c] {
				t.Fatalf("entry %d of class %d idle %d ns after Expire, timeout %d", i, c, now-e.last, tab.timeouts[c])
			}
		}
	}
}
