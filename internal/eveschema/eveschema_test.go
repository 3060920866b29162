package eveschema

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The repository's own EVE output: every example in docs/events.md and
// every replay golden file must validate.
func TestRepositoryEventsValidate(t *testing.T) {
	v := New(t)
	docs, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(docs, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/events.md: no json examples found")
	}
	for _, b := range blocks {
		// Examples are one event per block, possibly pretty-printed.
		if err := v.Validate(b[1]); err != nil {
			t.Errorf("docs/events.md example does not validate: %v\n%s", err, b[1])
		}
	}
	goldens, err := filepath.Glob("../../sidecar/capture/testdata/*.golden.jsonl")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no replay golden files: %v", err)
	}
	app, err := filepath.Glob("../../sidecar/applayer/testdata/*.golden.jsonl")
	if err != nil || len(app) == 0 {
		t.Fatalf("no app-layer golden files: %v", err)
	}
	goldens = append(goldens, app...)
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			b, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			v.ValidateLines(t, b)
		})
	}
}

// flowUpdateBody is a flow_update object without its closing brace.
const flowUpdateBody = `{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"total":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0},"start":"2026-01-01T00:00:00.000000+0000","since":"2026-01-01T00:00:00.000000+0000","end":"2026-01-01T00:00:00.000000+0000","age":0`

// The overlay must not make Suricata's schema accept anything: unknown
// top-level keys and wrong types are still refused.
func TestRejects(t *testing.T) {
	v := New(t)
	for _, tc := range []struct{ name, line string }{
		{"unknown_top_level_key", `{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"flow","nonsense":1}`},
		{"port_as_string", `{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"flow","src_port":"80"}`},
		{"unknown_log_key", `{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"log","log":{"message":"m","x":1}}`},
		{"missing_event_type", `{"timestamp":"2026-01-01T00:00:00.000000+0000"}`},
		{"unknown_flow_update_key", `{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"flow_update","flow_update":` + flowUpdateBody + `,"reason":"active_timeout"}}`},
		{"flow_update_without_total", `{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"flow_update","flow_update":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"start":"2026-01-01T00:00:00.000000+0000","since":"2026-01-01T00:00:00.000000+0000","end":"2026-01-01T00:00:00.000000+0000","age":0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Validate([]byte(tc.line)); err == nil {
				t.Errorf("Validate(%s) = nil, want an error", tc.line)
			}
		})
	}
	if err := v.Validate([]byte(`{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"flow_update","flow_update":` + flowUpdateBody + `}}`)); err != nil {
		t.Errorf("minimal flow_update event: %v, want nil", err)
	}
	if err := v.Validate(bytes.TrimSpace([]byte(strings.TrimSpace(`{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"log","log":{"message":"m"}}`)))); err != nil {
		t.Errorf("minimal log event: %v, want nil", err)
	}
}
