package rules

import (
	"bytes"
	"net/netip"
	"unsafe"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// scratch is one match call's working memory. It is pooled, so matching an
// event allocates nothing once the buffers have grown.
type scratch struct {
	vals  []value
	raw   []byte
	have  [numBuffers]bool
	rng   [numBuffers][2]int32
	tbuf  []byte
	low   []byte
	exp   []byte
	hits  []int32
	cand  []int32
	seen  []uint32
	gen   uint32
	depth int
}

// reset prepares s for an event of a set with n rules.
func (s *scratch) reset(n int) {
	s.vals, s.raw, s.hits, s.cand = s.vals[:0], s.raw[:0], s.hits[:0], s.cand[:0]
	s.have = [numBuffers]bool{}
	if len(s.seen) != n {
		s.seen = make([]uint32, n)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.seen)
		s.gen = 1
	}
}

// values returns the event's values of buffer id, extracting them once.
func (s *scratch) values(ev *event.Event, id bufferID) []value {
	if !s.have[id] {
		start := len(s.vals)
		s.vals, s.raw = extract(s.vals, s.raw, ev, id)
		s.have[id] = true
		s.rng[id] = [2]int32{int32(start), int32(len(s.vals))}
	}
	r := s.rng[id]
	return s.vals[r[0]:r[1]]
}

// transform applies a list's transforms to v, in s.tbuf when it must copy.
func (s *scratch) transform(k vkey, v []byte) []byte {
	if !k.dotprefix && !k.lower {
		return v
	}
	s.tbuf = s.tbuf[:0]
	if k.dotprefix {
		s.tbuf = append(s.tbuf, '.')
	}
	if k.lower {
		s.tbuf = lower(s.tbuf, v)
	} else {
		s.tbuf = append(s.tbuf, v...)
	}
	return s.tbuf
}

func (s *scratch) add(ids []int32) {
	for _, id := range ids {
		if s.seen[id] != s.gen {
			s.seen[id] = s.gen
			s.cand = append(s.cand, id)
		}
	}
}

// candidates collects the ids of the rules that may match ev.
func (ix *index) candidates(s *scratch, ev *event.Event, app string) {
	client, server, _, _ := endpoints(ev)
	s.hits = ix.ips.lookup(client, s.hits[:0])
	s.hits = ix.ips.lookup(server, s.hits)
	s.add(s.hits)
	for _, group := range [2][]*bufIndex{ix.bufsOf[appIndex(app)], ix.bufsOf[appNone]} {
		for _, b := range group {
			vals := s.values(ev, b.key.buf)
			if len(vals) == 0 {
				continue
			}
			s.add(b.always)
			for _, v := range vals {
				t := s.transform(b.key, v.b)
				for kind, lits := range b.tries {
					if lits == nil {
						continue
					}
					switch anchorKind(kind) {
					case anywhere:
						s.hits = lits.ac.scan(t, s.hits[:0])
					case atStart:
						s.hits = lits.ac.prefixes(t, s.hits[:0])
					case atEnd:
						s.hits = lits.ac.suffixes(t, s.hits[:0])
					}
					for _, pid := range s.hits {
						s.add(lits.patRules[pid])
					}
				}
				if len(b.exact) > 0 {
					s.low = lower(s.low[:0], t)
					s.add(b.exact[string(s.low)])
				}
			}
		}
	}
}

// match verifies r against ev and returns the direction it matched in.
func (r *Rule) match(s *scratch, ev *event.Event, app string) (dir, bool) {
	if r.transport != "" && !transportIs(ev.Proto, r.transport) {
		return 0, false
	}
	if r.app != "" && r.app != app {
		return 0, false
	}
	if r.established != 0 && established(ev) != (r.established > 0) {
		return 0, false
	}
	client, server, cport, sport := endpoints(ev)
	dirs := [2]dir{dirToServer, dirToClient}
	n := 2
	if d := r.direction(); d != dirAny {
		dirs[0], n = d, 1
	}
	for _, d := range dirs[:n] {
		if ts, tc, ok := flowPackets(ev); ok && (d == dirToClient && tc == 0 || d == dirToServer && ts == 0) {
			continue // no packet went that way
		}
		sa, da, sp, dp := client, server, cport, sport
		if d == dirToClient {
			sa, da, sp, dp = server, client, sport, cport
		}
		if !r.header(sa, da, sp, dp) && !(r.bidir && r.header(da, sa, dp, sp)) {
			continue
		}
		if !r.lookupsMatch(sa, da) || !r.icmpMatch(ev, d) {
			continue
		}
		ok := true
		for _, l := range r.lists {
			if !l.match(s, ev, d) {
				ok = false
				break
			}
		}
		if ok {
			return d, true
		}
	}
	return 0, false
}

// direction is the one direction the rule can match in, or dirAny.
func (r *Rule) direction() dir {
	if r.flowDir != dirAny {
		return r.flowDir
	}
	d := dirAny
	for i, l := range r.lists {
		bd := buffers[l.buf].dir
		if i == 0 {
			d = bd
		} else if bd != d {
			return dirAny
		}
	}
	return d
}

func transportIs(proto, want string) bool {
	if want == "ICMP" {
		return proto == "ICMP" || proto == "IPv6-ICMP"
	}
	return proto == want
}

