package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sidewatch/sidewatch/firelens"
)

const (
	fluentBitPath    = "/fluent-bit/bin/fluent-bit"
	firelensConfPath = "/fluent-bit/etc/fluent-bit.conf"
	firelensConf     = "testdata/firelens-generated-1.conf"
)

// newRouterBundle builds the log_router: a rootfs holding only a fake
// fluent-bit, the FireLens config mounted read-only where ECS mounts it,
// the shared volume, and fluent-launch from that volume as entryPoint with
// the documented command.
func newRouterBundle(t *testing.T, dir string, s *specs.Spec, tn *taskNet, volume string) string {
	t.Helper()
	bundle := filepath.Join(dir, "log_router")
	rootfs := filepath.Join(bundle, "rootfs")
	goBuild(t, filepath.Join(rootfs, fluentBitPath), "./e2e/fakefluentbit")
	for _, d := range []string{firelens.LauncherDir, filepath.Dir(firelensConfPath)} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, firelensConfPath), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	generated := filepath.Join(dir, "firelens", "fluent-bit.conf")
	copyFile(t, firelensConf, generated)

	s.Root.Path = "rootfs"
	s.Hostname = "log-router"
	s.Process.User = specs.User{UID: 0, GID: 0}
	s.Process.Cwd = "/"
	s.Process.Env = []string{"PATH=/fluent-bit/bin:/usr/local/bin:/usr/bin:/bin"}
	s.Process.Args = append([]string{firelens.LauncherPath}, firelens.LauncherCommand(firelens.DefaultSyslogOutput())...)
	fargateSpec(s, tn.path(), false,
		map[string]string{firelens.LauncherDir: volume},
		map[string]string{firelensConfPath: generated})
	writeSpec(t, bundle, s)
	return bundle
}

// checkLauncher waits for the fake fluent-bit's record and checks that
// fluent-launch exec'd it with the patched config and the passthrough
// arguments, and that the patched config has the patches.
func checkLauncher(t *testing.T, router *container, volume string) {
	t.Helper()
	var rec struct {
		Argv        []string `json:"argv"`
		UID         int      `json:"uid"`
		Config      string   `json:"config"`
		ConfigBytes int      `json:"config_bytes"`
		ConfigError string   `json:"config_error"`
	}
	got := waitFor(eventTimeout, func() bool {
		for _, line := range router.stdout.complete() {
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Argv != nil {
				return true
			}
		}
		select {
		case <-router.done:
			return true
		default:
			return false
		}
	})
	if !got || rec.Argv == nil {
		t.Fatalf("fake fluent-bit never ran (exited: %v)\nstdout:\n%s\nstderr:\n%s", router.waitErr, router.stdout.String(), router.stderr.String())
	}

	cmd := firelens.LauncherCommand(firelens.DefaultSyslogOutput())
	passthrough := cmd[slices.Index(cmd, "--")+1:]
	want := append([]string{"-c", firelens.PatchedConfigPath}, passthrough...)
	if diff := cmp.Diff(want, rec.Argv[1:]); diff != "" {
		t.Errorf("fluent-bit arguments (-want +got):\n%s", diff)
	}
	if filepath.Base(rec.Argv[0]) != "fluent-bit" {
		t.Errorf("fluent-bit argv[0] = %q, want .../fluent-bit", rec.Argv[0])
	}
	if rec.ConfigError != "" || rec.ConfigBytes == 0 {
		t.Errorf("fluent-bit reading %s: %d bytes, error %q; want the patched config", rec.Config, rec.ConfigBytes, rec.ConfigError)
	}

	orig, err := os.ReadFile(firelensConf)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := os.ReadFile(filepath.Join(volume, filepath.Base(firelens.PatchedConfigPath)))
	if err != nil {
		t.Fatalf("patched config in the shared volume: %v", err)
	}
	// What LauncherCommand asks for: -s Scheduler.Cap 60 (creating
	// [SERVICE]) and -i Mem_Buf_Limit 50M in every [INPUT], replacing any
	// existing value; everything else as generated.
	wantSections := parseClassic(string(orig))
	for i := range wantSections {
		if wantSections[i].kind == "INPUT" {
			wantSections[i].set("mem_buf_limit", "50M")
		}
	}
	service := section{kind: "SERVICE"}
	service.set("scheduler.cap", "60")
	var gotService, gotOthers []section
	for _, sec := range parseClassic(string(patched)) {
		if sec.kind == "SERVICE" {
			gotService = append(gotService, sec)
		} else {
			gotOthers = append(gotOthers, sec)
		}
	}
	// Where a new [SERVICE] goes is fluent-launch's decision; the order of
	// the other sections is Fluent Bit's pipeline order and must be kept.
	opt := cmp.AllowUnexported(section{})
	if diff := cmp.Diff(wantSections, gotOthers, opt); diff != "" {
		t.Errorf("patched config: input, filter and output sections (-want +got):\n%s\npatched file:\n%s", diff, patched)
	}
	if diff := cmp.Diff([]section{service}, gotService, opt); diff != "" {
		t.Errorf("patched config: [SERVICE] (-want +got):\n%s\npatched file:\n%s", diff, patched)
	}
}

// section is one classic-format section: its type and its keys (lower-cased,
// as Fluent Bit compares them) with every value each has, in order.
type section struct {
	kind string
	keys map[string][]string
}

func (s *section) set(key, value string) {
	if s.keys == nil {
		s.keys = map[string][]string{}
	}
	s.keys[key] = []string{value}
}

// parseClassic reads just enough of the classic format for the comparison.
func parseClassic(text string) []section {
	var out []section
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "@"):
		case strings.HasPrefix(line, "["):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "["), "]")
			out = append(out, section{kind: strings.ToUpper(name), keys: map[string][]string{}})
		case len(out) > 0:
			k, v, _ := strings.Cut(line, " ")
			k = strings.ToLower(k)
			out[len(out)-1].keys[k] = append(out[len(out)-1].keys[k], strings.TrimSpace(v))
		}
	}
	return out
}
