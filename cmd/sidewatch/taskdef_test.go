//go:build !sidecaronly

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/taskdefs"
)

// runTaskdef parses args as `sidewatch taskdef ...` and runs the command;
// a parse error (flag validation included) is its error.
func runTaskdef(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var cli struct {
		Taskdef TaskdefCmd `cmd:""`
	}
	var out, errb bytes.Buffer
	parser, err := kong.New(&cli, kong.Name("sidewatch"), kong.Writers(&out, &errb),
		kong.Exit(func(int) { t.Fatalf("kong exited on %v", args) }))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse(append([]string{"taskdef"}, args...))
	if err != nil {
		return "", "", fmt.Errorf("parse: %w", err)
	}
	e := &env{ctx: t.Context(), stdout: &out, stderr: &errb, log: slog.New(slog.NewTextHandler(&errb, nil))}
	err = kctx.Run(e)
	return out.String(), errb.String(), err
}

const example = "../../taskdefs/testdata/inject/fargate_awslogs.json"

func TestTaskdefInject(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	if _, stderr, err := runTaskdef(t, "inject", example, "-o", out); err != nil {
		t.Fatalf("inject = %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../taskdefs/testdata/inject/fargate_awslogs.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("inject -o wrote a different document than the golden file:\n%s", taskdefs.Diff("golden", "got", want, got))
	}
	// Injecting the output again changes nothing.
	stdout, _, err := runTaskdef(t, "inject", out, "--dry-run")
	if err != nil || stdout != "" {
		t.Errorf("inject --dry-run on injected output = %q, %v; want no diff", stdout, err)
	}
}

func TestTaskdefInjectDryRun(t *testing.T) {
	stdout, stderr, err := runTaskdef(t, "inject", example, "--dry-run", "--no-sidecar-essential", "--sidecar-image", "example.com/sw:1")
	if err != nil {
		t.Fatalf("inject --dry-run = %v\n%s", err, stderr)
	}
	for _, want := range []string{"--- " + example + "\n", "+++ " + example + " (injected)\n", "@@ -", `+        "logDriver": "awsfirelens",`, `+      "image": "example.com/sw:1",`, `+      "essential": false,`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inject --dry-run output lacks %q:\n%s", want, stdout)
		}
	}
	// The IAM change is said, with the statement, and that there is no
	// task role.
	for _, want := range []string{"fargate-app moved from awslogs", "with the task role (none: add taskRoleArn)", "logs:PutLogEvents", "log-group:/ecs/fargate-task-definition:*"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("inject stderr = %q, want it to contain %q", stderr, want)
		}
	}
}

func TestTaskdefInjectRefuses(t *testing.T) {
	_, _, err := runTaskdef(t, "inject", "../../taskdefs/testdata/inject/ec2_bridge.json")
	if err == nil || !strings.Contains(err.Error(), "networkMode") || !strings.Contains(err.Error(), "--allow-bridge") {
		t.Errorf("inject bridge = %v, want an error naming networkMode and --allow-bridge", err)
	}
	if _, _, err := runTaskdef(t, "inject", "../../taskdefs/testdata/inject/i02_bridge.json", "--allow-bridge"); err != nil {
		t.Errorf("inject bridge --allow-bridge = %v", err)
	}
	_, _, err = runTaskdef(t, "inject", "../../taskdefs/testdata/inject/i01_start_command_newrelic.json")
	if err == nil || !strings.Contains(err.Error(), "--router-start-command") {
		t.Errorf("inject with an unknown router image = %v, want the flags to describe it", err)
	}
	stdout, stderr, err := runTaskdef(t, "inject", "../../taskdefs/testdata/inject/i01_start_command_newrelic.json",
		"--router-start-command", `["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf", "-e", "/fluent-bit/bin/out_newrelic.so"]`)
	if err != nil || !strings.Contains(stdout, `"/fluent-bit/bin/out_newrelic.so"`) {
		t.Errorf("inject --router-start-command = %v\n%s\n%s", err, stderr, stdout)
	}
}

func TestTaskdefRecipe(t *testing.T) {
	stdout, stderr, err := runTaskdef(t, "inject", example)
	if err != nil || !strings.Contains(stdout, `"forward",`) || !strings.Contains(stdout, `"--key-file",`) {
		t.Errorf("inject = %v, want the forward recipe by default\n%s\n%s", err, stderr, stdout)
	}
	stdout, stderr, err = runTaskdef(t, "inject", example, "--recipe", "syslog")
	if err != nil || !strings.Contains(stdout, `"syslog",`) || strings.Contains(stdout, `"--key-file",`) {
		t.Errorf("inject --recipe syslog = %v, want the syslog recipe\n%s\n%s", err, stderr, stdout)
	}
}

