package launcher

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInlineIncludesFromFiles(t *testing.T) {
	root := t.TempDir()
	t.Chdir(t.TempDir()) // a working directory without the included files
	writeFiles(t, root, map[string]string{
		"etc/fluent-bit.conf": "[INPUT]\n    Name forward\n\n@INCLUDE conf.d/*.conf\n",
		// Sorted: a before b. Nested relative includes resolve against
		// the main config's directory, not the including file's.
		"etc/conf.d/b.conf":       "[OUTPUT]\n\tName null\n\tRetry_Limit 1\n",
		"etc/conf.d/a.conf":       "@INCLUDE nested/parsers.conf\n[FILTER]\n  Name grep\n",
		"etc/nested/parsers.conf": "[FILTER]\n    Name modify\n",
	})
	in := filepath.Join(root, "etc", "fluent-bit.conf")
	var stdout, stderr bytes.Buffer
	args := []string{"--dry-run", "--inline-includes", "-c", in, "-m", filepath.Join(root, "out.conf"), "-o", "Retry_Limit", "False", "-f", "Match", "*", "--"}
	if err := run(args, &stdout, &stderr, system{}); err != nil {
		t.Fatalf("run(%q) = %v", args, err)
	}
	want := "[INPUT]\n    Name forward\n\n" +
		"# @INCLUDE conf.d/*.conf (inlined by fluent-launch)\n" +
		"# @INCLUDE nested/parsers.conf (inlined by fluent-launch)\n" +
		"[FILTER]\n    Name modify\n    Match *\n" +
		"[FILTER]\n    Name grep\n    Match *\n" +
		"[OUTPUT]\n    Name null\n    Retry_Limit False\n"
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("inlined config mismatch (-want +got):\n%s", diff)
	}
}

func TestInlineIncludesErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"cycle", map[string]string{
			"etc/fluent-bit.conf": "@INCLUDE a.conf\n",
			"etc/a.conf":          "@INCLUDE b.conf\n",
			"etc/b.conf":          "@INCLUDE a.conf\n",
		}, "a.conf: included twice"},
		{"includes_main", map[string]string{
			"etc/fluent-bit.conf": "@INCLUDE fluent-bit.conf\n",
		}, "included twice"},
		{"diamond", map[string]string{
			"etc/fluent-bit.conf": "@INCLUDE a.conf\n@INCLUDE b.conf\n",
			"etc/a.conf":          "@INCLUDE c.conf\n",
			"etc/b.conf":          "@INCLUDE c.conf\n",
			"etc/c.conf":          "",
		}, "c.conf: included twice"},
		{"no_glob_match", map[string]string{
			"etc/fluent-bit.conf": "@INCLUDE conf.d/*.conf\n",
		}, "no file matches"},
		{"missing", map[string]string{
			"etc/fluent-bit.conf": "\n@INCLUDE missing.conf\n",
		}, "line 2: @INCLUDE missing.conf: "},
		{"bad_included_file", map[string]string{
			"etc/fluent-bit.conf": "@INCLUDE bad.conf\n",
			"etc/bad.conf":        "[INPUT]\n    Name x\n  Tag y\n",
		}, "bad.conf:3: invalid indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			t.Chdir(root)
			writeFiles(t, root, tt.files)
			in := filepath.Join(root, "etc", "fluent-bit.conf")
			var stdout, stderr bytes.Buffer
			code := Main([]string{"--dry-run", "--inline-includes", "-c", in, "-m", filepath.Join(root, "o"), "--"}, &stdout, &stderr, "")
			if code != 1 || !strings.HasPrefix(stderr.String(), "fluent-launch: include: "+in+": ") || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("Main = %d, stderr %q; want 1 and an include error containing %q", code, stderr.String(), tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestInlineIncludesDepth(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{"etc/fluent-bit.conf": "@INCLUDE 0.conf\n"}
	for i := range maxIncludeDepth + 1 {
		files["etc/"+strconv.Itoa(i)+".conf"] = "@INCLUDE " + strconv.Itoa(i+1) + ".conf\n"
	}
	files["etc/"+strconv.Itoa(maxIncludeDepth+1)+".conf"] = ""
	writeFiles(t, root, files)
	var stdout, stderr bytes.Buffer
	code := Main([]string{"--dry-run", "--inline-includes", "-c", filepath.Join(root, "etc", "fluent-bit.conf"), "-m", filepath.Join(root, "o"), "--"}, &stdout, &stderr, "")
	if code != 1 || !strings.Contains(stderr.String(), "nested deeper than") {
		t.Errorf("Main = %d, stderr %q; want 1 and a depth error", code, stderr.String())
	}
}
