package firelens

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// settingsFromArgs turns fluent-launch's "-i KEY VALUE" triples into
// settings; it stops at "--".
func settingsFromArgs(t testing.TB, args []string) []Setting {
	t.Helper()
	types := map[string]SectionType{"-i": SectionInput, "-f": SectionFilter, "-o": SectionOutput, "-s": SectionService}
	var out []Setting
	for i := 0; i < len(args) && args[i] != "--"; i += 3 {
		typ, ok := types[args[i]]
		if !ok || i+2 >= len(args) {
			t.Fatalf("bad test arguments %q", args[i:])
		}
		out = append(out, Setting{Section: typ, Key: args[i+1], Value: args[i+2]})
	}
	return out
}

// recipeArgs are the documented recipe's launcher options.
func recipeArgs() []string { return LauncherCommand(DefaultSyslogOutput()) }

// goldenCombos are the option sets every testdata config is patched with.
var goldenCombos = []struct {
	name       string
	args       []string
	includeDir string
}{
	{name: "recipe", args: recipeArgs(), includeDir: "/fluent-bit/etc"},
	{name: "storage", args: []string{
		"-s", "storage.path", "/var/sidewatch/buffer", "-s", "Flush", "1",
		"-i", "storage.type", "filesystem", "-o", "storage.total_limit_size", "100M",
		"-o", "Retry_Limit", "no_limits",
	}},
	{name: "case_and_order", args: []string{
		"-i", "MEM_BUF_LIMIT", "10M", "-f", "record", "ecs_cluster other",
		"-s", "scheduler.cap", "30", "-s", "Scheduler.Cap", "60", "-o", "Alias", "${ALIAS}",
	}},
	{name: "no_options"},
}

func testdataConfigs(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata configs: %v", err)
	}
	return files
}

func patchFile(t testing.TB, src []byte, args []string, includeDir string) []byte {
	t.Helper()
	var rewrite func(string) string
	if includeDir != "" {
		rewrite = IncludeDir(includeDir)
	}
	got, err := Patch(src, settingsFromArgs(t, args), rewrite)
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	return got
}

func TestGoldenPatch(t *testing.T) {
	for _, file := range testdataConfigs(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(file), ".conf")
		for _, combo := range goldenCombos {
			t.Run(strings.ReplaceAll(base, "-", "_")+"/"+combo.name, func(t *testing.T) {
				got := patchFile(t, src, combo.args, combo.includeDir)
				golden := filepath.Join("testdata", "golden", base+"."+combo.name+".conf")
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run make golden)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("Patch(%s, %q) mismatch (-want +got):\n%s", file, combo.args, diff)
				}
				if combo.args == nil && combo.includeDir == "" && !bytes.Equal(got, src) {
					t.Errorf("Patch(%s) without options changed the file", file)
				}
			})
		}
	}
}

// TestPatchIdempotent feeds every golden output through the same options
// again: nothing may change.
func TestPatchIdempotent(t *testing.T) {
	for _, file := range testdataConfigs(t) {
		base := strings.TrimSuffix(filepath.Base(file), ".conf")
		for _, combo := range goldenCombos {
			t.Run(strings.ReplaceAll(base, "-", "_")+"/"+combo.name, func(t *testing.T) {
				once, err := os.ReadFile(filepath.Join("testdata", "golden", base+"."+combo.name+".conf"))
				if err != nil {
					t.Fatalf("%v (run make golden)", err)
				}
				twice := patchFile(t, once, combo.args, combo.includeDir)
				if diff := cmp.Diff(string(once), string(twice)); diff != "" {
					t.Errorf("patching %s again changed it (-once +twice):\n%s", base, diff)
				}
			})
		}
	}
}

