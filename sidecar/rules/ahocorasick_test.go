package rules

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestAhoCorasickAgainstNaive compares the automaton's matches (anywhere,
// at the start, at the end) with a naive search, on random patterns and
// inputs over a small alphabet (many overlaps), with all, some and one
// full rows.
func TestAhoCorasickAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcA."[rng.IntN(5)]
		}
		return b
	}
	for round := range 40 {
		seen := map[string]bool{}
		var pats [][]byte
		for range 1 + rng.IntN(60) {
			p := lower(nil, word(1+rng.IntN(6)))
			if !seen[string(p)] {
				seen[string(p)] = true
				pats = append(pats, p)
			}
		}
		rev := make([][]byte, len(pats))
		for i, p := range pats {
			rev[i] = slices.Clone(p)
			slices.Reverse(rev[i])
		}
		for _, rows := range []int{1 << 20, 7, 1} {
			m, mr := buildAC(pats, rows), buildAC(rev, rows)
			for range 30 {
				in := word(rng.IntN(40))
				low := lower(nil, in)
				var want, wantStart, wantEnd []int32
				for i, p := range pats {
					for at := 0; at+len(p) <= len(low); at++ {
						if bytes.Equal(low[at:at+len(p)], p) {
							want = append(want, int32(i))
						}
					}
					if bytes.HasPrefix(low, p) {
						wantStart = append(wantStart, int32(i))
					}
					if bytes.HasSuffix(low, p) {
						wantEnd = append(wantEnd, int32(i))
					}
				}
				got, gotStart, gotEnd := m.scan(in, nil), m.prefixes(in, nil), mr.suffixes(in, nil)
				for _, s := range [][]int32{want, wantStart, wantEnd, got, gotStart, gotEnd} {
					slices.Sort(s)
				}
				if !slices.Equal(got, want) || !slices.Equal(gotStart, wantStart) || !slices.Equal(gotEnd, wantEnd) {
					t.Fatalf("round %d rows %d input %q patterns %q:\nanywhere %v want %v\nstart %v want %v\nend %v want %v",
						round, rows, in, pats, got, want, gotStart, wantStart, gotEnd, wantEnd)
				}
			}
		}
	}
}

// TestPrefixIndexAgainstNaive checks the address index against a scan of
// every prefix, for IPv4 prefixes of every length and some IPv6 ones.
func TestPrefixIndexAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := prefixIndex{v4: map[uint64][]int32{}, v6: map[v6key][]int32{}}
	var all []netip.Prefix
	randAddr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			b[0], b[1], b[15] = 0x20, 0x01, byte(rng.IntN(4))
			b[2] = byte(rng.IntN(4))
			return netip.AddrFrom16(b)
		}
		// A small space, so that prefixes nest and overlap.
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(8))})
	}
	for i := range 400 {
		v6 := i%5 == 0
		bits := rng.IntN(33)
		if v6 {
			bits = rng.IntN(129)
		}
		pfx := netip.PrefixFrom(randAddr(v6), bits).Masked()
		all = append(all, pfx)
		p.add(pfx, int32(i))
	}
	for range 2000 {
		a := randAddr(rng.IntN(5) == 0)
		var want []int32
		for i, pfx := range all {
			if pfx.Contains(a) {
				want = append(want, int32(i))
			}
		}
		got := p.lookup(a, nil)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("lookup(%s) = %v, want %v", a, got, want)
		}
	}
}
