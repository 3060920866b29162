// Package launcher is fluent-launch, the log_router's entry point: it
// patches the FireLens-generated Fluent Bit config, writes the result to a
// writable path and execs Fluent Bit on it in its own place.
package launcher

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
)

// Usage is printed by --help.
const Usage = `Usage: fluent-launch [OPTIONS] -- [FLUENT-BIT ARGUMENTS]

Patches a Fluent Bit classic config, writes it to OUT and execs
RUN -c OUT [FLUENT-BIT ARGUMENTS] with the environment unchanged.

Options:
  -r, --run-path PATH      Fluent Bit executable (default /fluent-bit/bin/fluent-bit)
  -c, --in-config PATH     config to read (default /fluent-bit/etc/fluent-bit.conf)
  -m, --out-config PATH    config to write (default fluent-bit.conf beside fluent-launch)
  -i, --input KEY VALUE    set KEY to VALUE in every [INPUT] section
  -f, --filter KEY VALUE   set KEY to VALUE in every [FILTER] section
  -o, --output KEY VALUE   set KEY to VALUE in every [OUTPUT] section
  -s, --service KEY VALUE  set KEY to VALUE in every [SERVICE] section
                           (one is added at the end if there is none)
      --key-file PATH      read the forward shared key the sidecar keeps in
                           the shared volume (waiting up to 30s for it) and
                           export it as --key-env for Fluent Bit to expand
      --key-env NAME       the variable (default SIDEWATCH_FORWARD_KEY)
      --inline-includes    replace each @INCLUDE with the files it names, so
                           that the settings reach their sections too
      --aws-init PATH      run aws-for-fluent-bit's init process PATH first
                           and keep what it sets up: its exported variables,
                           Fluent Bit arguments and included config files
      --ecs-env            export the task's metadata (AWS_REGION,
                           ECS_CLUSTER, ECS_TASK_ID, ...) from the ECS task
                           metadata endpoint, where not already set
      --multiline-parser NAME REGEX
                           write a multiline parser NAME (a line matching
                           REGEX starts an event, other lines continue it)
                           to a parsers file beside the config, passed -R
      --dry-run            print the config to stdout and the argv to stderr;
                           write and exec nothing
  -h, --help               print this help
      --version            print the version

-i, -f, -o and -s repeat and apply in order. Keys match case-insensitively;
every entry of KEY is replaced by one line. "--" is required; everything
after it goes to Fluent Bit.

Exit status (only when Fluent Bit could not be started): 2 for a usage
error, 1 for any other error.
`

// Error is a failed step of the launch. It prints as one line:
// "<step>: <path>: <error>".
type Error struct {
	Step string // usage, locate, aws-init, ecs-env, read, parse, include, patch, key, write or exec
	Path string
	Err  error
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Step + ": " + e.Err.Error()
	}
	return e.Step + ": " + e.Path + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is 2 for a usage error and 1 otherwise.
func (e *Error) ExitCode() int {
	var u *UsageError
	if errors.As(e.Err, &u) {
		return 2
	}
	return 1
}

// system is what run needs from the operating system beyond files.
type system struct {
	executable func() (string, error)
	exec       func(path string, argv, env []string) error
	version    string
	environ    func() []string
	// awsInitInvoke is the file the init process writes (tests move it).
	awsInitInvoke string
	// metadataWait bounds the retries of the task metadata endpoint.
	metadataWait time.Duration
	keyWait      time.Duration // how long --key-file may take to appear
}

// Main runs fluent-launch with the arguments after the program name. It
// returns only on failure, or after --help, --version or --dry-run, with
// the process exit status; errors are printed to stderr as one line.
// version is printed by --version; "" means the module version recorded
// in the binary.
func Main(args []string, stdout, stderr io.Writer, version string) int {
	err := run(args, stdout, stderr, system{
		executable: os.Executable, exec: execve, version: version, environ: os.Environ,
		awsInitInvoke: AWSInitInvokeFile, metadataWait: 10 * time.Second, keyWait: keyWait,
	})
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "fluent-launch: %v\n", err)
	var e *Error
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return 1
}

