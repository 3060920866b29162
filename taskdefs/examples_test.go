package taskdefs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exampleCases are the task definitions in ../examples: NAME.before.json
// is what a user has, NAME.json what `sidewatch taskdef inject` with these
// options makes of it.
var exampleCases = []exampleCase{
	{name: "minimal", opts: func(o *Options) { o.LogGroup, o.LogRegion = "/ecs/minimal", "us-east-1" }},
	{name: "awslogs-migration"},
	{name: "upstream-fluent-bit", opts: func(o *Options) { o.RouterImage = "fluent/fluent-bit:3.2" }},
	{name: "metrics-health"},
	{name: "multiline"},
	{name: "init-image"},
	{name: "aws-sinks", opts: withSinks("stdout,cloudwatch,s3",
		"SIDEWATCH_CLOUDWATCH_LOG_GROUP=/security/sidewatch-alerts", "SIDEWATCH_CLOUDWATCH_EVENT_TYPES=alert",
		"SIDEWATCH_S3_BUCKET=acme-security-events", "SIDEWATCH_AWS_REGION=us-east-1")},
}

type exampleCase struct {
	name string
	opts func(*Options)
}

const examplesDir = "../examples"

func TestGoldenExamples(t *testing.T) {
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(examplesDir, tc.name)
			res, err := Inject(readDef(t, base+".before.json"), caseOptions(tc.opts))
			if err != nil {
				t.Fatalf("Inject = %v", err)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("Inject warnings = %q, want none for an example", res.Warnings)
			}
			golden(t, base+".json", mustEncode(t, res.Def))
		})
	}
}

// TestExamplesComplete checks every finished example: lint finds nothing,
// inject changes nothing, and the AWS CLI accepts it.
func TestExamplesComplete(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		if name, ok := strings.CutSuffix(filepath.Base(p), ".json"); ok && !strings.HasSuffix(name, ".before") {
			names = append(names, name)
		}
	}
	for _, tc := range exampleCases {
		if !slices.Contains(names, tc.name) {
			t.Errorf("%s.json is missing from %s (run make golden)", tc.name, examplesDir)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(examplesDir, name+".json")
			def := readDef(t, path)
			// Lint cannot see IAM: it warns that the task role writes the
			// CloudWatch logs, and nothing else.
			fs := Lint(def, LintOptions{})
			fs = slices.DeleteFunc(fs, func(f Finding) bool { return f.Check == "task-role-logs" })
			if len(fs) > 0 {
				t.Errorf("Lint(%s) found:\n%s", path, FormatFindings(fs))
			}
			i := slices.IndexFunc(exampleCases, func(c exampleCase) bool { return c.name == name })
			opts := DefaultOptions()
			if i >= 0 {
				opts = caseOptions(exampleCases[i].opts)
			}
			res, err := Inject(def, opts)
			if err != nil {
				t.Fatalf("Inject(%s) = %v", path, err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustEncode(t, res.Def); string(got) != string(want) {
				t.Errorf("Inject(%s) changed it:\n%s", path, Diff(path, "injected", want, got))
			}
			validateWithCLI(t, path)
		})
	}
}
