package taskdefs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{name: "equal", a: "x\ny\n", b: "x\ny\n", want: ""},
		{
			name: "one_change_with_context",
			a:    "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			b:    "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			want: "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		{
			name: "insert_into_empty",
			a:    "",
			b:    "x\n",
			want: "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n",
		},
		{
			name: "two_hunks",
			a:    "a\n1\n2\n3\n4\n5\n6\n7\n8\nb\n",
			b:    "A\n1\n2\n3\n4\n5\n6\n7\n8\nB\n",
			want: "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-b\n+B\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff("a", "b", []byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("Diff(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestDiffAppliesWithPatch checks that GNU patch turns each golden input
// into its output with our diff.
func TestDiffAppliesWithPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("needs patch")
	}
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "inject", tc.name)
			a := mustEncode(t, readDef(t, tc.inputPath()))
			b, err := os.ReadFile(base + ".golden.json")
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "td.json")
			if err := os.WriteFile(file, a, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("patch", "--quiet", "--force", file)
			cmd.Stdin = strings.NewReader(Diff("td.json", "td.json", a, b))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("patch: %v\n%s", err, out)
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(b) {
				t.Errorf("patched file differs from the golden output:\n%s", Diff("want", "got", b, got))
			}
		})
	}
}
