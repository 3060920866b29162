package rules

import "slices"

// acMatcher is an Aho-Corasick automaton over lower-cased patterns, run on
// lower-cased input: it finds every pattern occurrence in one pass whatever
// the number of patterns.
//
// States are numbered breadth first, so the shallowest ones, where a clean
// input spends most of its time, are 0..rows-1: they have a full transition
// row (failure links folded in) indexed by byte class (the bytes no pattern
// uses share one class). A row entry has its top bit set when the target
// state reports a pattern, so the common step is one load. Deeper states
// keep sorted edges and follow failure links, which keeps tens of thousands
// of patterns in a few MiB.
type acMatcher struct {
	// state i's edges are edgeBytes/edgeNext[edgeStart[i]:edgeStart[i+1]].
	edgeStart []int32
	edgeBytes []byte
	edgeNext  []int32
	fail      []int32
	// out[i] is the pattern ending at state i (-1 none); dict[i] is the
	// nearest state on the fail chain with a pattern (-1 none).
	out  []int32
	dict []int32

	rows    int32
	dense   []int32 // row r is dense[r*classes : (r+1)*classes]
	class   [256]uint8
	classes int
}

const reports = int32(-1 << 31) // top bit of a dense entry: the target reports a pattern

// maxDenseEntries bounds the full rows of one automaton to 1 MiB: 6,500
// rows at ET Open's 40 classes (domain names), 3,700 at 70 (URIs).
const maxDenseEntries = 1 << 18

// buildAC builds the automaton for patterns (already lower-cased), with at
// most maxRows full rows (and maxDenseEntries entries); pattern i is
// reported as i. Duplicate patterns
// must be merged by the caller.
func buildAC(patterns [][]byte, maxRows int) *acMatcher {
	type node struct {
		next map[byte]int32
		out  int32
	}
	nodes := []node{{next: map[byte]int32{}, out: -1}}
	for pi, p := range patterns {
		s := int32(0)
		for _, c := range p {
			n, ok := nodes[s].next[c]
			if !ok {
				n = int32(len(nodes))
				nodes = append(nodes, node{next: map[byte]int32{}, out: -1})
				nodes[s].next[c] = n
			}
			s = n
		}
		nodes[s].out = int32(pi)
	}
	// Breadth-first numbering: id[old] = new.
	order := make([]int32, 0, len(nodes))
	order = append(order, 0)
	keys := func(n *node) []byte {
		ks := make([]byte, 0, len(n.next))
		for c := range n.next {
			ks = append(ks, c)
		}
		slices.Sort(ks)
		return ks
	}
	for i := 0; i < len(order); i++ {
		n := &nodes[order[i]]
		for _, c := range keys(n) {
			order = append(order, n.next[c])
		}
	}
	id := make([]int32, len(nodes))
	for newID, old := range order {
		id[old] = int32(newID)
	}
	m := &acMatcher{
		edgeStart: make([]int32, len(nodes)+1),
		fail:      make([]int32, len(nodes)),
		out:       make([]int32, len(nodes)),
		dict:      make([]int32, len(nodes)),
	}
	for newID, old := range order {
		n := &nodes[old]
		m.edgeStart[newID] = int32(len(m.edgeBytes))
		for _, c := range keys(n) {
			m.edgeBytes = append(m.edgeBytes, c)
			m.edgeNext = append(m.edgeNext, id[n.next[c]])
		}
		m.out[newID] = n.out
		m.dict[newID] = -1
	}
	m.edgeStart[len(nodes)] = int32(len(m.edgeBytes))
	// Failure and dictionary links, in breadth-first (= id) order: a
	// state's failure target is shallower, so already done.
	for s := int32(0); s < int32(len(nodes)); s++ {
		for e := m.edgeStart[s]; e < m.edgeStart[s+1]; e++ {
			c, t := m.edgeBytes[e], m.edgeNext[e]
			if s == 0 {
				m.fail[t] = 0
			} else {
				f := m.fail[s]
				for {
					if n := m.step(f, c); n >= 0 {
						m.fail[t] = n
						break
					}
					if f == 0 {
						m.fail[t] = 0
						break
					}
					f = m.fail[f]
				}
			}
			if fl := m.fail[t]; m.out[fl] >= 0 {
				m.dict[t] = fl
			} else {
				m.dict[t] = m.dict[fl]
			}
		}
	}
	// Byte classes and the full rows of the first states.
	used := [256]bool{}
	for _, b := range m.edgeBytes {
		used[b] = true
	}
	m.classes = 1 // class 0: bytes in no pattern
	rep := []byte{0}
	for c := range 256 {
		if used[c] {
			m.class[c] = uint8(m.classes)
			rep = append(rep, byte(c))
			m.classes++
		}
	}
	for c := range 256 {
		if !used[c] {
			rep[0] = byte(c) // class 0's representative: a byte no pattern uses
			break
		}
	}
	m.rows = int32(max(min(len(nodes), maxRows, maxDenseEntries/m.classes), 1))
	m.dense = make([]int32, 0, int(m.rows)*m.classes)
	for s := range m.rows {
		for k := range m.classes {
			var next int32
			if n := m.step(s, rep[k]); n >= 0 {
				next = n
			} else if s != 0 {
				next = m.dense[int(m.fail[s])*m.classes+k] &^ reports
			}
			if m.out[next] >= 0 || m.dict[next] >= 0 {
				next |= reports
			}
			m.dense = append(m.dense, next)
		}
	}
	return m
}

