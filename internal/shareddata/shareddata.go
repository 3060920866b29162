// Package shareddata finds the team's shared fixtures (../shared/testdata
// beside the checkout) for tests. They are read in place, never copied into
// the repository: some are third-party files (Suricata's EVE schema).
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Env names a directory that holds testdata/ (the shared checkout); it wins
// over the search beside the repository.
const Env = "SIDEWATCH_SHARED_DIR"

// Dir returns the shared directory (the one holding testdata/), or "" when
// there is none: $SIDEWATCH_SHARED_DIR, else a "shared" directory beside
// the repository or any of its parents.
func Dir() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	for d := filepath.Dir(file); ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared")
		if fi, err := os.Stat(filepath.Join(c, "testdata")); err == nil && fi.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Path returns the shared fixture testdata/rel, skipping the test with a
// message when it is absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	d := Dir()
	if d == "" {
		tb.Skipf("needs the shared fixtures (../shared/testdata beside the checkout, or $%s)", Env)
	}
	p := filepath.Join(d, "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("needs the shared fixture %s: %v", p, err)
	}
	return p
}
