package taskdefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Start is how a log_router starts Fluent Bit before inject puts
// fluent-launch in front of it: fluent-launch must start Fluent Bit the
// same way, with the same plugins and parsers.
type Start struct {
	// AWSInit: aws-for-fluent-bit's init process runs first. It exports
	// the task's metadata (AWS_REGION, ECS_CLUSTER, ECS_TASK_ID, ...),
	// adds the files of the aws_fluent_bit_init_* variables and chooses
	// Fluent Bit's arguments (-e for the Go plugins, -R for parsers);
	// fluent-launch --aws-init runs it and keeps all of that.
	AWSInit bool `json:"awsInit,omitempty"`
	// Run is the Fluent Bit executable.
	Run string `json:"run,omitempty"`
	// Args are Fluent Bit's arguments other than -c: -e plugins, -R
	// parsers files and anything else, in order.
	Args []string `json:"args,omitempty"`
	// FluentBit is the Fluent Bit version of an image sidewatch does not
	// know, as flags gave it (in the StartLabel only).
	FluentBit string `json:"fluentBit,omitempty"`
	// Source says where this came from, for messages.
	Source string `json:"-"`
}

// Plugins returns the -e shared objects the start loads.
func (s Start) Plugins() []string {
	if s.AWSInit {
		return awsPluginPaths()
	}
	var ps []string
	for i := 0; i+1 < len(s.Args); i++ {
		if s.Args[i] == "-e" || s.Args[i] == "--plugin" {
			ps = append(ps, s.Args[i+1])
		}
	}
	return ps
}

func awsPluginPaths() []string {
	ps := make([]string, len(awsGoPlugins))
	for i, p := range awsGoPlugins {
		ps[i] = awsGoPluginDir + p + ".so"
	}
	return ps
}

// addPlugins appends -e for each plugin the start does not load yet.
func (s *Start) addPlugins(plugins []string) {
	have := s.Plugins()
	for _, p := range plugins {
		if !slices.Contains(have, p) {
			s.Args = append(s.Args, "-e", p)
			have = append(have, p)
		}
	}
}

// label encodes the start for the router's StartLabel.
func (s Start) label() string {
	b, _ := json.Marshal(s) // a struct of strings always encodes
	return string(b)
}

func parseStartLabel(v string) (Start, error) {
	var s Start
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Start{}, err
	}
	if !s.AWSInit && !path.IsAbs(s.Run) {
		return Start{}, errors.New("run: want an absolute path")
	}
	return s, nil
}

// StartLabel is the log_router's dockerLabel that records its original
// start when it came from the task definition or from flags, so that
// injecting again (deploy, CI) keeps it without the flags.
const StartLabel = "sidewatch.router-start"

// effectiveArgv merges a container's entryPoint and command with the
// image's ENTRYPOINT and CMD as Docker does: an entryPoint drops the
// image's CMD; a command alone keeps the image's ENTRYPOINT.
func effectiveArgv(img RouterImage, entryPoint, command []string) (argv []string, known bool) {
	switch {
	case len(entryPoint) > 0:
		return slices.Concat(entryPoint, command), true
	case len(command) > 0:
		return slices.Concat(img.Entrypoint, command), img.Known
	}
	return slices.Concat(img.Entrypoint, img.Cmd), img.Known
}

// errUnknownStart asks for what sidewatch cannot see inside an image.
type errUnknownStart struct {
	what string
}

func (e *errUnknownStart) Error() string { return e.what }

