package launcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeAWSInit writes a shell script that does what aws-for-fluent-bit's
// init process does: writes the invoke file (exports, then the exec line)
// and its config, which includes the FireLens file and a user file.
func fakeAWSInit(t *testing.T, dir, inConfig, invoke, exitCode string) string {
	t.Helper()
	initConf := filepath.Join(dir, "init", "fluent-bit-init.conf")
	script := filepath.Join(dir, "fluent_bit_init_process")
	body := fmt.Sprintf(`#!/bin/sh
mkdir -p %[1]s
printf 'export FLB_AWS_USER_AGENT=ecs-init\nexport AWS_REGION=eu-west-3\nexport ECS_TASK_ID=0123abcd\nexec /fluent-bit/bin/fluent-bit -e /fluent-bit/firehose.so -e /fluent-bit/cloudwatch.so -e /fluent-bit/kinesis.so -c %[2]s -R /fluent-bit/parsers/s3.conf' > %[3]s
printf '@INCLUDE %[4]s\n@INCLUDE extra/filters.conf\n@INCLUDE /init/fluent-bit-init-s3-files/out.conf\n' > %[2]s
exit %[5]s
`, filepath.Dir(initConf), initConf, invoke, inConfig, exitCode)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

func TestAWSInit(t *testing.T) {
	in, _ := writeInput(t, fireLensConfig)
	dir := t.TempDir()
	invoke := filepath.Join(dir, "invoke_fluent_bit.sh")
	initPath := fakeAWSInit(t, dir, in, invoke, "0")
	volume := t.TempDir()
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(volume, "fluent-launch"), &calls)
	sys.awsInitInvoke = invoke
	sys.environ = func() []string { return []string{"PATH=/usr/bin:/bin", "AWS_REGION=us-east-1", "apikey_1=s3cret"} }
	args := []string{"--aws-init", initPath, "-c", in, "-s", "Scheduler.Cap", "60", "--", "-o", "null", "-m", "*"}
	var stdout, stderr bytes.Buffer
	err := run(args, &stdout, &stderr, sys)
	// The init process chose /fluent-bit/bin/fluent-bit, absent here.
	if err == nil || !strings.Contains(err.Error(), "exec: /fluent-bit/bin/fluent-bit") {
		t.Fatalf("run = %v, want an exec error naming the init process's Fluent Bit", err)
	}
	// Give it a Fluent Bit by running the same through a fake path.
	fb := filepath.Join(dir, "fluent-bit")
	if err := os.WriteFile(fb, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initPath, bytes.ReplaceAll(script, []byte("exec /fluent-bit/bin/fluent-bit"), []byte("exec "+fb)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(args, &stdout, &stderr, sys); err != nil {
		t.Fatalf("run = %v\n%s", err, stderr.String())
	}
	if len(calls) != 1 {
		t.Fatalf("exec called %d times, want 1", len(calls))
	}
	c := calls[0]
	out := filepath.Join(volume, OutConfigName)
	wantArgv := []string{fb, "-c", out, "-e", "/fluent-bit/firehose.so", "-e", "/fluent-bit/cloudwatch.so", "-e", "/fluent-bit/kinesis.so", "-R", "/fluent-bit/parsers/s3.conf", "-o", "null", "-m", "*"}
	if diff := cmp.Diff(wantArgv, c.argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	// The init process's exports win, as its shell file's would.
	wantEnv := []string{"PATH=/usr/bin:/bin", "AWS_REGION=eu-west-3", "apikey_1=s3cret", "FLB_AWS_USER_AGENT=ecs-init", "ECS_TASK_ID=0123abcd"}
	if diff := cmp.Diff(wantEnv, c.env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	initDir := filepath.Join(dir, "init")
	wantTail := "\n[SERVICE]\n    Scheduler.Cap 60\n\n@INCLUDE " + initDir + "/extra/filters.conf\n@INCLUDE /init/fluent-bit-init-s3-files/out.conf\n"
	if !strings.HasSuffix(c.outContent, wantTail) {
		t.Errorf("patched config ends with\n%s\nwant the init config's other includes, made absolute:\n%s", c.outContent[max(0, len(c.outContent)-200):], wantTail)
	}
	if strings.Count(c.outContent, "@INCLUDE "+in) != 0 {
		t.Errorf("patched config includes the unpatched FireLens file:\n%s", c.outContent)
	}
}

func TestAWSInitFailure(t *testing.T) {
	in, _ := writeInput(t, fireLensConfig)
	dir := t.TempDir()
	invoke := filepath.Join(dir, "invoke_fluent_bit.sh")
	initPath := fakeAWSInit(t, dir, in, invoke, "3")
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(t.TempDir(), "fluent-launch"), &calls)
	sys.awsInitInvoke = invoke
	var stdout, stderr bytes.Buffer
	err := run([]string{"--aws-init", initPath, "-c", in, "--"}, &stdout, &stderr, sys)
	if err == nil || !strings.Contains(err.Error(), "aws-init: "+initPath+": init process: exit status 3") {
		t.Errorf("run with a failing init process = %v, want the step, path and status", err)
	}
	if len(calls) != 0 {
		t.Errorf("exec'd after the init process failed: %+v", calls)
	}
}

func TestParseInvoke(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "no_exec_line", in: "export A=1\n", wantErr: "no exec line"},
		{name: "unexpected_line", in: "export A=1\necho hi\nexec /x\n", wantErr: `unexpected line "echo hi"`},
		{name: "bad_export", in: "export =1\nexec /x\n", wantErr: "unexpected export line"},
		{name: "empty_value_ok", in: "export ECS_LAUNCH_TYPE=\nexec /fb -c /i.conf -e /p.so"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ai, conf, err := parseInvoke([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseInvoke = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || conf != "/i.conf" || ai.runPath != "/fb" || !slices.Equal(ai.args, []string{"-e", "/p.so"}) || !slices.Equal(ai.env, []string{"ECS_LAUNCH_TYPE="}) {
				t.Errorf("parseInvoke = %+v, %q, %v", ai, conf, err)
			}
		})
	}
}

const tmdeTask = `{"Cluster":"arn:aws:ecs:us-west-2:111122223333:cluster/prod","TaskARN":"arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c","Family":"web","Revision":"7","AvailabilityZone":"us-west-2a","LaunchType":"FARGATE","Containers":[]}`

func TestMetadataVars(t *testing.T) {
	got, err := metadataVars([]byte(tmdeTask))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"AWS_REGION=us-west-2", "AWS_AVAILABILITY_ZONE=us-west-2a", "ECS_CLUSTER=prod",
		"ECS_TASK_ARN=arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c",
		"ECS_TASK_ID=158d1c8083dd49d6b527399fd6414f5c", "ECS_FAMILY=web", "ECS_LAUNCH_TYPE=FARGATE",
		"ECS_REVISION=7", "ECS_TASK_DEFINITION=web:7",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadataVars (-want +got):\n%s", diff)
	}
	// The old ARN format without the cluster, and a cluster given by name.
	got, err = metadataVars([]byte(`{"Cluster":"default","TaskARN":"arn:aws:ecs:eu-west-1:111122223333:task/9781c248-0edd-4cdb-9a93-f63cb662a5d3"}`))
	if err != nil || !slices.Contains(got, "ECS_TASK_ID=9781c248-0edd-4cdb-9a93-f63cb662a5d3") || !slices.Contains(got, "ECS_CLUSTER=default") {
		t.Errorf("metadataVars(old ARN) = %q, %v", got, err)
	}
	if _, err := metadataVars([]byte(`{"TaskARN":"nope"}`)); err == nil {
		t.Error("metadataVars accepted a TaskARN that is not an ARN")
	}
}

func TestECSEnv(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/v4/abc-123/task" || r.Proto != "HTTP/1.0" {
			http.Error(w, r.Proto+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		// Larger than one write, as a busy task's metadata can be.
		fmt.Fprint(w, tmdeTask[:len(tmdeTask)-1]+`,"Pad":"`+strings.Repeat("x", 20000)+`"}`)
	}))
	defer srv.Close()
	env := []string{MetadataURIEnv + "=" + srv.URL + "/v4/abc-123", "AWS_REGION=us-west-2"}
	got, err := ecsEnv(env, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "AWS_REGION=") }) {
		t.Errorf("ecsEnv exported AWS_REGION though it was set: %q", got)
	}
	if !slices.Contains(got, "ECS_TASK_ID=158d1c8083dd49d6b527399fd6414f5c") {
		t.Errorf("ecsEnv = %q, want ECS_TASK_ID", got)
	}

	if _, err := ecsEnv(nil, time.Second); err == nil || !strings.Contains(err.Error(), MetadataURIEnv+" is not set") {
		t.Errorf("ecsEnv without the variable = %v", err)
	}
	// A closed port: it retries until the wait is over, then fails.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/v4/x"
	l.Close()
	start := time.Now()
	if _, err := ecsEnv([]string{MetadataURIEnv + "=" + dead}, 1200*time.Millisecond); err == nil {
		t.Error("ecsEnv against a closed port succeeded")
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("ecsEnv gave up after %v, want retries for the whole wait", d)
	}
}

