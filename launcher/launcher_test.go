package launcher

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sidewatch/sidewatch/firelens"
)

const fireLensConfig = `
[INPUT]
    Name forward
    Mem_Buf_Limit 25MB
    unix_path /var/run/fluent.sock

@INCLUDE extra/*.conf

[OUTPUT]
    Name datadog
    Match web-firelens*
    apikey ${apikey_1}
`

const fireLensPatched = `
[INPUT]
    Name forward
    Mem_Buf_Limit 50M
    unix_path /var/run/fluent.sock

@INCLUDE DIR/extra/*.conf

[OUTPUT]
    Name datadog
    Match web-firelens*
    apikey ${apikey_1}

[SERVICE]
    Scheduler.Cap 60
`

type execCall struct {
	path       string
	argv, env  []string
	outContent string
}

// fakeSystem records the exec instead of doing it.
func fakeSystem(t *testing.T, exe string, calls *[]execCall) system {
	return system{
		executable: func() (string, error) { return exe, nil },
		exec: func(path string, argv, env []string) error {
			content, err := os.ReadFile(argv[2])
			if err != nil {
				t.Errorf("exec before %s was written: %v", argv[2], err)
			}
			*calls = append(*calls, execCall{path, argv, env, string(content)})
			return nil
		},
	}
}

// writeInput writes the FireLens config into a fresh directory and returns
// its path, and a fake fluent-bit executable beside it.
func writeInput(t *testing.T, content string) (in, runPath string) {
	t.Helper()
	dir := t.TempDir()
	in = filepath.Join(dir, "etc", "fluent-bit.conf")
	runPath = filepath.Join(dir, "bin", "fluent-bit")
	for p, c := range map[string]string{in: content, runPath: "#!/bin/sh\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return in, runPath
}

func TestRunWritesAndExecs(t *testing.T) {
	in, runPath := writeInput(t, fireLensConfig)
	volume := t.TempDir()
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(volume, "fluent-launch"), &calls)
	args := append([]string{"-r", runPath, "-c", in}, firelens.LauncherCommand(firelens.DefaultSyslogOutput())...)
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr, sys); err != nil {
		t.Fatalf("run(%q) = %v", args, err)
	}
	out := filepath.Join(volume, OutConfigName)
	want := strings.ReplaceAll(fireLensPatched, "DIR", filepath.Dir(in))
	if len(calls) != 1 {
		t.Fatalf("exec called %d times, want 1", len(calls))
	}
	c := calls[0]
	if diff := cmp.Diff(want, c.outContent); diff != "" {
		t.Errorf("written config mismatch (-want +got):\n%s", diff)
	}
	recipe := firelens.LauncherCommand(firelens.DefaultSyslogOutput())
	wantArgv := append([]string{runPath, "-c", out}, recipe[slices.Index(recipe, "--")+1:]...)
	if diff := cmp.Diff(wantArgv, c.argv); diff != "" {
		t.Errorf("exec argv mismatch (-want +got):\n%s", diff)
	}
	if c.path != runPath {
		t.Errorf("exec path = %q, want %q", c.path, runPath)
	}
	if diff := cmp.Diff(os.Environ(), c.env); diff != "" {
		t.Errorf("exec env mismatch (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s mode = %v, want 0644", out, fi.Mode().Perm())
	}
	if stdout.Len()+stderr.Len() != 0 {
		t.Errorf("run printed %q and %q, want nothing", stdout.String(), stderr.String())
	}
	entries, err := os.ReadDir(volume)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("volume holds %d files, want only %s", len(entries), OutConfigName)
	}
}