// step follows the goto edge of s on c, or -1.
func (m *acMatcher) step(s int32, c byte) int32 {
	lo, hi := m.edgeStart[s], m.edgeStart[s+1]
	if hi-lo <= 8 {
		for e := lo; e < hi; e++ {
			if m.edgeBytes[e] == c {
				return m.edgeNext[e]
			}
		}
		return -1
	}
	for lo < hi {
		mid := int32(uint32(lo+hi) >> 1)
		switch b := m.edgeBytes[mid]; {
		case b == c:
			return m.edgeNext[mid]
		case b < c:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return -1
}

// scan runs the automaton over in, lower-casing ASCII on the fly, and
// appends each pattern found to dst.
func (m *acMatcher) scan(in []byte, dst []int32) []int32 {
	s := int32(0)
	for _, c := range in {
		c = lowerTable[c]
		if s < m.rows {
			n := m.dense[int(s)*m.classes+int(m.class[c])]
			s = n &^ reports
			if n >= 0 {
				continue
			}
		} else {
			for {
				if n := m.step(s, c); n >= 0 {
					s = n
					break
				}
				if s = m.fail[s]; s < m.rows {
					s = m.dense[int(s)*m.classes+int(m.class[c])] &^ reports
					break
				}
			}
		}
		if m.out[s] >= 0 {
			dst = append(dst, m.out[s])
		}
		for d := m.dict[s]; d >= 0; d = m.dict[d] {
			dst = append(dst, m.out[d])
		}
	}
	return dst
}

// prefixes appends the patterns that in starts with: a walk down the trie
// from the root, without failure links.
func (m *acMatcher) prefixes(in []byte, dst []int32) []int32 {
	s := int32(0)
	for _, c := range in {
		if s = m.step(s, lowerTable[c]); s <= 0 {
			return dst
		}
		if m.out[s] >= 0 {
			dst = append(dst, m.out[s])
		}
	}
	return dst
}

// suffixes appends the patterns (stored reversed) that in ends with.
func (m *acMatcher) suffixes(in []byte, dst []int32) []int32 {
	s := int32(0)
	for i := len(in) - 1; i >= 0; i-- {
		if s = m.step(s, lowerTable[in[i]]); s <= 0 {
			return dst
		}
		if m.out[s] >= 0 {
			dst = append(dst, m.out[s])
		}
	}
	return dst
}

// lower appends the ASCII-lower-cased b to dst.
func lower(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, lowerTable[c])
	}
	return dst
}

// lowerTable lower-cases ASCII letters, as Suricata's nocase does.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i + 'a' - 'A')
		}
	}
	return t
}()
