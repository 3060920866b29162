package intel

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The same indicators in several lists, and more specific ones in a
	// later list than in an earlier: a lookup names only the first or the
	// most specific list, membership must answer for each.
	a := write("bad.txt", "203.0.113.7\n198.51.100.0/24\nevil.example\n2001:db8:bad::/48\nB386946A5A44D1DDCC843BC75336DFCE\n")
	b := write("feodo.csv", "# \"first_seen_utc\",\"dst_ip\",\"malware\"\n\"x\",\"203.0.113.7\",\"Dridex\"\n\"x\",\"198.51.100.200\",\"Emotet\"\n")
	c := write("names.txt", "sub.evil.example\nb386946a5a44d1ddcc843bc75336dfce\nt13d1516h2_8daaf6152771_e5627efa2ab1\n2001:db8:bad:1::/64\n")
	d := write("more-bad.txt", "evil.example\n")
	set, _ := mustLoad(t, Source{Path: a}, Source{Path: b}, Source{Path: c}, Source{Path: d})
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		in   func(list string) bool
		want []string // the lists that hold the value
	}{
		{"ipv4_in_two_lists", func(l string) bool { return set.AddrInList(l, addr("203.0.113.7")) }, []string{"bad.txt", "feodo.csv"}},
		{"ipv4_in_network_and_exact", func(l string) bool { return set.AddrInList(l, addr("198.51.100.200")) }, []string{"bad.txt", "feodo.csv"}},
		{"ipv4_in_network_only", func(l string) bool { return set.AddrInList(l, addr("198.51.100.9")) }, []string{"bad.txt"}},
		{"ipv4_mapped", func(l string) bool { return set.AddrInList(l, addr("::ffff:203.0.113.7")) }, []string{"bad.txt", "feodo.csv"}},
		{"ipv4_unlisted", func(l string) bool { return set.AddrInList(l, addr("203.0.113.8")) }, nil},
		{"ipv6_nested_networks", func(l string) bool { return set.AddrInList(l, addr("2001:db8:bad:1::5")) }, []string{"bad.txt", "names.txt"}},
		{"ipv6_outer_network", func(l string) bool { return set.AddrInList(l, addr("2001:db8:bad:2::5")) }, []string{"bad.txt"}},
		{"invalid_addr", func(l string) bool { return set.AddrInList(l, netip.Addr{}) }, nil},
		{"domain_exact_two_lists", func(l string) bool { return set.DomainInList(l, "Evil.Example.") }, []string{"bad.txt", "more-bad.txt"}},
		{"domain_parent_and_self", func(l string) bool { return set.DomainInList(l, "x.sub.evil.example") }, []string{"bad.txt", "names.txt", "more-bad.txt"}},
		{"domain_label_boundary", func(l string) bool { return set.DomainInList(l, "notevil.example") }, nil},
		{"domain_empty", func(l string) bool { return set.DomainInList(l, "") }, nil},
		{"ja3_two_lists", func(l string) bool { return set.JA3InList(l, "B386946A5A44D1DDCC843BC75336DFCE") }, []string{"bad.txt", "names.txt"}},
		{"ja3_wrong_length", func(l string) bool { return set.JA3InList(l, "b386946a5a44d1ddcc843bc75336dfc") }, nil},
		{"ja4", func(l string) bool { return set.JA4InList(l, "t13d1516h2_8daaf6152771_e5627efa2ab1") }, []string{"names.txt"}},
	}
	lists := []string{"bad.txt", "feodo.csv", "names.txt", "more-bad.txt", "absent.txt"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range lists {
				if tt.in(l) {
					got = append(got, l)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("in lists %v, want %v", got, tt.want)
			}
		})
	}
	var nilSet *Set
	if nilSet.AddrInList("bad.txt", addr("203.0.113.7")) || nilSet.DomainInList("bad.txt", "evil.example") || nilSet.JA3InList("bad.txt", "b386946a5a44d1ddcc843bc75336dfce") || nilSet.JA4InList("names.txt", "t13d1516h2_8daaf6152771_e5627efa2ab1") {
		t.Error("a nil set holds something")
	}
}

func TestStoreLists(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"x/bad.txt", "y/bad.txt", "empty.csv"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700)
		os.WriteFile(filepath.Join(dir, p), nil, 0o600)
	}
	st, err := NewStore([]Source{
		{Name: "builtin", Data: []byte("pool.example\n")},
		{Path: filepath.Join(dir, "x/bad.txt")}, {Path: filepath.Join(dir, "y/bad.txt")}, {Path: filepath.Join(dir, "empty.csv")},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Files with one base name make one list; an empty file is a list.
	if got, want := st.Lists(), []string{"builtin", "bad.txt", "empty.csv"}; !slices.Equal(got, want) {
		t.Errorf("Lists() = %v, want %v", got, want)
	}
}
