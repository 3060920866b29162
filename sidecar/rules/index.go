package rules

import (
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// Each rule is indexed once, under one literal of one of its buffers (its
// anchor), so that an event only verifies the rules whose anchor it
// contains:
//   - a whole-value rule (`content:"x"; startswith; endswith;` or a bsize
//     equal to the content's length) goes into an exact-match map;
//   - any other rule with a positive content goes into the buffer's
//     Aho-Corasick automaton under its fast_pattern, or its longest content;
//   - a rule with no positive content (pcre, bsize, dataset only) is
//     verified for every event that has the buffer;
//   - IP-only and protocol-only rules go into an address index by the
//     most specific side of their header.

// vkey is a buffer as a rule sees it: the buffer plus its transforms.
type vkey struct {
	buf       bufferID
	dotprefix bool
	lower     bool
}

func (l *bufList) key() vkey { return vkey{l.buf, l.dotprefix, l.lower} }

// bufIndex indexes the rules anchored on one vkey.
type bufIndex struct {
	key vkey
	// The literals by where they may occur: anywhere (Aho-Corasick), at the
	// start (a trie walked from the first byte) or at the end (a trie of
	// reversed literals walked from the last byte). Anchored literals cost
	// at most their length per value, with no failure links to follow.
	tries  [3]*literals
	exact  map[string][]int32
	always []int32
}

type anchorKind uint8

const (
	anywhere anchorKind = iota
	atStart
	atEnd
	wholeValue
)

// literals is one automaton and the rules of each of its patterns.
type literals struct {
	ac       *acMatcher
	pats     [][]byte
	ids      map[string]int32
	patRules [][]int32
}

func (l *literals) add(pat []byte, rid int32) {
	pid, ok := l.ids[string(pat)]
	if !ok {
		pid = int32(len(l.pats))
		l.ids[string(pat)] = pid
		l.pats = append(l.pats, pat)
		l.patRules = append(l.patRules, nil)
	}
	l.patRules[pid] = append(l.patRules[pid], rid)
}

// prefixIndex finds the rules whose anchor side contains an address.
// Keys are integers (hashing a netip.Prefix costs several times more). An
// IPv4 address is looked up under each prefix length shorter than /16 in
// use, and under the lengths /16-/32 that have an entry in its /16 block
// (a 256 KiB table of bit masks): an address with no listed network near
// it costs a few lookups however many lists are loaded. Lengths /8-/15 are
// found the same way through a per-/8 table.
type prefixIndex struct {
	v4     map[uint64][]int32 // bits<<32 | masked address
	v6     map[v6key][]int32
	low4   []int            // prefix lengths < 8 in use
	near8  [256]uint16      // per /8 block: bit L-8 set if a /L (8 ≤ L < 16) entry lies in it
	near4  *[1 << 16]uint32 // per /16 block: bit L-16 set if a /L (L ≥ 16) entry lies in it
	bits6  []int
	length int
}

type v6key struct {
	hi, lo uint64
	bits   int
}

func (p *prefixIndex) add(pfx netip.Prefix, rid int32) {
	a := pfx.Masked().Addr()
	bits := pfx.Bits()
	if a.Is4() {
		v := v4Uint(a)
		k := uint64(bits)<<32 | uint64(v)
		switch {
		case bits < 8:
			if !slices.Contains(p.low4, bits) {
				p.low4 = append(p.low4, bits)
			}
		case bits < 16:
			p.near8[v>>24] |= 1 << (bits - 8)
		default:
			if p.near4 == nil {
				p.near4 = new([1 << 16]uint32)
			}
			p.near4[v>>16] |= 1 << (bits - 16)
		}
		p.v4[k] = append(p.v4[k], rid)
	} else {
		hi, lo := halves(a)
		k := v6key{hi, lo, bits}
		if !slices.Contains(p.bits6, bits) {
			p.bits6 = append(p.bits6, bits)
		}
		p.v6[k] = append(p.v6[k], rid)
	}
	p.length++
}

func v4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func halves(a netip.Addr) (uint64, uint64) {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func (p *prefixIndex) lookup(a netip.Addr, dst []int32) []int32 {
	if !a.IsValid() || p.length == 0 {
		return dst
	}
	a = a.Unmap()
	if a.Is4() {
		v := v4Uint(a)
		for _, n := range p.low4 {
			var mask uint32
			if n > 0 {
				mask = ^uint32(0) << (32 - n)
			}
			dst = append(dst, p.v4[uint64(n)<<32|uint64(v&mask)]...)
		}
		for m := p.near8[v>>24]; m != 0; m &= m - 1 {
			n := 8 + bits.TrailingZeros16(m)
			mask := ^uint32(0) << (32 - n)
			dst = append(dst, p.v4[uint64(n)<<32|uint64(v&mask)]...)
		}
		if p.near4 == nil {
			return dst
		}
		for m := p.near4[v>>16]; m != 0; m &= m - 1 {
			n := 16 + bits.TrailingZeros32(m)
			mask := ^uint32(0) << (32 - n)
			dst = append(dst, p.v4[uint64(n)<<32|uint64(v&mask)]...)
		}
		return dst
	}
	hi, lo := halves(a)
	for _, bits := range p.bits6 {
		h, l := hi, lo
		switch {
		case bits == 0:
			h, l = 0, 0
		case bits < 64:
			h &= ^uint64(0) << (64 - bits)
			l = 0
		case bits < 128:
			l &= ^uint64(0) << (128 - bits)
		}
		dst = append(dst, p.v6[v6key{h, l, bits}]...)
	}
	return dst
}

// index is a rule set's lookup structure; immutable once built.
type index struct {
	bufs  []*bufIndex
	byKey map[vkey]*bufIndex
	// bufsOf[app] lists the buffer indexes an event of that app can feed.
	bufsOf [numApps][]*bufIndex
	ips    prefixIndex
}

// buildIndex indexes rules (their position in the slice is their id);
// home is HOME_NET, which nearly every event of a task involves.
func buildIndex(rules []*Rule, home *addrSet) *index {
	ix := &index{byKey: map[vkey]*bufIndex{}, ips: prefixIndex{v4: map[uint64][]int32{}, v6: map[v6key][]int32{}}}
	get := func(k vkey) *bufIndex {
		b := ix.byKey[k]
		if b == nil {
			b = &bufIndex{key: k, exact: map[string][]int32{}}
			ix.byKey[k] = b
			ix.bufs = append(ix.bufs, b)
			app := appIndex(buffers[k.buf].app)
			ix.bufsOf[app] = append(ix.bufsOf[app], b)
		}
		return b
	}
	for id, r := range rules {
		rid := int32(id)
		if len(r.lists) == 0 {
			for _, p := range anchorPrefixes(r, home) {
				ix.ips.add(p, rid)
			}
			continue
		}
		l, it, kind := anchor(r)
		b := get(l.key())
		switch {
		case it == nil:
			b.always = append(b.always, rid)
		case kind == wholeValue:
			b.exact[string(it.fold)] = append(b.exact[string(it.fold)], rid)
		default:
			if b.tries[kind] == nil {
				b.tries[kind] = &literals{ids: map[string]int32{}}
			}
			pat := it.fold
			if kind == atEnd {
				pat = slices.Clone(pat)
				slices.Reverse(pat)
			}
			b.tries[kind].add(pat, rid)
		}
	}
	for _, b := range ix.bufs {
		for _, t := range b.tries {
			if t != nil {
				t.ac = buildAC(t.pats, len(t.pats)*64)
				t.pats, t.ids = nil, nil
			}
		}
	}
	return ix
}

// anchor picks the list and content a rule is indexed under, and where
// in the value the content must be.
func anchor(r *Rule) (*bufList, *item, anchorKind) {
	var bestL *bufList
	var best *item
	// The literal that fewest events hold: an exact value first, then the
	// author's fast_pattern, then the longest, an anchored one counting a
	// few bytes more (a short literal, "/" or "GET", is in every event
	// however it is anchored).
	score := func(l *bufList, it *item) int {
		s := 4 * len(it.pat)
		switch anchoring(l, it) {
		case wholeValue:
			s += 1 << 21
		case atStart, atEnd:
			s += 12
		}
		if it.fast {
			s += 1 << 20
		}
		return s
	}
	for _, l := range r.lists {
		for i := range l.items {
			it := &l.items[i]
			if it.kind != itemContent || it.neg {
				continue
			}
			if best == nil || score(l, it) > score(bestL, best) {
				bestL, best = l, it
			}
		}
	}
	if best == nil {
		// No literal: anchor on the first list, verified for every value.
		return r.lists[0], nil, anywhere
	}
	return bestL, best, anchoring(bestL, best)
}

// anchoring tells where a content must sit in its list's value: the whole
// value (the list's only check, anchored at both ends, sized by bsize or by
// the buffer's fixed length), its start, its end, or anywhere.
func anchoring(l *bufList, it *item) anchorKind {
	if it.relative || it.offset != 0 {
		return anywhere
	}
	starts := it.startswith || it.depth == len(it.pat)
	if len(l.items) == 1 {
		if l.bsize != nil && l.bsize.op == '=' && l.bsize.lo == len(it.pat) {
			return wholeValue
		}
		if n := buffers[l.buf].fixedLen; n > 0 && n == len(it.pat) && !l.dotprefix {
			return wholeValue
		}
		if starts && it.endswith {
			return wholeValue
		}
	}
	switch {
	case starts:
		return atStart
	case it.endswith:
		return atEnd
	}
	return anywhere
}

// anchorPrefixes returns the prefixes an IP-only rule is indexed under:
// the header side that does not hold the task's own addresses (every event
// has one of those), else the side that covers fewer addresses. Both event
// addresses are looked up, so either side serves <> rules too.
func anchorPrefixes(r *Rule, home *addrSet) []netip.Prefix {
	ps, pd := setPrefixes(&r.src), setPrefixes(&r.dst)
	if home != nil && len(home.ranges) > 0 && !home.any {
		sh, dh := overlaps(&r.src, home), overlaps(&r.dst, home)
		if sh != dh {
			if sh {
				return pd
			}
			return ps
		}
	}
	if coverage(ps) <= coverage(pd) {
		return ps
	}
	return pd
}

// overlaps reports whether a and b share an address.
func overlaps(a, b *addrSet) bool {
	if a.any || b.any {
		return true
	}
	return len(intersect(a.ranges, b.ranges)) > 0
}

func setPrefixes(s *addrSet) []netip.Prefix {
	if s.any {
		return []netip.Prefix{netip.PrefixFrom(v4First, 0), netip.PrefixFrom(v6First, 0)}
	}
	var out []netip.Prefix
	for _, r := range s.ranges {
		out = rangePrefixes(out, r.lo, r.hi)
	}
	return out
}

// coverage is the number of addresses the prefixes cover, as a float
// (IPv6 sizes overflow integers).
func coverage(ps []netip.Prefix) float64 {
	var n float64
	for _, p := range ps {
		n += math.Pow(2, float64(p.Addr().BitLen()-p.Bits()))
	}
	return n
}

// rangePrefixes appends the CIDR prefixes that exactly cover [lo, hi].
func rangePrefixes(dst []netip.Prefix, lo, hi netip.Addr) []netip.Prefix {
	for {
		bits := lo.BitLen()
		// The largest prefix starting at lo that ends at or before hi.
		n := bits
		for n > 0 {
			p := netip.PrefixFrom(lo, n-1)
			if p.Masked().Addr() != lo || prefixRange(p).hi.Compare(hi) > 0 {
				break
			}
			n--
		}
		p := netip.PrefixFrom(lo, n)
		dst = append(dst, p)
		end := prefixRange(p).hi
		if end.Compare(hi) >= 0 || !end.Next().IsValid() {
			return dst
		}
		lo = end.Next()
	}
}