func run(args []string, stdout, stderr io.Writer, sys system) error {
	o, err := ParseArgs(args)
	if err != nil {
		return &Error{Step: "usage", Err: err}
	}
	switch {
	case o.Help:
		_, err := io.WriteString(stdout, Usage)
		return err
	case o.Version:
		v := sys.version
		if v == "" {
			v = buildVersion()
		}
		_, err := fmt.Fprintf(stdout, "fluent-launch %s\n", v)
		return err
	}
	out := o.OutConfig
	if out == "" {
		exe, err := sys.executable()
		if err != nil {
			return &Error{Step: "locate", Path: "fluent-launch", Err: err}
		}
		out = filepath.Join(filepath.Dir(exe), OutConfigName)
		if sameFile(out, o.InConfig) {
			return &Error{Step: "write", Path: out, Err: errors.New("the default out-config is the in-config; pass -m to overwrite it")}
		}
	}
	env := os.Environ()
	if sys.environ != nil {
		env = sys.environ()
	}
	if o.DryRun && (o.AWSInit != "" || o.ECSEnv) {
		// Run and fetch nothing: say what would be added.
		if o.AWSInit != "" {
			fmt.Fprintf(stderr, "would run %s first and add its exports, arguments and includes\n", o.AWSInit)
		}
		if o.ECSEnv {
			fmt.Fprintf(stderr, "would export the task's metadata from %s\n", MetadataURIEnv)
		}
	}
	var ai awsInit
	if o.AWSInit != "" && !o.DryRun {
		invoke := sys.awsInitInvoke
		if invoke == "" {
			invoke = AWSInitInvokeFile
		}
		if ai, err = runAWSInit(o.AWSInit, invoke, o.InConfig, env); err != nil {
			return &Error{Step: "aws-init", Path: o.AWSInit, Err: err}
		}
		env = mergeEnv(env, ai.env)
	}
	if o.ECSEnv && !o.DryRun {
		vars, err := ecsEnv(env, sys.metadataWait)
		if err != nil {
			return &Error{Step: "ecs-env", Path: lookupEnv(env, MetadataURIEnv), Err: err}
		}
		env = mergeEnv(env, vars)
	}
	patched, err := patch(o)
	if err != nil {
		return err
	}
	patched = appendIncludes(patched, ai.includes)
	runPath := o.RunPath
	if ai.runPath != "" {
		runPath = ai.runPath
	}
	argv := append([]string{runPath, "-c", out}, ai.args...)
	parsers := filepath.Join(filepath.Dir(out), MultilineParsersName)
	if len(o.MultilineParsers) > 0 {
		argv = append(argv, "-R", parsers)
	}
	argv = append(argv, o.FluentBitArgs...)
	if o.KeyEnv == "" {
		o.KeyEnv = firelens.SharedKeyEnv
	}
	if o.DryRun {
		if _, err := stdout.Write(patched); err != nil {
			return err
		}
		if o.KeyFile != "" {
			if _, err := fmt.Fprintf(stderr, "# %s from %s\n", o.KeyEnv, o.KeyFile); err != nil {
				return err
			}
		}
		if len(o.MultilineParsers) > 0 {
			fmt.Fprintf(stdout, "\n# %s\n", parsers)
			if _, err := stdout.Write(multilineParsersFile(o.MultilineParsers)); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintln(stderr, shellQuote(argv))
		return err
	}
	if o.KeyFile != "" {
		key, err := waitSharedKey(o.KeyFile, sys.keyWait)
		if err != nil {
			return &Error{Step: "key", Path: o.KeyFile, Err: err}
		}
		env = setEnv(env, o.KeyEnv, key)
	}
	// Fail before writing anything if there is nothing to run.
	if _, err := os.Stat(runPath); err != nil {
		return &Error{Step: "exec", Path: runPath, Err: pathErr(err)}
	}
	if len(o.MultilineParsers) > 0 {
		if err := writeFileAtomic(parsers, multilineParsersFile(o.MultilineParsers)); err != nil {
			return &Error{Step: "write", Path: parsers, Err: err}
		}
	}
	if err := writeFileAtomic(out, patched); err != nil {
		return &Error{Step: "write", Path: out, Err: err}
	}
	// On success exec does not return: Fluent Bit replaces this process.
	if err := sys.exec(runPath, argv, env); err != nil {
		return &Error{Step: "exec", Path: runPath, Err: err}
	}
	return nil
}

// patch reads, parses and patches the input config.
func patch(o Options) ([]byte, error) {
	in := o.InConfig
	if ext := strings.ToLower(filepath.Ext(in)); ext == ".yaml" || ext == ".yml" {
		return nil, &Error{Step: "read", Path: in, Err: errors.New("YAML configs are not supported: fluent-launch patches the classic format only")}
	}
	src, err := os.ReadFile(in)
	if err != nil {
		return nil, &Error{Step: "read", Path: in, Err: pathErr(err)}
	}
	c, err := firelens.Parse(src)
	if err != nil {
		var pe *firelens.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{Step: "parse", Path: fmt.Sprintf("%s:%d", in, pe.Line), Err: errors.New(pe.Msg)}
		}
		return nil, &Error{Step: "parse", Path: in, Err: err}
	}
	if o.InlineIncludes {
		ld, err := newIncludeLoader(in)
		if err != nil {
			return nil, &Error{Step: "read", Path: in, Err: pathErr(err)}
		}
		if err := c.InlineIncludes(ld.load); err != nil {
			return nil, &Error{Step: "include", Path: in, Err: err}
		}
	}
	for _, s := range o.Settings {
		if err := c.Set(s); err != nil {
			return nil, &Error{Step: "patch", Path: in, Err: err}
		}
	}
	c.RewriteIncludes(includeResolver(in))
	return c.Bytes(), nil
}

// includeResolver returns the rewrite for relative @INCLUDE paths that
// keeps them pointing at the files Fluent Bit would have read from the
// input config. Fluent Bit first tries a plain path against its working
// directory, which exec keeps, and only when that does not exist joins it
// to the real directory of the -c file; a glob is always joined.
func includeResolver(in string) func(string) string {
	join := firelens.IncludeDir(realDir(in))
	return func(p string) string {
		if strings.HasPrefix(p, "/") {
			return p
		}
		if !strings.Contains(p, "*") {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				return p
			}
		}
		return join(p)
	}
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// pathErr drops the operation and path that os errors repeat, because
// Error already names the step and the path.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// shellQuote prints argv so that a POSIX shell reads it back unchanged.
func shellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// buildVersion is the module version the binary was built from.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return "devel-" + s.Value
		}
	}
	return "devel"
}

// keyWait covers a log_router that starts before the sidecar has written
// the key (dependsOn START rather than HEALTHY).
const keyWait = 30 * time.Second

// waitSharedKey reads the key file, waiting up to wait for it to appear.
func waitSharedKey(path string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		key, err := firelens.ReadSharedKey(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return key, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setEnv returns env with name set to value, replacing any earlier value.
func setEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
