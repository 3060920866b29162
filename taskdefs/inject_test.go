package taskdefs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// injectCases are the inputs under testdata/inject and their options;
// names starting iNN_ reproduce item NN of issue 15 (a task definition
// that registered but broke logging) and show the fix.
var injectCases = []injectCase{
	{name: "fargate_awslogs", afterLint: []string{"task-role"}},
	{name: "describe_output"},
	{name: "existing_firelens"},
	{name: "secrets", opts: withLogGroup("/ecs/app", "us-east-1")},
	{name: "multi_container"},
	{name: "ec2_bridge", opts: func(o *Options) { o.AllowBridge, o.LogGroup, o.LogRegion = true, "/ecs/bridge", "us-east-1" }},
	{name: "upstream_image", opts: func(o *Options) { o.RouterImage = "fluent/fluent-bit:3.2" }},
	{name: "manual_recipe", opts: withLogGroup("/ecs/manual", "us-east-1"), afterLint: []string{"execution-role"}},
	{name: "core_cloudwatch_plugin", opts: func(o *Options) { o.CloudWatchPlugin = "cloudwatch_logs" }},
	// 1: the router's start is kept: an image built FROM aws-for-fluent-bit
	// loads its Go plugins, a custom image's plugin stays loaded, the init
	// image's init process still runs, a task definition's own command is
	// kept, a firehose plugin named by flag is accepted.
	{name: "i01_custom_image_like_aws", opts: func(o *Options) {
		o.RouterImageLike = "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.3"
	}},
	{name: "i01_start_command_newrelic", opts: func(o *Options) {
		o.RouterStartCommand = []string{"/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf", "-e", "/fluent-bit/bin/out_newrelic.so"}
	}},
	{name: "i01_init_image"},
	{name: "i01_firehose_plugins_flag", opts: func(o *Options) { o.RouterPlugins = []string{"/fluent-bit/firehose.so"} }},
	{name: "i01_td_command"},
	// 2: bridge mode reaches the sidecar over a link; host mode only when
	// allowed.
	{name: "i02_bridge", opts: func(o *Options) { o.AllowBridge = true }},
	{name: "i02_host", opts: func(o *Options) { o.AllowHostNetwork = true }},
	// ... over a unix socket in the shared volume where the router's
	// Fluent Bit matches acks there (5.1.1), else the link with the key
	// (above); the syslog recipe over a link, unauthenticated.
	{name: "i02_bridge_unix_socket", input: "i02_bridge", opts: func(o *Options) { o.AllowBridge, o.RouterImage = true, "fluent/fluent-bit:5.1.1" }},
	{name: "i02_bridge_syslog", input: "i02_bridge", opts: func(o *Options) { o.AllowBridge, o.Recipe = true, RecipeSyslog }},
	// 3: the copy to the sidecar never stalls the user's destinations
	// (forward recipe: filesystem-buffered copy, bounded backlog, acks).
	{name: "i03_isolation"},
	// 4: the IAM statement for the task role (i04_iam_migration.iam.json).
	{name: "i04_iam_migration", iam: true},
	// 5, 6: multiline and datetime options become Fluent Bit multiline
	// parsers for the app only; buffer options map to FireLens'.
	{name: "i05_i06_multiline", iam: true},
	{name: "i05_i06_multiline_core_plugin", input: "i05_i06_multiline", opts: func(o *Options) { o.CloudWatchPlugin = "cloudwatch_logs" }},
	// 7: the sidecar's own logs reuse the router's destination (without
	// the app-specific options it had), or the first app's CloudWatch
	// group with its own prefix.
	{name: "i07_router_destination"},
	{name: "i07_firelens_cloudwatch_only"},
	// 8, 11, 12: EC2: the stream is the container's ID without a prefix,
	// the region the task's; the instance role writes awslogs.
	{name: "i08_i11_i12_ec2"},
	{name: "i08_i11_i12_ec2_core_plugin", input: "i08_i11_i12_ec2", opts: func(o *Options) { o.CloudWatchPlugin = "cloudwatch_logs" }},
	// 9: Fluent Bit 5.1.1 sets PROCID with a preset, no record_modifier.
	{name: "i09_presets", opts: func(o *Options) { o.RouterImage, o.Recipe = "fluent/fluent-bit:5.1.1", RecipeSyslog }},
	// 15: --cloudwatch-plugin on an injected file converts its outputs.
	{name: "i15_plugin_switch", input: "fargate_awslogs.golden", opts: func(o *Options) { o.CloudWatchPlugin = "cloudwatch_logs" }, afterLint: []string{"task-role"}},
	// Issue 17: the sidecar's AWS sinks, configured by inject's flags
	// (which set its SIDEWATCH_* variables), with their IAM statements.
	{name: "sinks_s3", iam: true, opts: withSinks("stdout,s3",
		"SIDEWATCH_S3_BUCKET=acme-security-events", "SIDEWATCH_S3_PREFIX=ecs/web", "SIDEWATCH_S3_PARTITION_BY_TYPE=true",
		"SIDEWATCH_S3_KMS_KEY_ID=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"SIDEWATCH_S3_EXPECTED_BUCKET_OWNER=123456789012", "SIDEWATCH_S3_MAX_OBJECT_AGE=10m")},
	// Alerts to CloudWatch Logs, everything to S3 and Firehose; the task's
	// region from describe-task-definition's ARN.
	{name: "sinks_alerts_and_all", iam: true, opts: func(o *Options) {
		withSinks("stdout,cloudwatch,s3,firehose",
			"SIDEWATCH_CLOUDWATCH_LOG_GROUP=/security/sidewatch", "SIDEWATCH_CLOUDWATCH_EVENT_TYPES=alert", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP=true",
			"SIDEWATCH_S3_BUCKET=acme-security-events", "SIDEWATCH_S3_KMS_KEY_ID=alias/security-events",
			"SIDEWATCH_FIREHOSE_DELIVERY_STREAM=sidewatch-to-splunk", "SIDEWATCH_SPOOL_MAX_BYTES=536870912")(o)
		o.TaskRegion = "eu-west-1"
	}},
	// --aws-region names the sinks' region; only Firehose, no stdout.
	{name: "sinks_region_given", input: "sinks_s3", iam: true, opts: withSinks("firehose",
		"SIDEWATCH_AWS_REGION=us-west-2", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM=sidewatch-events", "SIDEWATCH_FIREHOSE_EVENT_TYPES=alert,flow,dns")},
	// The flags describe the state wanted: changed ones update the
	// variables, dropped sinks and options lose theirs.
	{name: "sinks_changed", input: "sinks_alerts_and_all.golden", iam: true, opts: withSinks("stdout,s3", "SIDEWATCH_S3_BUCKET=acme-archive", "SIDEWATCH_S3_PREFIX=sidewatch/v2")},
	{name: "sinks_removed", input: "sinks_alerts_and_all.golden", iam: true, opts: withSinks("stdout")},
	// A sink without a task role: inject warns, lint says it is an error.
	{name: "sinks_without_task_role", iam: true, afterLint: []string{"sink-task-role"}, opts: func(o *Options) {
		withSinks("stdout,cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP=/security/batch", "SIDEWATCH_CLOUDWATCH_LOG_STREAM=batch-events")(o)
		o.LogGroup, o.LogRegion = "/ecs/batch", "us-east-1"
	}},
	// A sidecar configured by hand on a read-only root file system: its
	// sinks are kept (no --sink), and the spool is on the image's volume.
	{name: "sinks_read_only_root", iam: true},
}

// withSinks configures the sidecar's sinks as `--sink SINKS` and the
// sink flags setting env (NAME=VALUE) do.
func withSinks(sinks string, env ...string) func(*Options) {
	return func(o *Options) {
		so := &SinkOptions{Sinks: strings.Split(sinks, ","), Env: map[string]string{}}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			so.Env[k] = v
		}
		o.Sinks = so
	}
}

type injectCase struct {
	name  string
	input string // file under testdata/inject without .json; default name
	opts  func(*Options)
	// afterLint are the error checks Lint still reports on the output:
	// what inject can't fix and warns about.
	afterLint []string
	iam       bool // also golden-test the IAM policy
}

func (c injectCase) inputPath() string {
	in := c.input
	if in == "" {
		in = c.name
	}
	return filepath.Join("testdata", "inject", in+".json")
}

func withLogGroup(group, region string) func(*Options) {
	return func(o *Options) { o.LogGroup, o.LogRegion = group, region }
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
			in := readDef(t, tc.inputPath())
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
			if tc.iam {
				if res.IAM == nil {
					t.Fatal("Inject gave no IAM needs")
				}
				golden(t, base+".iam.json", res.IAM.PolicyJSON())
			}
		})
	}
}

