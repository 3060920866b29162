package privdrop

import (
	"testing"
)

var parseTests = []struct {
	name string
	in   string
	want User
}{
	{"uid_only", "65534", User{65534, 65534}},
	{"uid_and_gid", "1000:2000", User{1000, 2000}},
	{"leading_zeros", "0065532:065532", User{65532, 65532}},
	{"largest", "4294967294:1", User{4294967294, 1}},
}

var parseErrorTests = []struct {
	name string
	in   string
}{
	{"empty", ""},
	{"root", "0"},
	{"root_group", "1000:0"},
	{"name", "nobody"},
	{"empty_gid", "1000:"},
	{"empty_uid", ":1000"},
	{"negative", "-1"},
	{"sign", "+5"},
	{"too_large", "4294967296"},
	{"minus_one", "4294967295"},
	{"three_parts", "1:2:3"},
	{"space", " 1000"},
}

func TestParseUser(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseUser(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("ParseUser(%q) = %v, %v, want %v, nil", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range parseErrorTests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseUser(tc.in); err == nil {
				t.Errorf("ParseUser(%q) = %v, nil, want an error", tc.in, got)
			}
		})
	}
}

func FuzzParseUser(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	for _, tc := range parseErrorTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUser(s)
		if err != nil {
			if u != (User{}) {
				t.Errorf("ParseUser(%q) = %v, %v: an error with a non-zero User", s, u, err)
			}
			return
		}
		if u.UID <= 0 || u.GID <= 0 {
			t.Errorf("ParseUser(%q) = %v, want ids > 0", s, u)
		}
		again, err := ParseUser(u.String())
		if err != nil || again != u {
			t.Errorf("ParseUser(%q) = %v, %v, want %v (round trip of %q)", u.String(), again, err, u, s)
		}
	})
}
