package rules

import (
	"math"
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
	key      vkey
	ac       *acMatcher
	patRules [][]int32 // AC pattern id → rules
	exact    map[string][]int32
	always   []int32
}

// prefixIndex finds the rules whose anchor side contains an address, with
// one map lookup per distinct prefix length in use.
type prefixIndex struct {
	m    map[netip.Prefix][]int32
	bits []int // distinct prefix lengths, IPv4 and IPv6 mixed (Prefix keeps the family)
}

func (p *prefixIndex) lookup(a netip.Addr, dst []int32) []int32 {
	if !a.IsValid() || len(p.m) == 0 {
		return dst
	}
	a = a.Unmap()
	for _, b := range p.bits {
		if b > a.BitLen() {
			continue
		}
		pfx, err := a.Prefix(b)
		if err != nil {
			continue
		}
		dst = append(dst, p.m[pfx]...)
	}
	return dst
}

// index is a rule set's lookup structure; immutable once built.
type index struct {
	bufs  []*bufIndex
	byKey map[vkey]*bufIndex
	// bufsOf[app] lists the buffer indexes an event of that app can feed.
	bufsOf map[string][]*bufIndex
	ips    prefixIndex
}

// buildIndex indexes rules (their position in the slice is their id).
func buildIndex(rules []*Rule) *index {
	ix := &index{byKey: map[vkey]*bufIndex{}, bufsOf: map[string][]*bufIndex{}, ips: prefixIndex{m: map[netip.Prefix][]int32{}}}
	get := func(k vkey) *bufIndex {
		b := ix.byKey[k]
		if b == nil {
			b = &bufIndex{key: k, exact: map[string][]int32{}}
			ix.byKey[k] = b
			ix.bufs = append(ix.bufs, b)
			app := buffers[k.buf].app
			ix.bufsOf[app] = append(ix.bufsOf[app], b)
		}
		return b
	}
	pats := map[vkey]map[string]int32{}
	var patList = map[vkey][][]byte{}
	bits := map[int]bool{}
	for id, r := range rules {
		rid := int32(id)
		if len(r.lists) == 0 {
			for _, p := range anchorPrefixes(r) {
				ix.ips.m[p] = append(ix.ips.m[p], rid)
				bits[p.Bits()] = true
			}
			continue
		}
		l, it, exact := anchor(r)
		b := get(l.key())
		switch {
		case it == nil:
			b.always = append(b.always, rid)
		case exact:
			key := string(it.fold)
			b.exact[key] = append(b.exact[key], rid)
		default:
			k := l.key()
			if pats[k] == nil {
				pats[k] = map[string]int32{}
			}
			pid, ok := pats[k][string(it.fold)]
			if !ok {
				pid = int32(len(patList[k]))
				pats[k][string(it.fold)] = pid
				patList[k] = append(patList[k], it.fold)
				b.patRules = append(b.patRules, nil)
			}
			b.patRules[pid] = append(b.patRules[pid], rid)
		}
	}
	for _, b := range ix.bufs {
		if len(patList[b.key]) > 0 {
			b.ac = buildAC(patList[b.key])
		}
	}
	for b := range bits {
		ix.ips.bits = append(ix.ips.bits, b)
	}
	slices.Sort(ix.ips.bits)
	return ix
}

// anchor picks the list and content a rule is indexed under, and whether
// the content is the list's whole value.
func anchor(r *Rule) (*bufList, *item, bool) {
	var bestL *bufList
	var best *item
	score := func(l *bufList, it *item) int {
		s := len(it.pat)
		if it.fast {
			s += 1 << 20
		}
		if isExact(l, it) {
			s += 1 << 21
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
		return r.lists[0], nil, false
	}
	return bestL, best, isExact(bestL, best)
}

// isExact reports whether it, matched, is the whole value of its list's
// buffer: the list's only check, anchored at both ends or sized by bsize.
func isExact(l *bufList, it *item) bool {
	if len(l.items) != 1 || it.relative || it.offset != 0 {
		return false
	}
	starts := it.startswith || it.depth == len(it.pat)
	if l.bsize != nil && l.bsize.op == '=' && l.bsize.lo == len(it.pat) {
		return true
	}
	return starts && it.endswith
}

// anchorPrefixes returns the prefixes an IP-only rule is indexed under: the
// header side that covers fewer addresses (both sides for <> rules fall out
// of the same choice, as both event addresses are looked up).
func anchorPrefixes(r *Rule) []netip.Prefix {
	ps, pd := setPrefixes(&r.src), setPrefixes(&r.dst)
	if coverage(ps) <= coverage(pd) {
		return ps
	}
	return pd
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
