package firelens

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mapLoader loads includes from a map of path to file contents; a path may
// name several files separated by "|".
func mapLoader(t *testing.T, files map[string]string) func(string) ([]*Config, error) {
	return func(p string) ([]*Config, error) {
		var out []*Config
		for _, name := range strings.Split(p, "|") {
			src, ok := files[name]
			if !ok {
				return nil, fmt.Errorf("%s: no such file", name)
			}
			c, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("Parse(%s): %v", name, err)
			}
			out = append(out, c)
		}
		return out, nil
	}
}

func TestInlineIncludes(t *testing.T) {
	files := map[string]string{
		"tabs.conf":  "[FILTER]\n\tName grep\n\t# c\n\t\n\tRegex log x",
		"two.conf":   "[OUTPUT]\n  Name null\n  [g]\n    k v\n",
		"empty.conf": "",
		"meta.conf":  "@SET a=b\n# only a comment\n",
	}
	tests := []struct {
		name     string
		src      string
		settings []Setting
		want     string
	}{
		{
			name: "reindent_and_patch",
			src:  "[INPUT]\n    Name forward\n\n@INCLUDE tabs.conf\n\n@include two.conf|empty.conf\n",
			settings: []Setting{
				{SectionFilter, "Match", "*"},
				{SectionOutput, "Retry_Limit", "False"},
			},
			want: "[INPUT]\n    Name forward\n\n# @INCLUDE tabs.conf (inlined by fluent-launch)\n[FILTER]\n    Name grep\n    # c\n    \n    Regex log x\n    Match *\n\n# @include two.conf|empty.conf (inlined by fluent-launch)\n[OUTPUT]\n    Name null\n    Retry_Limit False\n    [g]\n        k v\n",
		},
		{
			name: "crlf_main_without_indent",
			src:  "[INPUT]\r\n@INCLUDE tabs.conf",
			want: "[INPUT]\r\n# @INCLUDE tabs.conf (inlined by fluent-launch)\r\n[FILTER]\r\n    Name grep\r\n    # c\r\n    \r\n    Regex log x\r\n",
		},
		{
			name: "include_inside_section_without_sections",
			src:  "[INPUT]\n    Name forward\n@INCLUDE meta.conf\n    Tag x\n",
			want: "[INPUT]\n    Name forward\n# @INCLUDE meta.conf (inlined by fluent-launch)\n@SET a=b\n# only a comment\n    Tag x\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.InlineIncludes(mapLoader(t, files)); err != nil {
				t.Fatalf("InlineIncludes(%q) = %v", tt.src, err)
			}
			for _, s := range tt.settings {
				if err := c.Set(s); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, string(c.Bytes())); diff != "" {
				t.Errorf("InlineIncludes(%q) mismatch (-want +got):\n%s", tt.src, diff)
			}
			if len(c.Includes()) != 0 {
				t.Errorf("includes left after inlining: %q", c.Includes())
			}
		})
	}
}

func TestInlineIncludesErrors(t *testing.T) {
	files := map[string]string{"sect.conf": "[FILTER]\n    Name grep\n"}
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantErr  string
	}{
		{"missing", "\n\n@INCLUDE nope.conf\n", 3, "nope.conf: no such file"},
		{"entries_follow", "[INPUT]\n    Name x\n@INCLUDE sect.conf\n    Tag y\n", 3, "followed by more entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			err = c.InlineIncludes(mapLoader(t, files))
			var ie *IncludeError
			if !errors.As(err, &ie) || ie.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("InlineIncludes(%q) = %v, want an IncludeError at line %d containing %q", tt.src, err, tt.wantLine, tt.wantErr)
			}
			if got := string(c.Bytes()); got != tt.src {
				t.Errorf("a failed InlineIncludes changed the config to %q", got)
			}
		})
	}
}
