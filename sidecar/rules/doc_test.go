package rules

import (
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
	// The intel files the examples name, as --detect-intel-files loads them.
	dir := t.TempDir()
	lists := IntelLists(intelEngine(t, writeFiles(t, dir,
		"c2-ips.txt", "203.0.113.9\n",
		"bad-domains.txt", "evil.example\n",
		"tool-ja3.csv", "ja3_md5,description\ne7d705a3286e19ea42f587b344ee6865,tool\n",
		"feodo.csv", "# \"first_seen_utc\",\"dst_ip\",\"malware\"\n\"2026-01-01\",\"203.0.113.9\",\"Dridex\"\n")))
	set, err := LoadReader("docs/rules.md", dir, strings.NewReader(text.String()), Options{Lists: lists})
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
		"itype", "icode", "iprep", "dataset", "flowbits")
	for _, kw := range want {
		if kw == "ssh_proto" {
			continue
		}
		if !used[kw] {
			t.Errorf("docs/rules.md has no rule example using %s", kw)
		}
	}
}
