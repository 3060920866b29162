package firelens

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	generator "github.com/awslabs/go-config-generator-for-fluentd-and-fluentbit"
	"github.com/google/go-cmp/cmp"
)

// generateFireLens builds a config with the ECS agent's own generator, in
// the call order of the agent's generateConfig(), varying the network
// mode, metadata, filters, includes and outputs (with secrets) the way task
// definitions do.
func generateFireLens(t *testing.T, r *rand.Rand) []byte {
	t.Helper()
	cfg := generator.New()
	socket := map[string]string{"unix_path": "/var/run/fluent.sock"}
	if r.IntN(3) > 0 { // agents before amazon-ecs-agent#4405 omit it
		socket["Mem_Buf_Limit"] = fmt.Sprintf("%dMB", 25+r.IntN(200))
	}
	cfg.AddInput("forward", "", socket)
	network := r.IntN(3) // awsvpc, bridge, host
	if network < 2 {
		listen := "127.0.0.1"
		if network == 1 {
			listen = "0.0.0.0"
		}
		cfg.AddInput("forward", "", map[string]string{"Listen": listen, "Port": "24224"})
		cfg.AddInput("tcp", "firelens-healthcheck", map[string]string{"Listen": "127.0.0.1", "Port": "8877"})
	}
	containers := make([]string, 1+r.IntN(4))
	for i := range containers {
		containers[i] = fmt.Sprintf("app%d", i)
	}
	for _, c := range containers {
		if r.IntN(3) == 0 {
			cfg.AddIncludeFilter("[Ee]rror", "log", c+"-firelens*")
		}
	}
	for _, c := range containers {
		if r.IntN(3) == 0 {
			cfg.AddExcludeFilter("^DEBUG", "log", c+"-firelens*")
		}
	}
	if r.IntN(4) > 0 {
		cfg.AddFieldToRecord("ecs_cluster", "prod-cluster", "*")
		cfg.AddFieldToRecord("ecs_task_arn", "arn:aws:ecs:eu-west-1:111122223333:task/prod-cluster/0123456789abcdef0123456789abcdef", "*")
		cfg.AddFieldToRecord("ecs_task_definition", fmt.Sprintf("web:%d", 1+r.IntN(50)), "*")
		if network == 1 {
			cfg.AddFieldToRecord("ec2_instance_id", "i-0abcd1234ef567890", "*")
		}
	}
	if r.IntN(3) == 0 {
		cfg.AddExternalConfig("/fluent-bit/configs/parse-json.conf", generator.AfterFilters)
	}
	if network < 2 {
		cfg.AddOutput("null", "firelens-healthcheck", nil)
	}
	plugins := []map[string]string{
		{"Name": "cloudwatch_logs", "region": "eu-west-1", "log_group_name": "/ecs/web", "log_stream_prefix": "fb-", "auto_create_group": "true"},
		{"Name": "datadog", "Host": "http-intake.logs.datadoghq.com", "TLS": "on", "apikey": "${apikey_%d}", "dd_service": "web"},
		{"Name": "firehose", "region": "eu-west-1", "delivery_stream": "my-stream"},
		{"Name": "es", "Host": "search.example.com", "Port": "443", "HTTP_Passwd": "${password_%d}", "Retry_Limit": "2"},
		{"Name": "kinesis_streams", "region": "eu-west-1", "stream": "logs", "workers": "1"},
	}
	for i, c := range containers {
		if r.IntN(4) == 0 {
			continue // not every container uses awsfirelens with options
		}
		opts := map[string]string{}
		for k, v := range plugins[r.IntN(len(plugins))] {
			if strings.Contains(v, "%d") {
				v = fmt.Sprintf(v, i)
			}
			opts[k] = v
		}
		name := opts["Name"]
		delete(opts, "Name")
		cfg.AddOutput(name, c+"-firelens*", opts)
	}
	var buf bytes.Buffer
	if err := cfg.WriteFluentBitConfig(&buf); err != nil {
		t.Fatalf("WriteFluentBitConfig: %v", err)
	}
	return buf.Bytes()
}

// TestPatchGeneratedConfigs patches many generator outputs with the recipe
// and more, and checks that only the intended lines changed.
func TestPatchGeneratedConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	args := append([]string{"-o", "Retry_Limit", "False"}, recipeArgs()...)
	settings := settingsFromArgs(t, args)
	memBufLimit := regexp.MustCompile(`(?m)^    Mem_Buf_Limit \d+MB\n`)
	retryLimit := regexp.MustCompile(`(?m)^    Retry_Limit \d+\n`)
	for i := range 300 {
		src := generateFireLens(t, r)
		c, err := Parse(src)
		if err != nil {
			t.Fatalf("config %d: Parse: %v\n%s", i, err, src)
		}
		if got := c.Bytes(); !bytes.Equal(got, src) {
			t.Fatalf("config %d: round trip changed it:\n%s", i, cmp.Diff(string(src), string(got)))
		}
		for _, s := range settings {
			if err := c.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		out := c.Bytes()
		for _, s := range settings {
			checkSet(t, c, s)
		}
		// Removing the lines the options own must give back the input
		// without the lines they replaced.
		stripped := strings.TrimSuffix(string(out), "\n[SERVICE]\n    Scheduler.Cap 60\n")
		stripped = strings.ReplaceAll(stripped, "    Mem_Buf_Limit 50M\n", "")
		stripped = strings.ReplaceAll(stripped, "    Retry_Limit False\n", "")
		want := retryLimit.ReplaceAllString(memBufLimit.ReplaceAllString(string(src), ""), "")
		if diff := cmp.Diff(want, stripped); diff != "" {
			t.Fatalf("config %d: unexpected changes (-want +got):\n%s\ninput:\n%s", i, diff, src)
		}
		if want := strings.Count(string(src), "[INPUT]"); strings.Count(string(out), "Mem_Buf_Limit 50M") != want {
			t.Errorf("config %d: want %d Mem_Buf_Limit lines:\n%s", i, want, out)
		}
		again, err := Patch(out, settings, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("config %d: not idempotent:\n%s", i, cmp.Diff(string(out), string(again)))
		}
	}
}
