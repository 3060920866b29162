package taskdefs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // Encode(Read(in))
	}{
		{
			name: "register_shape",
			in:   `{"family":"f","zNew":{"b":1,"a":[true,null]},"containerDefinitions":[{"name":"a","image":"i"}]}`,
			want: "{\n  \"family\": \"f\",\n  \"zNew\": {\n    \"b\": 1,\n    \"a\": [\n      true,\n      null\n    ]\n  },\n  \"containerDefinitions\": [\n    {\n      \"name\": \"a\",\n      \"image\": \"i\"\n    }\n  ]\n}\n",
		},
		{
			name: "describe_shape_strips_read_only",
			in:   `{"taskDefinition":{"taskDefinitionArn":"arn","containerDefinitions":[{"name":"a"}],"family":"f","revision":3,"status":"ACTIVE","requiresAttributes":[],"compatibilities":["EC2"],"registeredAt":"t","registeredBy":"r","deregisteredAt":"d"},"tags":[{"key":"k","value":"v"}]}`,
			want: "{\n  \"containerDefinitions\": [\n    {\n      \"name\": \"a\"\n    }\n  ],\n  \"family\": \"f\",\n  \"tags\": [\n    {\n      \"key\": \"k\",\n      \"value\": \"v\"\n    }\n  ]\n}\n",
		},
		{
			name: "numbers_and_escapes_verbatim",
			in:   `{"family":"a<b>&\u00e9\n","x":1.50e3,"containerDefinitions":[{"name":"a","cpu":0}],"e":{},"l":[]}`,
			want: "{\n  \"family\": \"a<b>&é\\n\",\n  \"x\": 1.50e3,\n  \"containerDefinitions\": [\n    {\n      \"name\": \"a\",\n      \"cpu\": 0\n    }\n  ],\n  \"e\": {},\n  \"l\": []\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := Read([]byte(tt.in))
			if err != nil {
				t.Fatalf("Read(%q) = %v", tt.in, err)
			}
			got, err := Encode(def)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Encode(Read(%q)) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not_json", `{"family":`, "parse task definition"},
		{"trailing_data", `{"family":"f","containerDefinitions":[{"name":"a"}]} {}`, "data after the JSON value"},
		{"array", `[]`, "task definition is a JSON array, want an object"},
		{"duplicate_key", `{"family":"f","family":"g"}`, `duplicate key "family"`},
		{"missing_family", `{"containerDefinitions":[{"name":"a"}]}`, "family: missing"},
		{"no_containers", `{"family":"f","containerDefinitions":[]}`, "containerDefinitions: want a non-empty array"},
		{"container_not_object", `{"family":"f","containerDefinitions":[1]}`, "containerDefinitions[0]: want an object, got a JSON number"},
		{"container_without_name", `{"family":"f","containerDefinitions":[{"image":"i"}]}`, "containerDefinitions[0].name: missing"},
		{"duplicate_container", `{"family":"f","containerDefinitions":[{"name":"a"},{"name":"a"}]}`, `containerDefinitions[1].name: duplicate container name "a"`},
		{"option_not_string", `{"family":"f","containerDefinitions":[{"name":"a","logConfiguration":{"logDriver":"awslogs","options":{"awslogs-create-group":true}}}]}`, "containerDefinitions[0].logConfiguration.options.awslogs-create-group: want a string"},
		{"command_not_array", `{"family":"f","containerDefinitions":[{"name":"a","command":"run"}]}`, "containerDefinitions[0].command: want an array"},
		{"memory_number", `{"family":"f","memory":512,"containerDefinitions":[{"name":"a"}]}`, `memory: want a string such as "512"`},
		{"unexpected_sibling", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a"}]},"failures":[]}`, "failures: unexpected beside taskDefinition"},
		{"tags_twice", `{"taskDefinition":{"family":"f","tags":[],"containerDefinitions":[{"name":"a"}]},"tags":[]}`, "tags: given both"},
		{"deep_nesting", `{"family":"f","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "nested more than 100 levels"},
		// 16: Latin-1 bytes are refused with their offset, not replaced.
		{"not_utf8", "{\"family\":\"caf\xe9\",\"containerDefinitions\":[{\"name\":\"a\"}]}", "byte 14 (0xe9): not UTF-8"},
		{"not_utf8_after_bom", "\xef\xbb\xbf{\"family\":\"caf\xe9\"}", "byte 17 (0xe9): not UTF-8"},
		{"huge", `{"family":"f","x":"` + strings.Repeat("x", MaxInputBytes) + `"}`, "larger than any task definition ECS accepts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := Read([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read(%q) = %v, %v; want an error containing %q", tt.in, def, err, tt.want)
			}
		})
	}
}

// 16: Windows editors write a BOM; the document reads as without one.
func TestReadBOM(t *testing.T) {
	const doc = `{"family":"f","containerDefinitions":[{"name":"a"}]}`
	def, err := Read([]byte("\xef\xbb\xbf" + doc))
	if err != nil {
		t.Fatalf("Read with a BOM = %v", err)
	}
	plain, _ := Read([]byte(doc))
	if got, want := mustEncode(t, def), mustEncode(t, plain); string(got) != string(want) {
		t.Errorf("Read with a BOM = %s, want %s", got, want)
	}
}

func TestParseSizes(t *testing.T) {
	mem := map[string]int64{"512": 512, "1GB": 1024, "1 GB": 1024, "0.5 gb": 512, "2048 MB": 2048}
	for in, want := range mem {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	cpu := map[string]int64{"256": 256, "1 vCPU": 1024, ".25 vcpu": 256, "2vCPU": 2048}
	for in, want := range cpu {
		if got, err := parseCPU(in); err != nil || got != want {
			t.Errorf("parseCPU(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "0", "1e40"} {
		if got, err := parseMemory(bad); err == nil {
			t.Errorf("parseMemory(%q) = %d, want an error", bad, got)
		}
	}
}

func FuzzRead(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "inject", "*.json"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a"}]},"tags":[]}`))
	f.Add([]byte(`{"family":"f","containerDefinitions":[{"name":"a","logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"g"}}}],"memory":"1GB"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Read(data)
		if err != nil {
			if def != nil {
				t.Fatalf("Read returned a document and error %v", err)
			}
			return
		}
		// Round trip: the encoding reads back to itself.
		out, err := Encode(def)
		if err != nil {
			t.Fatalf("Encode(Read(x)) = %v", err)
		}
		again, err := Read(out)
		if err != nil {
			t.Fatalf("Read(Encode(Read(x))) = %v\n%s", err, out)
		}
		out2, _ := Encode(again)
		if string(out) != string(out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
		// Inject and Lint must not panic, and inject is idempotent.
		Lint(def, LintOptions{})
		opts := DefaultOptions()
		opts.AllowBridge = true
		res, err := Inject(def, opts)
		if err != nil {
			return
		}
		Lint(res.Def, LintOptions{})
		twice, err := Inject(res.Def, opts)
		if err != nil {
			t.Fatalf("Inject(Inject(x)) = %v", err)
		}
		a, _ := Encode(res.Def)
		b, _ := Encode(twice.Def)
		if string(a) != string(b) {
			t.Fatalf("Inject not idempotent:\n%s", Diff("once", "twice", a, b))
		}
	})
}
