package rules

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocExamples keeps docs/rules.md true: every rule in a ```rules block
// loads, and every supported buffer and keyword has an example there.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, b := range regexp.MustCompile("(?s)```rules\n(.*?)```").FindAllSubmatch(doc, -1) {
		text.Write(b[1])
	}
	set, err := LoadReader("docs/rules.md", t.TempDir(), strings.NewReader(text.String()), Options{Lists: docLists{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range set.Report.Errors {
		t.Errorf("docs example does not parse: %v", e)
	}
	for _, u := range set.Report.Unsupported {
		t.Errorf("docs example is unsupported: %v", u)
	}
	if set.Report.Loaded < 30 {
		t.Errorf("%d examples loaded, want every one", set.Report.Loaded)
	}
	used := map[string]bool{}
	for _, line := range strings.Split(text.String(), "\n") {
		for _, m := range regexp.MustCompile(`[(;] *([a-z_.0-9]+)`).FindAllStringSubmatch(line, -1) {
			used[m[1]] = true
		}
	}
	var want []string
	for name := range stickyBuffers {
		if strings.Contains(name, ".") { // not a legacy spelling
			want = append(want, name)
		}
	}
	want = append(want, "msg", "sid", "rev", "gid", "classtype", "priority", "reference", "metadata", "target",
		"content", "nocase", "depth", "offset", "distance", "within", "startswith", "endswith", "fast_pattern",
		"pcre", "dotprefix", "to_lowercase", "bsize", "urilen", "isdataat", "flow", "threshold", "detection_filter",
		"itype", "icode", "iprep", "flowbits")
	for _, kw := range want {
		if kw == "ip.src" || kw == "ip.dst" || kw == "ssh_proto" {
			continue // shown in the buffer table with dataset, which needs a file
		}
		if !used[kw] {
			t.Errorf("docs/rules.md has no rule example using %s", kw)
		}
	}
}

// docLists is an intel store with every list empty, for examples that
// name lists.
type docLists struct{}

func (docLists) HasList(string) bool                  { return true }
func (docLists) ContainsString(string, string) bool   { return false }
func (docLists) ContainsAddr(string, netip.Addr) bool { return false }