func TestInjectIdempotent(t *testing.T) {
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := caseOptions(tc.opts)
			once, err := Inject(readDef(t, tc.inputPath()), opts)
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
	const app = `{"name": "app", "image": "a", "memoryReservation": 256, "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/f", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app"}}}`
	const fargate = `"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"]`
	file := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "inject", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name string
		def  string
		opts func(*Options)
		want []string // substrings of the error
	}{
		{
			name: "bridge_without_flag",
			def:  `{"family": "f", "networkMode": "bridge", "containerDefinitions": [` + app + `]}`,
			want: []string{`networkMode: is "bridge"`, "the sidecar captures only its own traffic", "pass --allow-bridge"},
		},
		{
			name: "missing_network_mode",
			def:  `{"family": "f", "containerDefinitions": [` + app + `]}`,
			want: []string{"networkMode: is missing (bridge on EC2)"},
		},
		{
			name: "network_mode_none",
			def:  `{"family": "f", "networkMode": "none", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.AllowBridge = true },
			want: []string{`networkMode: "none"`},
		},
		{
			name: "i02_host_without_flag",
			def:  file("i02_host"),
			want: []string{`networkMode: is "host"`, "a second such task on the same instance cannot start its sidecar", "capture would record every task's and the instance's traffic", "--allow-host-network"},
		},
		{
			name: "fargate_bridge",
			def:  `{"family": "f", "networkMode": "bridge", "requiresCompatibilities": ["FARGATE"], "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.AllowBridge = true },
			want: []string{"networkMode: Fargate tasks need awsvpc"},
		},
		{
			name: "memory_too_small",
			def:  `{"family": "f", ` + fargate + `, "cpu": "256", "memory": "300", "containerDefinitions": [` + app + `]}`,
			want: []string{"memory: task memory 300 MiB is below the containers' reservations 256 (app) + 64 (sidewatch) + 50 (log_router) = 370 MiB", `cpu "256" with memory "512"`},
		},
		{
			name: "cpu_too_small",
			def:  `{"family": "f", ` + fargate + `, "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "app", "image": "a", "cpu": 256, "memoryReservation": 128}]}`,
			opts: withLogGroup("/ecs/f", "us-east-1"),
			want: []string{"cpu: task cpu 256 units is below the containers' cpu 256 (app) + 64 (sidewatch) + 0 (log_router) = 320 units", `cpu "512" with memory "1024"`},
		},
		{
			// 13: every dimension at once, a valid Fargate size, and the
			// common fix.
			name: "i13_hard_limit",
			def:  file("i13_hard_limit"),
			want: []string{
				"memory: task memory 512 MiB is below the containers' reservations 512 (thumbnails) + 64 (sidewatch) + 50 (log_router) = 626 MiB; cpu: task cpu 256 units is below the containers' cpu 256 (thumbnails) + 64 (sidewatch) + 0 (log_router) = 320 units",
				"give thumbnails (containerDefinitions[0]) a memoryReservation of at most 398 MiB",
				`or raise the task to the smallest Fargate size that fits: cpu "512" with memory "1024"`,
			},
		},
		{
			name: "i14_fluentd_router",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"@type": "cloudwatch_logs", "log_group_name": "g"}}}, {"name": "r", "image": "fluent/fluentd:v1.17", "firelensConfiguration": {"type": "fluentd"}}]}`,
			want: []string{`containerDefinitions[1].firelensConfiguration.type: is "fluentd"; sidewatch's log_router recipe runs in Fluent Bit`, "switch it to type fluentbit", "@type"},
		},
		{
			name: "i01_unknown_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "newrelic"}}}, {"name": "r", "image": "newrelic/newrelic-fluentbit-output:2.0.0", "firelensConfiguration": {"type": "fluentbit"}, "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}}}]}`,
			want: []string{"containerDefinitions[1].image: sidewatch cannot tell how newrelic/newrelic-fluentbit-output:2.0.0 starts Fluent Bit (it is not an image sidewatch knows)", "--router-start-command", "docker inspect", "--router-image-like", "--router-plugins", "sidewatch taskdef lint"},
		},
		{
			name: "i01_shell_command",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a"}, {"name": "r", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.3", "firelensConfiguration": {"type": "fluentbit"}, "entryPoint": ["sh", "-c"], "command": ["curl -so /extra.conf $URL && exec /entrypoint.sh"]}]}`,
			opts: withLogGroup("/ecs/f", "us-east-1"),
			want: []string{"containerDefinitions[1].entryPoint: sidewatch cannot tell how", "it starts with a shell script (sh -c 'curl -so /extra.conf $URL && exec /entrypoint.sh')", "--router-start-command"},
		},
		{
			name: "router_custom_entrypoint",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "x", "firelensConfiguration": {"type": "fluentbit"}, "entryPoint": ["/init"]}]}`,
			want: []string{"containerDefinitions[1].entryPoint: sidewatch cannot tell how x starts Fluent Bit (it starts /init, which is not Fluent Bit)"},
		},
		{
			name: "router_own_config",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "x", "firelensConfiguration": {"type": "fluentbit"}, "entryPoint": ["/fluent-bit/bin/fluent-bit"], "command": ["-c", "/x.conf"]}]}`,
			want: []string{"it runs Fluent Bit with its own config /x.conf instead of the FireLens one"},
		},
		{
			name: "router_command_under_unknown_entrypoint",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "x", "firelensConfiguration": {"type": "fluentbit"}, "command": ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf"]}]}`,
			want: []string{"its command runs under the image's ENTRYPOINT, which sidewatch does not know"},
		},
		{
			name: "router_image_like_unknown",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.RouterImage, o.RouterImageLike = "myorg/fb:1", "myorg/base:1" },
			want: []string{"--router-image-like myorg/base:1: not an image sidewatch knows"},
		},
		{
			name: "i10_windows",
			def:  `{"family": "f", "networkMode": "awsvpc", "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "X86_64"}, "containerDefinitions": [` + app + `]}`,
			want: []string{"runtimePlatform.operatingSystemFamily: WINDOWS_SERVER_2022_CORE: FireLens (the log_router) and the sidewatch sidecar run on Linux only"},
		},
		{
			name: "i10_windows_router_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "r", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:windowsservercore-stable", "firelensConfiguration": {"type": "fluentbit"}}]}`,
			want: []string{"containerDefinitions[1].image: public.ecr.aws/aws-observability/aws-for-fluent-bit:windowsservercore-stable is a Windows image"},
		},
		{
			name: "i16_cpu_as_string",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "cpu": "128", "memory": 256}]}`,
			want: []string{`containerDefinitions[0].cpu: is the string "128", want a JSON number such as 128`},
		},
		{
			name: "i16_twelve_containers",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + strings.Repeat(`{"name": "c", "image": "a"},`, 0) + manyContainers(12) + `]}`,
			want: []string{"containerDefinitions: 12 containers; ECS allows at most 10"},
		},
		{
			name: "i16_nine_plus_two",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + manyContainers(9) + `]}`,
			opts: withLogGroup("/ecs/f", "us-east-1"),
			want: []string{"the task would have 11 containers with the sidecar and the log_router; ECS allows 10"},
		},
		{
			name: "i16_too_large",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "environment": [{"name": "BIG", "value": "` + strings.Repeat("x", 70000) + `"}]}]}`,
			want: []string{"(document): 70", "bytes as compact JSON; ECS registers at most 65536 (64 KiB)"},
		},
		{
			name: "i16_null",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "healthCheck": null}]}`,
			want: []string{"containerDefinitions[0].healthCheck: null: the AWS CLI rejects null values"},
		},
		{
			name: "i07_no_destination",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a"}]}`,
			want: []string{"containerDefinitions[1].logConfiguration: the sidecar's own output", "would go nowhere", "pass --sidecar-log-group GROUP --sidecar-log-region REGION"},
		},
		{
			name: "multiline_both_options",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p", "awslogs-multiline-pattern": "^x", "awslogs-datetime-format": "%Y"}}}]}`,
			want: []string{"containerDefinitions[0].logConfiguration.options (container \"app\"): awslogs-multiline-pattern and awslogs-datetime-format are both set"},
		},
		{
			name: "multiline_unsupported_regex",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p", "awslogs-multiline-pattern": "\\Q[x]\\E"}}}]}`,
			want: []string{`multiline pattern "\\Q[x]\\E"`, `\Q...\E quoting has no equivalent`},
		},
		{
			name: "multiline_on_old_fluent_bit",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p", "awslogs-multiline-pattern": "^x"}}}]}`,
			opts: func(o *Options) { o.RouterImage = "amazon/aws-for-fluent-bit:2.12.0" },
			want: []string{"Fluent Bit 1.7 has no multiline filter (1.8.2 and later)"},
		},
		{
			name: "convert_unconvertible",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch", "region": "us-east-1", "log_group_name": "g", "log_stream_name": "$(kubernetes['pod'])"}}}]}`,
			opts: func(o *Options) {
				o.CloudWatchPlugin, o.LogGroup, o.LogRegion = "cloudwatch_logs", "/ecs/f", "us-east-1"
			},
			want: []string{"containerDefinitions[0].logConfiguration.options: converting cloudwatch to cloudwatch_logs: log_stream_name", "--cloudwatch-plugin cloudwatch"},
		},
		{
			name: "router_fluent_bit_version_bad",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.RouterFluentBit = "five" },
			want: []string{"--router-fluent-bit-version: fluent bit version \"five\""},
		},
		{
			name: "fluentd_router_is_refused_before_outputs",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "r", "image": "fluentd", "firelensConfiguration": {"type": "fluentd"}}]}`,
			want: []string{`containerDefinitions[0].firelensConfiguration.type: is "fluentd"`},
		},
		{
			name: "two_firelens_containers",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "x", "firelensConfiguration": {"type": "fluentbit"}}, {"name": "b", "image": "x", "firelensConfiguration": {"type": "fluentbit"}}]}`,
			want: []string{"containerDefinitions[1].firelensConfiguration: a second FireLens container"},
		},
		{
			name: "splunk_driver",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "splunk", "options": {"splunk-url": "https://x"}}}]}`,
			want: []string{`containerDefinitions[0].logConfiguration.logDriver: container "app" logs with "splunk"`},
		},
		{
			name: "go_plugin_on_upstream_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "firehose", "delivery_stream": "s"}}}]}`,
			opts: func(o *Options) { o.RouterImage = "fluent/fluent-bit:3.2" },
			want: []string{`containerDefinitions[0].logConfiguration.options.Name: "firehose" is a Go plugin`},
		},
		{
			name: "firelens_options_without_name",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awsfirelens", "options": {"name": "cloudwatch_logs"}}}]}`,
			want: []string{`containerDefinitions[0].logConfiguration.options.name: FireLens needs the key spelled "Name"`},
		},
		{
			name: "awslogs_without_group",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}}}]}`,
			want: []string{"containerDefinitions[0].logConfiguration.options (container \"app\"): awslogs-group: missing"},
		},
		{
			name: "sidecar_on_firelens",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "sidewatch", "image": "s", "logConfiguration": {"logDriver": "awsfirelens"}}]}`,
			want: []string{"containerDefinitions[0].logConfiguration.logDriver: the sidecar must not log through FireLens"},
		},
		{
			name: "router_name_taken",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "log_router", "image": "a"}]}`,
			want: []string{`a container is already named "log_router"`},
		},
		{
			name: "bad_sidecar_env",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.SidecarEnv = []string{"NOVALUE"} },
			want: []string{`sidecar environment "NOVALUE": want NAME=VALUE`},
		},
		{
			name: "go_cloudwatch_plugin_on_upstream_image",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.RouterImage, o.CloudWatchPlugin = "fluent/fluent-bit:3.2", "cloudwatch" },
			want: []string{"--cloudwatch-plugin cloudwatch: a Go plugin of the AWS for Fluent Bit image, absent from fluent/fluent-bit:3.2"},
		},
		{
			name: "unknown_cloudwatch_plugin",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.CloudWatchPlugin = "cw" },
			want: []string{`CloudWatch plugin "cw": want auto, cloudwatch or cloudwatch_logs`},
		},
		{
			name: "log_group_without_region",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) { o.LogGroup = "/ecs/f" },
			want: []string{"a log group for the sidecar needs its region too"},
		},
		{
			name: "sidecar_is_router",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "sidewatch", "image": "s", "firelensConfiguration": {"type": "fluentbit"}}]}`,
			want: []string{`containerDefinitions[0]: "sidewatch" is the FireLens container`},
		},
		// Issue 17: sink flags checked as the sidecar checks its variables,
		// with the flag named.
		{
			name: "sink_bad_bucket",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("stdout,s3", "SIDEWATCH_S3_BUCKET=Acme_Events"),
			want: []string{"containerDefinitions[1].environment: the sidecar would refuse to start with this sink configuration", `--s3-bucket (SIDEWATCH_S3_BUCKET) "Acme_Events" is not a bucket name`},
		},
		{
			name: "sink_missing_bucket",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("s3"),
			want: []string{"--s3-bucket (SIDEWATCH_S3_BUCKET) is required with --sink s3"},
		},
		{
			name: "sink_missing_group_and_stream",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("cloudwatch,firehose"),
			want: []string{"--cloudwatch-log-group (SIDEWATCH_CLOUDWATCH_LOG_GROUP) is required with --sink cloudwatch", "--firehose-delivery-stream (SIDEWATCH_FIREHOSE_DELIVERY_STREAM) is required with --sink firehose"},
		},
		{
			name: "sink_unknown",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("stdout,sqs"),
			want: []string{`--sink (SIDEWATCH_SINK) "stdout,sqs": "sqs" is not a sink`},
		},
		{
			name: "sink_none",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks(""),
			want: []string{"--sink (SIDEWATCH_SINK) names no sink"},
		},
		{
			name: "sink_flag_for_a_sink_not_named",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("stdout,s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM=events"),
			want: []string{"--firehose-delivery-stream: configures the firehose sink, which --sink (stdout,s3) does not name"},
		},
		{
			name: "sink_aws_option_without_aws_sink",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("stdout", "SIDEWATCH_SPOOL_MAX_BYTES=1048576"),
			want: []string{"--spool-max-bytes: configures the AWS sinks, and --sink (stdout) names none of s3, cloudwatch, firehose"},
		},
		{
			name: "sink_variable_in_sidecar_env",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: func(o *Options) {
				withSinks("s3", "SIDEWATCH_S3_BUCKET=acme-events")(o)
				o.SidecarEnv = []string{"SIDEWATCH_S3_PREFIX=x"}
			},
			want: []string{"--sidecar-env SIDEWATCH_S3_PREFIX: with --sink, the sink flags describe the AWS sinks' whole configuration", "use --s3-prefix"},
		},
		{
			name: "sink_bad_duration",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_S3_MAX_OBJECT_AGE=5 minutes"),
			want: []string{`--s3-max-object-age (SIDEWATCH_S3_MAX_OBJECT_AGE) "5 minutes": want a duration such as 30s or 5m`},
		},
		{
			name: "sink_duration_out_of_range",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_S3_MAX_OBJECT_AGE=2h", "SIDEWATCH_AWS_MAX_BACKOFF=100ms"),
			want: []string{"--s3-max-object-age (SIDEWATCH_S3_MAX_OBJECT_AGE) must be between 1s and 1h, got 2h0m0s", "--aws-max-backoff (SIDEWATCH_AWS_MAX_BACKOFF) must be between 200ms and 1h0m0s, got 100ms"},
		},
		{
			name: "sink_object_larger_than_half_the_spool",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_S3_MAX_OBJECT_BYTES=8388608", "SIDEWATCH_SPOOL_MAX_BYTES=8388608"),
			want: []string{"--s3-max-object-bytes (SIDEWATCH_S3_MAX_OBJECT_BYTES) 8388608 must be at most half of --spool-max-bytes (SIDEWATCH_SPOOL_MAX_BYTES) 8388608"},
		},
		{
			name: "sink_bad_event_type_and_region",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP=/security", "SIDEWATCH_CLOUDWATCH_EVENT_TYPES=Alert", "SIDEWATCH_AWS_REGION=Ireland"),
			want: []string{`--cloudwatch-event-types (SIDEWATCH_CLOUDWATCH_EVENT_TYPES): "Alert" is not an event type`, `--aws-region (SIDEWATCH_AWS_REGION) "Ireland" is not a region name`},
		},
		{
			name: "sink_bad_number",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_SPOOL_MAX_BYTES=256MiB"),
			want: []string{`--spool-max-bytes (SIDEWATCH_SPOOL_MAX_BYTES) "256MiB": want a whole number`},
		},
		{
			name: "sink_file_without_path",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `]}`,
			opts: withSinks("stdout,file"),
			want: []string{"--file-path (SIDEWATCH_FILE_PATH) is required with --sink file"},
		},
		{
			// Without --sink the sidecar's own configuration is checked too.
			name: "sink_existing_bad_value",
			def:  `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [` + app + `, {"name": "sidewatch", "image": "s", "environment": [{"name": "SIDEWATCH_SINK", "value": "s3"}, {"name": "SIDEWATCH_S3_BUCKET", "value": "b"}, {"name": "SIDEWATCH_S3_PARTITION_BY_TYPE", "value": "on"}]}]}`,
			want: []string{"containerDefinitions[1].environment: the sidecar would refuse to start", `--s3-bucket (SIDEWATCH_S3_BUCKET) "b" is not a bucket name`, `--s3-partition-by-type (SIDEWATCH_S3_PARTITION_BY_TYPE) "on": want true, 1, yes, false, 0 or no`},
		},
		{
			name: "bad_task_memory",
			def:  `{"family": "f", "networkMode": "awsvpc", "memory": "lots", "containerDefinitions": [` + app + `]}`,
			want: []string{`memory: memory "lots"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := Read([]byte(tt.def))
			if err != nil {
				t.Fatalf("Read = %v", err)
			}
			_, err = Inject(def, caseOptions(tt.opts))
			if err == nil {
				t.Fatalf("Inject = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Inject = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// manyContainers returns n container definitions, comma-separated.
func manyContainers(n int) string {
	var cs []string
	for i := range n {
		cs = append(cs, fmt.Sprintf(`{"name": "c%d", "image": "a", "memoryReservation": 32}`, i))
	}
	return strings.Join(cs, ", ")
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
	opts.LogGroup, opts.LogRegion = "/ecs/f", "us-east-1"
	res, err := Inject(def, opts)
	if err != nil {
		t.Fatalf("Inject = %v", err)
	}
	var got []string
	for _, c := range containers(res.Def) {
		got = append(got, c.String("name")+":"+c.Object("logConfiguration").String("logDriver"))
	}
	want := []string{"a:awsfirelens", "b:json-file", "c:splunk", "sidewatch:awslogs", "log_router:awslogs"}
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

// TestInjectKeepsRecordedStart: what the --router-* flags said survives
// in the router's label, so injecting again without them (deploy from CI)
// changes nothing.
func TestInjectKeepsRecordedStart(t *testing.T) {
	for _, name := range []string{"i01_custom_image_like_aws", "i01_start_command_newrelic", "i01_firehose_plugins_flag", "i01_td_command"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "inject", name+".golden.json")
			res, err := Inject(readDef(t, path), DefaultOptions())
			if err != nil {
				t.Fatalf("Inject without the flags = %v", err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustEncode(t, res.Def); string(got) != string(want) {
				t.Errorf("Inject without the flags changed it:\n%s", Diff("golden", "again", want, got))
			}
		})
	}
	// A new image given with --router-image drops the recorded start.
	def := readDef(t, filepath.Join("testdata", "inject", "i01_start_command_newrelic.golden.json"))
	opts := DefaultOptions()
	opts.RouterImage = "fluent/fluent-bit:5.1.1"
	res, err := Inject(def, opts)
	if err != nil {
		t.Fatal(err)
	}
	router := containers(res.Def)[1]
	if l := router.Object("dockerLabels").String(StartLabel); l != "" {
		t.Errorf("label after --router-image = %q, want none", l)
	}
	if cmd := strList(router.Array("command")); slices.Contains(cmd, "/fluent-bit/bin/out_newrelic.so") {
		t.Errorf("command after --router-image still loads the old image's plugin: %q", cmd)
	}
}
