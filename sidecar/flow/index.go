package flow

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// index finds a flow's entry from its key: an open-addressing hash table
// with linear probing over slots of 8 bytes (the key's 32-bit hash and the
// entry's index), so that a lookup reads one or two cache lines of slots
// and then the one entry whose hash matches. The hash is computed once per
// packet from the canonical key with a per-table random seed (a peer
// cannot aim packets at one chain), and is kept in the slot so that
// growing and deleting never rehash a key. Deletion shifts the following
// slots back (no tombstones), so probe chains stay short however flows
// come and go.
type index struct {
	slots []slot
	mask  uint32
	n     int // occupied slots
	max   int // slots at most: twice the flows allowed, rounded up
	seed  [6]uint64
}

type slot struct {
	hash uint32
	ref  uint32 // entry index + 1; 0: empty
}

const minSlots = 1024

func newIndex(maxFlows int) index {
	ix := index{max: 8}
	for ix.max < 2*maxFlows {
		ix.max *= 2
	}
	var b [48]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead)
	for i := range ix.seed {
		ix.seed[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	ix.resize(min(minSlots, ix.max))
	return ix
}

// hash mixes the canonical key (wyhash-style multiply-folds).
func (ix *index) hash(k *key) uint32 {
	a0 := binary.LittleEndian.Uint64(k.a[0:8])
	a1 := binary.LittleEndian.Uint64(k.a[8:16])
	b0 := binary.LittleEndian.Uint64(k.b[0:8])
	b1 := binary.LittleEndian.Uint64(k.b[8:16])
	x := uint64(k.aport) | uint64(k.bport)<<16 | uint64(k.proto)<<32 | uint64(k.ipv)<<40
	s := &ix.seed
	h := fold(a0^s[0], a1^s[1]) ^ fold(b0^s[2], b1^s[3])
	h = fold(h^s[4], x^s[5])
	return uint32(h) ^ uint32(h>>32)
}

func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// insert puts entry i under hash h at pos, an empty slot Table.find
// returned. It may grow the table, which moves the slots.
func (ix *index) insert(pos, h uint32, i int32) {
	ix.slots[pos] = slot{hash: h, ref: uint32(i) + 1}
	ix.n++
	if 2*ix.n > len(ix.slots) && len(ix.slots) < ix.max {
		ix.resize(2 * len(ix.slots))
	}
}

// remove empties the slot of entry i (hash h) and shifts back the slots
// after it that probed past it.
func (ix *index) remove(h uint32, i int32) {
	pos := h & ix.mask
	for ix.slots[pos].ref != uint32(i)+1 {
		pos = (pos + 1) & ix.mask
	}
	ix.n--
	for next := (pos + 1) & ix.mask; ; next = (next + 1) & ix.mask {
		s := ix.slots[next]
		if s.ref == 0 {
			break
		}
		// Move s back into the hole unless its home lies cyclically in
		// (pos, next]: then it was never probed past the hole.
		home := s.hash & ix.mask
		if (next-home)&ix.mask < (next-pos)&ix.mask {
			continue
		}
		ix.slots[pos] = s
		pos = next
	}
	ix.slots[pos] = slot{}
}

func (ix *index) resize(n int) {
	old := ix.slots
	ix.slots = make([]slot, n)
	ix.mask = uint32(n - 1)
	for _, s := range old {
		if s.ref == 0 {
			continue
		}
		pos := s.hash & ix.mask
		for ix.slots[pos].ref != 0 {
			pos = (pos + 1) & ix.mask
		}
		ix.slots[pos] = s
	}
}
