package taskdefs

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// injectCases are the inputs under testdata/inject and their options.
var injectCases = []struct {
	name string
	opts func(*Options)
	// afterLint are the error checks Lint still reports on the output:
	// what inject can't fix and warns about.
	afterLint []string
}{
	{name: "fargate_awslogs", afterLint: []string{"task-role"}},
	{name: "describe_output"},
	{name: "existing_firelens"},
	{name: "secrets"},
	{name: "multi_container"},
	{name: "ec2_bridge", opts: func(o *Options) { o.AllowBridge = true }},
	{name: "upstream_image", opts: func(o *Options) { o.RouterImage = "fluent/fluent-bit:3.2" }},
	{name: "manual_recipe"},
	{name: "core_cloudwatch_plugin", opts: func(o *Options) { o.CloudWatchPlugin = "cloudwatch_logs" }},
}

func caseOptions(f func(*Options)) Options {
	o := DefaultOptions()
	if f != nil {
		f(&o)
	}
	return o
}

func readDef(t testing.TB, path string) *Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	def, err := Read(data)
	if err != nil {
		t.Fatalf("Read(%s) = %v", path, err)
	}
	return def
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make golden)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenInject(t *testing.T) {
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "inject", tc.name)
			in := readDef(t, base+".json")
			before := mustEncode(t, in)
			res, err := Inject(in, caseOptions(tc.opts))
			if err != nil {
				t.Fatalf("Inject = %v", err)
			}
			if got := mustEncode(t, in); string(got) != string(before) {
				t.Errorf("Inject modified its input")
			}
			out := mustEncode(t, res.Def)
			golden(t, base+".golden.json", out)
			golden(t, base+".warnings.txt", []byte(strings.Join(append(res.Warnings, ""), "\n")))
			after := Lint(res.Def, LintOptions{})
			golden(t, base+".lint.txt", []byte("before inject:\n"+FormatFindings(Lint(in, LintOptions{}))+"\nafter inject:\n"+FormatFindings(after)))
			var errs []string
			for _, f := range after {
				if f.Severity == SeverityError {
					errs = append(errs, f.Check)
				}
			}
			if diff := cmp.Diff(tc.afterLint, errs); diff != "" {
				t.Errorf("Lint(injected) error checks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInjectIdempotent(t *testing.T) {
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := caseOptions(tc.opts)
			once, err := Inject(readDef(t, filepath.Join("testdata", "inject", tc.name+".json")), opts)
			if err != nil {
				t.Fatalf("Inject = %v", err)
			}
			twice, err := Inject(once.Def, opts)
			if err != nil {
				t.Fatalf("Inject(injected) = %v", err)
			}
			if diff := cmp.Diff(string(mustEncode(t, once.Def)), string(mustEncode(t, twice.Def))); diff != "" {
				t.Errorf("Inject(Inject(x)) != Inject(x) (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestInjectErrors(t *testing.T) {
	const app = `{"name": "app", "image": "a", "memoryReservation": 256}`
	tests := []struct {
		name string
		def  string
		opts func(*Options)
		want string // substring of the error
	}{
		{
			name: "bridge_without_flag",
			def:  `{"family": "f", "networkMode": "bridge", "containerDefinitions": [` + app + `]}`,
			want: `networkMode: is "bridge", want "awsvpc"`,
		},
		{
			name: "missing_network_mode",
			def:  `{"family": "f", "containerDefinitions": [` + app + `]}`,
			want: "networkMode: is missing (bridge on EC2)",
		},
		{
			name: "network_mode_none",
			def:  `{"family": "f", "networkMode": "none", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.AllowBridge = true },
			want: `networkMode: "none"`,
		},
		{
			name: "memory_too_small",
			def:  `{"family": "f", "networkMode": "awsvpc", "memory": "300", "containerDefinitions": [` + app + `]}`,
			want: "memory: task memory 300 MiB is below the containers' reservations 256 (app) + 64 (sidewatch) + 50 (log_router) = 370 MiB",
		},
		{
			name: "cpu_too_small",
			def:  `{"family": "f", "networkMode": "awsvpc", "cpu": "256", "containerDefinitions": [{"name": "app", "image": "a", "cpu": 256}]}`,
			want: "cpu: task cpu 256 units is below the containers' cpu 256 (app) + 64 (sidewatch) + 0 (log_router) = 320 units",
		},
		{
			name: "fluentd_router",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "fluentd", "firelensConfiguration": {"type": "fluentd"}}]}`,
			want: `containerDefinitions[1].firelensConfiguration.type: is "fluentd"`,
		},
		{
			name: "router_custom_entrypoint",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "x", "firelensConfiguration": {"type": "fluentbit"}, "entryPoint": ["/init"]}]}`,
			want: "containerDefinitions[1].entryPoint: is [/init]",
		},
		{
			name: "router_custom_command",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "x", "firelensConfiguration": {"type": "fluentbit"}, "command": ["/fluent-bit/bin/fluent-bit", "-c", "/x.conf"]}]}`,
			want: "containerDefinitions[1].command: is",
		},
		{
			name: "two_firelens_containers",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "x", "firelensConfiguration": {"type": "fluentbit"}}, {"name": "b", "image": "x", "firelensConfiguration": {"type": "fluentbit"}}]}`,
			want: "containerDefinitions[1].firelensConfiguration: a second FireLens container",
		},
		{
			name: "splunk_driver",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "splunk", "options": {"splunk-url": "https://x"}}}]}`,
			want: `containerDefinitions[0].logConfiguration.logDriver: container "app" logs with "splunk"`,
		},
		{
			name: "go_plugin_on_upstream_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch", "log_group_name": "g"}}}]}`,
			opts: func(o *Options) { o.RouterImage = "fluent/fluent-bit:3.2" },
			want: `containerDefinitions[0].logConfiguration.options.Name: "cloudwatch" is a Go plugin`,
		},
		{
			name: "firelens_options_without_name",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"name": "cloudwatch_logs"}}}]}`,
			want: `containerDefinitions[0].logConfiguration.options.name: FireLens needs the key spelled "Name"`,
		},
		{
			name: "awslogs_without_group",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}}}]}`,
			want: "containerDefinitions[0].logConfiguration.options.awslogs-group: missing",
		},
		{
			name: "sidecar_on_firelens",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "sidewatch", "image": "s", "logConfiguration": {"logDriver": "awsfirelens"}}]}`,
			want: "containerDefinitions[0].logConfiguration.logDriver: the sidecar must not log through FireLens",
		},
		{
			name: "router_name_taken",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "log_router", "image": "a"}]}`,
			want: `a container is already named "log_router"`,
		},
		{
			name: "bad_sidecar_env",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.SidecarEnv = []string{"NOVALUE"} },
			want: `sidecar environment "NOVALUE": want NAME=VALUE`,
		},
		{
			name: "go_cloudwatch_plugin_on_upstream_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.RouterImage, o.CloudWatchPlugin = "fluent/fluent-bit:3.2", "cloudwatch" },
			want: "CloudWatch plugin cloudwatch: a Go plugin of the AWS for Fluent Bit image, absent from fluent/fluent-bit:3.2",
		},
		{
			name: "unknown_cloudwatch_plugin",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.CloudWatchPlugin = "cw" },
			want: `CloudWatch plugin "cw": want auto, cloudwatch or cloudwatch_logs`,
		},
		{
			name: "log_group_without_region",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.LogGroup = "/ecs/f" },
			want: "a log group for the sidecar needs its region too",
		},
		{
			name: "sidecar_is_router",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "sidewatch", "image": "s", "firelensConfiguration": {"type": "fluentbit"}}]}`,
			want: `containerDefinitions[0]: "sidewatch" is the FireLens container`,
		},
		{
			name: "bad_task_memory",
			def:  `{"family": "f", "networkMode": "awsvpc", "memory": "lots", "containerDefinitions": [` + app + `]}`,
			want: `memory: memory "lots"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := Read([]byte(tt.def))
			if err != nil {
				t.Fatalf("Read = %v", err)
			}
			_, err = Inject(def, caseOptions(tt.opts))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Inject = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestInjectOptOut(t *testing.T) {
	def, err := Read([]byte(`{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "a", "image": "a"},
		{"name": "b", "image": "b", "logConfiguration": {"logDriver": "json-file"}},
		{"name": "c", "image": "c", "dockerLabels": {"sidewatch.ignore": "true"}, "logConfiguration": {"logDriver": "splunk"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Ignore = []string{"b"}
	res, err := Inject(def, opts)
	if err != nil {
		t.Fatalf("Inject = %v", err)
	}
	var got []string
	for _, c := range containers(res.Def) {
		got = append(got, c.String("name")+":"+c.Object("logConfiguration").String("logDriver"))
	}
	want := []string{"a:awsfirelens", "b:json-file", "c:splunk", "sidewatch:", "log_router:"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("containers:logDriver (-want +got):\n%s", diff)
	}
}

func BenchmarkInject(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "inject", "multi_container.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		def, err := Read(data)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Inject(def, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Encode(res.Def); err != nil {
			b.Fatal(err)
		}
	}
}
