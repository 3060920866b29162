package taskdefs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInjectKeepsSinks: without --sink, inject keeps the sidecar's sink
// configuration, so `deploy` from CI without the sink flags changes
// nothing.
func TestInjectKeepsSinks(t *testing.T) {
	path := filepath.Join("testdata", "inject", "sinks_alerts_and_all.golden.json")
	res, err := Inject(readDef(t, path), DefaultOptions())
	if err != nil {
		t.Fatalf("Inject without sink flags = %v", err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustEncode(t, res.Def); string(got) != string(want) {
		t.Errorf("Inject without sink flags changed it:\n%s", Diff("golden", "again", want, got))
	}
	if res.IAM == nil || res.IAM.SinksChanged {
		t.Errorf("IAM = %+v, want the sinks' needs, unchanged", res.IAM)
	}
	// The same flags again: no change either, and said so.
	again, err := Inject(res.Def, caseOptions(withSinks("stdout,cloudwatch,s3,firehose",
		"SIDEWATCH_CLOUDWATCH_LOG_GROUP=/security/sidewatch", "SIDEWATCH_CLOUDWATCH_EVENT_TYPES=alert", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP=true",
		"SIDEWATCH_S3_BUCKET=acme-security-events", "SIDEWATCH_S3_KMS_KEY_ID=alias/security-events",
		"SIDEWATCH_FIREHOSE_DELIVERY_STREAM=sidewatch-to-splunk", "SIDEWATCH_SPOOL_MAX_BYTES=536870912")))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustEncode(t, again.Def); string(got) != string(want) {
		t.Errorf("Inject with the same sink flags changed it:\n%s", Diff("golden", "again", want, got))
	}
	if again.IAM.SinksChanged {
		t.Error("IAM.SinksChanged after injecting the same sink flags, want false")
	}
	changed, err := Inject(res.Def, caseOptions(withSinks("stdout,s3", "SIDEWATCH_S3_BUCKET=acme-archive")))
	if err != nil {
		t.Fatal(err)
	}
	if !changed.IAM.SinksChanged {
		t.Error("IAM.SinksChanged after changing the bucket = false, want true")
	}
}

// TestInjectSinksReplaceDuplicates: a variable given twice in the
// environment is left once, with the flag's value.
func TestInjectSinksReplaceDuplicates(t *testing.T) {
	def, err := Read([]byte(`{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "app", "image": "a"},
		{"name": "sidewatch", "image": "s", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}},
		 "environment": [{"name": "SIDEWATCH_S3_BUCKET", "value": "old-one"}, {"name": "OTHER", "value": "kept"}, {"name": "SIDEWATCH_S3_BUCKET", "value": "old-two"}, {"name": "SIDEWATCH_FIREHOSE_BATCH_DELAY", "value": "2s"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Inject(def, caseOptions(withSinks("s3", "SIDEWATCH_S3_BUCKET=new-bucket")))
	if err != nil {
		t.Fatalf("Inject = %v", err)
	}
	var got []string
	for _, e := range containers(res.Def)[1].Array("environment") {
		o := e.(*Object)
		got = append(got, o.String("name")+"="+o.String("value"))
	}
	want := []string{"SIDEWATCH_S3_BUCKET=new-bucket", "OTHER=kept", "SIDEWATCH_SINK=s3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sidecar environment (-want +got):\n%s", diff)
	}
}

func TestKMSStatement(t *testing.T) {
	tests := []struct {
		name, key string
		want      string // JSON
	}{
		{
			name: "key_id",
			key:  "1234abcd-12ab-34cd-56ef-1234567890ab",
			want: `{"Sid":"SidewatchSinkS3KMS","Effect":"Allow","Action":["kms:GenerateDataKey"],"Resource":["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]}`,
		},
		{
			name: "key_arn_of_another_account",
			key:  "arn:aws:kms:eu-central-1:210987654321:key/mrk-1234abcd12ab34cd56ef1234567890ab",
			want: `{"Sid":"SidewatchSinkS3KMS","Effect":"Allow","Action":["kms:GenerateDataKey"],"Resource":["arn:aws:kms:eu-central-1:210987654321:key/mrk-1234abcd12ab34cd56ef1234567890ab"]}`,
		},
		{
			name: "alias",
			key:  "alias/security-events",
			want: `{"Sid":"SidewatchSinkS3KMS","Effect":"Allow","Action":["kms:GenerateDataKey"],"Resource":["arn:aws:kms:eu-west-1:123456789012:key/*"],"Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/security-events"}}}`,
		},
		{
			name: "alias_arn",
			key:  "arn:aws-cn:kms:cn-north-1:123456789012:alias/events",
			want: `{"Sid":"SidewatchSinkS3KMS","Effect":"Allow","Action":["kms:GenerateDataKey"],"Resource":["arn:aws-cn:kms:cn-north-1:123456789012:key/*"],"Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/events"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(kmsStatement("aws", "eu-west-1", "123456789012", tt.key))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("kmsStatement(%q) = %s\nwant %s", tt.key, got, tt.want)
			}
		})
	}
}

// TestSinkStatementsUnknownValues: values the task definition does not
// show (secrets) become * in the ARNs; the default stream is one per
// task.
func TestSinkStatementsUnknownValues(t *testing.T) {
	def, err := Read([]byte(`{"family": "f", "taskRoleArn": "arn:aws-us-gov:iam::123456789012:role/t", "containerDefinitions": [{"name": "sidewatch", "image": "s",
		"environment": [{"name": "SIDEWATCH_SINK", "value": "s3,cloudwatch"}, {"name": "SIDEWATCH_CLOUDWATCH_LOG_GROUP", "value": "/sec"}, {"name": "SIDEWATCH_AWS_REGION", "value": "us-gov-west-1"}],
		"secrets": [{"name": "SIDEWATCH_S3_BUCKET", "valueFrom": "p1"}, {"name": "SIDEWATCH_S3_KMS_KEY_ID", "valueFrom": "p2"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, probs := readSinkConfig(containerEnv(containers(def)[0]))
	if len(probs) > 0 {
		t.Fatalf("readSinkConfig problems = %+v, want none", probs)
	}
	n := newIAMNeeds(def, nil, &cfg, "")
	got, _ := json.Marshal(n.Statements())
	want := `[{"Sid":"SidewatchSinkS3PutObject","Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws-us-gov:s3:::*/sidewatch/*"]},` +
		`{"Sid":"SidewatchSinkS3KMS","Effect":"Allow","Action":["kms:GenerateDataKey"],"Resource":["arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/*"]},` +
		`{"Sid":"SidewatchSinkCloudWatchWrite","Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":["arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:/sec:log-stream:sidewatch/*"]}]`
	if string(got) != want {
		t.Errorf("Statements = %s\nwant %s", got, want)
	}
	if s := n.Summary(); !strings.Contains(s, "s3 sink writes to s3://*/sidewatch/") || strings.Contains(s, "region *") {
		t.Errorf("Summary = %q, want the bucket as * and no region note", s)
	}
}

func TestTaskRegion(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"describe_output", `{"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/web:3", "family": "web"}}`, "ap-southeast-2"},
		{"register_shape_with_arn", `{"taskDefinitionArn": "arn:aws:ecs:us-east-2:123456789012:task-definition/web:3", "family": "web"}`, "us-east-2"},
		{"register_shape", `{"family": "web"}`, ""},
		{"bom", "\xEF\xBB\xBF" + `{"taskDefinitionArn": "arn:aws:ecs:eu-north-1:1:task-definition/w:1"}`, "eu-north-1"},
		{"not_an_arn", `{"taskDefinitionArn": "web:3"}`, ""},
		{"not_json", `{`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TaskRegion([]byte(tt.data)); got != tt.want {
				t.Errorf("TaskRegion(%s) = %q, want %q", tt.data, got, tt.want)
			}
		})
	}
}

// TestManagedSinkVariables: every AWS sink option of the sidecar is
// managed, and the file sink's are not (inject has no flags for them).
func TestManagedSinkVariables(t *testing.T) {
	names := map[string]string{}
	for _, v := range ManagedSinkVariables() {
		names[v.Name] = v.Flag
		if !strings.HasPrefix(v.Name, "SIDEWATCH_") || v.Flag == "" {
			t.Errorf("variable %+v lacks its flag or prefix", v)
		}
	}
	for name, flag := range map[string]string{
		"SIDEWATCH_S3_BUCKET": "s3-bucket", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP": "cloudwatch-create-group",
		"SIDEWATCH_FIREHOSE_DELIVERY_STREAM": "firehose-delivery-stream", "SIDEWATCH_AWS_REGION": "aws-region",
		"SIDEWATCH_SPOOL_MAX_BYTES": "spool-max-bytes", "SIDEWATCH_AWS_MAX_BACKOFF": "aws-max-backoff",
	} {
		if names[name] != flag {
			t.Errorf("ManagedSinkVariables()[%s] = %q, want flag %q", name, names[name], flag)
		}
	}
	if _, ok := names["SIDEWATCH_FILE_PATH"]; ok {
		t.Error("SIDEWATCH_FILE_PATH is managed, want it left to --sidecar-env")
	}
}

// FuzzSinkEnv feeds arbitrary sidecar environments (three variables,
// names and values from the input) to inject and lint: no panic, and
// inject refuses the sink configuration exactly when lint finds an error
// in it (both read it with readSinkConfig).
func FuzzSinkEnv(f *testing.F) {
	f.Add("SIDEWATCH_SINK", "stdout,s3", "SIDEWATCH_S3_BUCKET", "acme-events", "SIDEWATCH_S3_PREFIX", "a/b")
	f.Add("SIDEWATCH_SINK", "cloudwatch", "SIDEWATCH_CLOUDWATCH_LOG_GROUP", "/g", "SIDEWATCH_CLOUDWATCH_CREATE_GROUP", "yes")
	f.Add("SIDEWATCH_SINK", "firehose,s3", "SIDEWATCH_S3_KMS_KEY_ID", "arn:aws:kms:eu-west-1:1:alias/x", "SIDEWATCH_SPOOL_MAX_BYTES", "0x100000")
	f.Add("SIDEWATCH_SINK", `s3\,`, "SIDEWATCH_FIREHOSE_EVENT_TYPES", ",,", "SIDEWATCH_AWS_MAX_BACKOFF", "-1s")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		var env []any
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			env = append(env, obj("name", kv[0], "value", kv[1]))
		}
		def := obj("family", "f", "networkMode", "awsvpc", "taskRoleArn", "arn:aws:iam::123456789012:role/t", "containerDefinitions", []any{
			obj("name", "app", "image", "a"),
			obj("name", "sidewatch", "image", "s", "environment", env,
				"logConfiguration", obj("logDriver", "awslogs", "options", obj("awslogs-group", "g", "awslogs-region", "us-east-1"))),
		})
		lintErr := false
		for _, f := range Lint(def, LintOptions{}) {
			if f.Severity == SeverityError && (f.Check == "sink-config" || f.Check == "sink-required") {
				lintErr = true
			}
		}
		res, err := Inject(def, DefaultOptions())
		refused := err != nil && strings.Contains(err.Error(), "the sidecar would refuse to start")
		if err != nil && !refused {
			return // refused for another reason (a name the API rejects, ...)
		}
		if refused != lintErr {
			t.Fatalf("Inject = %v, lint sink errors = %v", err, lintErr)
		}
		if err == nil && res.IAM != nil {
			for _, st := range res.IAM.Statements() {
				for _, r := range st.Resource {
					if !strings.HasPrefix(r, "arn:") {
						t.Fatalf("resource %q is not an ARN", r)
					}
				}
			}
		}
	})
}