func TestParseSectionType(t *testing.T) {
	tests := []struct {
		name string
		want SectionType
	}{
		{"SERVICE", SectionService},
		{"service", SectionService},
		{"S", SectionService},
		{"INPUT", SectionInput},
		{"Input", SectionInput},
		{"IN", SectionInput},
		{"I", SectionInput},
		{"inputs", SectionInput},
		{"INPUTSS", SectionOther},
		{"INPUTX", SectionOther},
		{"FILTER", SectionFilter},
		{"filters", SectionFilter},
		{"F", SectionFilter},
		{"OUTPUT", SectionOutput},
		{"O", SectionOutput},
		{"outputs", SectionOutput},
		{"P", SectionParser},
		{"PARSER", SectionParser},
		{"PL", SectionPlugins},
		{"MULTILINE_PARSER", SectionMultilineParser},
		{"STREAM_TASK", SectionOther},
		{"STREAM_PROCESSOR", SectionStreamProcessor},
		{"UPSTREAM_SERVERS", SectionUpstreamServers},
		{"CUSTOM", SectionCustom},
		{"CUSTOMS", SectionCustom},
		{"C", SectionCustom},
		{" INPUT", SectionOther},
		{"", SectionOther},
		{"NODE", SectionOther},
	}
	for _, tt := range tests {
		if got := ParseSectionType(tt.name); got != tt.want {
			t.Errorf("ParseSectionType(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantMsg  string
	}{
		{"header_without_bracket", "\n[INPUT\n    Name dummy\n", 2, `no "]"`},
		{"entry_before_section", "    Name dummy\n[INPUT]\n", 1, "outside a section"},
		{"unindented_entry", "[INPUT]\nName dummy\n", 2, "not indented"},
		{"unindented_after_indented", "[INPUT]\n    Name dummy\nTag x\n", 3, "not indented"},
		{"tab_after_spaces", "[INPUT]\n    Name dummy\n\tTag x\n", 3, "tabs and spaces"},
		{"space_then_tab", "[INPUT]\n    Name dummy\n  \tTag x\n", 3, "tabs and spaces"},
		{"less_indent", "[INPUT]\n    Name dummy\n  Tag x\n", 3, "less than the file's indent (4 spaces)"},
		{"more_indent", "[INPUT]\n    Name dummy\n      Tag x\n", 3, "more than"},
		{"short_whitespace_line", "[INPUT]\n    Name dummy\n  \n", 3, "less than"},
		{"tab_indent_then_spaces", "[INPUT]\n\tName dummy\n    Tag x\n", 3, "tabs and spaces"},
		{"tab_indent_then_unindented", "[INPUT]\n\tName dummy\n  # x\n\n\t\tk v\n\t \tk v\n", 3, "tabs and spaces"},
		{"at_without_space", "@SET\n", 1, `"@" command`},
		{"short_at", "[INPUT]\n    Name x\n@X\n", 3, `"@" command`},
		{"no_value", "[INPUT]\n    Name\n", 2, "no value"},
		{"tab_separator", "[INPUT]\n    Name\tdummy\n", 2, "no value"},
		{"crlf_line_number", "\r\n[INPUT]\r\n    Name dummy\r\n  Tag x\r\n", 4, "less than"},
		{"group_without_bracket", "[OUTPUT]\n    Name x\n    [group x\n", 3, `no "]"`},
		{"yaml", "service:\n  flush: 1\n", 1, "looks like Fluent Bit YAML"},
		{"yaml_document", "# c\n---\npipeline:\n", 2, "looks like Fluent Bit YAML"},
		{"indented_comment_wrong_indent", "[INPUT]\n    Name dummy\n  # comment\n", 3, "less than"},
		{"cr_only_last_line", "[INPUT]\n    Name dummy\n\r", 3, "not indented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %v, want a *ParseError", tt.src, c, err)
			}
			if c != nil {
				t.Errorf("Parse(%q) returned a config with its error", tt.src)
			}
			if pe.Line != tt.wantLine || !strings.Contains(pe.Msg, tt.wantMsg) {
				t.Errorf("Parse(%q) error = %q at line %d, want %q at line %d", tt.src, pe.Msg, pe.Line, tt.wantMsg, tt.wantLine)
			}
		})
	}
}

