package intel

import "math/bits"

// table is an immutable open-addressing hash table from nonzero 64-bit keys
// to indicator references, with linear probing. It is sized once from the
// number of keys (load factor 0.8), so a million indicators take about
// 15 MB, and a lookup is one or two cache misses.
type table struct {
	keys []uint64 // 0 marks an empty slot
	refs []uint32
	// more holds, for a key that several lists hold, the references of
	// the lists after the first (see InList): few keys, so a map.
	more map[uint64][]uint32
}

// newTable builds a table holding the given keys. On duplicate keys the
// first one wins; dup is called with the index of every later one and the
// reference stored for its key.
func newTable(keys []uint64, refs []uint32, dup func(i int, first uint32)) table {
	if len(keys) == 0 {
		return table{}
	}
	n := len(keys) + len(keys)/4 + 1
	t := table{keys: make([]uint64, n), refs: make([]uint32, n)}
	for i, k := range keys {
		s := t.slot(k)
		for {
			if t.keys[s] == 0 {
				t.keys[s], t.refs[s] = k, refs[i]
				break
			}
			if t.keys[s] == k {
				if dup != nil {
					dup(i, t.refs[s])
				}
				break
			}
			if s++; s == len(t.keys) {
				s = 0
			}
		}
	}
	return t
}

// slot maps a key onto the table's range (Lemire's multiply-shift, after a
// finalizer so that keys with equal low or high bits spread out).
func (t *table) slot(k uint64) int {
	hi, _ := bits.Mul64(mix64(k), uint64(len(t.keys)))
	return int(hi)
}

// get returns the reference stored under k.
func (t *table) get(k uint64) (uint32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	s := t.slot(k)
	for {
		switch t.keys[s] {
		case k:
			return t.refs[s], true
		case 0:
			return 0, false
		}
		if s++; s == len(t.keys) {
			s = 0
		}
	}
}

// bytes is the memory the table holds (a map entry of more counted as
// 64 bytes).
func (t *table) bytes() int {
	n := len(t.keys) * 12
	for _, r := range t.more {
		n += 64 + 4*cap(r)
	}
	return n
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
