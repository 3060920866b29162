package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sidewatch/sidewatch/sidecar/detect"
)

// ipRange is an inclusive range of addresses of one family.
type ipRange struct{ lo, hi netip.Addr }

// addrSet is a sorted list of disjoint address ranges (IPv4 ranges sort
// before IPv6 ones). any is the full IPv4 and IPv6 space.
type addrSet struct {
	any    bool
	ranges []ipRange
	v4     []uint32 // the IPv4 ranges as lo, hi pairs: matching compares integers
}

// withV4 fills the integer form of the IPv4 ranges.
func (s addrSet) withV4() addrSet {
	s.v4 = s.v4[:0]
	for _, r := range s.ranges {
		if r.lo.Is4() {
			s.v4 = append(s.v4, v4Uint(r.lo), v4Uint(r.hi))
		}
	}
	return s
}

var (
	v4First = netip.IPv4Unspecified()
	v4Last  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	v6First = netip.IPv6Unspecified()
	v6Last  = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
	allIPs  = []ipRange{{v4First, v4Last}, {v6First, v6Last}}
)

// contains reports whether a is in the set. A 4-in-6 address counts as IPv4.
func (s *addrSet) contains(a netip.Addr) bool {
	if s.any {
		return true
	}
	a = a.Unmap()
	if a.Is4() {
		v := v4Uint(a)
		// The first range whose hi is at or above v.
		lo, hi := 0, len(s.v4)/2
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s.v4[2*m+1] < v {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo < len(s.v4)/2 && s.v4[2*lo] <= v
	}
	i, _ := slices.BinarySearchFunc(s.ranges, a, func(r ipRange, a netip.Addr) int {
		if r.hi.Less(a) {
			return -1
		}
		if a.Less(r.lo) {
			return 1
		}
		return 0
	})
	return i < len(s.ranges) && !a.Less(s.ranges[i].lo) && !s.ranges[i].hi.Less(a)
}

func normalize(rs []ipRange) []ipRange {
	slices.SortFunc(rs, func(a, b ipRange) int { return a.lo.Compare(b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].hi.BitLen() == r.lo.BitLen() && (!out[n-1].hi.Less(r.lo) || out[n-1].hi.Next() == r.lo) {
			if out[n-1].hi.Less(r.hi) {
				out[n-1].hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// complement returns the ranges of all IPv4 and IPv6 addresses not in rs
// (rs normalized).
func complement(rs []ipRange) []ipRange {
	var out []ipRange
	for _, u := range allIPs {
		cur := u.lo
		done := false
		for _, r := range rs {
			if r.lo.BitLen() != u.lo.BitLen() {
				continue
			}
			if cur.Less(r.lo) {
				out = append(out, ipRange{cur, r.lo.Prev()})
			}
			if r.hi == u.hi {
				done = true
				break
			}
			if !r.hi.Less(cur) {
				cur = r.hi.Next()
			}
		}
		if !done {
			out = append(out, ipRange{cur, u.hi})
		}
	}
	return out
}

// intersect returns a ∩ b (both normalized).
func intersect(a, b []ipRange) []ipRange {
	var out []ipRange
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := a[i].lo, a[i].hi
		if lo.Less(b[j].lo) {
			lo = b[j].lo
		}
		if b[j].hi.Less(hi) {
			hi = b[j].hi
		}
		if lo.BitLen() == hi.BitLen() && !hi.Less(lo) {
			out = append(out, ipRange{lo, hi})
		}
		if a[i].hi.Less(b[j].hi) {
			i++
		} else {
			j++
		}
	}
	return out
}

// Vars are the rule variables ($HOME_NET, $HTTP_PORTS, ...), by name without
// the $.
type Vars map[string]string

// DefaultVars returns Suricata's default address and port groups, with
// HOME_NET set to home (the task's own addresses) when home is not empty.
func DefaultVars(home string) Vars {
	v := Vars{
		"HOME_NET":        "[" + strings.Join(detect.SuricataHomeNet, ",") + "]",
		"EXTERNAL_NET":    "!$HOME_NET",
		"HTTP_PORTS":      "80",
		"SHELLCODE_PORTS": "!80",
		"ORACLE_PORTS":    "1521",
		"SSH_PORTS":       "22",
		"DNP3_PORTS":      "20000",
		"MODBUS_PORTS":    "502",
		"FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
		"FTP_PORTS":       "21",
		"GENEVE_PORTS":    "6081",
		"VXLAN_PORTS":     "4789",
		"TEREDO_PORTS":    "3544",
	}
	for _, name := range []string{"HTTP_SERVERS", "SMTP_SERVERS", "SQL_SERVERS", "DNS_SERVERS", "TELNET_SERVERS", "AIM_SERVERS", "DC_SERVERS", "DNP3_SERVER", "DNP3_CLIENT", "MODBUS_CLIENT", "MODBUS_SERVER", "ENIP_CLIENT", "ENIP_SERVER"} {
		v[name] = "$HOME_NET"
	}
	if home != "" {
		v["HOME_NET"] = home
	}
	return v
}

// maxVarDepth bounds variable expansion ($A → $B → ...), which also stops cycles.
const maxVarDepth = 16

// parseAddrs parses a header address field: any, an address, a CIDR, a
// range a-b, a $VAR, a [list] of those, each optionally negated with !.
func (v Vars) parseAddrs(s string) (addrSet, error) {
	rs, any, err := v.addrGroup(s, 0)
	if err != nil {
		return addrSet{}, err
	}
	if any {
		return addrSet{any: true}, nil
	}
	if len(rs) == 0 {
		return addrSet{}, fmt.Errorf("address %q matches no address", s)
	}
	return addrSet{ranges: rs}.withV4(), nil
}

// addrSyntax is the address field's side of the list syntax.
var addrSyntax = listSyntax[ipRange]{
	what:  "address",
	all:   allIPs,
	leaf:  parseAddr,
	norm:  normalize,
	minus: func(a, b []ipRange) []ipRange { return intersect(a, complement(b)) },
}

func (v Vars) addrGroup(s string, depth int) (rs []ipRange, any bool, err error) {
	return parseList(v, &addrSyntax, s, depth)
}

// parseAddr parses one address, CIDR or a-b range.
func parseAddr(s string) (ipRange, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.BitLen() != b.BitLen() || b.Less(a) {
			return ipRange{}, fmt.Errorf("bad address range %q", s)
		}
		return ipRange{a.Unmap(), b.Unmap()}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// Suricata accepts a dotted netmask: 10.0.0.0/255.0.0.0.
			addr, mask, _ := strings.Cut(s, "/")
			a, err1 := netip.ParseAddr(addr)
			m, err2 := netip.ParseAddr(mask)
			if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
				return ipRange{}, fmt.Errorf("bad address %q", s)
			}
			bits := 0
			mb := m.As4()
			for _, x := range mb {
				for k := 7; k >= 0; k-- {
					if x&(1<<k) == 0 {
						goto done
					}
					bits++
				}
			}
		done:
			p = netip.PrefixFrom(a, bits)
		}
		p = p.Masked()
		return prefixRange(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ipRange{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return ipRange{a, a}, nil
}

func prefixRange(p netip.Prefix) ipRange {
	lo := p.Addr().Unmap()
	if lo.Is4() && p.Addr().Is4In6() {
		p = netip.PrefixFrom(lo, max(p.Bits()-96, 0))
	}
	b := lo.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	hi, _ := netip.AddrFromSlice(b)
	return ipRange{lo, hi}
}

// splitList splits a comma-separated list, keeping nested [..] whole.
func splitList(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// portSet is a sorted list of disjoint port ranges; any matches also
// events without ports.
type portSet struct {
	any    bool
	ranges []portRange
}

func (s *portSet) contains(p uint16) bool {
	if s.any {
		return true
	}
	for _, r := range s.ranges {
		if p >= r.lo && p <= r.hi {
			return true
		}
	}
	return false
}

func (v Vars) parsePorts(s string) (portSet, error) {
	rs, any, err := v.portGroup(s, 0)
	if err != nil {
		return portSet{}, err
	}
	if any {
		return portSet{any: true}, nil
	}
	if len(rs) == 0 {
		return portSet{}, fmt.Errorf("port %q matches no port", s)
	}
	return portSet{ranges: rs}, nil
}

// portSyntax is the port field's side of the list syntax.
var portSyntax = listSyntax[portRange]{
	what:  "port",
	all:   []portRange{{0, 65535}},
	leaf:  parsePortRange,
	norm:  normPorts,
	minus: portsMinus,
}

func (v Vars) portGroup(s string, depth int) (rs []portRange, any bool, err error) {
	return parseList(v, &portSyntax, s, depth)
}

func parsePortRange(s string) (portRange, error) {
	num := func(t string, def uint16) (uint16, error) {
		if t == "" {
			return def, nil
		}
		n, err := strconv.ParseUint(t, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("bad port %q", s)
		}
		return uint16(n), nil
	}
	lo, hi, isRange := strings.Cut(s, ":")
	a, err := num(lo, 0)
	if err != nil {
		return portRange{}, err
	}
	if !isRange {
		if lo == "" {
			return portRange{}, fmt.Errorf("bad port %q", s)
		}
		return portRange{a, a}, nil
	}
	b, err := num(hi, 65535)
	if err != nil {
		return portRange{}, err
	}
	if b < a || (lo == "" && hi == "") {
		return portRange{}, fmt.Errorf("bad port range %q", s)
	}
	return portRange{a, b}, nil
}

func normPorts(rs []portRange) []portRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b portRange) int { return int(a.lo) - int(b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && int(out[n-1].hi)+1 >= int(r.lo) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// portsMinus returns a \ b (both normalized).
func portsMinus(a, b []portRange) []portRange {
	var out []portRange
	for _, r := range a {
		lo := int(r.lo)
		for _, n := range b {
			if int(n.hi) < lo || n.lo > r.hi {
				continue
			}
			if int(n.lo) > lo {
				out = append(out, portRange{uint16(lo), n.lo - 1})
			}
			lo = int(n.hi) + 1
		}
		if lo <= int(r.hi) {
			out = append(out, portRange{uint16(lo), r.hi})
		}
	}
	return out
}

// listSyntax is what the address and port fields' shared syntax needs of
// their ranges: any, a value, a $VAR, a [list] of those, each optionally
// negated with !.
type listSyntax[R comparable] struct {
	what  string                  // "address" or "port", for messages
	all   []R                     // every value, normalized; never modified
	leaf  func(string) (R, error) // one value
	norm  func([]R) []R           // sorted and merged; may reuse its argument
	minus func(a, b []R) []R      // a without b, both normalized
}

// parseList parses s in syntax k, expanding variables to maxVarDepth.
func parseList[R comparable](v Vars, k *listSyntax[R], s string, depth int) (rs []R, any bool, err error) {
	if depth > maxVarDepth {
		return nil, false, fmt.Errorf("%s %q: variables nest deeper than %d (a cycle?)", k.what, s, maxVarDepth)
	}
	s = strings.TrimSpace(s)
	neg := false
	for strings.HasPrefix(s, "!") {
		neg = !neg
		s = strings.TrimSpace(s[1:])
	}
	switch {
	case s == "":
		return nil, false, fmt.Errorf("empty %s", k.what)
	case s == "any":
		if neg {
			return nil, false, fmt.Errorf("%s !any matches nothing", k.what)
		}
		return k.all, true, nil
	case s[0] == '$':
		val, ok := v[s[1:]]
		if !ok {
			return nil, false, fmt.Errorf("undefined %s variable %s", k.what, s)
		}
		if rs, any, err = parseList(v, k, val, depth+1); err != nil {
			return nil, false, err
		}
	case s[0] == '[':
		if !strings.HasSuffix(s, "]") {
			return nil, false, fmt.Errorf("%s list %q does not end with ]", k.what, s)
		}
		var pos, negs []R
		havePos := false
		for _, item := range splitList(s[1 : len(s)-1]) {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, false, fmt.Errorf("empty item in %s list %q", k.what, s)
			}
			itemNeg := strings.HasPrefix(item, "!")
			ir, _, err := parseList(v, k, strings.TrimPrefix(item, "!"), depth+1)
			if err != nil {
				return nil, false, err
			}
			if itemNeg {
				negs = append(negs, ir...)
			} else {
				havePos = true
				pos = append(pos, ir...)
			}
		}
		if !havePos {
			pos = k.all
		}
		rs = k.norm(slices.Clone(pos))
		if len(negs) > 0 {
			rs = k.minus(rs, k.norm(negs))
		}
	default:
		r, err := k.leaf(s)
		if err != nil {
			return nil, false, err
		}
		rs = []R{r}
	}
	rs = k.norm(slices.Clone(rs))
	if neg {
		rs = k.minus(k.all, rs)
		any = false
	}
	if !any && slices.Equal(rs, k.all) {
		any = true
	}
	return rs, any, nil
}