// parseOK lists inputs that Fluent Bit accepts (or that are not the
// parser's business); they must parse and print back unchanged.
var parseOK = []struct {
	name string
	src  string
}{
	{"empty", ""},
	{"only_newlines", "\n\n\n"},
	{"crlf", "\r\n[INPUT]\r\n    Name dummy\r\n"},
	{"cr_inside_line", "[INPUT]\n    Name du\rmmy\n"},
	{"no_final_newline", "[INPUT]\n    Name dummy"},
	{"trailing_whitespace", "[INPUT]  \n    Name dummy   \n"},
	{"comment_before_section", "# x\n[INPUT]\n    Name dummy\n"},
	{"indented_comment", "[INPUT]\n    # c\n    Name dummy\n"},
	{"indented_comment_before_section", "    # c\n[INPUT]\n    Name dummy\n"},
	{"whitespace_line_at_indent", "[INPUT]\n    Name dummy\n    \n"},
	{"whitespace_line_sets_indent", "[INPUT]\n  \n  Name dummy\n"},
	{"tabs", "[INPUT]\n\tName dummy\n\tTag x\n"},
	{"group", "[OUTPUT]\n  Name x\n  [g]\n    k v\n  Match *\n"},
	{"double_indent_without_group", "[OUTPUT]\n  Name x\n    Match *\n"},
	{"header_trailing_text", "[INPUT] # x\n    Name dummy\n"},
	{"empty_header", "[]\n    Name dummy\n"},
	{"meta", "@SET a=b\n@INCLUDE x.conf\n@include  y.conf\n@X y\n[INPUT]\n    Name dummy\n"},
	{"short_at_line", "[INPUT]\n    Name dummy\n    @x y\n"},
	{"inline_comment_is_value", "[INPUT]\n    Name dummy # not a comment\n"},
	{"backslash", "[INPUT]\n    Name dummy \\\n"},
	{"variables", "[OUTPUT]\n    Name datadog\n    apikey ${apikey_1}\n"},
	{"unknown_section", "[NODE]\n    whatever goes\n"},
	{"key_with_tab", "[INPUT]\n    Name\t dummy\n"},
}

func TestParseRoundTrip(t *testing.T) {
	for _, tt := range parseOK {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.src, err)
			}
			if got := string(c.Bytes()); got != tt.src {
				t.Errorf("Parse(%q).Bytes() = %q", tt.src, got)
			}
		})
	}
}

