package intel

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

func mustLoad(t testing.TB, sources ...Source) (*Set, Report) {
	t.Helper()
	s, rep, err := Load(sources)
	if err != nil {
		t.Fatal(err)
	}
	return s, rep
}

const sampleList = `# sample
203.0.113.7
198.51.100.0/24
198.51.100.128/25 ; SBL2
10.0.0.0/8
2001:db8:bad::/48
2001:db8::1
evil.example
deep.sub.listed.example
listed.example
B386946A5A44D1DDCC843BC75336DFCE
t13d1516h2_8daaf6152771_e5627efa2ab1
`

func TestLookups(t *testing.T) {
	set, _ := mustLoad(t, Source{Name: "sample", Data: []byte(sampleList), Tag: "intel"})
	tests := []struct {
		name   string
		lookup func() (Match, bool)
		want   string // "" for no match; else the prefix or name matched, then the description
	}{
		{"ipv4_exact", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("203.0.113.7")) }, "203.0.113.7/32"},
		{"ipv4_neighbour", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("203.0.113.8")) }, ""},
		{"ipv4_in_cidr", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("198.51.100.5")) }, "198.51.100.0/24"},
		{"ipv4_most_specific", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("198.51.100.200")) }, "198.51.100.128/25 SBL2"},
		{"ipv4_wide", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("10.200.1.1")) }, "10.0.0.0/8"},
		{"ipv4_mapped", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("::ffff:203.0.113.7")) }, "203.0.113.7/32"},
		{"ipv6_in_cidr", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("2001:db8:bad:1::2")) }, "2001:db8:bad::/48"},
		{"ipv6_exact", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("2001:db8::1")) }, "2001:db8::1/128"},
		{"ipv6_miss", func() (Match, bool) { return set.LookupAddr(netip.MustParseAddr("2001:db8::2")) }, ""},
		{"invalid_addr", func() (Match, bool) { return set.LookupAddr(netip.Addr{}) }, ""},
		{"domain_exact", func() (Match, bool) { return set.LookupDomain("evil.example") }, "evil.example"},
		{"domain_sub", func() (Match, bool) { return set.LookupDomain("a.b.Evil.Example.") }, "Evil.Example"},
		{"domain_longest", func() (Match, bool) { return set.LookupDomain("x.deep.sub.listed.example") }, "deep.sub.listed.example"},
		{"domain_parent_listed", func() (Match, bool) { return set.LookupDomain("other.sub.listed.example") }, "listed.example"},
		{"domain_suffix_not_label", func() (Match, bool) { return set.LookupDomain("notevil.example") }, ""},
		{"domain_tld_only", func() (Match, bool) { return set.LookupDomain("example") }, ""},
		{"domain_empty", func() (Match, bool) { return set.LookupDomain("") }, ""},
		{"ja3_case", func() (Match, bool) { return set.LookupJA3("b386946a5a44d1ddcc843bc75336dfce") }, "b386946a5a44d1ddcc843bc75336dfce"},
		{"ja3_miss", func() (Match, bool) { return set.LookupJA3("00000000000000000000000000000000") }, ""},
		{"ja4", func() (Match, bool) { return set.LookupJA4("t13d1516h2_8daaf6152771_e5627efa2ab1") }, "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		{"ja4_miss", func() (Match, bool) { return set.LookupJA4("t13d1516h2_8daaf6152771_000000000000") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := tt.lookup()
			got := ""
			if ok {
				got = m.Name
				if m.Kind == KindIP {
					got = m.Prefix.String()
				}
				if m.Description != "" {
					got += " " + m.Description
				}
				if m.List != "sample" || m.Tag != "intel" {
					t.Errorf("match list/tag = %q/%q, want sample/intel", m.List, m.Tag)
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNilSetLooksUpNothing(t *testing.T) {
	var s *Set
	if _, ok := s.LookupAddr(netip.MustParseAddr("1.2.3.4")); ok {
		t.Error("nil set matched an address")
	}
	if _, ok := s.LookupDomain("a.example"); ok {
		t.Error("nil set matched a domain")
	}
	empty, _ := mustLoad(t)
	if _, ok := empty.LookupJA3("b386946a5a44d1ddcc843bc75336dfce"); ok {
		t.Error("empty set matched a JA3")
	}
}

func TestLoadReport(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	b := filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("\xef\xbb\xbf203.0.113.7\r\nevil.example\r\nlocalhost\r\n1.2.3.256\r\nevil.example\r\n"), 0o600)
	os.WriteFile(b, []byte("# \"first_seen_utc\",\"dst_ip\",\"malware\"\n\"x\",\"203.0.113.7\",\"Dridex\"\n\"x\",\"203.0.113.9\",\"Dridex\"\n"), 0o600)
	set, rep := mustLoad(t, Source{Path: a}, Source{Path: b, Tag: "intel"})
	fa, fb := rep.Files[0], rep.Files[1]
	if fa.Source != "a.txt" || fa.Lines != 5 || fa.Loaded[KindIP] != 1 || fa.Loaded[KindDomain] != 1 || fa.Duplicates != 1 {
		t.Errorf("a.txt report = %+v", fa)
	}
	if fa.Rejected[ReasonSingleLabel] != 1 || fa.Rejected[ReasonInvalidIP] != 1 || fa.RejectedLines() != 2 {
		t.Errorf("a.txt rejected = %v", fa.Rejected)
	}
	if len(fa.Examples) != 2 || fa.Examples[0] != (Rejection{Line: 3, Reason: ReasonSingleLabel, Text: "localhost"}) {
		t.Errorf("a.txt examples = %+v", fa.Examples)
	}
	if fb.Loaded[KindIP] != 1 || fb.Duplicates != 1 {
		t.Errorf("b.csv report = %+v", fb)
	}
	if set.Len(KindIP) != 2 || set.Len(KindDomain) != 1 || rep.Indicators(KindIP) != 2 {
		t.Errorf("set holds %d IPs and %d domains, report %d IPs; want 2, 1, 2", set.Len(KindIP), set.Len(KindDomain), rep.Indicators(KindIP))
	}
	// The first listing wins: 203.0.113.7 keeps a.txt's (empty) description.
	if m, _ := set.LookupAddr(netip.MustParseAddr("203.0.113.7")); m.List != "a.txt" {
		t.Errorf("203.0.113.7 from %q, want a.txt", m.List)
	}
	if m, _ := set.LookupAddr(netip.MustParseAddr("203.0.113.9")); m.List != "b.csv" || m.Description != "Dridex" || m.Tag != "intel" {
		t.Errorf("203.0.113.9 match = %+v", m.Meta)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load([]Source{{Path: filepath.Join(t.TempDir(), "nope.txt")}})
	if err == nil || !strings.Contains(err.Error(), "nope.txt") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestLoadLongLine(t *testing.T) {
	data := strings.Repeat("x", 3*MaxLineBytes) + "\n203.0.113.7\n"
	set, rep := mustLoad(t, Source{Name: "long", Data: []byte(data)})
	if rep.Files[0].Rejected[ReasonLineTooLong] != 1 || rep.Files[0].Lines != 2 {
		t.Errorf("report = %+v", rep.Files[0])
	}
	if _, ok := set.LookupAddr(netip.MustParseAddr("203.0.113.7")); !ok {
		t.Error("the line after a long one was lost")
	}
}

func TestStoreReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(path, []byte("203.0.113.7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	var reports []Report
	var errs []error
	st, err := NewStore([]Source{{Path: path}}, reg, func(r Report, err error) {
		reports = append(reports, r)
		errs = append(errs, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	first := st.Set()
	st.Check()
	if st.Set() != first || len(reports) != 1 {
		t.Fatalf("Check without a change reloaded (%d loads)", len(reports))
	}
	// Replace by rename, as feed updaters should: a new inode.
	tmp := filepath.Join(dir, "list.tmp")
	os.WriteFile(tmp, []byte("198.51.100.1\nbad line here!\n"), 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	st.Check()
	if _, ok := st.Set().LookupAddr(netip.MustParseAddr("198.51.100.1")); !ok {
		t.Fatal("new indicator not loaded after the file changed")
	}
	if _, ok := st.Set().LookupAddr(netip.MustParseAddr("203.0.113.7")); ok {
		t.Error("removed indicator still listed")
	}
	rejected := reg.Stats()["intel"].(map[string]any)["rejected_lines"].(map[string]any)
	if got := rejected[ReasonSingleLabel]; got != uint64(1) {
		t.Errorf("rejected_lines{reason=%s} = %v, want 1", ReasonSingleLabel, got)
	}
	// A file that disappears keeps the last set and reports once.
	os.Remove(path)
	st.Check()
	st.Check()
	if _, ok := st.Set().LookupAddr(netip.MustParseAddr("198.51.100.1")); !ok {
		t.Error("set lost when the file went away")
	}
	nErr := 0
	for _, e := range errs {
		if e != nil {
			nErr++
		}
	}
	if nErr != 1 {
		t.Errorf("reported %d reload errors, want 1", nErr)
	}
	// It comes back.
	os.WriteFile(path, []byte("192.0.2.99\n"), 0o600)
	st.Check()
	if _, ok := st.Set().LookupAddr(netip.MustParseAddr("192.0.2.99")); !ok {
		t.Error("not reloaded after the file came back")
	}
}

// FuzzLoad: any file loads without panicking, and every line is accounted
// for as used, skipped or rejected.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(sampleList))
	f.Add([]byte("# ja3_md5,Firstseen\nb386946a5a44d1ddcc843bc75336dfce,2017\n"))
	f.Add([]byte("127.0.0.1 localhost\n0.0.0.0 a.example\r\n{\"cidr\":\"1.0.0.0/8\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, rep, err := Load([]Source{{Name: "fuzz", Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		fr := rep.Files[0]
		if fr.RejectedLines() > fr.Lines {
			t.Errorf("%d rejected of %d lines", fr.RejectedLines(), fr.Lines)
		}
		total := 0
		for _, k := range Kinds {
			if fr.Loaded[k] < 0 || fr.Loaded[k] != set.Len(k) {
				t.Errorf("kind %v: report %d, set %d", k, fr.Loaded[k], set.Len(k))
			}
			total += fr.Loaded[k]
		}
		if set.Len(KindIP) > 0 && set.Bytes() == 0 {
			t.Error("indicators without memory")
		}
		_ = total
	})
}
