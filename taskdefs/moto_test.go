package taskdefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"time"
)

// One moto_server serves every test of this binary; TestMain stops it.
var moto struct {
	once   sync.Once
	server *mototest.Server
	err    error
}

func TestMain(m *testing.M) {
	// Throwaway credentials for the SDK, set once so tests can run in
	// parallel; the AWS CLI gets them through awsCLI.
	for _, kv := range mototest.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	code := m.Run()
	if moto.server != nil {
		moto.server.Close()
	}
	if launcherBin.dir != "" {
		os.RemoveAll(launcherBin.dir)
	}
	os.Exit(code)
}

// motoURL starts moto_server the first time it is called and returns its
// URL, or skips the test if it is not installed.
func motoURL(t *testing.T) string {
	t.Helper()
	moto.once.Do(func() { moto.server, moto.err = mototest.Start() })
	if errors.Is(moto.err, mototest.ErrNotInstalled) {
		t.Skip(moto.err)
	}
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.server.URL
}

// awsCLI runs the AWS CLI against moto with throwaway credentials.
func awsCLI(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("needs the AWS CLI (aws)")
	}
	cmd := exec.Command("aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), mototest.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// validateWithCLI registers the file with the AWS CLI, which checks every
// field name and type, and checks that describe-task-definition returns
// every field that was sent.
func validateWithCLI(t *testing.T, path string) {
	url := motoURL(t)
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	sent := readDef(t, abs)
	out := awsCLI(t, url, "ecs", "register-task-definition", "--cli-input-json", "file://"+abs)
	reg, err := Decode(out)
	if err != nil {
		t.Fatalf("register output: %v", err)
	}
	arn := reg.(*Object).Object("taskDefinition").String("taskDefinitionArn")
	if arn == "" {
		t.Fatalf("register output has no taskDefinitionArn:\n%s", out)
	}
	got, err := Describe(t.Context(), motoECS(t, url), arn)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range motoDrops {
		sent.Delete(f)
	}
	if diffs := subset(sent, got, ""); len(diffs) > 0 {
		t.Errorf("describe-task-definition %s differs from what was registered:", arn)
		for _, d := range diffs {
			t.Error("  " + d)
		}
	}
}

// motoDrops are fields the AWS CLI accepts and moto 5.2.1 does not
// return.
var motoDrops = []string{"enableFaultInjection"}

func motoECS(t *testing.T, url string) *ecs.Client {
	t.Helper()
	client, err := NewECS(t.Context(), AWSConfig{Region: "us-east-1", EndpointURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// subset lists where want has something that got lacks or differs in;
// ECS (and moto) add defaults, so extra fields in got are fine.
func subset(want, got any, path string) []string {
	switch w := want.(type) {
	case *Object:
		g, ok := got.(*Object)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want object", path, kind(got))}
		}
		var diffs []string
		for _, m := range w.Members {
			gv, ok := g.Get(m.Key)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, m.Key))
				continue
			}
			diffs = append(diffs, subset(m.Value, gv, path+"."+m.Key)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}

func TestAWSCLIAcceptsGolden(t *testing.T) {
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			validateWithCLI(t, filepath.Join("testdata", "inject", tc.name+".golden.json"))
		})
	}
}

