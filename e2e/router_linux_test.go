package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sidewatch/sidewatch/firelens"
)

const (
	fluentBitPath    = "/fluent-bit/bin/fluent-bit"
	firelensConfPath = "/fluent-bit/etc/fluent-bit.conf"
	firelensConf     = "testdata/firelens-generated-1.conf"
)

// routerCommand is the log_router's command in the simulation: the
// recipe taskdef writes.
func routerCommand() []string {
	return firelens.DefaultForwardRecipe(firelens.TransportTCP).LauncherCommand()
}

// realFluentBit returns the Fluent Bit 5.x binary to run as the log_router,
// or "" when none is installed (the stand-in is used then).
func realFluentBit() string {
	if p := os.Getenv("SIDEWATCH_FLUENT_BIT"); p != "" {
		return p
	}
	for _, name := range []string{"fluent-bit-5.1.1", "fluent-bit"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newRouterBundle builds the log_router: a rootfs holding the real Fluent
// Bit (with the shared libraries it links, found with ldd) where one is
// installed, else a stand-in fake, the FireLens config mounted read-only
// where ECS mounts it, /var/run (FireLens's socket) from the host so the
// test can play the log driver, the shared volume, and fluent-launch from
// that volume as entryPoint with the recipe's command.
func newRouterBundle(t *testing.T, dir string, s *specs.Spec, tn *taskNet, volume, fluentBit string) (bundle, runDir string) {
	t.Helper()
	bundle = filepath.Join(dir, "log_router")
	rootfs := filepath.Join(bundle, "rootfs")
	if fluentBit != "" {
		copyWithLibs(t, fluentBit, rootfs, fluentBitPath)
	} else {
		goBuild(t, filepath.Join(rootfs, fluentBitPath), "./e2e/fakefluentbit")
	}
	for _, d := range []string{firelens.LauncherDir, filepath.Dir(firelensConfPath), "/var/run", "/tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, firelensConfPath), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	generated := filepath.Join(dir, "firelens", "fluent-bit.conf")
	copyFile(t, firelensConf, generated)
	runDir = filepath.Join(dir, "router-run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}

	s.Root.Path = "rootfs"
	s.Hostname = "log-router"
	s.Process.User = specs.User{UID: 0, GID: 0}
	s.Process.Cwd = "/"
	s.Process.Env = []string{"PATH=/fluent-bit/bin:/usr/local/bin:/usr/bin:/bin"}
	s.Process.Args = append([]string{firelens.LauncherPath}, routerCommand()...)
	fargateSpec(s, tn.path(), false,
		map[string]string{firelens.LauncherDir: volume, "/var/run": runDir},
		map[string]string{firelensConfPath: generated})
	writeSpec(t, bundle, s)
	return bundle, runDir
}

// copyWithLibs copies an ELF binary to rootfs/dst and every shared
// library ldd lists (with the dynamic loader) to the same path in rootfs.
func copyWithLibs(t *testing.T, bin, rootfs, dst string) {
	t.Helper()
	copyFile(t, bin, filepath.Join(rootfs, dst))
	if err := os.Chmod(filepath.Join(rootfs, dst), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		var lib string
		if _, after, ok := strings.Cut(line, "=> "); ok {
			lib, _, _ = strings.Cut(after, " ")
		} else if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "/") {
			lib = f[0]
		}
		if !strings.HasPrefix(lib, "/") {
			continue // vdso
		}
		copyFile(t, lib, filepath.Join(rootfs, lib))
		// The dynamic loader is exec'd by the kernel: it needs x.
		if err := os.Chmod(filepath.Join(rootfs, lib), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// checkLauncher checks that fluent-launch exec'd Fluent Bit in its own
// place with the patched config and the recipe's arguments, and that the
// patched config has the recipe's patches. The stand-in prints its argv;
// the real Fluent Bit is read from /proc.
func checkLauncher(t *testing.T, router *container, volume string, real bool) {
	t.Helper()
	cmd := routerCommand()
	passthrough := cmd[slices.Index(cmd, "--")+1:]
	want := append([]string{"-c", firelens.PatchedConfigPath}, passthrough...)
	var argv []string
	if real {
		// runc creates the container's state a moment after it starts.
		var pid int
		waitFor(eventTimeout, func() bool {
			out, err := exec.Command("runc", "--root", router.runcRoot, "state", router.id).Output()
			var st struct {
				Pid int `json:"pid"`
			}
			if err != nil || json.Unmarshal(out, &st) != nil {
				return false
			}
			pid = st.Pid
			return pid > 0
		})
		waitFor(eventTimeout, func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			argv = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
			return err == nil && len(argv) > 0 && filepath.Base(argv[0]) == "fluent-bit"
		})
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Base(exe) != "fluent-bit" {
			t.Errorf("log_router PID 1 runs %q (%v), want fluent-bit exec'd in fluent-launch's place", exe, err)
		}
	} else {
		var rec struct {
			Argv        []string `json:"argv"`
			ConfigBytes int      `json:"config_bytes"`
			ConfigError string   `json:"config_error"`
		}
		waitFor(eventTimeout, func() bool {
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
		argv = rec.Argv
		if rec.ConfigError != "" || rec.ConfigBytes == 0 {
			t.Errorf("fluent-bit reading the patched config: %d bytes, error %q", rec.ConfigBytes, rec.ConfigError)
		}
	}
	if len(argv) == 0 {
		t.Fatalf("fluent-bit never ran (exited: %v)\nstdout:\n%s\nstderr:\n%s", router.waitErr, router.stdout.String(), router.stderr.String())
	}
	if diff := cmp.Diff(want, argv[1:]); diff != "" {
		t.Errorf("fluent-bit arguments (-want +got):\n%s", diff)
	}
	if filepath.Base(argv[0]) != "fluent-bit" {
		t.Errorf("fluent-bit argv[0] = %q, want .../fluent-bit", argv[0])
	}

	orig, err := os.ReadFile(firelensConf)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := os.ReadFile(filepath.Join(volume, filepath.Base(firelens.PatchedConfigPath)))
	if err != nil {
		t.Fatalf("patched config in the shared volume: %v", err)
	}
	// What the recipe asks fluent-launch for (-i/-f/-o/-s KEY VALUE before
	// "--"): set in every section of that type, a [SERVICE] created;
	// everything else as generated.
	wantSections := parseClassic(string(orig))
	service := section{kind: "SERVICE"}
	kinds := map[string]string{"-i": "INPUT", "-f": "FILTER", "-o": "OUTPUT"}
	for i := 0; i+2 < len(cmd) && cmd[i] != "--"; i++ {
		key, value := strings.ToLower(cmd[i+1]), cmd[i+2]
		switch kind := kinds[cmd[i]]; {
		case cmd[i] == "-s":
			service.set(key, value)
			i += 2
		case kind != "":
			for j := range wantSections {
				if wantSections[j].kind == kind {
					wantSections[j].set(key, value)
				}
			}
			i += 2
		}
	}
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

// sendAsLogDriver writes records to FireLens's unix socket as the ECS log
// driver does: Message mode, EventTime, container_id, container_name,
// source and log.
func sendAsLogDriver(t *testing.T, sock, tag, containerID string, logs []string) {
	t.Helper()
	var c net.Conn
	waitFor(eventTimeout, func() bool {
		var err error
		c, err = net.Dial("unix", sock)
		return err == nil
	})
	if c == nil {
		t.Fatalf("FireLens socket %s never accepted", sock)
	}
	defer c.Close()
	str := func(b []byte, s string) []byte {
		switch {
		case len(s) < 32:
			b = append(b, 0xa0|byte(len(s)))
		case len(s) < 256:
			b = append(b, 0xd9, byte(len(s)))
		default:
			b = append(b, 0xda)
			b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		}
		return append(b, s...)
	}
	var b []byte
	for _, l := range logs {
		now := time.Now()
		b = append(b, 0x93)
		b = str(b, tag)
		b = append(b, 0xd7, 0x00)
		b = binary.BigEndian.AppendUint32(b, uint32(now.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(now.Nanosecond()))
		b = append(b, 0x84)
		for _, s := range []string{"container_id", containerID, "container_name", "app", "source", "stdout", "log", l} {
			b = str(b, s)
		}
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
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
