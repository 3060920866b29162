package flow

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

type communityVector struct {
	line         int
	seed         uint16
	hex          bool
	proto        uint8
	src, dst     netip.Addr
	sport, dport uint16
	want         string
}

// readCommunityVectors parses testdata/communityid_vectors.txt (copied from
// the spec's baseline; its header describes both formats).
func readCommunityVectors(t testing.TB) []communityVector {
	f, err := os.Open("testdata/communityid_vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []communityVector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(line) == "" {
			continue
		}
		fs := strings.Split(line, "|")
		if len(fs) != 9 {
			t.Fatalf("line %d: %d fields, want 9", n, len(fs))
		}
		for i := range fs {
			fs[i] = strings.TrimSpace(fs[i])
		}
		num := func(s string, bits int) uint64 {
			if s == "-" {
				return 0
			}
			v, err := strconv.ParseUint(s, 10, bits)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			return v
		}
		v := communityVector{
			line:  n,
			seed:  uint16(num(fs[1], 16)),
			hex:   fs[2] == "hex",
			proto: uint8(num(fs[3], 8)),
			src:   netip.MustParseAddr(fs[4]),
			dst:   netip.MustParseAddr(fs[5]),
			sport: uint16(num(fs[6], 16)),
			dport: uint16(num(fs[7], 16)),
			want:  fs[8],
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCommunityIDVectors(t *testing.T) {
	vectors := readCommunityVectors(t)
	if len(vectors) != 117 {
		t.Fatalf("read %d vectors, want 117 (the whole file)", len(vectors))
	}
	for _, v := range vectors {
		var got string
		if v.hex {
			sum := communityHash(v.seed, v.proto, v.src, v.dst, v.sport, v.dport)
			got = "1:" + hex.EncodeToString(sum[:])
		} else {
			got = CommunityID(v.seed, v.proto, v.src, v.dst, v.sport, v.dport)
		}
		if got != v.want {
			t.Errorf("line %d: CommunityID(%d, %d, %s, %s, %d, %d) = %s, want %s",
				v.line, v.seed, v.proto, v.src, v.dst, v.sport, v.dport, got, v.want)
		}
	}
}

func FuzzCommunityID(f *testing.F) {
	for _, v := range readCommunityVectors(f) {
		if v.src.Is4() {
			f.Add(v.seed, v.proto, v.src.AsSlice(), v.dst.AsSlice(), v.sport, v.dport)
		}
	}
	f.Fuzz(func(t *testing.T, seed uint16, proto uint8, a, b []byte, sport, dport uint16) {
		var a4, b4 [4]byte
		copy(a4[:], a)
		copy(b4[:], b)
		src, dst := netip.AddrFrom4(a4), netip.AddrFrom4(b4)
		got := CommunityID(seed, proto, src, dst, sport, dport)
		if len(got) != 30 || !strings.HasPrefix(got, "1:") {
			t.Fatalf("CommunityID(...) = %q, want 1: and 28 base64 chars", got)
		}
		// Both directions of a bidirectional flow have the same ID.
		switch proto {
		case protoICMP, protoICMPv6:
			s, d, oneWay := icmpPorts(proto == protoICMPv6, uint8(sport), uint8(dport))
			if oneWay {
				return
			}
			sport, dport = d, s
		default:
			sport, dport = dport, sport
		}
		if back := CommunityID(seed, proto, dst, src, sport, dport); back != got {
			t.Errorf("reverse direction: CommunityID = %s, want %s", back, got)
		}
	})
}
