package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// TestDetectionsDoc keeps docs/detections.md true: its signature table
// lists every built-in signature, and only those, with its exact text and
// severity, in the reserved range; its JSON examples round-trip and are
// valid EVE; every flag of Config is in its flag table.
func TestDetectionsDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/detections.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (9\d{6}) \| (.+?) \((\d)\) \|`).FindAllSubmatch(doc, -1)
	documented := map[int]string{}
	for _, r := range rows {
		sid, _ := strconv.Atoi(string(r[1]))
		documented[sid] = fmt.Sprintf("%s (%s)", r[2], r[3])
	}
	seen := map[int]bool{}
	for _, sig := range BuiltinSignatures() {
		if seen[sig.ID] {
			t.Errorf("signature %d twice", sig.ID)
		}
		seen[sig.ID] = true
		if sig.ID < BuiltinSIDMin || sig.ID > BuiltinSIDMax || sig.GID != 1 || sig.Rev < 1 {
			t.Errorf("signature %d: gid %d rev %d out of the built-in range", sig.ID, sig.GID, sig.Rev)
		}
		want := fmt.Sprintf("%s (%d)", sig.Msg, sig.Severity)
		if got := documented[sig.ID]; got != want {
			t.Errorf("docs/detections.md row %d = %q, want %q", sig.ID, got, want)
		}
		if metaValueOf(sig.Metadata, "sidewatch_detection") == "" || metaValueOf(sig.Metadata, "mitre_technique_id") == "" {
			t.Errorf("signature %d lacks its detection name or MITRE technique", sig.ID)
		}
	}
	for sid := range documented {
		if !seen[sid] {
			t.Errorf("docs/detections.md documents %d, which is not a built-in signature", sid)
		}
	}
	v := eveschema.New(t)
	for _, b := range regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllSubmatch(doc, -1) {
		var ev event.Event
		if err := json.Unmarshal(b[1], &ev); err != nil {
			t.Fatalf("example does not decode: %v\n%s", err, b[1])
		}
		if got := ev.AppendJSON(nil); !bytes.Equal(got, b[1]) {
			t.Errorf("example does not round-trip:\n got %s\nwant %s", got, b[1])
		}
		v.ValidateLines(t, b[1])
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(--(?:\\[no-\\])?[a-z0-9-]+)` \\|").FindAllSubmatch(doc, -1) {
		flags[strings.Replace(string(m[1]), "[no-]", "", 1)] = true
	}
	for _, f := range configFields() {
		if name := f.Tag.Get("name"); !flags["--"+name] {
			t.Errorf("flag --%s is not in docs/detections.md's flag table", name)
		}
	}
}

func metaValueOf(m event.AlertMetadata, key string) string {
	for _, kv := range m {
		if kv.Key == key && len(kv.Values) > 0 {
			return kv.Values[0]
		}
	}
	return ""
}
