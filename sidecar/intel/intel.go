// Package intel holds threat-intelligence indicators (IP addresses and
// networks, domain names, JA3 and JA4 TLS client fingerprints) loaded from
// files in the formats feeds publish, and answers lookups on them without
// allocating.
//
// A Set is immutable: a reload builds a new one and the Store swaps it in
// atomically, so lookups on the packet path take no lock. Indicators live
// in open-addressing tables of 64-bit keys (about 15 bytes per indicator);
// domain names and IPv6 networks are keyed by a seeded 64-bit hash, so a
// false match needs a hash collision (odds about n/2^64 per lookup).
package intel

import (
	"math/rand/v2"
	"net/netip"
)

// Match describes the listed indicator a lookup hit.
type Match struct {
	Kind Kind
	// Prefix is the listed network or address (KindIP).
	Prefix netip.Prefix
	// Name is the listed domain or fingerprint as it appears in the looked-up
	// value: for a domain, the suffix of the name that is listed.
	Name string
	// Meta says where the indicator comes from.
	*Meta
}

// Meta is what a file says about its indicators. Indicators with the same
// Meta share one.
type Meta struct {
	// List names the source: the file's base name or the Source's Name.
	List string
	// Description is the feed's own label (malware family, SBL id, listing
	// reason), possibly empty.
	Description string
	// Tag is the Source's Tag (the detection it feeds, such as "mining").
	Tag string
}

// Set is an immutable collection of indicators. The zero Set and a nil
// *Set hold nothing.
type Set struct {
	seed    uint64
	v4      table
	v4Lens  []uint8 // prefix lengths present, longest first
	v6      table
	v6Lens  []uint8
	domains table
	ja3     table
	ja4     table
	meta    []Meta
	counts  [numKinds]int
}

func newSeed() uint64 { return rand.Uint64() }

// Len returns the number of indicators of kind k.
func (s *Set) Len(k Kind) int {
	if s == nil || k >= numKinds {
		return 0
	}
	return s.counts[k]
}

// Bytes returns the memory the set's tables hold.
func (s *Set) Bytes() int {
	if s == nil {
		return 0
	}
	return s.v4.bytes() + s.v6.bytes() + s.domains.bytes() + s.ja3.bytes() + s.ja4.bytes()
}

// v4Key is exact: the prefix length and the masked address.
func v4Key(addr uint32, bits uint8) uint64 { return uint64(bits+1)<<32 | uint64(addr) }

func v6Key(seed, hi, lo uint64, bits uint8) uint64 {
	return nonzero(mix64(mix64(hi^seed)^lo) ^ uint64(bits)*0x9e3779b97f4a7c15)
}

func nonzero(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

func mask32(bits uint8) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

// mask128 returns the masks of the high and low halves for a prefix length.
func mask128(bits uint8) (uint64, uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits < 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 64:
		return ^uint64(0), 0
	case bits < 128:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
	return ^uint64(0), ^uint64(0)
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

// LookupAddr returns the most specific listed network holding a.
func (s *Set) LookupAddr(a netip.Addr) (Match, bool) {
	if s == nil || !a.IsValid() {
		return Match{}, false
	}
	a = a.Unmap()
	if a.Is4() {
		if len(s.v4.keys) == 0 {
			return Match{}, false
		}
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for _, bits := range s.v4Lens {
			if ref, ok := s.v4.get(v4Key(v&mask32(bits), bits)); ok {
				return Match{Kind: KindIP, Prefix: netip.PrefixFrom(a, int(bits)).Masked(), Meta: &s.meta[ref]}, true
			}
		}
		return Match{}, false
	}
	if len(s.v6.keys) == 0 {
		return Match{}, false
	}
	hi, lo := halves(a)
	for _, bits := range s.v6Lens {
		mh, ml := mask128(bits)
		if ref, ok := s.v6.get(v6Key(s.seed, hi&mh, lo&ml, bits)); ok {
			return Match{Kind: KindIP, Prefix: netip.PrefixFrom(a.WithZone(""), int(bits)).Masked(), Meta: &s.meta[ref]}, true
		}
	}
	return Match{}, false
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// domainKey hashes a normalised domain from its last byte to its first, so
// that the hash of every suffix at a label boundary is a step on the way
// to the whole name's (see LookupDomain).
func domainKey(seed uint64, d string) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := len(d) - 1; i >= 0; i-- {
		h ^= uint64(lower(d[i]))
		h *= fnvPrime
	}
	return nonzero(h)
}

// LookupDomain returns the longest listed domain that name equals or is a
// subdomain of. Case and a trailing dot are ignored.
func (s *Set) LookupDomain(name string) (Match, bool) {
	if s == nil || len(s.domains.keys) == 0 {
		return Match{}, false
	}
	name = trimDot(name)
	h := uint64(fnvOffset) ^ s.seed
	best, ok := uint32(0), false
	start := 0
	for i := len(name) - 1; i >= 0; i-- {
		c := name[i]
		if c == '.' {
			if ref, hit := s.domains.get(nonzero(h)); hit {
				best, ok, start = ref, true, i+1
			}
		}
		h ^= uint64(lower(c))
		h *= fnvPrime
	}
	if ref, hit := s.domains.get(nonzero(h)); hit && name != "" {
		best, ok, start = ref, true, 0
	}
	if !ok {
		return Match{}, false
	}
	return Match{Kind: KindDomain, Name: name[start:], Meta: &s.meta[best]}, true
}

func trimDot(s string) string {
	if n := len(s); n > 0 && s[n-1] == '.' {
		return s[:n-1]
	}
	return s
}

// fingerprintKey hashes a JA3 or JA4 fingerprint, ignoring case.
func fingerprintKey(seed uint64, s string) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(lower(s[i]))
		h *= fnvPrime
	}
	return nonzero(h)
}

// LookupJA3 looks up a JA3 hash (32 hex digits).
func (s *Set) LookupJA3(hash string) (Match, bool) {
	if s == nil || len(s.ja3.keys) == 0 || len(hash) != 32 {
		return Match{}, false
	}
	if ref, ok := s.ja3.get(fingerprintKey(s.seed, hash)); ok {
		return Match{Kind: KindJA3, Name: hash, Meta: &s.meta[ref]}, true
	}
	return Match{}, false
}

// LookupJA4 looks up a JA4 fingerprint.
func (s *Set) LookupJA4(fp string) (Match, bool) {
	if s == nil || len(s.ja4.keys) == 0 || len(fp) != 36 {
		return Match{}, false
	}
	if ref, ok := s.ja4.get(fingerprintKey(s.seed, fp)); ok {
		return Match{Kind: KindJA4, Name: fp, Meta: &s.meta[ref]}, true
	}
	return Match{}, false
}