func (r *Rule) header(sa, da netip.Addr, sp, dp uint16) bool {
	return sa.IsValid() && da.IsValid() && r.src.contains(sa) && r.dst.contains(da) && r.sport.contains(sp) && r.dport.contains(dp)
}

// icmpMatch checks itype and icode against the first packet's type and code
// (to the server) or the reply's (to the client).
func (r *Rule) icmpMatch(ev *event.Event, d dir) bool {
	if r.itype == nil && r.icode == nil {
		return true
	}
	typ, code := ev.ICMPType, ev.ICMPCode
	if d == dirToClient {
		typ, code = ev.ResponseICMPType, ev.ResponseICMPCode
	}
	if r.itype != nil && (typ == nil || !r.itype.ok(int(*typ))) {
		return false
	}
	return r.icode == nil || code != nil && r.icode.ok(int(*code))
}

func (r *Rule) lookupsMatch(sa, da netip.Addr) bool {
	for i := range r.lookups {
		if !r.lookups[i].match(sa, da) {
			return false
		}
	}
	return true
}

// match reports whether one value of the list's buffer, seen in direction
// d, passes every check of the list.
func (l *bufList) match(s *scratch, ev *event.Event, d dir) bool {
	bidirectional := buffers[l.buf].dir == dirAny
	var addr netip.Addr
	switch l.buf {
	case bufIPSrc:
		addr = ev.SrcIP
	case bufIPDst:
		addr = ev.DestIP
	}
	for _, v := range s.values(ev, l.buf) {
		if bidirectional && v.dir != dirAny && v.dir != d {
			continue
		}
		t := s.transform(l.key(), v.b)
		if l.bsize != nil && !l.bsize.ok(len(t)) {
			continue
		}
		s.low = s.low[:0]
		if l.items == nil || l.matchFrom(s, t, addr, 0, 0) {
			return true
		}
	}
	return false
}

// maxBacktrack bounds the retries of one list (a content found many times
// with relative contents after it), as Suricata's recursion limit does.
const maxBacktrack = 1 << 12

// matchFrom matches items[i:] against buf, prevEnd being where the last
// positive match ended.
func (l *bufList) matchFrom(s *scratch, buf []byte, addr netip.Addr, i, prevEnd int) bool {
	if i == len(l.items) {
		return true
	}
	it := &l.items[i]
	switch it.kind {
	case itemDataAt:
		var ok bool
		if it.relative {
			ok = prevEnd+it.dataat <= len(buf)
		} else {
			ok = it.dataat < len(buf)
		}
		return ok != it.neg && l.matchFrom(s, buf, addr, i+1, prevEnd)
	case itemDataset:
		return it.set.contains(buf, addr) != it.neg && l.matchFrom(s, buf, addr, i+1, prevEnd)
	case itemPCRE:
		return l.matchPCRE(s, buf, addr, i, prevEnd)
	}
	start, end := 0, len(buf)
	if it.relative {
		start = prevEnd + it.distance
		if it.within > 0 {
			end = min(end, prevEnd+it.distance+it.within)
		}
		start = max(start, 0)
	} else {
		start = it.offset
		if it.depth > 0 {
			end = min(end, it.offset+it.depth)
		}
	}
	hay, pat := buf, it.pat
	if it.nocase {
		if len(s.low) != len(buf) {
			s.low = lower(s.low[:0], buf)
		}
		hay, pat = s.low, it.fold
	}
	next := i+1 < len(l.items) && l.items[i+1].relative
	for start <= end-len(pat) {
		var p int
		if it.endswith {
			p = len(buf) - len(pat)
			if p < start || p+len(pat) > end || !bytes.Equal(hay[p:p+len(pat)], pat) {
				p = -1
			}
		} else if p = bytes.Index(hay[start:end], pat); p >= 0 {
			p += start
		}
		if p < 0 {
			return it.neg && l.matchFrom(s, buf, addr, i+1, prevEnd)
		}
		if it.neg {
			return false
		}
		if l.matchFrom(s, buf, addr, i+1, p+len(pat)) {
			return true
		}
		if !next || it.endswith {
			return false
		}
		if s.depth++; s.depth > maxBacktrack {
			return false
		}
		start = p + 1
	}
	return it.neg && l.matchFrom(s, buf, addr, i+1, prevEnd)
}

// matchPCRE runs a pcre item; a pattern written for bytes runs on the
// Latin-1 expansion when the value has bytes ≥ 0x80.
func (l *bufList) matchPCRE(s *scratch, buf []byte, addr netip.Addr, i, prevEnd int) bool {
	it := &l.items[i]
	start := 0
	if it.relative {
		start = prevEnd
	}
	if start > len(buf) {
		return it.neg
	}
	sub := buf[start:]
	wide := !isASCII(sub)
	if wide {
		s.exp = latin1(s.exp[:0], sub)
		sub = s.exp
	}
	needEnd := i+1 < len(l.items) && l.items[i+1].relative
	if it.neg || !needEnd {
		if it.re.Match(sub) == it.neg {
			return false
		}
		return l.matchFrom(s, buf, addr, i+1, prevEnd)
	}
	loc := it.re.FindIndex(sub)
	if loc == nil {
		return false
	}
	end := loc[1]
	if wide {
		end = latin1Offset(sub, end)
	}
	return l.matchFrom(s, buf, addr, i+1, start+end)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// unsafeBytes views s as bytes without copying; the bytes are only read.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
