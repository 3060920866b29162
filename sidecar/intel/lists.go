package intel

import "net/netip"

// Membership of one named list. A lookup (LookupAddr, LookupDomain) names
// the most specific listed indicator and the first list that holds it;
// the rules' dataset and iprep keywords ask another question: does list L
// hold the value, directly, as a network around an address or as a parent
// domain of a name? These answer it for every list, also for an indicator
// several lists hold. A list is named by its Source's label: the file's
// base name unless the Source names it.

// listed reports whether the entry of key k in t, found with reference
// ref, belongs to list.
func (s *Set) listed(t *table, k uint64, ref uint32, list string) bool {
	if s.meta[ref].List == list {
		return true
	}
	for _, r := range t.more[k] {
		if s.meta[r].List == list {
			return true
		}
	}
	return false
}

// AddrInList reports whether list holds a, or a network holding a.
func (s *Set) AddrInList(list string, a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for _, bits := range s.v4Lens {
			k := v4Key(v&mask32(bits), bits)
			if ref, ok := s.v4.get(k); ok && s.listed(&s.v4, k, ref, list) {
				return true
			}
		}
		return false
	}
	hi, lo := halves(a)
	for _, bits := range s.v6Lens {
		mh, ml := mask128(bits)
		k := v6Key(s.seed, hi&mh, lo&ml, bits)
		if ref, ok := s.v6.get(k); ok && s.listed(&s.v6, k, ref, list) {
			return true
		}
	}
	return false
}

// DomainInList reports whether list holds name or a domain name is a
// subdomain of. Case and a trailing dot are ignored.
func (s *Set) DomainInList(list, name string) bool {
	if s == nil || len(s.domains.keys) == 0 {
		return false
	}
	name = trimDot(name)
	h := uint64(fnvOffset) ^ s.seed
	for i := len(name) - 1; i >= 0; i-- {
		c := name[i]
		if c == '.' {
			k := nonzero(h)
			if ref, ok := s.domains.get(k); ok && s.listed(&s.domains, k, ref, list) {
				return true
			}
		}
		h ^= uint64(lower(c))
		h *= fnvPrime
	}
	k := nonzero(h)
	ref, ok := s.domains.get(k)
	return ok && name != "" && s.listed(&s.domains, k, ref, list)
}

// JA3InList reports whether list holds the JA3 hash (32 hex digits, any
// case).
func (s *Set) JA3InList(list, hash string) bool {
	if s == nil || len(hash) != 32 {
		return false
	}
	return s.fingerprintInList(&s.ja3, list, hash)
}

// JA4InList reports whether list holds the JA4 fingerprint.
func (s *Set) JA4InList(list, fp string) bool {
	if s == nil || len(fp) != 36 {
		return false
	}
	return s.fingerprintInList(&s.ja4, list, fp)
}

func (s *Set) fingerprintInList(t *table, list, fp string) bool {
	k := fingerprintKey(s.seed, fp)
	ref, ok := t.get(k)
	return ok && s.listed(t, k, ref, list)
}
