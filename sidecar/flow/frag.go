package flow

// fragments remembers where recent first fragments went, so that the
// fragments after them (which carry no ports) count into the same flow:
// fragmented DNS answers would otherwise make a flow look one-sided. A
// fragment whose first fragment was not seen, came too long ago or was
// pushed out is counted as skipped (reason fragment), never guessed.
//
// It holds the last fragSlots first fragments, oldest replaced first (a
// ring), and finds them through an index keyed by a hash with a per-table
// random seed. Which first fragments are remembered depends only on their
// order, never on the seed, so replaying a capture always gives the same
// flows; a direct-mapped cache would lose whichever first fragments the
// seed made collide. The seed keeps a peer from aiming at one probe chain
// of the index (it is half full at most, and bounded by fragSlots anyway);
// evicting other packets' entries takes fragSlots first fragments of its
// own whatever it knows, the same as with any table of this size.
type fragments struct {
	ring [fragSlots]fragSlot
	next int32 // the ring slot the next first fragment takes
	ix   index // ring slot by key
}

const (
	fragSlots = 256
	// fragTimeout is how long the rest of a packet may trail its first
	// fragment (Linux's ipfrag_time is 30 s).
	fragTimeout = int64(30e9)
)

type fragSlot struct {
	k    key    // addresses, protocol, IP version; the ports hold the id
	hash uint32 // of k, for the index
	flow uint64 // flow_id of the flow, to notice a reused entry; 0: empty slot
	i    int32
	dir  uint8
	at   int64
}

func newFragments() fragments {
	return fragments{ix: newIndex(fragSlots)} // 2 × fragSlots index slots: never grows
}

// fragKey keys a fragmented packet: its addresses, protocol and id.
func fragKey(p *packet) key {
	return key{a: p.src, b: p.dst, aport: uint16(p.fragID >> 16), bport: uint16(p.fragID), proto: p.proto, ipv: p.ipv}
}

// find returns the index slot of k (hash h) and its ring slot, or the
// empty index slot where it would go.
func (f *fragments) find(h uint32, k *key) (pos uint32, j int32, ok bool) {
	ix := &f.ix
	for pos = h & ix.mask; ; pos = (pos + 1) & ix.mask {
		s := ix.slots[pos]
		if s.ref == 0 {
			return pos, noEntry, false
		}
		if s.hash == h && f.ring[s.ref-1].k == *k {
			return pos, int32(s.ref - 1), true
		}
	}
}

// drop empties ring slot j.
func (f *fragments) drop(j int32) {
	if s := &f.ring[j]; s.flow != 0 {
		f.ix.remove(s.hash, j)
		*s = fragSlot{}
	}
}

// add remembers first fragment p of flow entry i, going dir, in place of
// the oldest one remembered (or of an earlier copy of itself).
func (f *fragments) add(t *Table, p *packet, i int32, dir int, now int64) {
	k := fragKey(p)
	h := f.ix.hash(&k)
	if _, j, ok := f.find(h, &k); ok {
		f.drop(j)
	}
	j := f.next
	f.next = (f.next + 1) % fragSlots
	f.drop(j)
	pos, _, _ := f.find(h, &k) // after the removals, which shift slots
	f.ring[j] = fragSlot{k: k, hash: h, flow: t.entry(i).id, i: i, dir: uint8(dir), at: now}
	f.ix.insert(pos, h, j)
}

// fragment counts a fragment after the first into its packet's flow, and
// reports whether it found it.
func (t *Table) fragment(now int64, p *packet, n uint64) bool {
	k := fragKey(p)
	_, j, ok := t.frags.find(t.frags.ix.hash(&k), &k)
	if !ok {
		return false
	}
	s := &t.frags.ring[j]
	if now-s.at > fragTimeout || now < s.at-fragTimeout {
		return false
	}
	e := t.entry(s.i)
	if e.id != s.flow { // the flow ended (its entry is zeroed or reused)
		return false
	}
	t.count(e, int(s.dir), now, n)
	t.touch(s.i, e, e.class, now)
	t.cnt[cFragAttributed]++
	return true
}
