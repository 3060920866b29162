package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
)

// Files of aws-for-fluent-bit's init process (init/fluent_bit_init_process.go
// in aws/aws-for-fluent-bit): it writes the shell lines that export the
// task's metadata and exec Fluent Bit, and a config that @INCLUDEs the
// FireLens file and the files named by aws_fluent_bit_init_* variables.
const (
	AWSInitInvokeFile = "/init/invoke_fluent_bit.sh"
)

// awsInit is what the init process decided, so that fluent-launch can
// start Fluent Bit the same way on the patched config.
type awsInit struct {
	env      []string // NAME=VALUE from its export lines
	runPath  string
	args     []string // its Fluent Bit arguments without -c
	includes []string // its config's @INCLUDE lines other than the FireLens file
}

// runAWSInit runs the init process (which writes its files and exits)
// and reads what it wrote. inConfig is the FireLens file, which the init
// config includes and fluent-launch patches instead.
func runAWSInit(initPath, invokeFile, inConfig string, env []string) (awsInit, error) {
	// os.StartProcess, not os/exec (280 KB more in a launcher that every
	// task copies). The image's entrypoint runs it as ./init/... from /.
	p, err := os.StartProcess(initPath, []string{initPath}, &os.ProcAttr{
		Dir: "/", Env: env, Files: []*os.File{os.Stdin, os.Stderr, os.Stderr},
	})
	if err != nil {
		return awsInit{}, fmt.Errorf("init process: %w", pathErr(err))
	}
	st, err := p.Wait()
	if err != nil {
		return awsInit{}, fmt.Errorf("init process: %w", err)
	}
	if !st.Success() {
		return awsInit{}, fmt.Errorf("init process: %s", st)
	}
	invoke, err := os.ReadFile(invokeFile)
	if err != nil {
		return awsInit{}, fmt.Errorf("read %s: %w", invokeFile, pathErr(err))
	}
	ai, conf, err := parseInvoke(invoke)
	if err != nil {
		return awsInit{}, fmt.Errorf("%s: %w", invokeFile, err)
	}
	if conf != "" {
		src, err := os.ReadFile(conf)
		if err != nil {
			return awsInit{}, fmt.Errorf("read %s: %w", conf, pathErr(err))
		}
		ai.includes = initIncludes(src, filepath.Dir(conf), inConfig)
	}
	return ai, nil
}

// parseInvoke reads the init process's shell file: unquoted
// "export NAME=VALUE" lines, then "exec FLUENT-BIT ARGS..." with
// space-separated arguments. It returns the config given with -c.
func parseInvoke(b []byte) (ai awsInit, conf string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "export "):
			kv := strings.TrimPrefix(line, "export ")
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return ai, "", fmt.Errorf("unexpected export line %q", line)
			}
			ai.env = append(ai.env, kv)
		case strings.HasPrefix(line, "exec "):
			words := strings.Fields(strings.TrimPrefix(line, "exec "))
			if len(words) == 0 {
				return ai, "", errors.New("exec line without a program")
			}
			ai.runPath = words[0]
			for i := 1; i < len(words); i++ {
				if words[i] == "-c" && i+1 < len(words) {
					conf = words[i+1]
					i++
					continue
				}
				ai.args = append(ai.args, words[i])
			}
		default:
			return ai, "", fmt.Errorf("unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return ai, "", err
	}
	if ai.runPath == "" {
		return ai, "", errors.New("no exec line: the init process failed before choosing Fluent Bit's command")
	}
	return ai, conf, nil
}

// initIncludes returns the init config's @INCLUDE lines except the one of
// the FireLens file, relative paths made absolute against the init
// config's directory (the patched file lives elsewhere).
func initIncludes(src []byte, dir, inConfig string) []string {
	join := firelens.IncludeDir(dir)
	var out []string
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimRight(line, "\r")
		p, ok := cutIncludeLine(line)
		if !ok || p == inConfig {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = join(p)
		}
		out = append(out, "@INCLUDE "+p)
	}
	return out
}

// cutIncludeLine returns the path of an "@INCLUDE path" line (the keyword
// in any case, as Fluent Bit reads it).
func cutIncludeLine(line string) (string, bool) {
	const kw = "@INCLUDE "
	if len(line) <= len(kw) || !strings.EqualFold(line[:len(kw)], kw) {
		return "", false
	}
	return line[len(kw):], true
}

// appendIncludes adds lines at the end of a config, after a blank line.
func appendIncludes(conf []byte, lines []string) []byte {
	if len(lines) == 0 {
		return conf
	}
	var b bytes.Buffer
	b.Write(conf)
	if len(conf) > 0 && conf[len(conf)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// mergeEnv sets NAME=VALUE pairs over env (later wins).
func mergeEnv(env []string, set []string) []string {
	out := append([]string{}, env...)
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