func TestSet(t *testing.T) {
	in := func(k, v string) Setting { return Setting{SectionInput, k, v} }
	out := func(k, v string) Setting { return Setting{SectionOutput, k, v} }
	svc := func(k, v string) Setting { return Setting{SectionService, k, v} }
	tests := []struct {
		name     string
		src      string
		settings []Setting
		want     string
	}{
		{
			name:     "replace_keeps_position",
			src:      "[INPUT]\n    Name forward\n    Mem_Buf_Limit 25MB\n    unix_path /s\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M")},
			want:     "[INPUT]\n    Name forward\n    Mem_Buf_Limit 50M\n    unix_path /s\n",
		},
		{
			name:     "replace_case_insensitive_uses_given_case",
			src:      "[input]\n    name forward\n    mem_buf_limit 25MB\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M")},
			want:     "[input]\n    name forward\n    Mem_Buf_Limit 50M\n",
		},
		{
			name:     "duplicates_collapse_at_first",
			src:      "[INPUT]\n    Mem_Buf_Limit 1M\n    Name forward\n    MEM_BUF_LIMIT 2M\n    mem_buf_limit 3M\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M")},
			want:     "[INPUT]\n    Mem_Buf_Limit 50M\n    Name forward\n",
		},
		{
			name:     "append_after_last_entry",
			src:      "[INPUT]\n    Name forward\n    # trailing comment\n\n[OUTPUT]\n    Name null\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M")},
			want:     "[INPUT]\n    Name forward\n    Mem_Buf_Limit 50M\n    # trailing comment\n\n[OUTPUT]\n    Name null\n",
		},
		{
			name:     "append_to_empty_section",
			src:      "[INPUT]\n\n[INPUT]\n    Name x\n",
			settings: []Setting{in("Alias", "a")},
			want:     "[INPUT]\n    Alias a\n\n[INPUT]\n    Name x\n    Alias a\n",
		},
		{
			name:     "append_at_end_without_newline",
			src:      "[INPUT]\n    Name forward",
			settings: []Setting{in("Mem_Buf_Limit", "50M"), in("Alias", "a")},
			want:     "[INPUT]\n    Name forward\n    Mem_Buf_Limit 50M\n    Alias a",
		},
		{
			name:     "crlf",
			src:      "\r\n[INPUT]\r\n    Name forward\r\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M"), svc("Flush", "1")},
			want:     "\r\n[INPUT]\r\n    Name forward\r\n    Mem_Buf_Limit 50M\r\n\r\n[SERVICE]\r\n    Flush 1\r\n",
		},
		{
			name:     "tab_indent",
			src:      "[INPUT]\n\tName forward\n",
			settings: []Setting{in("Mem_Buf_Limit", "50M"), svc("Flush", "1")},
			want:     "[INPUT]\n\tName forward\n\tMem_Buf_Limit 50M\n\n[SERVICE]\n\tFlush 1\n",
		},
		{
			name:     "no_indented_line_uses_four_spaces",
			src:      "[INPUT]\n",
			settings: []Setting{in("Name", "dummy")},
			want:     "[INPUT]\n    Name dummy\n",
		},
		{
			name:     "other_types_untouched",
			src:      "[FILTER]\n    Name grep\n[OUTPUT]\n    Name null\n[NODE]\n    Name x\n",
			settings: []Setting{in("Name", "dummy")},
			want:     "[FILTER]\n    Name grep\n[OUTPUT]\n    Name null\n[NODE]\n    Name x\n",
		},
		{
			name:     "prefix_headers",
			src:      "[IN]\n    Name a\n[inputs]\n    Name b\n[INPUTX]\n    Name c\n",
			settings: []Setting{in("Tag", "t")},
			want:     "[IN]\n    Name a\n    Tag t\n[inputs]\n    Name b\n    Tag t\n[INPUTX]\n    Name c\n",
		},
		{
			name:     "service_created_at_end_after_include",
			src:      "\n[INPUT]\n    Name forward\n\n@INCLUDE /x.conf\n",
			settings: []Setting{svc("Scheduler.Cap", "60"), svc("Flush", "1")},
			want:     "\n[INPUT]\n    Name forward\n\n@INCLUDE /x.conf\n\n[SERVICE]\n    Scheduler.Cap 60\n    Flush 1\n",
		},
		{
			name:     "service_created_after_line_without_newline",
			src:      "@INCLUDE /x.conf",
			settings: []Setting{svc("Flush", "1")},
			want:     "@INCLUDE /x.conf\n\n[SERVICE]\n    Flush 1\n",
		},
		{
			name:     "service_created_in_empty_file",
			src:      "",
			settings: []Setting{svc("Flush", "1")},
			want:     "[SERVICE]\n    Flush 1\n",
		},
		{
			name:     "service_created_after_blank_line",
			src:      "[INPUT]\n    Name x\n\n",
			settings: []Setting{svc("Flush", "1")},
			want:     "[INPUT]\n    Name x\n\n[SERVICE]\n    Flush 1\n",
		},
		{
			name:     "every_service_patched",
			src:      "[SERVICE]\n    Flush 5\n[service]\n    flush 6\n    Log_Level info\n",
			settings: []Setting{svc("Flush", "1")},
			want:     "[SERVICE]\n    Flush 1\n[service]\n    Flush 1\n    Log_Level info\n",
		},
		{
			name:     "group_entries_untouched",
			src:      "[OUTPUT]\n  Name x\n  [g]\n    Retry_Limit 1\n  Retry_Limit 2\n",
			settings: []Setting{out("Retry_Limit", "False")},
			want:     "[OUTPUT]\n  Name x\n  [g]\n    Retry_Limit 1\n  Retry_Limit False\n",
		},
		{
			name:     "dropped_duplicate_still_ends_group",
			src:      "[OUTPUT]\n  Retry_Limit 1\n  [g]\n    a b\n  Retry_Limit 2\n    Alias x\n",
			settings: []Setting{out("Retry_Limit", "False")},
			want:     "[OUTPUT]\n  Retry_Limit False\n  [g]\n    a b\n  \n    Alias x\n",
		},
		{
			name:     "append_before_group",
			src:      "[OUTPUT]\n  Name x\n  [g]\n    Retry_Limit 1\n",
			settings: []Setting{out("Retry_Limit", "False")},
			want:     "[OUTPUT]\n  Name x\n  Retry_Limit False\n  [g]\n    Retry_Limit 1\n",
		},
		{
			name:     "double_indent_without_group_keeps_its_indent",
			src:      "[OUTPUT]\n  Name x\n    Retry_Limit 1\n",
			settings: []Setting{out("Retry_Limit", "False")},
			want:     "[OUTPUT]\n  Name x\n    Retry_Limit False\n",
		},
		{
			name:     "multi_value_key_replaced",
			src:      "[FILTER]\n    Name record_modifier\n    Record a 1\n    Record b 2\n",
			settings: []Setting{{SectionFilter, "Record", "pid 1"}},
			want:     "[FILTER]\n    Name record_modifier\n    Record pid 1\n",
		},
		{
			name:     "variables_not_expanded",
			src:      "[OUTPUT]\n    Name datadog\n    apikey ${apikey_1}\n",
			settings: []Setting{out("Retry_Limit", "${RETRIES}")},
			want:     "[OUTPUT]\n    Name datadog\n    apikey ${apikey_1}\n    Retry_Limit ${RETRIES}\n",
		},
		{
			name:     "last_setting_wins",
			src:      "[INPUT]\n    Name x\n",
			settings: []Setting{in("Alias", "a"), in("alias", "b")},
			want:     "[INPUT]\n    Name x\n    alias b\n",
		},
		{
			name:     "key_followed_by_tab_matches",
			src:      "[INPUT]\n    Name x\n    Alias\t a\n",
			settings: []Setting{in("Alias", "b")},
			want:     "[INPUT]\n    Name x\n    Alias b\n",
		},
		{
			name:     "value_with_spaces",
			src:      "[FILTER]\n    Name record_modifier\n",
			settings: []Setting{{SectionFilter, "Record", "pid 1"}},
			want:     "[FILTER]\n    Name record_modifier\n    Record pid 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.src, err)
			}
			for _, s := range tt.settings {
				if err := c.Set(s); err != nil {
					t.Fatalf("Set(%+v) = %v", s, err)
				}
			}
			got := string(c.Bytes())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Set(%q, %+v) mismatch (-want +got):\n%s", tt.src, tt.settings, diff)
			}
			again, err := Patch([]byte(got), tt.settings, nil)
			if err != nil {
				t.Fatalf("Patch(%q) again = %v", got, err)
			}
			if string(again) != got {
				t.Errorf("Patch(%q) again = %q, not idempotent", got, again)
			}
		})
	}
}

