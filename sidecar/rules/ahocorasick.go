package rules

import "slices"

// acMatcher is an Aho-Corasick automaton over lower-cased patterns, run on
// lower-cased input: it finds every pattern occurrence in one pass whatever
// the number of patterns. The root has a dense transition table (most input
// bytes of a clean buffer stay at or near the root); other states keep
// sorted edges, which keeps 10,000 domain-length patterns in a few MiB.
type acMatcher struct {
	root [256]int32
	// state i's edges are edgeBytes/edgeNext[edgeStart[i]:edgeStart[i+1]].
	edgeStart []int32
	edgeBytes []byte
	edgeNext  []int32
	fail      []int32
	// out[i] is the pattern ending at state i (-1 none); dict[i] is the
	// nearest state on the fail chain with a pattern (-1 none).
	out  []int32
	dict []int32
	// The shallowest states (where a clean input spends most of its time)
	// also have a full transition row, failure links folded in: rowOf[s]
	// indexes dense, or is -1.
	// Rows are indexed by byte class: the bytes no pattern uses share one.
	rowOf   []int32
	dense   []int32 // row r is dense[r*classes : (r+1)*classes]
	class   [256]uint8
	classes int
}

// maxDenseRows bounds the full rows of one automaton (at most 1 KiB each,
// usually a quarter of that: patterns use few distinct bytes).
const maxDenseRows = 4096

// buildAC builds the automaton for patterns (already lower-cased);
// pattern i is reported as i. Duplicate patterns must be merged by the caller.
func buildAC(patterns [][]byte) *acMatcher {
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
	m := &acMatcher{
		edgeStart: make([]int32, len(nodes)+1),
		fail:      make([]int32, len(nodes)),
		out:       make([]int32, len(nodes)),
		dict:      make([]int32, len(nodes)),
	}
	for i := range nodes {
		m.edgeStart[i] = int32(len(m.edgeBytes))
		keys := make([]byte, 0, len(nodes[i].next))
		for c := range nodes[i].next {
			keys = append(keys, c)
		}
		slices.Sort(keys)
		for _, c := range keys {
			m.edgeBytes = append(m.edgeBytes, c)
			m.edgeNext = append(m.edgeNext, nodes[i].next[c])
		}
		m.out[i] = nodes[i].out
	}
	m.edgeStart[len(nodes)] = int32(len(m.edgeBytes))
	for c := range 256 {
		m.root[c] = 0
	}
	// Breadth-first: fail links and dictionary links.
	queue := make([]int32, 0, len(nodes))
	for c, n := range nodes[0].next {
		m.root[c] = n
		m.fail[n] = 0
		queue = append(queue, n)
	}
	m.dict[0] = -1
	for _, n := range queue {
		m.dict[n] = -1
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		for e := m.edgeStart[s]; e < m.edgeStart[s+1]; e++ {
			c, t := m.edgeBytes[e], m.edgeNext[e]
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
			if fl := m.fail[t]; m.out[fl] >= 0 {
				m.dict[t] = fl
			} else {
				m.dict[t] = m.dict[fl]
			}
			queue = append(queue, t)
		}
	}
	// Full rows, breadth first: a state's failure target is shallower, so
	// its row exists by the time the state's is filled.
	m.rowOf = make([]int32, len(nodes))
	for i := range m.rowOf {
		m.rowOf[i] = -1
	}
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
	if !used[0] {
		// class 0's representative must be a byte no pattern uses.
		for c := range 256 {
			if !used[c] {
				rep[0] = byte(c)
				break
			}
		}
	}
	order := append([]int32{0}, queue...)
	for _, st := range order[:min(len(order), maxDenseRows)] {
		base := len(m.dense)
		for k := range m.classes {
			var next int32
			if n := m.step(st, rep[k]); n >= 0 {
				next = n
			} else if st != 0 {
				next = m.dense[int(m.rowOf[m.fail[st]])*m.classes+k]
			}
			m.dense = append(m.dense, next)
		}
		m.rowOf[st] = int32(base / m.classes)
	}
	return m
}

// step follows the goto edge of s on c, or -1 (the root always has one).
func (m *acMatcher) step(s int32, c byte) int32 {
	if s == 0 {
		return m.root[c]
	}
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
		for {
			if r := m.rowOf[s]; r >= 0 {
				s = m.dense[int(r)*m.classes+int(m.class[c])]
				break
			}
			if n := m.step(s, c); n >= 0 {
				s = n
				break
			}
			s = m.fail[s]
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
