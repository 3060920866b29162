package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// TestEveryNumericOptionIsBounded is row 11 of issue 10, for every numeric
// option of `run` present and future: a huge or negative value is a usage
// error naming the flag and its variable (status 2), never a panic, an
// out-of-memory or a sidecar that starts.
func TestEveryNumericOptionIsBounded(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kong.Name("sidewatch"))
	if err != nil {
		t.Fatal(err)
	}
	var runNode *kong.Node
	for _, n := range parser.Model.Children {
		if n.Name == "run" {
			runNode = n
		}
	}
	if runNode == nil {
		t.Fatal("no run command")
	}
	durationType := reflect.TypeOf(time.Duration(0))
	checked := 0
	for _, f := range runNode.Flags {
		typ := f.Target.Type()
		var values []string
		switch {
		case typ == durationType:
			values = []string{"-1s", "876000h"}
		case typ.Kind() == reflect.Slice && (typ.Elem().Kind() == reflect.Uint16 || typ.Elem().Kind() == reflect.Int):
			continue // lists (ports) are bounded by their type
		case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Int64:
			values = []string{"-1", "1125899906842624"} // 1 PiB
		case typ.Kind() >= reflect.Uint && typ.Kind() <= reflect.Uint64:
			values = []string{"1125899906842624"}
			if typ.Kind() < reflect.Uint64 {
				continue // kong rejects what does not fit
			}
		default:
			continue
		}
		group := ""
		if f.Group != nil {
			group = f.Group.Title
		}
		for _, v := range values {
			checked++
			t.Run(f.Name+"="+v, func(t *testing.T) {
				t.Setenv("SIDEWATCH_SYSLOG_TCP_ADDR", "127.0.0.1:0")
				t.Setenv("SIDEWATCH_SYSLOG_UDP_ADDR", "127.0.0.1:0")
				t.Setenv("SIDEWATCH_HEALTH_ADDR", "127.0.0.1:0")
				t.Setenv("SIDEWATCH_NO_CAPTURE", "true")
				t.Setenv("SIDEWATCH_NO_LAUNCHER", "true")
				t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
				// The option's component is in use, so that its options count.
				switch {
				case group == "File sink":
					t.Setenv("SIDEWATCH_SINK", "file")
					t.Setenv("SIDEWATCH_FILE_PATH", filepath.Join(t.TempDir(), "f.json"))
				case strings.Contains(group, "AWS") || strings.Contains(group, "S3") || strings.Contains(group, "CloudWatch") || strings.Contains(group, "Firehose"):
					t.Setenv("SIDEWATCH_SINK", "s3,cloudwatch,firehose")
					t.Setenv("SIDEWATCH_S3_BUCKET", "sidewatch-test")
					t.Setenv("SIDEWATCH_CLOUDWATCH_LOG_GROUP", "sidewatch-test")
					t.Setenv("SIDEWATCH_FIREHOSE_DELIVERY_STREAM", "sidewatch-test")
					t.Setenv("SIDEWATCH_AWS_REGION", "us-east-1")
					t.Setenv("SIDEWATCH_SPOOL_DIR", t.TempDir())
				case group == "Packet capture" || group == "Flows":
					t.Setenv("SIDEWATCH_NO_CAPTURE", "false")
				case group == "Rules":
					rulesFile := filepath.Join(t.TempDir(), "local.rules")
					if err := os.WriteFile(rulesFile, []byte(`alert ip any any -> any any (msg:"m"; sid:1000001;)`+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					t.Setenv("SIDEWATCH_RULES", rulesFile)
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // should the value be accepted, the sidecar stops at once
				var stdout, stderr bytes.Buffer
				code := run(ctx, []string{"run", "--" + f.Name + "=" + v}, &stdout, &stderr)
				out := stderr.String()
				if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
					t.Fatalf("--%s %s panicked:\n%s", f.Name, v, out)
				}
				if code != exitUsage || !strings.Contains(out, "--"+f.Name) || (f.Envs != nil && !strings.Contains(out, f.Envs[0])) {
					t.Errorf("--%s %s: exit %d, want %d with an error naming --%s and %v; stderr:\n%s", f.Name, v, code, exitUsage, f.Name, f.Envs, out)
				}
			})
		}
	}
	if checked < 20 {
		t.Errorf("checked %d values, want every numeric option of run", checked)
	}
}