func TestTaskdefIAMPolicy(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.json")
	_, stderr, err := runTaskdef(t, "inject", "../../taskdefs/testdata/inject/i04_iam_migration.json", "--iam-policy", policy)
	if err != nil {
		t.Fatalf("inject --iam-policy = %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../taskdefs/testdata/inject/i04_iam_migration.iam.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("--iam-policy wrote\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(stderr, "api, worker moved from awslogs") || !strings.Contains(stderr, "arn:aws-us-gov:iam::210987654321:role/payments-task") {
		t.Errorf("inject stderr = %q, want who writes the logs now and with which role", stderr)
	}
}

func TestTaskdefLint(t *testing.T) {
	stdout, _, err := runTaskdef(t, "lint", example)
	if !errors.Is(err, errFindings) {
		t.Errorf("lint on an unprotected definition = %v, want errFindings", err)
	}
	if !strings.Contains(stdout, "error: containerDefinitions [sidecar-missing]") {
		t.Errorf("lint text output lacks the sidecar-missing error:\n%s", stdout)
	}
	stdout, _, err = runTaskdef(t, "lint", "--format", "json", "../../taskdefs/testdata/inject/secrets.golden.json")
	if err != nil {
		t.Errorf("lint on an injected definition = %v\n%s", err, stdout)
	}
	var fs []taskdefs.Finding
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil || fs == nil || len(fs) != 0 {
		t.Errorf("lint --format json = %q (%v), want []", stdout, err)
	}
}

func TestTaskdefRegisterAndDeploy(t *testing.T) {
	srv, err := mototest.Start()
	if errors.Is(err, mototest.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for _, kv := range mototest.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := t.Context()
	client, err := taskdefs.NewECS(ctx, taskdefs.AWSConfig{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}

	// register refuses an unprotected definition, then registers one.
	if _, _, err := runTaskdef(t, "register", example, "--endpoint-url", srv.URL); err == nil || !strings.Contains(err.Error(), "lint errors") {
		t.Errorf("register of an unprotected definition = %v, want a lint refusal", err)
	}
	stdout, stderr, err := runTaskdef(t, "register", "../../taskdefs/testdata/inject/describe_output.json", "--endpoint-url", srv.URL, "--force")
	if err != nil {
		t.Fatalf("register --force = %v\n%s", err, stderr)
	}
	arn0 := strings.TrimSpace(stdout)
	if !strings.HasSuffix(arn0, ":task-definition/web-task:1") {
		t.Fatalf("register printed %q, want the ARN of web-task:1", stdout)
	}

	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("s1"), TaskDefinition: aws.String(arn0),
		DesiredCount: aws.Int32(0), LaunchType: types.LaunchTypeFargate,
	}); err != nil {
		t.Fatal(err)
	}
	deploy := []string{"deploy", "--cluster", "c1", "--service", "s1", "--endpoint-url", srv.URL}
	stdout, _, err = runTaskdef(t, append(deploy, "--dry-run")...)
	if err != nil || !strings.Contains(stdout, `+      "name": "sidewatch",`) {
		t.Errorf("deploy --dry-run = %v, output:\n%s", err, stdout)
	}
	stdout, stderr, err = runTaskdef(t, append(deploy, "--wait", "--wait-interval", "10ms")...)
	if err != nil {
		t.Fatalf("deploy --wait = %v\n%s", err, stderr)
	}
	// Deploy says who writes the logs now before it rolls out.
	if i, j := strings.Index(stderr, "web moved from awslogs"), strings.Index(stderr, "running"); i < 0 || j >= 0 && i > j {
		t.Errorf("deploy stderr = %q, want the IAM change before the rollout", stderr)
	}
	arn1 := strings.TrimSpace(stdout)
	if want := strings.TrimSuffix(arn0, ":1") + ":2"; arn1 != want {
		t.Errorf("deploy printed %q, want %s", arn1, want)
	}
	if !strings.Contains(stderr, "0/0 running") {
		t.Errorf("deploy --wait progress = %q, want a running count", stderr)
	}
	ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(ds.Services[0].TaskDefinition); got != arn1 {
		t.Errorf("service task definition = %s, want %s", got, arn1)
	}
	if _, _, err := runTaskdef(t, "deploy", "--cluster", "c1", "--service", "nope", "--endpoint-url", srv.URL); err == nil || !strings.Contains(err.Error(), "describe service nope in cluster c1: not found") {
		t.Errorf("deploy of a missing service = %v, want not found", err)
	}
	// A second deploy finds nothing to change and registers nothing.
	stdout, _, err = runTaskdef(t, append(deploy, "--dry-run")...)
	if err != nil || stdout != "" {
		t.Errorf("deploy --dry-run after deploy = %q, %v; want no diff", stdout, err)
	}
	stdout, _, err = runTaskdef(t, deploy...)
	if got := strings.TrimSpace(stdout); err != nil || got != arn1 {
		t.Errorf("deploy after deploy = %q, %v; want the current ARN %s", got, err, arn1)
	}
	list, err := client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web-task")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskDefinitionArns) != 2 {
		t.Errorf("revisions after two deploys = %v, want 2 (the original and one protected)", list.TaskDefinitionArns)
	}

	// Sink flags: the statements use the region of the service's task
	// definition; a later deploy without the flags keeps the sinks.
	sinks := append(deploy, "--sink", "stdout,cloudwatch", "--cloudwatch-log-group", "/security/alerts")
	stdout, stderr, err = runTaskdef(t, sinks...)
	if err != nil {
		t.Fatalf("deploy --sink = %v\n%s", err, stderr)
	}
	arn2 := strings.TrimSpace(stdout)
	if want := strings.TrimSuffix(arn0, ":1") + ":3"; arn2 != want {
		t.Errorf("deploy --sink printed %q, want %s", arn2, want)
	}
	if want := `arn:aws:logs:us-east-1:123456789012:log-group:/security/alerts:log-stream:sidewatch/*`; !strings.Contains(stderr, want) {
		t.Errorf("deploy --sink stderr lacks %s:\n%s", want, stderr)
	}
	stdout, _, err = runTaskdef(t, deploy...)
	if got := strings.TrimSpace(stdout); err != nil || got != arn2 {
		t.Errorf("deploy without sink flags after deploy --sink = %q, %v; want the current ARN %s", got, err, arn2)
	}
}

// writeTemp writes content to a file and returns its path.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "td.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTaskdefExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"lint_clean", []string{"taskdef", "lint", "../../taskdefs/testdata/inject/secrets.golden.json"}, 0},
		{"lint_errors", []string{"taskdef", "lint", example}, 1},
		{"inject_refused", []string{"taskdef", "inject", "../../taskdefs/testdata/inject/ec2_bridge.json"}, 1},
		{"missing_file", []string{"taskdef", "lint", "does-not-exist.json"}, 3},
		{"not_json", []string{"taskdef", "lint", writeTemp(t, "{nope")}, 3},
		{"not_utf8", []string{"taskdef", "inject", writeTemp(t, "{\"family\": \"f\xe9\"}")}, 3},
		{"bom_accepted", []string{"taskdef", "lint", writeTemp(t, "\xef\xbb\xbf"+`{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]}`)}, 1},
		{"inject_cpu_string", []string{"taskdef", "inject", writeTemp(t, `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "i", "cpu": "128"}]}`)}, 1},
		{"lint_warnings_only", []string{"taskdef", "lint", "../../taskdefs/testdata/inject/i04_iam_migration.golden.json"}, 0},
		{"log_group_without_region", []string{"taskdef", "inject", "--sidecar-log-group", "/ecs/x", example}, 2},
		{"deploy_log_group_without_region", []string{"taskdef", "deploy", "--cluster", "c", "--service", "s", "--sidecar-log-group", "/ecs/x"}, 2},
		{"deploy_zero_wait_interval", []string{"taskdef", "deploy", "--cluster", "c", "--service", "s", "--wait-interval", "0s"}, 2},
		{"sidecar_env_keeps_commas", []string{"taskdef", "inject", "--sidecar-env", "SIDEWATCH_SINK=stdout,file", "--sidecar-env", "SIDEWATCH_FILE_PATH=/var/log/sidewatch/events.json", example}, 0},
		// A sink configuration the sidecar would refuse.
		{"sidecar_env_refused", []string{"taskdef", "inject", "--sidecar-env", "SIDEWATCH_SINK=stdout,file", example}, 1},
		{"sink_option_without_sink", []string{"taskdef", "inject", "--s3-bucket", "b", example}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(t.Context(), tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("run(%q) = %d, want %d\nstderr: %s", tt.args, got, tt.want, stderr.String())
			}
			if tt.name == "sidecar_env_keeps_commas" && !strings.Contains(stdout.String(), `"value": "stdout,file"`) {
				t.Errorf("run(%q) output lacks the env value with its comma", tt.args)
			}
		})
	}
}
