package firelens

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkSet verifies what Set promises on a config that parsed: every
// section of the setting's type holds the key exactly once, with the value,
// and a [SERVICE] exists after a service setting.
func checkSet(t *testing.T, c *Config, s Setting) {
	t.Helper()
	want := s.Key + " " + s.Value
	target, sections, count := false, 0, 0
	end := func() {
		if target && count != 1 {
			t.Errorf("after Set(%+v), a %v section holds the key %d times:\n%s", s, s.Section, count, c.Bytes())
		}
	}
	for _, l := range c.lines {
		switch l.kind {
		case kindHeader:
			end()
			target, count = l.typ == s.Section, 0
			if target {
				sections++
			}
		case kindEntry:
			if target && equalFoldASCII(l.key, s.Key) {
				count++
				if strings.TrimLeft(l.text, " \t") != want {
					t.Errorf("after Set(%+v), entry = %q, want %q", s, l.text, want)
				}
			}
		}
	}
	end()
	if s.Section == SectionService && sections == 0 {
		t.Errorf("after Set(%+v), no [SERVICE] section:\n%s", s, c.Bytes())
	}
}

func FuzzParseRoundTrip(f *testing.F) {
	for _, tt := range parseOK {
		f.Add([]byte(tt.src))
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.conf"))
	for _, file := range append(testdataConfigs(f), golden...) {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
		f.Add(bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n")))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || c != nil {
				t.Fatalf("Parse(%q) = %v, %v, want nil and a *ParseError", src, c, err)
			}
			if lines := bytes.Count(src, []byte{'\n'}) + 1; pe.Line < 1 || pe.Line > lines {
				t.Fatalf("Parse(%q) error at line %d, the input has %d", src, pe.Line, lines)
			}
			return
		}
		if got := c.Bytes(); !bytes.Equal(got, src) {
			t.Fatalf("Parse(%q).Bytes() = %q", src, got)
		}
	})
}

func FuzzPatch(f *testing.F) {
	for _, file := range testdataConfigs(f) {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range settingsFromArgs(f, recipeArgs()) {
			f.Add(src, uint8(s.Section), s.Key, s.Value)
		}
	}
	for _, tt := range parseOK {
		f.Add([]byte(tt.src), uint8(SectionInput), "Name", "x")
	}
	f.Fuzz(func(t *testing.T, src []byte, typ uint8, key, value string) {
		c, err := Parse(src)
		if err != nil {
			return
		}
		s := Setting{Section: SectionType(typ % uint8(SectionOutput+1)), Key: key, Value: value}
		if err := s.Validate(); err != nil {
			if err := c.Set(s); err == nil {
				t.Fatalf("Set(%+v) = nil, Validate says %v", s, err)
			}
			if got := c.Bytes(); !bytes.Equal(got, src) {
				t.Fatalf("a rejected Set(%+v) changed the config to %q", s, got)
			}
			return
		}
		if err := c.Set(s); err != nil {
			t.Fatalf("Set(%+v) = %v", s, err)
		}
		once := c.Bytes()
		reparsed, err := Parse(once)
		if err != nil {
			t.Fatalf("Set(%+v) on %q gave %q, which does not parse: %v", s, src, once, err)
		}
		checkSet(t, reparsed, s)
		if err := reparsed.Set(s); err != nil {
			t.Fatalf("Set(%+v) again = %v", s, err)
		}
		if twice := reparsed.Bytes(); !bytes.Equal(once, twice) {
			t.Fatalf("Set(%+v) is not idempotent on %q:\nonce  %q\ntwice %q", s, src, once, twice)
		}
	})
}

func FuzzInlineIncludes(f *testing.F) {
	f.Add([]byte("[INPUT]\n    Name forward\n@INCLUDE x.conf\n"), []byte("[FILTER]\n\tName grep\n\t# c\n\t\n\tRegex log x"))
	f.Add([]byte("@INCLUDE x.conf\r\n"), []byte("[OUTPUT]\n  Name null\n  [g]\n    k v\n  \n    a b\n"))
	f.Add([]byte("[INPUT]\n\tName x\n@INCLUDE x.conf\n\tTag y\n"), []byte("@SET a=b\n    # c\n"))
	f.Fuzz(func(t *testing.T, main, included []byte) {
		c, err := Parse(main)
		if err != nil {
			return
		}
		inc, err := Parse(included)
		if err != nil {
			return
		}
		err = c.InlineIncludes(func(string) ([]*Config, error) { return []*Config{inc}, nil })
		var ie *IncludeError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("InlineIncludes(%q, %q) = %v, want nil or an *IncludeError", main, included, err)
		}
		if err != nil {
			return
		}
		if _, err := Parse(c.Bytes()); err != nil {
			t.Fatalf("InlineIncludes(%q, %q) gave %q, which does not parse: %v", main, included, c.Bytes(), err)
		}
	})
}
