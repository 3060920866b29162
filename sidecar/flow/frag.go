package flow

// fragments remembers where recent first fragments went, so that the
// fragments after them (which carry no ports) count into the same flow:
// fragmented DNS answers would otherwise make a flow look one-sided. It is
// a small direct-mapped cache: a fragment whose first fragment was not
// seen, came too long ago or was pushed out by another is counted as
// skipped (reason fragment), never guessed.
type fragments struct {
	slots [fragSlots]fragSlot
}

const (
	fragSlots = 256
	// fragTimeout is how long the rest of a packet may trail its first
	// fragment (Linux's ipfrag_time is 30 s).
	fragTimeout = int64(30e9)
)

type fragSlot struct {
	k    key    // addresses, protocol, IP version; the ports hold the id
	flow uint64 // flow_id of the flow, to notice a reused entry
	i    int32
	dir  uint8
	at   int64
}

// fragKey keys a fragmented packet: its addresses, protocol and id.
func fragKey(p *packet) key {
	return key{a: p.src, b: p.dst, aport: uint16(p.fragID >> 16), bport: uint16(p.fragID), proto: p.proto, ipv: p.ipv}
}

func (f *fragments) add(t *Table, p *packet, i int32, dir int, now int64) {
	k := fragKey(p)
	s := &f.slots[t.ix.hash(&k)%fragSlots]
	*s = fragSlot{k: k, flow: t.entry(i).id, i: i, dir: uint8(dir), at: now}
}

// fragment counts a fragment after the first into its packet's flow, and
// reports whether it found it.
func (t *Table) fragment(now int64, p *packet, n uint64) bool {
	k := fragKey(p)
	s := &t.frags.slots[t.ix.hash(&k)%fragSlots]
	if s.k != k || s.flow == 0 || now-s.at > fragTimeout || now < s.at-fragTimeout {
		return false
	}
	e := t.entry(s.i)
	if e.id != s.flow { // the flow ended (its entry is zeroed or reused)
		return false
	}
	t.count(e, int(s.dir), now, n)
	t.touch(s.i, e, e.class)
	t.cnt[cFragAttributed]++
	return true
}
