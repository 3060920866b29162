package launcher

import (
	"fmt"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
)

// Defaults of the documented launcher.
const (
	DefaultRunPath  = "/fluent-bit/bin/fluent-bit"
	DefaultInConfig = "/fluent-bit/etc/fluent-bit.conf"
	// OutConfigName is the default -m, in the launcher's own directory.
	OutConfigName = "fluent-bit.conf"
)

// Options is a parsed command line.
type Options struct {
	RunPath   string
	InConfig  string
	OutConfig string // "" means OutConfigName beside the executable
	Settings  []firelens.Setting
	// FluentBitArgs is everything after "--", passed to Fluent Bit after
	// "-c OUT".
	FluentBitArgs []string
	DryRun        bool
	// KeyFile is the forward shared key that the sidecar keeps in the
	// shared volume; it is exported as KeyEnv for Fluent Bit to expand.
	KeyFile string
	KeyEnv  string // "" means firelens.SharedKeyEnv
	// InlineIncludes replaces @INCLUDE lines with the included files.
	InlineIncludes bool
	// AWSInit is aws-for-fluent-bit's init process, run first; its
	// exports, Fluent Bit arguments and included files are kept.
	AWSInit string
	// ECSEnv exports the task's metadata (ECS_TASK_ID, AWS_REGION, ...)
	// as aws-for-fluent-bit's init process does, where not already set.
	ECSEnv bool
	// MultilineParsers are written to a parsers file passed with -R.
	MultilineParsers []MultilineParser
	Help             bool
	Version          bool
}

type optionKind uint8

const (
	optPath    optionKind = iota // one argument
	optSetting                   // KEY VALUE
	optBool                      // no argument
	optPair                      // NAME VALUE, not a section setting
)

type option struct {
	short   byte // 0: long form only
	long    string
	kind    optionKind
	section firelens.SectionType // optSetting
}

var options = []option{
	{'r', "run-path", optPath, 0},
	{'c', "in-config", optPath, 0},
	{'m', "out-config", optPath, 0},
	{0, "key-file", optPath, 0},
	{0, "key-env", optPath, 0},
	{'i', "input", optSetting, firelens.SectionInput},
	{'f', "filter", optSetting, firelens.SectionFilter},
	{'o', "output", optSetting, firelens.SectionOutput},
	{'s', "service", optSetting, firelens.SectionService},
	{0, "dry-run", optBool, 0},
	{0, "inline-includes", optBool, 0},
	{0, "aws-init", optPath, 0},
	{0, "ecs-env", optBool, 0},
	{0, "multiline-parser", optPair, 0},
	{'h', "help", optBool, 0},
	{0, "version", optBool, 0},
}

// fluentBitShort and fluentBitLong are Fluent Bit options that are not
// launcher options, to explain a forgotten "--".
const fluentBitShort = "bCdDeFHJlLpPqRStTvVwWYZ"

var fluentBitLong = []string{
	"storage_path", "config", "daemon", "flush", "custom", "match", "parser",
	"prop", "plugin", "tag", "sp-task", "log_file", "verbose", "workdir",
	"quiet", "http", "http_server", "http_listen", "http_port", "port",
	"coro_stack_size", "sosreport", "enable-hot-reload", "enable-chunk-trace",
	"trace", "trace-input", "trace-output", "trace-output-property", "json",
}

// UsageError is a bad command line; fluent-launch exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

const dashHint = `; Fluent Bit's arguments go after "--"`

