// Package eveschema validates sidewatch's JSON lines against Suricata's own
// EVE JSON schema (read from the shared fixtures, never copied here) with
// sidewatch's additions declared explicitly by the overlays in overlay/.
//
// An overlay is a JSON document deep-merged into Suricata's schema: objects
// merge key by key, anything else replaces. Each addition to EVE gets its
// own overlay file, named for what it adds, so that a reviewer sees every
// departure from Suricata's format in one directory.
package eveschema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sidewatch/sidewatch/internal/shareddata"
)

//go:embed overlay/*.json
var overlays embed.FS

// SchemaPath is Suricata's schema within the shared fixtures.
const SchemaPath = "eve/suricata-schema.json"

// Validator checks EVE lines.
type Validator struct {
	schema *jsonschema.Schema
}

// New loads Suricata's schema and applies every overlay, skipping the test
// when the shared fixtures are absent.
func New(tb testing.TB) *Validator {
	tb.Helper()
	v, err := Load(shareddata.Path(tb, SchemaPath))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// Load builds a validator from the schema file at path plus the overlays.
func Load(path string) (*Validator, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var base map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names, err := fs.Glob(overlays, "overlay/*.json")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, n := range names {
		b, err := overlays.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var o map[string]any
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		merge(base, o)
	}
	merged, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(merged))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("eve.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("eve.json")
	if err != nil {
		return nil, fmt.Errorf("compile %s with overlays: %w", path, err)
	}
	return &Validator{schema: s}, nil
}

// Validate checks one JSON line.
func (v *Validator) Validate(line []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return v.schema.Validate(inst)
}

// ValidateLines checks every non-empty line of a JSON-lines document and
// reports each failure with its line number and event_type.
func (v *Validator) ValidateLines(tb testing.TB, doc []byte) {
	tb.Helper()
	for i, line := range bytes.Split(doc, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := v.Validate(line); err != nil {
			var head struct {
				EventType string `json:"event_type"`
			}
			_ = json.Unmarshal(line, &head)
			tb.Errorf("line %d (event_type %q) does not validate: %v\n%s", i+1, head.EventType, err, line)
		}
	}
}

// merge deep-merges src into dst.
func merge(dst, src map[string]any) {
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
}