func TestRunDryRun(t *testing.T) {
	in, _ := writeInput(t, fireLensConfig)
	out := filepath.Join(t.TempDir(), "never", "written.conf")
	var calls []execCall
	var stdout, stderr bytes.Buffer
	args := []string{"--dry-run", "-r", "/no/fluent-bit", "-c", in, "-m", out, "-i", "Mem_Buf_Limit", "50M", "-s", "Scheduler.Cap", "60", "--", "-F", "record_modifier", "-m", "*", "-p", "Record=pid 1"}
	if err := run(args, &stdout, &stderr, fakeSystem(t, "/x/fluent-launch", &calls)); err != nil {
		t.Fatalf("run(%q) = %v", args, err)
	}
	if diff := cmp.Diff(strings.ReplaceAll(fireLensPatched, "DIR", filepath.Dir(in)), stdout.String()); diff != "" {
		t.Errorf("dry-run stdout mismatch (-want +got):\n%s", diff)
	}
	wantErr := "/no/fluent-bit -c " + out + " -F record_modifier -m '*' -p 'Record=pid 1'\n"
	if stderr.String() != wantErr {
		t.Errorf("dry-run stderr = %q, want %q", stderr.String(), wantErr)
	}
	if len(calls) != 0 {
		t.Errorf("dry-run exec'd %+v", calls)
	}
	if _, err := os.Stat(filepath.Dir(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry-run created %s: %v", filepath.Dir(out), err)
	}
}

func TestMainErrors(t *testing.T) {
	good, runPath := writeInput(t, fireLensConfig)
	bad, _ := writeInput(t, "[INPUT]\n    Name forward\n\tTag x\n")
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(dir, "fluent-bit.YAML")
	if err := os.WriteFile(yaml, []byte("service:\n  flush: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"usage", []string{"-F", "x"}, 2, `fluent-launch: usage: -F is a Fluent Bit option; Fluent Bit's arguments go after "--"`},
		{"missing_input", []string{"-c", filepath.Join(dir, "nope.conf"), "-m", filepath.Join(dir, "o"), "--"}, 1, "fluent-launch: read: " + filepath.Join(dir, "nope.conf") + ": no such file or directory"},
		{"input_is_directory", []string{"-c", dir, "-m", filepath.Join(dir, "o"), "--"}, 1, "fluent-launch: read: " + dir + ": is a directory"},
		{"yaml", []string{"-c", yaml, "-m", filepath.Join(dir, "o"), "--"}, 1, "fluent-launch: read: " + yaml + ": YAML configs are not supported"},
		{"mixed_indentation", []string{"-c", bad, "-m", filepath.Join(dir, "o"), "--"}, 1, "fluent-launch: parse: " + bad + ":3: invalid indentation: inconsistent use of tabs and spaces"},
		{"missing_run_path", []string{"-r", filepath.Join(dir, "no-fluent-bit"), "-c", good, "-m", filepath.Join(dir, "o"), "--"}, 1, "fluent-launch: exec: " + filepath.Join(dir, "no-fluent-bit") + ": no such file or directory"},
		{"unwritable_output", []string{"-r", runPath, "-c", good, "-m", filepath.Join(notDir, "sub", "o.conf"), "--"}, 1, "fluent-launch: write: " + filepath.Join(notDir, "sub", "o.conf") + ": create directory: not a directory"},
		{"exec_fails", []string{"-r", good, "-c", good, "-m", filepath.Join(dir, "o.conf"), "--"}, 1, "fluent-launch: exec: " + good + ": permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "exec_fails" {
				if err := os.Chmod(good, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, &stdout, &stderr, "")
			if code != tt.wantCode {
				t.Errorf("Main(%q) = %d, want %d", tt.args, code, tt.wantCode)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.wantErr) {
				t.Errorf("Main(%q) stderr = %q, want one line starting with %q", tt.args, stderr.String(), tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("Main(%q) stdout = %q, want nothing", tt.args, stdout.String())
			}
		})
	}
}

func TestMainHelpVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h", "-c", "/x"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr, ""); code != 0 || stderr.Len() != 0 {
			t.Errorf("Main(%q) = %d with stderr %q, want 0 and nothing", args, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "fluent-launch") {
			t.Errorf("Main(%q) stdout = %q, want it to name fluent-launch", args, stdout.String())
		}
	}
}

func TestRunRefusesToOverwriteInputByDefault(t *testing.T) {
	in, runPath := writeInput(t, fireLensConfig)
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(filepath.Dir(in), "fluent-launch"), &calls)
	err := run([]string{"-r", runPath, "-c", in, "-i", "k", "v", "--"}, &bytes.Buffer{}, &bytes.Buffer{}, sys)
	if err == nil || !strings.Contains(err.Error(), "pass -m") {
		t.Fatalf("run with the default -m on the input = %v, want a refusal", err)
	}
	if got, _ := os.ReadFile(in); string(got) != fireLensConfig {
		t.Errorf("input changed to %q", got)
	}
	// Naming it explicitly is allowed.
	if err := run([]string{"-r", runPath, "-c", in, "-m", in, "-i", "Mem_Buf_Limit", "1M", "--"}, &bytes.Buffer{}, &bytes.Buffer{}, sys); err != nil {
		t.Fatalf("run with -m naming the input = %v", err)
	}
	if got, _ := os.ReadFile(in); !strings.Contains(string(got), "Mem_Buf_Limit 1M") {
		t.Errorf("input not patched in place: %q", got)
	}
}

func TestIncludeResolver(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := os.MkdirAll(filepath.Join(real, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "fluent-bit.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	// Fluent Bit first tries the working directory.
	t.Chdir(root)
	if err := os.WriteFile(filepath.Join(root, "in-cwd.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	resolve := includeResolver(filepath.Join(link, "fluent-bit.conf"))
	tests := []struct{ path, want string }{
		{"/abs/x.conf", "/abs/x.conf"},
		{"in-cwd.conf", "in-cwd.conf"},
		{"parsers.conf", real + "/parsers.conf"},
		{"conf.d/*.conf", real + "/conf.d/*.conf"},
		{"../up.conf", real + "/../up.conf"},
	}
	for _, tt := range tests {
		if got := resolve(tt.path); got != tt.want {
			t.Errorf("includeResolver(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "fluent-bit.conf")
	for _, content := range []string{"first\n", "second\n"} {
		if err := writeFileAtomic(path, []byte(content)); err != nil {
			t.Fatalf("writeFileAtomic(%s) = %v", path, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("after writeFileAtomic, %s = %q, %v, want %q", path, got, err, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%s holds %d entries, want 1 (no temporary files left)", filepath.Dir(path), len(entries))
	}
	// A failed write leaves the old file and no temporary file.
	if err := os.Mkdir(filepath.Join(dir, "a", "b", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "a", "b", "sub"), []byte("x")); err == nil {
		t.Errorf("writeFileAtomic over a directory = nil, want an error")
	}
	entries, _ = os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("after a failed write, %s holds %d entries, want 2", filepath.Dir(path), len(entries))
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"/fb", "-p", "Record=pid 1", "*", "", "it's", "${X}"})
	want := `/fb -p 'Record=pid 1' '*' '' 'it'\''s' '${X}'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestMainVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"--version"}, &stdout, &stderr, "v1.2.3"); code != 0 {
		t.Fatalf("Main(--version) = %d, stderr %q", code, stderr.String())
	}
	if got, want := stdout.String(), "fluent-launch v1.2.3\n"; got != want {
		t.Errorf("Main(--version) printed %q, want %q", got, want)
	}
}