// ParseArgs parses the arguments after the program name, getopt style:
// "-r PATH", "-rPATH", "--run-path PATH", "--run-path=PATH", a unique
// prefix of a long name, and for settings "-i KEY VALUE", "-iKEY VALUE",
// "--input KEY VALUE", "--input=KEY VALUE". Options end at "--", which is
// required unless --help or --version is given.
func ParseArgs(args []string) (Options, error) {
	o := Options{RunPath: DefaultRunPath, InConfig: DefaultInConfig}
	dash := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			o.FluentBitArgs = append([]string{}, args[i+1:]...)
			dash = true
			break
		}
		opt, name, attached, hasAttached, err := lookup(arg)
		if err != nil {
			return Options{}, err
		}
		// Collect the option's arguments: the attached one first.
		want := 0
		switch opt.kind {
		case optPath:
			want = 1
		case optSetting, optPair:
			want = 2
		}
		var vals []string
		if hasAttached {
			if want == 0 {
				return Options{}, usagef("%s takes no argument", name)
			}
			vals = append(vals, attached)
		}
		for len(vals) < want {
			i++
			if i >= len(args) {
				if opt.kind == optSetting {
					return Options{}, usagef("%s needs KEY and VALUE", name)
				}
				if opt.kind == optPair {
					return Options{}, usagef("%s needs NAME and REGEX", name)
				}
				return Options{}, usagef("%s needs a PATH", name)
			}
			vals = append(vals, args[i])
		}
		switch opt.kind {
		case optPath:
			p := vals[0]
			if p == "" {
				return Options{}, usagef("%s: PATH is empty", name)
			}
			if strings.HasPrefix(p, "-") {
				return Options{}, usagef("%s %s: PATH %q looks like an option%s", name, p, p, dashHint)
			}
			switch opt.long {
			case "run-path":
				o.RunPath = p
			case "in-config":
				o.InConfig = p
			case "out-config":
				o.OutConfig = p
			case "aws-init":
				o.AWSInit = p
			case "key-file":
				o.KeyFile = p
			case "key-env":
				if !validEnvName(p) {
					return Options{}, usagef("%s %q: want a variable name ([A-Za-z_][A-Za-z0-9_]*)", name, p)
				}
				o.KeyEnv = p
			}
		case optSetting:
			key, value := vals[0], vals[1]
			// Keys never start with "-"; values that do are numbers.
			bad := ""
			switch {
			case strings.HasPrefix(key, "-"):
				bad = key
			case looksLikeOption(value):
				bad = value
			}
			if bad != "" {
				return Options{}, usagef("%s %s %s: %q looks like an option, not a KEY or VALUE%s", name, key, value, bad, dashHint)
			}
			s := firelens.Setting{Section: opt.section, Key: key, Value: value}
			if err := s.Validate(); err != nil {
				return Options{}, usagef("%s %q %q: %v", name, key, value, err)
			}
			o.Settings = append(o.Settings, s)
		case optPair:
			mp := MultilineParser{Name: vals[0], Start: vals[1]}
			if err := mp.validate(); err != nil {
				return Options{}, usagef("%s: %v", name, err)
			}
			o.MultilineParsers = append(o.MultilineParsers, mp)
		case optBool:
			switch opt.long {
			case "ecs-env":
				o.ECSEnv = true
			case "dry-run":
				o.DryRun = true
			case "inline-includes":
				o.InlineIncludes = true
			case "help":
				o.Help = true
			case "version":
				o.Version = true
			}
		}
	}
	if !dash && !o.Help && !o.Version {
		return Options{}, usagef(`missing "--" before Fluent Bit's arguments (end the options with "--" even when there are none)`)
	}
	return o, nil
}

// lookup finds the option an argument names. It returns the name as the
// user spelled it, for messages, and any argument attached to it.
func lookup(arg string) (opt option, name, attached string, hasAttached bool, err error) {
	switch {
	case strings.HasPrefix(arg, "--"):
		name, attached, hasAttached = strings.Cut(arg[2:], "=")
		var matches []option
		for _, o := range options {
			if o.long == name {
				matches = []option{o}
				break
			}
			if name != "" && strings.HasPrefix(o.long, name) {
				matches = append(matches, o)
			}
		}
		switch len(matches) {
		case 1:
			return matches[0], "--" + name, attached, hasAttached, nil
		case 0:
			for _, fb := range fluentBitLong {
				if fb == name {
					return option{}, "", "", false, usagef("--%s is a Fluent Bit option%s", name, dashHint)
				}
			}
			return option{}, "", "", false, usagef("unknown option --%s%s", name, dashHint)
		}
		return option{}, "", "", false, usagef("option --%s is ambiguous", name)
	case len(arg) >= 2 && arg[0] == '-':
		for _, o := range options {
			if o.short == arg[1] {
				return o, arg[:2], arg[2:], len(arg) > 2, nil
			}
		}
		if strings.IndexByte(fluentBitShort, arg[1]) >= 0 {
			return option{}, "", "", false, usagef("%s is a Fluent Bit option%s", arg, dashHint)
		}
		return option{}, "", "", false, usagef("unknown option %s%s", arg, dashHint)
	}
	return option{}, "", "", false, usagef("unexpected argument %q%s", arg, dashHint)
}

// looksLikeOption reports whether an argument is probably the next option
// after a forgotten "--", as in "-o syslog -m '*'".
func looksLikeOption(v string) bool {
	if len(v) < 2 || v[0] != '-' {
		return false
	}
	c := v[1]
	return c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
