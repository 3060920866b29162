package event

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestEventsDocExamples keeps docs/events.md true: every JSON example must
// decode into an Event and re-encode to exactly the same bytes, and every
// event type must have an example.
func TestEventsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllSubmatch(doc, -1)
	seen := map[Type]bool{}
	for _, b := range blocks {
		line := b[1]
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Errorf("docs/events.md example does not decode: %v\n%s", err, line)
			continue
		}
		seen[e.EventType] = true
		if got := e.AppendJSON(nil); !bytes.Equal(got, line) {
			t.Errorf("docs/events.md example does not round-trip:\n got %s\nwant %s", got, line)
		}
	}
	for _, typ := range []Type{TypeFlow, TypeFlowUpdate, TypeDNS, TypeTLS, TypeHTTP, TypeSSH, TypeAlert, TypeLog, TypeStats} {
		if !seen[typ] {
			t.Errorf("docs/events.md has no example of event_type %q", typ)
		}
	}
}
