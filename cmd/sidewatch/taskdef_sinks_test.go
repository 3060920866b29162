//go:build !sidecaronly

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/config"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/sidecar"
	"github.com/sidewatch/sidewatch/sidecar/sink/s3"
	"github.com/sidewatch/sidewatch/taskdefs"
)

const injectTestdata = "../../taskdefs/testdata/inject/"

// TestTaskdefSinkFlagsMirrorSidecar: inject has one flag per variable of
// the sidecar's AWS sinks, named as the sidecar's flag, and --sink takes
// what the sidecar's --sink takes.
func TestTaskdefSinkFlagsMirrorSidecar(t *testing.T) {
	var got, want []string
	ft := reflect.TypeFor[sinkFlags]()
	for i := range ft.NumField() {
		f := ft.Field(i)
		if f.Name == "Sink" {
			continue
		}
		env := f.Tag.Get("env")
		if !strings.HasPrefix(env, "SIDEWATCH_TASKDEF_") {
			t.Errorf("flag --%s: variable %q, want SIDEWATCH_TASKDEF_*", f.Tag.Get("name"), env)
		}
		got = append(got, f.Tag.Get("name")+" "+sinkFlagEnv(env))
	}
	for _, v := range taskdefs.ManagedSinkVariables() {
		want = append(want, v.Flag+" "+v.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("inject's sink flags and the variables they set:\n%s\nthe sidecar's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sinks, _ := reflect.TypeFor[sidecar.Config]().FieldByName("Sinks")
	if enum := sinks.Tag.Get("enum"); enum != strings.Join(taskdefs.SinkNames(), ",") {
		t.Errorf("the sidecar's --sink takes %s, taskdefs knows %v", enum, taskdefs.SinkNames())
	}
}

// sidecarRefuses parses env as `sidewatch run` does (kong with the
// variables set, Config.Validate, and the s3 sink's check at open) and
// returns its error.
func sidecarRefuses(t *testing.T, env map[string]string) error {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c struct {
		Run runCmd `cmd:""`
	}
	parser, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong exited") }), kong.Writers(&bytes.Buffer{}, &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"run"}); err != nil {
		return err
	}
	if slices.Contains(c.Run.Sinks, s3.Name) {
		return c.Run.S3.ValidateSpool(c.Run.Spool)
	}
	return nil
}

// TestSinkEnvAsTheSidecarReadsIt: lint refuses a sink configuration
// exactly when `sidewatch run` does.
func TestSinkEnvAsTheSidecarReadsIt(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"default", map[string]string{}},
		{"all_aws", map[string]string{"SIDEWATCH_SINK": "stdout,s3,cloudwatch,firehose", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s"}},
		{"space_after_comma", map[string]string{"SIDEWATCH_SINK": "stdout, s3", "SIDEWATCH_S3_BUCKET": "acme-events"}},
		{"trailing_comma", map[string]string{"SIDEWATCH_SINK": "s3,", "SIDEWATCH_S3_BUCKET": "acme-events"}},
		{"double_comma", map[string]string{"SIDEWATCH_SINK": "s3,,stdout", "SIDEWATCH_S3_BUCKET": "acme-events"}},
		{"empty_sink", map[string]string{"SIDEWATCH_SINK": ""}},
		{"unknown_sink", map[string]string{"SIDEWATCH_SINK": "kinesis"}},
		{"upper_case_sink", map[string]string{"SIDEWATCH_SINK": "S3", "SIDEWATCH_S3_BUCKET": "acme-events"}},
		{"no_bucket", map[string]string{"SIDEWATCH_SINK": "s3"}},
		{"empty_bucket", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": ""}},
		{"bad_bucket", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "Acme"}},
		{"bad_bucket_unused", map[string]string{"SIDEWATCH_SINK": "stdout", "SIDEWATCH_S3_BUCKET": "Acme"}},
		{"bad_number_unused", map[string]string{"SIDEWATCH_SINK": "stdout", "SIDEWATCH_SPOOL_MAX_BYTES": "lots"}},
		{"hex_number", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_SPOOL_MAX_BYTES": "0x10000000"}},
		{"underscore_number", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_SPOOL_MAX_BYTES": "268_435_456"}},
		{"empty_number", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_SPOOL_MAX_BYTES": ""}},
		{"object_over_half_spool", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_SPOOL_MAX_BYTES": "4194304", "SIDEWATCH_S3_MAX_OBJECT_BYTES": "4194304"}},
		{"bool_yes", map[string]string{"SIDEWATCH_SINK": "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP": "YES"}},
		{"bool_on", map[string]string{"SIDEWATCH_SINK": "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP": "on"}},
		{"bool_empty", map[string]string{"SIDEWATCH_SINK": "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP": ""}},
		{"duration_number", map[string]string{"SIDEWATCH_SINK": "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_CLOUDWATCH_BATCH_DELAY": "5"}},
		{"duration_zero", map[string]string{"SIDEWATCH_SINK": "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP": "/sec", "SIDEWATCH_CLOUDWATCH_BATCH_DELAY": "0s"}},
		{"duration_too_long", map[string]string{"SIDEWATCH_SINK": "firehose", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s", "SIDEWATCH_FIREHOSE_BATCH_DELAY": "2h"}},
		{"event_types", map[string]string{"SIDEWATCH_SINK": "firehose", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s", "SIDEWATCH_FIREHOSE_EVENT_TYPES": "alert,dns"}},
		{"event_types_space", map[string]string{"SIDEWATCH_SINK": "firehose", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s", "SIDEWATCH_FIREHOSE_EVENT_TYPES": "alert, dns"}},
		{"event_types_empty", map[string]string{"SIDEWATCH_SINK": "firehose", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s", "SIDEWATCH_FIREHOSE_EVENT_TYPES": ""}},
		{"escaped_comma", map[string]string{"SIDEWATCH_SINK": `s3\,stdout`, "SIDEWATCH_S3_BUCKET": "acme-events"}},
		{"bad_region", map[string]string{"SIDEWATCH_SINK": "firehose", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "s", "SIDEWATCH_AWS_REGION": "eu-west"}},
		{"bad_endpoint", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_S3_ENDPOINT_URL": "localhost:4566"}},
		{"empty_spool_dir", map[string]string{"SIDEWATCH_SINK": "s3", "SIDEWATCH_S3_BUCKET": "acme-events", "SIDEWATCH_SPOOL_DIR": ""}},
		{"file_without_path", map[string]string{"SIDEWATCH_SINK": "file"}},
		{"file_bad_keep", map[string]string{"SIDEWATCH_SINK": "file", "SIDEWATCH_FILE_PATH": "/var/log/e.json", "SIDEWATCH_FILE_KEEP": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []any{}
			for k, v := range tt.env {
				env = append(env, map[string]string{"name": k, "value": v})
			}
			def := map[string]any{"family": "f", "taskRoleArn": "arn:aws:iam::123456789012:role/t", "containerDefinitions": []any{
				map[string]any{"name": "sidewatch", "image": "s", "environment": env},
			}}
			data, err := json.Marshal(def)
			if err != nil {
				t.Fatal(err)
			}
			d, err := taskdefs.Read(data)
			if err != nil {
				t.Fatal(err)
			}
			var lint []string
			for _, f := range taskdefs.Lint(d, taskdefs.LintOptions{}) {
				if f.Check == "sink-config" || f.Check == "sink-required" {
					lint = append(lint, f.Message)
				}
			}
			sidecarErr := sidecarRefuses(t, tt.env)
			t.Logf("lint %q; sidecar %v", lint, sidecarErr)
			if (len(lint) > 0) != (sidecarErr != nil) {
				t.Errorf("lint found %q; the sidecar's parse and validation: %v", lint, sidecarErr)
			}
		})
	}
}

// TestTaskdefInjectSinks: the flags set the same variables as the golden
// cases, the IAM policy holds the sinks' statements, the task's region
// comes from a describe-task-definition output, and the flags describe
// the state wanted.
func TestTaskdefInjectSinks(t *testing.T) {
	dir := t.TempDir()
	out, policy := filepath.Join(dir, "out.json"), filepath.Join(dir, "policy.json")
	args := []string{"inject", injectTestdata + "sinks_alerts_and_all.json", "-o", out, "--iam-policy", policy,
		"--sink", "stdout,cloudwatch,s3,firehose",
		"--cloudwatch-log-group", "/security/sidewatch", "--cloudwatch-event-types", "alert", "--cloudwatch-create-group",
		"--s3-bucket", "acme-security-events", "--s3-kms-key-id", "alias/security-events",
		"--firehose-delivery-stream", "sidewatch-to-splunk", "--spool-max-bytes", "536870912"}
	_, stderr, err := runTaskdef(t, args...)
	if err != nil {
		t.Fatalf("inject = %v\n%s", err, stderr)
	}
	sameFile(t, out, injectTestdata+"sinks_alerts_and_all.golden.json")
	sameFile(t, policy, injectTestdata+"sinks_alerts_and_all.iam.json")
	for _, want := range []string{"level=WARN", "the sidecar's cloudwatch sink to the log group /security/sidewatch, s3 sink writes to s3://acme-security-events/sidewatch/, firehose sink to the delivery stream sidewatch-to-splunk", `arn:aws:firehose:eu-west-1:123456789012:deliverystream/sidewatch-to-splunk`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("inject stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Again with the same flags: nothing changes, and the statements are
	// said as information only.
	args[1] = out
	stdout, stderr, err := runTaskdef(t, append(args[:2:2], append([]string{"--dry-run"}, args[6:]...)...)...)
	if err != nil || stdout != "" {
		t.Errorf("inject --dry-run again = %q, %v; want no diff\n%s", stdout, err, stderr)
	}
	if strings.Contains(stderr, "level=WARN") {
		t.Errorf("inject again warned:\n%s", stderr)
	}
	// Without --sink the configuration is kept.
	if stdout, _, err := runTaskdef(t, "inject", out, "--dry-run"); err != nil || stdout != "" {
		t.Errorf("inject --dry-run without sink flags = %q, %v; want no diff", stdout, err)
	}
	// --sink stdout removes the AWS sinks' variables.
	stdout, _, err = runTaskdef(t, "inject", out, "--sink", "stdout")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "SIDEWATCH_S3_") || strings.Contains(stdout, "SIDEWATCH_SPOOL_") || !strings.Contains(stdout, `"value": "stdout"`) {
		t.Errorf("inject --sink stdout left AWS sink variables:\n%s", stdout)
	}
}

// TestTaskdefSinkFlagsFromEnvironment: every flag has its
// SIDEWATCH_TASKDEF_ variable, as the other inject flags do.
func TestTaskdefSinkFlagsFromEnvironment(t *testing.T) {
	t.Setenv("SIDEWATCH_TASKDEF_SINK", "stdout,s3")
	t.Setenv("SIDEWATCH_TASKDEF_S3_BUCKET", "acme-security-events")
	t.Setenv("SIDEWATCH_TASKDEF_S3_PREFIX", "ecs/web")
	t.Setenv("SIDEWATCH_TASKDEF_S3_PARTITION_BY_TYPE", "true")
	t.Setenv("SIDEWATCH_TASKDEF_S3_KMS_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	t.Setenv("SIDEWATCH_TASKDEF_S3_EXPECTED_BUCKET_OWNER", "123456789012")
	t.Setenv("SIDEWATCH_TASKDEF_S3_MAX_OBJECT_AGE", "10m")
	out := filepath.Join(t.TempDir(), "out.json")
	if _, stderr, err := runTaskdef(t, "inject", injectTestdata+"sinks_s3.json", "-o", out); err != nil {
		t.Fatalf("inject = %v\n%s", err, stderr)
	}
	sameFile(t, out, injectTestdata+"sinks_s3.golden.json")
}

func TestTaskdefSinkFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"option_without_sink", []string{"--s3-bucket", "b", "--cloudwatch-create-group"}, "--s3-bucket, --cloudwatch-create-group given without --sink"},
		{"bad_bucket", []string{"--sink", "s3", "--s3-bucket", "B"}, `--s3-bucket (SIDEWATCH_S3_BUCKET) "B" is not a bucket name`},
		{"sink_not_named", []string{"--sink", "s3", "--s3-bucket", "acme-events", "--cloudwatch-log-group", "/g"}, "--cloudwatch-log-group: configures the cloudwatch sink, which --sink (s3) does not name"},
		{"sidecar_env", []string{"--sink", "stdout", "--sidecar-env", "SIDEWATCH_SINK=s3"}, "--sidecar-env SIDEWATCH_SINK: --sink sets it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runTaskdef(t, append([]string{"inject", injectTestdata + "sinks_s3.json"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("inject %v = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s differs from %s:\n%s", got, want, taskdefs.Diff(want, got, w, g))
	}
}

// TestInjectedSinksDeliver runs `sidewatch run` with the environment that
// `taskdef inject` gave the sidecar (endpoints pointed at moto): each sink
// delivers what stdout shows, and every resource it wrote to (S3 objects,
// the log stream, the delivery stream) is one the printed IAM policy
// allows, by the service's own ARN for it.
func TestInjectedSinksDeliver(t *testing.T) {
	w := newAWSWorld(t)
	bin := buildSidewatch(t)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	stdout, stderr, err := runTaskdef(t, "inject", injectTestdata+"sinks_s3.json", "--iam-policy", policy,
		"--sink", "stdout,s3,cloudwatch,firehose", "--aws-region", "us-east-1", "--spool-dir", filepath.Join(dir, "spool"),
		"--aws-max-backoff", "1s", "--aws-attempt-timeout", "5s",
		"--s3-bucket", w.bucket, "--s3-prefix", "security/events", "--s3-endpoint-url", w.moto.URL, "--s3-max-object-age", "2s",
		"--cloudwatch-log-group", w.group, "--cloudwatch-event-types", "log", "--cloudwatch-endpoint-url", w.moto.URL,
		"--firehose-delivery-stream", w.stream, "--firehose-endpoint-url", w.moto.URL)
	if err != nil {
		t.Fatalf("inject = %v\n%s", err, stderr)
	}
	def, err := taskdefs.Read([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, c := range def.Array("containerDefinitions") {
		if c := c.(*taskdefs.Object); c.String("name") == "sidewatch" {
			for _, e := range c.Array("environment") {
				e := e.(*taskdefs.Object)
				env = append(env, e.String("name")+"="+e.String("value"))
			}
		}
	}
	if !slices.Contains(env, "SIDEWATCH_SINK=stdout,s3,cloudwatch,firehose") {
		t.Fatalf("injected sidecar environment = %q", env)
	}
	// The task's credentials and no task metadata; startSidecar adds the
	// test's listeners and --no-capture.
	sc := startSidecar(t, bin, append(append(mototest.Env(), env...), "ECS_CONTAINER_METADATA_URI_V4="))
	sc.send(t, 0, 200, 0)
	sc.stop(t)
	all, logs := lines(sc.stdout.String()), lines(sc.stdout.String(), "log")
	if len(logs) != 200 {
		t.Fatalf("stdout has %d log events, want 200; stderr:\n%s", len(logs), sc.stderr.String())
	}
	ctx := t.Context()
	streams, err := w.logs.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &w.group})
	if err != nil || len(streams.LogStreams) != 1 {
		t.Fatalf("DescribeLogStreams = %v, %v; want the sink's one stream", streams, err)
	}
	stream := streams.LogStreams[0]
	sameLines(t, "s3", w.bucketLines(t, w.bucket), all, true)
	sameLines(t, "cloudwatch", w.streamLines(t, *stream.LogStreamName), logs, true)
	sameLines(t, "firehose", w.bucketLines(t, w.fhBucket), all, false)

	// What was written, by ARN, against the policy.
	data, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct{ Action, Resource []string }
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	allowed := func(action, arn string) bool {
		for _, st := range doc.Statement {
			if slices.Contains(st.Action, action) && slices.ContainsFunc(st.Resource, func(r string) bool { return iamMatch(r, arn) }) {
				return true
			}
		}
		return false
	}
	objects, err := w.s3.ListObjectsV2(ctx, &s3api.ListObjectsV2Input{Bucket: &w.bucket})
	if err != nil || len(objects.Contents) == 0 {
		t.Fatalf("ListObjectsV2 = %v, %v", objects, err)
	}
	for _, o := range objects.Contents {
		if arn := "arn:aws:s3:::" + w.bucket + "/" + *o.Key; !allowed("s3:PutObject", arn) {
			t.Errorf("s3:PutObject on %s is not in the policy:\n%s", arn, data)
		}
	}
	for _, action := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		if !allowed(action, *stream.Arn) {
			t.Errorf("%s on %s is not in the policy:\n%s", action, *stream.Arn, data)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fhc := fh.NewFromConfig(cfg, func(o *fh.Options) { o.BaseEndpoint = &w.moto.URL })
	ds, err := fhc.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: &w.stream})
	if err != nil {
		t.Fatal(err)
	}
	if arn := *ds.DeliveryStreamDescription.DeliveryStreamARN; !allowed("firehose:PutRecordBatch", arn) {
		t.Errorf("firehose:PutRecordBatch on %s is not in the policy:\n%s", arn, data)
	}
}

// iamMatch matches an ARN against an IAM resource with * and ?
// wildcards (which, unlike path.Match's, span '/').
func iamMatch(pattern, arn string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(arn)
}