// interpretStart reads an argv (what the container would run) as a
// Fluent Bit start. It knows Fluent Bit itself, aws-for-fluent-bit's
// /entrypoint.sh (for that family only: the name is generic) and its init
// entrypoint, with or without "sh -c"; anything else is refused rather
// than guessed.
func interpretStart(img RouterImage, argv []string) (Start, error) {
	if len(argv) == 0 {
		return Start{}, &errUnknownStart{"the image's start command is unknown"}
	}
	if len(argv) == 3 && isShell(argv[0]) && argv[1] == "-c" {
		// "sh -c /entrypoint.sh": the shell form of Dockerfile CMD.
		if words := strings.Fields(argv[2]); len(words) == 1 {
			argv = words
		}
	}
	switch {
	case argv[0] == awsInitScript && len(argv) == 1:
		return Start{AWSInit: true}, nil
	case argv[0] == awsEntrypoint && len(argv) == 1 && img.Family == FamilyAWS:
		return Start{Run: FluentBitPath, Args: pluginArgs(awsPluginPaths())}, nil
	case isFluentBit(argv[0]):
		return parseFluentBitArgs(argv)
	case isShell(argv[0]):
		return Start{}, &errUnknownStart{fmt.Sprintf("it starts with a shell script (%s)", shellQuoteArgv(argv))}
	}
	return Start{}, &errUnknownStart{fmt.Sprintf("it starts %s, which is not Fluent Bit", argv[0])}
}

func pluginArgs(ps []string) []string {
	var a []string
	for _, p := range ps {
		a = append(a, "-e", p)
	}
	return a
}

func isShell(s string) bool {
	switch path.Base(s) {
	case "sh", "bash", "ash", "dash", "zsh":
		return true
	}
	return false
}

func isFluentBit(s string) bool {
	b := path.Base(s)
	return path.IsAbs(s) && (b == "fluent-bit" || b == "td-agent-bit")
}

// fluentBitValued are Fluent Bit's options that take a value, so that a
// value is not mistaken for an option.
var fluentBitValued = map[string]bool{
	"-b": true, "-c": true, "-f": true, "-C": true, "-i": true, "-m": true, "-M": true,
	"-o": true, "-R": true, "-r": true, "-F": true, "-p": true, "-e": true, "-t": true,
	"-T": true, "-l": true, "-w": true, "-L": true, "-P": true, "-s": true,
	"--storage_path": true, "--config": true, "--flush": true, "--log_file": true, "--port": true,
	"--custom": true, "--input": true, "--processor": true, "--filter": true, "--output": true,
	"--match": true, "--parser": true, "--prop": true, "--plugin": true, "--tag": true,
	"--sp-task": true, "--workdir": true, "--coro_stack_size": true, "--http_listen": true,
	"--http_port": true, "--windows_maxstdio": true, "--trace": true, "--trace-input": true,
	"--trace-output": true, "--trace-output-property": true,
}

// parseFluentBitArgs reads "fluent-bit [ARGS]": -c must be the FireLens
// config (fluent-launch patches that file and passes its own -c); plugins
// given on the command line (-i/-F/-o) are kept as they are.
func parseFluentBitArgs(argv []string) (Start, error) {
	s := Start{Run: argv[0]}
	args := argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, attached := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, attached = a, false
		}
		switch {
		case i == 0 && isFluentBit(a):
			// The upstream image repeats its path in CMD after its
			// ENTRYPOINT; Fluent Bit ignores it.
			continue
		case name == "-c" || name == "--config":
			if !attached {
				if i+1 >= len(args) {
					return Start{}, fmt.Errorf("%s without a path", name)
				}
				i++
				val = args[i]
			}
			if val != FireLensConfig {
				return Start{}, &errUnknownStart{fmt.Sprintf("it runs Fluent Bit with its own config %s instead of the FireLens one (%s)", val, FireLensConfig)}
			}
			continue
		case name == "-d" || name == "--daemon":
			return Start{}, &errUnknownStart{"it runs Fluent Bit as a daemon (-d)"}
		}
		s.Args = append(s.Args, a)
		if fluentBitValued[name] && !attached && i+1 < len(args) {
			i++
			s.Args = append(s.Args, args[i])
		}
	}
	return s, nil
}

// ParseStartCommand parses the value of --router-start-command: a JSON
// array (as `docker inspect` prints Entrypoint and Cmd) or words
// separated by spaces, with '...' or "..." quoting.
func ParseStartCommand(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(s), &argv); err != nil {
			return nil, fmt.Errorf("start command %s: %w", s, err)
		}
		return argv, nil
	}
	var argv []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				argv = append(argv, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("start command %s: unterminated quote", s)
	}
	if inWord {
		argv = append(argv, cur.String())
	}
	if len(argv) == 0 {
		return nil, errors.New("start command is empty")
	}
	return argv, nil
}

func shellQuoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