func TestSettingValidate(t *testing.T) {
	tests := []struct {
		name    string
		setting Setting
		wantErr string
	}{
		{"parser_section", Setting{SectionParser, "k", "v"}, "INPUT, FILTER, OUTPUT or SERVICE"},
		{"other_section", Setting{SectionOther, "k", "v"}, "INPUT, FILTER, OUTPUT or SERVICE"},
		{"empty_key", Setting{SectionInput, "", "v"}, "key is empty"},
		{"key_with_space", Setting{SectionInput, "a b", "v"}, "whitespace"},
		{"key_with_tab", Setting{SectionInput, "a\tb", "v"}, "whitespace"},
		{"key_with_newline", Setting{SectionInput, "a\nb", "v"}, "whitespace"},
		{"key_header", Setting{SectionInput, "[x]", "v"}, `starts with "["`},
		{"key_meta", Setting{SectionInput, "@INCLUDE", "v"}, `starts with "@"`},
		{"key_comment", Setting{SectionInput, "#k", "v"}, `starts with "#"`},
		{"empty_value", Setting{SectionInput, "k", ""}, "empty"},
		{"blank_value", Setting{SectionInput, "k", "  "}, "empty"},
		{"value_with_newline", Setting{SectionInput, "k", "a\nb"}, "line break"},
		{"value_with_cr", Setting{SectionInput, "k", "a\rb"}, "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.setting.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v.Validate() = %v, want an error containing %q", tt.setting, err, tt.wantErr)
			}
			c, _ := Parse([]byte("[INPUT]\n    Name x\n"))
			if err := c.Set(tt.setting); err == nil {
				t.Errorf("Set(%+v) = nil, want an error", tt.setting)
			}
		})
	}
	for _, s := range []Setting{{SectionInput, "Mem_Buf_Limit", "50M"}, {SectionService, "k", " v "}, {SectionOutput, "net.keepalive", "off"}, {SectionFilter, "k", "${V}"}} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v, want nil", s, err)
		}
	}
}