func TestRunECSEnvAndMultiline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tmdeTask) }))
	defer srv.Close()
	in, runPath := writeInput(t, fireLensConfig)
	volume := t.TempDir()
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(volume, "fluent-launch"), &calls)
	sys.environ = func() []string { return []string{MetadataURIEnv + "=" + srv.URL + "/v4/x"} }
	sys.metadataWait = time.Second
	args := []string{"-r", runPath, "-c", in, "--ecs-env", "--multiline-parser", "sidewatch_web", `^\d{4}-\d{2}-\d{2} "x"`, "--", "-F", "multiline"}
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr, sys); err != nil {
		t.Fatalf("run = %v", err)
	}
	c := calls[0]
	parsers := filepath.Join(volume, MultilineParsersName)
	if diff := cmp.Diff([]string{runPath, "-c", filepath.Join(volume, OutConfigName), "-R", parsers, "-F", "multiline"}, c.argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if !slices.Contains(c.env, "ECS_TASK_ID=158d1c8083dd49d6b527399fd6414f5c") || !slices.Contains(c.env, "AWS_REGION=us-west-2") {
		t.Errorf("env = %q, want the task's metadata", c.env)
	}
	b, err := os.ReadFile(parsers)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[MULTILINE_PARSER]\n    name          sidewatch_web\n",
		`rule          "start_state" "/^\d{4}-\d{2}-\d{2} \"x\"/" "cont"`,
		`rule          "cont" "/^(?!.*?(?:^\d{4}-\d{2}-\d{2} \"x\"))/" "cont"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("parsers file lacks %q:\n%s", want, b)
		}
	}
}

func FuzzParseInvoke(f *testing.F) {
	f.Add("export AWS_REGION=us-east-1\nexec /fluent-bit/bin/fluent-bit -e /fluent-bit/firehose.so -c /init/fluent-bit-init.conf -R /p.conf")
	f.Add("exec")
	f.Fuzz(func(t *testing.T, s string) {
		ai, _, err := parseInvoke([]byte(s))
		if err == nil && ai.runPath == "" {
			t.Errorf("parseInvoke(%q) accepted a file without a program", s)
		}
	})
}

func FuzzMetadataVars(f *testing.F) {
	f.Add([]byte(tmdeTask))
	f.Add([]byte(`{"TaskARN":"arn:aws:ecs:r:1:task/x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := metadataVars(b)
		if err != nil {
			return
		}
		for _, kv := range vars {
			if k, v, ok := strings.Cut(kv, "="); !ok || k == "" || v == "" {
				t.Errorf("metadataVars(%q) gave %q", b, kv)
			}
		}
	})
}

// FuzzTopLevelStrings checks the launcher's small JSON reader against
// encoding/json: the same verdict on validity for objects, the same strings.
func FuzzTopLevelStrings(f *testing.F) {
	f.Add([]byte(tmdeTask))
	f.Add([]byte(`{"a":"\u00e9\ud83d\ude00\n","b":[1,{"c":"d"}],"e":-1.5e3,"f":null}`))
	f.Add([]byte(`{"a":"x"} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := topLevelStrings(b)
		var obj map[string]any
		jerr := json.Unmarshal(b, &obj)
		if (err == nil) != (jerr == nil && obj != nil) {
			t.Fatalf("topLevelStrings(%q) error %v, encoding/json %v (%v)", b, err, jerr, obj)
		}
		if err != nil {
			return
		}
		for k, v := range obj {
			if s, ok := v.(string); ok && got[k] != s {
				// encoding/json keeps the last of duplicate keys, as do we.
				t.Errorf("topLevelStrings(%q)[%q] = %q, encoding/json %q", b, k, got[k], s)
			}
		}
	})
}
