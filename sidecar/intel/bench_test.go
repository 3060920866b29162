package intel

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeFeed writes n indicators in the mix a large deployment would load:
// 60% IPv4 addresses, 5% IPv4 networks, 2.5% IPv6 networks, 30% domains,
// 2.5% JA3 hashes, one per line with a comment header.
func writeFeed(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "feed.txt")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# generated feed")
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"cdn", "api", "update", "mail", "img", "static", "secure", "login", "pay", "track"}
	for i := range n {
		switch p := i % 40; {
		case p < 24:
			fmt.Fprintf(w, "%d.%d.%d.%d\n", 1+r.IntN(222), r.IntN(256), r.IntN(256), r.IntN(256))
		case p < 26:
			fmt.Fprintf(w, "%d.%d.%d.0/24 ; SBL%d\n", 1+r.IntN(222), r.IntN(256), r.IntN(256), i)
		case p < 27:
			fmt.Fprintf(w, "2001:db8:%x:%x::/64\n", r.IntN(65536), r.IntN(65536))
		case p < 39:
			fmt.Fprintf(w, "%s%d.%s-%x.example\n", words[r.IntN(len(words))], r.IntN(1000), words[r.IntN(len(words))], r.Uint32())
		default:
			fmt.Fprintf(w, "%016x%016x\n", r.Uint64(), r.Uint64())
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return path
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkLoad1M loads a million indicators from one file and reports
// the heap the loaded set keeps (MB/set) and the load rate.
func BenchmarkLoad1M(b *testing.B) {
	const n = 1_000_000
	path := writeFeed(b, n)
	b.ReportAllocs()
	var kept float64
	for b.Loop() {
		before := heapInUse()
		set, rep, err := Load([]Source{{Path: path}})
		if err != nil {
			b.Fatal(err)
		}
		if got := rep.Files[0].RejectedLines(); got != 0 {
			b.Fatalf("%d lines rejected: %v", got, rep.Files[0].Examples)
		}
		kept = float64(heapInUse()-before) / 1e6
		runtime.KeepAlive(set)
	}
	b.ReportMetric(kept, "MB/set")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "indicators/s")
}

// benchSet is a million-indicator set shared by the lookup benchmarks.
func benchSet(b *testing.B) *Set {
	b.Helper()
	set, _, err := Load([]Source{{Path: writeFeed(b, 1_000_000)}})
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkLookup1M looks up values that are not listed (the common
// case) in a million-indicator set.
func BenchmarkLookup1M(b *testing.B) {
	set := benchSet(b)
	r := rand.New(rand.NewPCG(3, 4))
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{byte(224 + r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	for _, bb := range []struct {
		name   string
		lookup func(i int) bool
	}{
		{"Addr", func(i int) bool { _, ok := set.LookupAddr(addrs[i&1023]); return ok }},
		{"Domain", func(int) bool {
			_, ok := set.LookupDomain("prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com")
			return ok
		}},
		{"JA3", func(int) bool { _, ok := set.LookupJA3("e7d705a3286e19ea42f587b344ee6865"); return ok }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if bb.lookup(i) {
					b.Fatal("unexpected match")
				}
				i++
			}
		})
	}
}