func TestRewriteIncludes(t *testing.T) {
	src := "@INCLUDE a.conf\n@include /abs.conf\n@INCLUDE conf.d/*.conf\n@INCLUDE ../up.conf\n@INCLUDE  spaced.conf \n[INPUT]\n    @INCLUDE x.conf\n"
	c, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wantIncludes := []string{"a.conf", "/abs.conf", "conf.d/*.conf", "../up.conf", " spaced.conf "}
	if diff := cmp.Diff(wantIncludes, c.Includes()); diff != "" {
		t.Errorf("Includes() mismatch (-want +got):\n%s", diff)
	}
	c.RewriteIncludes(IncludeDir("/fluent-bit/etc/"))
	want := "@INCLUDE /fluent-bit/etc/a.conf\n@include /abs.conf\n@INCLUDE /fluent-bit/etc/conf.d/*.conf\n@INCLUDE /fluent-bit/etc/../up.conf\n@INCLUDE /fluent-bit/etc/ spaced.conf \n[INPUT]\n    @INCLUDE x.conf\n"
	if diff := cmp.Diff(want, string(c.Bytes())); diff != "" {
		t.Errorf("RewriteIncludes mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkPatchRecipe(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("testdata", "firelens-generated-2.conf"))
	if err != nil {
		b.Fatal(err)
	}
	settings := settingsFromArgs(b, recipeArgs())
	rewrite := IncludeDir("/fluent-bit/etc")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Patch(src, settings, rewrite); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPatchLarge patches a config with 1000 outputs: the cost grows
// with lines × settings.
func BenchmarkPatchLarge(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("\n[INPUT]\n    Name forward\n    unix_path /var/run/fluent.sock\n")
	for i := range 1000 {
		fmt.Fprintf(&sb, "\n[OUTPUT]\n    Name cloudwatch_logs\n    Match app%d-firelens*\n    region eu-west-1\n    log_group_name /ecs/app%d\n", i, i)
	}
	src := []byte(sb.String())
	settings := append(settingsFromArgs(b, recipeArgs()), Setting{SectionOutput, "Retry_Limit", "False"})
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Patch(src, settings, nil); err != nil {
			b.Fatal(err)
		}
	}
}
