package rules

import (
	"errors"
	"testing"
)

// TestPCRESemantics runs patterns whose meaning under PCRE (byte mode, as
// Suricata runs them) is known, on inputs where RE2's default meaning would
// differ, and patterns that must be refused.
func TestPCRESemantics(t *testing.T) {
	tests := []struct {
		name, pcre, in string
		want           bool
	}{
		{"dot_is_one_byte", `/^.{2}$/`, "\xc3\xa9", true},
		{"negated_class_per_byte", `/^[^a]{2}$/`, "\xc3\xa9", true},
		{"hex_escape_is_a_byte", `/\xe9/`, "caf\xe9", true},
		{"hex_escape_not_utf8", `/\xe9/`, "caf\xc3\xa9", false},
		{"literal_high_byte", "/caf\xe9/", "caf\xe9", true},
		{"dollar_before_final_newline", `/end$/`, "the end\n", true},
		{"dollar_not_before_inner_newline", `/end$/`, "the end\nmore", false},
		{"dollar_endonly", `/end$/E`, "the end\n", false},
		{"Z_before_final_newline", `/end\Z/`, "end\n", true},
		{"z_at_end_only", `/end\z/`, "end\n", false},
		{"s_includes_vt", `/a\sb/`, "a\vb", true},
		{"S_excludes_vt", `/a\Sb/`, "a\vb", false},
		{"class_with_s", `/a[\s,]b/`, "a\vb", true},
		{"caseless_ascii", `/AbC/i`, "xabcx", true},
		{"dotall", `/a.b/s`, "a\nb", true},
		{"no_dotall", `/a.b/`, "a\nb", false},
		{"multiline_dollar", `/^b$/m`, "a\nb\nc", true},
		{"anchored_flag", `/bc/A`, "abc", false},
		{"anchored_flag_at_start", `/ab/A`, "abc", true},
		{"ungreedy", `/a.+b/G`, "aXbYb", true},
		{"octal", `/\101/`, "A", true},
		{"control_escape", `/\cA/`, "\x01", true},
		{"escape_e", `/\e/`, "\x1b", true},
		{"quoted_literal", `/\Qa.b\E/`, "a.b", true},
		{"quoted_literal_no_meta", `/\Qa.b\E/`, "axb", false},
		{"bracket_first_in_class", `/[]a]/`, "]", true},
		{"posix_class", `/^[[:digit:]]+$/`, "123", true},
		{"lazy", `/a+?/`, "aaa", true},
		{"brace_literal", `/a{x/`, "a{x", true},
		{"rule_escape_semicolon", `/a\;b/`, "a;b", true},
		{"named_group", `/(?P<x>ab)c/`, "abc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, _, err := parsePCRE(`"` + tt.pcre + `"`)
			if err != nil {
				t.Fatalf("parsePCRE(%s): %v", tt.pcre, err)
			}
			l := &bufList{items: []item{it}}
			s := new(scratch)
			if got := l.matchFrom(s, []byte(tt.in), mustAddr("10.0.0.1"), 0, 0); got != tt.want {
				t.Errorf("%s on %q = %v, want %v (RE2 form %s)", tt.pcre, tt.in, got, tt.want, it.re)
			}
		})
	}
	refused := []string{
		`/(a)\1/`, `/a(?=b)/`, `/a(?!b)/`, `/(?<=a)b/`, `/(?<!a)b/`, `/(?>ab)/`, `/a++/`, `/a*+/`, `/a?+/`,
		`/(?R)/`, `/(?(1)a|b)/`, `/\Ga/`, `/a\Kb/`, `/\h/`, `/\v/`, `/\R/`, `/\p{L}/`, `/(?m)^a/`, `/(?i)a/`,
		`/a b/x`, `/a{2000}/`, `/\xe9/i`, `/(?P=x)/`, `/a{,3}/`, `/(*UTF)a/`, `/\g1/`, `/\k<x>/`,
	}
	for _, p := range refused {
		_, _, err := parsePCRE(`"` + p + `"`)
		var u *Unsupported
		if !errors.As(err, &u) {
			t.Errorf("parsePCRE(%s) = %v, want it unsupported", p, err)
		}
	}
}