func TestRegisterAndDeploy(t *testing.T) {
	url := motoURL(t)
	client := motoECS(t, url)
	ctx := t.Context()
	const cluster, service = "deploy-test", "web"
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	plain := readDef(t, filepath.Join("testdata", "inject", "describe_output.json"))
	plain.Set("family", "deploy-test-web")
	arn0, err := Register(ctx, client, plain)
	if err != nil {
		t.Fatalf("Register = %v", err)
	}
	_, err = client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(service), TaskDefinition: aws.String(arn0),
		// moto runs no tasks: with 1 desired a deployment never settles.
		DesiredCount: aws.Int32(0), LaunchType: types.LaunchTypeFargate,
	})
	if err != nil {
		t.Fatal(err)
	}

	current, currentARN, err := Current(ctx, client, cluster, service)
	if err != nil {
		t.Fatalf("Current = %v", err)
	}
	for _, f := range motoDrops {
		plain.Delete(f)
	}
	if diffs := subset(plain, current, ""); len(diffs) > 0 {
		t.Errorf("Current(%s) differs from what was registered: %v", service, diffs)
	}
	if currentARN != arn0 {
		t.Errorf("Current(%s) ARN = %s, want %s", service, currentARN, arn0)
	}
	res, err := Inject(current, DefaultOptions())
	if err != nil {
		t.Fatalf("Inject = %v", err)
	}
	arn1, err := Register(ctx, client, res.Def)
	if err != nil {
		t.Fatalf("Register(injected) = %v", err)
	}
	if want := strings.TrimSuffix(arn0, ":1") + ":2"; arn1 != want {
		t.Errorf("Register(injected) = %s, want %s", arn1, want)
	}
	if err := UpdateService(ctx, client, cluster, service, arn1); err != nil {
		t.Fatalf("UpdateService = %v", err)
	}
	var progress bytes.Buffer
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := WaitStable(wctx, client, cluster, service, arn1, 50*time.Millisecond, &progress); err != nil {
		t.Fatalf("WaitStable = %v; progress:\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "0/0 running, 0 pending, 1 deployments") {
		t.Errorf("WaitStable progress = %q, want a line with 0/0 running", progress.String())
	}
	deployed, _, err := Current(ctx, client, cluster, service)
	if err != nil {
		t.Fatalf("Current after deploy = %v", err)
	}
	if diffs := subset(res.Def, deployed, ""); len(diffs) > 0 {
		t.Errorf("deployed task definition differs from the injected one: %v", diffs)
	}
	if got := deployed.Array("tags"); len(got) != 1 {
		t.Errorf("deployed tags = %v, want the one tag of the original", got)
	}
}

func TestWaitStableGivesUp(t *testing.T) {
	url := motoURL(t)
	client := motoECS(t, url)
	ctx := t.Context()
	const cluster, service = "wait-test", "never-stable"
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	def := readDef(t, filepath.Join("testdata", "inject", "secrets.golden.json"))
	def.Set("family", "wait-test")
	arn, err := Register(ctx, client, def)
	if err != nil {
		t.Fatal(err)
	}
	// moto starts no tasks, so one desired task stays pending for ever.
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(service), TaskDefinition: aws.String(arn),
		DesiredCount: aws.Int32(1), LaunchType: types.LaunchTypeFargate,
	}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var progress bytes.Buffer
	err = WaitStable(wctx, client, cluster, service, arn, 20*time.Millisecond, &progress)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitStable on a service that never settles = %v, want a deadline error", err)
	}
	if !strings.Contains(progress.String(), "0/1 running, 1 pending") {
		t.Errorf("WaitStable progress = %q, want 0/1 running, 1 pending", progress.String())
	}
	if n := strings.Count(progress.String(), "\n"); n != 1 {
		t.Errorf("WaitStable printed %d lines for one unchanging state, want 1:\n%s", n, progress.String())
	}
	err = WaitStable(ctx, client, cluster, service, "arn:aws:ecs:us-east-1:123456789012:task-definition/other:1", time.Millisecond, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another deployment started") {
		t.Errorf("WaitStable for another task definition = %v, want an error saying so", err)
	}
}

func TestRegisterRejectsUnknownField(t *testing.T) {
	def := readDef(t, filepath.Join("testdata", "inject", "secrets.json"))
	def.Set("bogusField", "x")
	_, err := registerInput(def)
	if err == nil || !strings.Contains(err.Error(), "bogusField") {
		t.Errorf("registerInput(with bogusField) = %v, want an error naming it", err)
	}
}
