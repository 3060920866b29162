package taskdefs

import (
	"regexp"
	"strings"
	"testing"
)

func TestOnigmoRegex(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "plain", in: `^\d{4}-\d{2}`, want: `^\d{4}-\d{2}`},
		{name: "named_group", in: `^(?P<level>INFO|WARN) (?P<msg>.*)`, want: `^(?<level>INFO|WARN) (?<msg>.*)`},
		{name: "unicode_class", in: `^\pL+\PN`, want: `^\p{L}+\P{N}`},
		{name: "unicode_class_braced", in: `\p{Greek}`, want: `\p{Greek}`},
		{name: "flags_kept_and_dropped", in: `(?i)^error(?s:.*)(?m)$`, want: `(?i)^error(?:.*)$`},
		{name: "flags_mixed", in: `(?is-m:x)`, want: `(?i:x)`},
		{name: "class_with_paren", in: `^[(?P<]x`, want: `^[(?P<]x`},
		{name: "escaped_paren", in: `\(?P<x>`, want: `\(?P<x>`},
		{name: "quote_meta", in: `\Q[x]\E`, wantErr: `\Q...\E`},
		{name: "any_byte", in: `a\Cb`, wantErr: `\C`},
		{name: "ungreedy", in: `(?U)a+`, wantErr: "ungreedy"},
		{name: "invalid_go", in: `([a`, wantErr: "not a valid Go regexp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := onigmoRegex(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("onigmoRegex(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("onigmoRegex(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDatetimePattern(t *testing.T) {
	got, unknown := datetimePattern("[%Y-%m-%dT%H:%M:%S%z %Q]")
	want := `[\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1,2][0-9]|3[0,1])T(?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9][+-]\d{4} ]`
	if got != want || len(unknown) != 1 || unknown[0] != "%Q" {
		t.Errorf("datetimePattern = %q, %q; want %q and [%%Q]", got, unknown, want)
	}
	// As in the awslogs driver, the pattern is searched, not anchored.
	re := regexp.MustCompile(strings.Trim(got, "[]"))
	if !re.MatchString("x 2026-12-02T06:00:01+0100 ") {
		t.Errorf("%s does not match a timestamp in the line", re)
	}
}

func TestBufferLimitLines(t *testing.T) {
	for in, want := range map[string]int64{"25m": 25600, "1m": 1024, "512k": 512, "2g": 2097152, "100": 1, "1mb": 1024} {
		if got, ok := bufferLimitLines(in); !ok || got != want {
			t.Errorf("bufferLimitLines(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1m", "0"} {
		if _, ok := bufferLimitLines(bad); ok {
			t.Errorf("bufferLimitLines(%q) accepted it", bad)
		}
	}
}

func TestConvertCloudWatch(t *testing.T) {
	tests := []struct {
		name    string
		in      *Object
		to      string
		want    *Object
		wantErr string
	}{
		{
			name: "go_to_core_task_id",
			in:   obj("Name", "cloudwatch", "region", "eu-west-1", "log_group_name", "/g", "log_stream_name", "p/web/$(ecs_task_id)", "log_key", "log"),
			to:   PluginCloudWatchLogs,
			want: obj("Name", "cloudwatch_logs", "region", "eu-west-1", "log_group_name", "/g", "log_stream_name", "p/web/${ECS_TASK_ID}", "log_key", "log"),
		},
		{
			name: "core_to_go_task_id",
			in:   obj("Name", "cloudwatch_logs", "log_stream_name", "p/web/${ECS_TASK_ID}"),
			to:   PluginGoCloudWatch,
			want: obj("Name", "cloudwatch", "log_stream_name", "p/web/$(ecs_task_id)"),
		},
		{
			name: "container_id_both_ways",
			in:   obj("Name", "cloudwatch", "log_stream_name", "$(container_id)"),
			to:   PluginCloudWatchLogs,
			want: obj("Name", "cloudwatch_logs", "log_stream_name", "firelens", "log_stream_template", "$container_id"),
		},
		{
			name: "core_template_to_go",
			in:   obj("Name", "cloudwatch_logs", "log_stream_template", "$container_id", "log_stream_name", "web"),
			to:   PluginGoCloudWatch,
			want: obj("Name", "cloudwatch", "log_stream_name", "$(container_id)"),
		},
		{name: "go_only_option", in: obj("Name", "cloudwatch", "default_log_stream_name", "x"), to: PluginCloudWatchLogs, wantErr: "default_log_stream_name exists only in the cloudwatch plugin"},
		{name: "core_only_option", in: obj("Name", "cloudwatch_logs", "log_group_template", "$k"), to: PluginGoCloudWatch, wantErr: "log_group_template exists only"},
		{name: "go_group_template", in: obj("Name", "cloudwatch", "log_group_name", "/ecs/$(ecs_cluster)"), to: PluginCloudWatchLogs, wantErr: "log_group_name"},
		{name: "other_core_template", in: obj("Name", "cloudwatch_logs", "log_stream_template", "$kubernetes['pod']"), to: PluginGoCloudWatch, wantErr: "no equivalent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := convertCloudWatch(tt.in, tt.to)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("convertCloudWatch = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(mustEncode(t, tt.in)), string(mustEncode(t, tt.want)); got != want {
				t.Errorf("convertCloudWatch gave\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestSmallestFargateSize(t *testing.T) {
	tests := []struct{ cpu, mem, wantCPU, wantMem int64 }{
		{256, 626, 256, 1024},
		{320, 626, 512, 1024},
		{256, 1138, 256, 2048},
		{1024, 9000, 2048, 9216},
		{8192, 61441, 16384, 65536},
	}
	for _, tt := range tests {
		cpu, mem, ok := smallestFargateSize(tt.cpu, tt.mem)
		if !ok || cpu != tt.wantCPU || mem != tt.wantMem || !isFargateSize(cpu, mem) {
			t.Errorf("smallestFargateSize(%d, %d) = %d, %d, %v; want %d, %d", tt.cpu, tt.mem, cpu, mem, ok, tt.wantCPU, tt.wantMem)
		}
	}
	if _, _, ok := smallestFargateSize(16384, 200000); ok {
		t.Error("smallestFargateSize found a size above Fargate's largest")
	}
}

func FuzzOnigmoRegex(f *testing.F) {
	for _, s := range []string{`^(?P<l>INFO) \pL`, `(?is-m:x)[(?P<]`, `\Q`, `(?U)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := onigmoRegex(s)
		if err != nil {
			return
		}
		// What the launcher writes must stay one line.
		if strings.ContainsAny(out, "\r\n") && !strings.ContainsAny(s, "\r\n") {
			t.Errorf("onigmoRegex(%q) = %q added a line break", s, out)
		}
	})
}
