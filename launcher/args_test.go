package launcher

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sidewatch/sidewatch/firelens"
)

func defaults(f func(*Options)) Options {
	o := Options{RunPath: DefaultRunPath, InConfig: DefaultInConfig, FluentBitArgs: []string{}}
	if f != nil {
		f(&o)
	}
	return o
}

func TestParseArgs(t *testing.T) {
	in := func(k, v string) firelens.Setting {
		return firelens.Setting{Section: firelens.SectionInput, Key: k, Value: v}
	}
	recipe := firelens.LauncherCommand(firelens.DefaultSyslogOutput())
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{"only_dash", []string{"--"}, defaults(nil)},
		{"paths_short", []string{"-r", "/fb", "-c", "/in.conf", "-m", "/out.conf", "--"}, defaults(func(o *Options) {
			o.RunPath, o.InConfig, o.OutConfig = "/fb", "/in.conf", "/out.conf"
		})},
		{"paths_attached", []string{"-r/fb", "-c/in.conf", "-m/out.conf", "--"}, defaults(func(o *Options) {
			o.RunPath, o.InConfig, o.OutConfig = "/fb", "/in.conf", "/out.conf"
		})},
		{"paths_long", []string{"--run-path", "/fb", "--in-config=/in.conf", "--out-config", "/out.conf", "--"}, defaults(func(o *Options) {
			o.RunPath, o.InConfig, o.OutConfig = "/fb", "/in.conf", "/out.conf"
		})},
		{"long_prefix", []string{"--run", "/fb", "--out-c=/o", "--dry", "--"}, defaults(func(o *Options) {
			o.RunPath, o.OutConfig, o.DryRun = "/fb", "/o", true
		})},
		{"last_path_wins", []string{"-c", "/a", "-c", "/b", "--"}, defaults(func(o *Options) { o.InConfig = "/b" })},
		{"settings_in_order", []string{"-s", "Scheduler.Cap", "60", "--input", "Mem_Buf_Limit", "50M", "-fRecord", "pid 1", "--output=Retry_Limit", "False", "-i", "mem_buf_limit", "10M", "--"},
			defaults(func(o *Options) {
				o.Settings = []firelens.Setting{
					{Section: firelens.SectionService, Key: "Scheduler.Cap", Value: "60"},
					in("Mem_Buf_Limit", "50M"),
					{Section: firelens.SectionFilter, Key: "Record", Value: "pid 1"},
					{Section: firelens.SectionOutput, Key: "Retry_Limit", Value: "False"},
					in("mem_buf_limit", "10M"),
				}
			})},
		{"recipe", recipe, defaults(func(o *Options) {
			o.Settings = []firelens.Setting{{Section: firelens.SectionService, Key: "Scheduler.Cap", Value: "60"}, in("Mem_Buf_Limit", "50M")}
			o.FluentBitArgs = recipe[slices.Index(recipe, "--")+1:]
		})},
		{"passthrough_verbatim", []string{"--", "-c", "/other", "--", "-i", "x", "", "--dry-run"}, defaults(func(o *Options) {
			o.FluentBitArgs = []string{"-c", "/other", "--", "-i", "x", "", "--dry-run"}
		})},
		{"negative_number_value", []string{"-o", "Retry_Limit", "-1", "--"}, defaults(func(o *Options) {
			o.Settings = []firelens.Setting{{Section: firelens.SectionOutput, Key: "Retry_Limit", Value: "-1"}}
		})},
		{"variable_value", []string{"-o", "apikey", "${apikey_1}", "--"}, defaults(func(o *Options) {
			o.Settings = []firelens.Setting{{Section: firelens.SectionOutput, Key: "apikey", Value: "${apikey_1}"}}
		})},
		{"dry_run", []string{"--dry-run", "--"}, defaults(func(o *Options) { o.DryRun = true })},
		{"aws_init_ecs_env_multiline", []string{"--aws-init", "/init/p", "--ecs-env", "--multiline-parser", "a", `^\d+`, "--multiline-parser=b", "-x-", "--"}, defaults(func(o *Options) {
			o.AWSInit, o.ECSEnv = "/init/p", true
			o.MultilineParsers = []MultilineParser{{"a", `^\d+`}, {"b", "-x-"}}
		})},
		{"help_without_dash", []string{"--help"}, defaults(func(o *Options) { o.Help, o.FluentBitArgs = true, nil })},
		{"help_short", []string{"-h"}, defaults(func(o *Options) { o.Help, o.FluentBitArgs = true, nil })},
		{"version", []string{"--version"}, defaults(func(o *Options) { o.Version, o.FluentBitArgs = true, nil })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatalf("ParseArgs(%q) = %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no_args", nil, `missing "--"`},
		{"missing_dash", []string{"-i", "Mem_Buf_Limit", "50M"}, `missing "--"`},
		{"fluent_bit_option", []string{"-s", "a", "b", "-F", "record_modifier", "-m", "*"}, `-F is a Fluent Bit option; Fluent Bit's arguments go after "--"`},
		{"fluent_bit_option_attached", []string{"-phello=x", "--"}, "-phello=x is a Fluent Bit option"},
		{"fluent_bit_long_option", []string{"--flush", "1", "--"}, "--flush is a Fluent Bit option"},
		{"output_plugin_without_dash", []string{"-o", "syslog", "-m", "*", "-p", "Mode=tcp"}, `"-m" looks like an option`},
		{"input_plugin_without_dash", []string{"-i", "forward", "-p", "x=y", "--"}, `"-p" looks like an option`},
		{"key_is_option", []string{"-i", "--", "x"}, `"--" looks like an option`},
		{"key_is_negative", []string{"-i", "-1", "x", "--"}, `"-1" looks like an option`},
		{"path_is_option", []string{"-m", "--", "-F", "x"}, `PATH "--" looks like an option`},
		{"path_is_dash_option", []string{"-c", "-F", "--"}, `PATH "-F" looks like an option`},
		{"unknown_short", []string{"-x", "--"}, "unknown option -x"},
		{"unknown_long", []string{"--nope", "--"}, "unknown option --nope"},
		{"ambiguous_long", []string{"--in", "x", "--"}, "--in is ambiguous"},
		{"positional", []string{"syslog", "--"}, `unexpected argument "syslog"`},
		{"single_dash", []string{"-", "--"}, `unexpected argument "-"`},
		{"empty_argument", []string{"", "--"}, `unexpected argument ""`},
		{"missing_path", []string{"-c"}, "-c needs a PATH"},
		{"missing_long_path", []string{"--run-path"}, "--run-path needs a PATH"},
		{"empty_path", []string{"-c", "", "--"}, "-c: PATH is empty"},
		{"empty_attached_long_path", []string{"--in-config=", "--"}, "--in-config: PATH is empty"},
		{"missing_value", []string{"-i", "Mem_Buf_Limit"}, "-i needs KEY and VALUE"},
		{"missing_key_and_value", []string{"--service"}, "--service needs KEY and VALUE"},
		{"empty_key", []string{"-i", "", "50M", "--"}, "key is empty"},
		{"empty_value", []string{"-o", "Retry_Limit", "", "--"}, "is empty"},
		{"key_with_space", []string{"-o", "Retry Limit", "1", "--"}, "whitespace"},
		{"key_is_header", []string{"-o", "[OUTPUT]", "1", "--"}, `starts with "["`},
		{"key_is_include", []string{"-o", "@INCLUDE", "/x", "--"}, `starts with "@"`},
		{"key_is_comment", []string{"-o", "#k", "v", "--"}, `starts with "#"`},
		{"value_with_newline", []string{"-o", "k", "a\nb", "--"}, "line break"},
		{"bool_with_argument", []string{"--dry-run=yes", "--"}, "--dry-run takes no argument"},
		{"multiline_missing_regex", []string{"--multiline-parser", "a"}, "--multiline-parser needs NAME and REGEX"},
		{"multiline_name_with_space", []string{"--multiline-parser", "a b", "x", "--"}, "want one word"},
		{"multiline_regex_newline", []string{"--multiline-parser", "a", "x\ny", "--"}, "one non-empty line"},
		{"multiline_trailing_backslash", []string{"--multiline-parser", "a", `x\`, "--"}, "ends in a backslash"},
		{"aws_init_without_path", []string{"--aws-init"}, "--aws-init needs a PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseArgs(%q) = %+v, %v, want a *UsageError", tt.args, got, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseArgs(%q) error = %q, want it to contain %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-s\x00Scheduler.Cap\x0060\x00-i\x00Mem_Buf_Limit\x0050M\x00--\x00-F\x00x")
	f.Add("--run-path=/x\x00--input\x00k\x00v\x00--")
	f.Add("-o\x00syslog\x00-m\x00*")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		o, err := ParseArgs(args)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseArgs(%q) error %v is not a *UsageError", args, err)
			}
			return
		}
		for _, s := range o.Settings {
			if err := s.Validate(); err != nil {
				t.Fatalf("ParseArgs(%q) accepted %+v: %v", args, s, err)
			}
		}
		if o.Help || o.Version {
			return
		}
		if i := slices.Index(args, "--"); i < 0 || !slices.Equal(args[len(args)-len(o.FluentBitArgs):], o.FluentBitArgs) {
			t.Fatalf("ParseArgs(%q) Fluent Bit args %q are not what follows the first \"--\"", args, o.FluentBitArgs)
		}
	})
}
