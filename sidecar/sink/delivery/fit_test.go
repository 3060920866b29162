package delivery

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFit(t *testing.T) {
	big := strings.Repeat("é\\u0001x\\\"", 150000) // escapes and 2-byte characters
	for _, tc := range []struct {
		name  string
		line  string
		limit int
		cut   bool
		valid bool
	}{
		{"fits", `{"a":"b"}`, 9, false, true},
		{"log_message", `{"timestamp":"t","event_type":"log","log":{"message":"` + big + `","source":"app"}}`, 1048550, true, true},
		{"two_strings", `{"a":"` + strings.Repeat("x", 1000) + `","b":"` + strings.Repeat("y", 900) + `"}`, 1000, true, true},
		{"no_strings", `{"a":[` + strings.Repeat("1,", 1000) + `1]}`, 100, true, false},
		{"not_json", strings.Repeat("é", 1000), 101, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Fit([]byte(tc.line), tc.limit)
			if cut != tc.cut || len(got) > tc.limit {
				t.Fatalf("Fit = %d bytes, cut %v; want ≤ %d, cut %v", len(got), cut, tc.limit, tc.cut)
			}
			if !utf8.Valid(got) {
				t.Errorf("result is not valid UTF-8")
			}
			if !tc.valid {
				return
			}
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatalf("result is not JSON: %v", err)
			}
			if cut && m["truncated"] != true {
				t.Errorf("truncated = %v, want true", m["truncated"])
			}
			if tc.name == "log_message" {
				msg := m["log"].(map[string]any)["message"].(string)
				var full map[string]any
				json.Unmarshal([]byte(tc.line), &full)
				if !strings.HasPrefix(full["log"].(map[string]any)["message"].(string), msg) || len(got) < tc.limit-12 {
					t.Errorf("message is not a prefix of the original or was cut too much (%d bytes)", len(got))
				}
				if m["log"].(map[string]any)["source"] != "app" {
					t.Errorf("other fields lost: %v", m["log"])
				}
			}
		})
	}
}

func FuzzFit(f *testing.F) {
	f.Add([]byte(`{"a":"\u00e9\\\"xyz","b":{"c":"dddd"}}`), 20)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		got, _ := Fit(b, limit)
		if len(got) > max(limit, 0) && len(b) > limit {
			t.Fatalf("Fit returned %d bytes, limit %d", len(got), limit)
		}
		if json.Valid(b) && len(b) > limit && len(got) > 0 && got[0] == '{' && strings.HasSuffix(string(got), truncatedFlag+"}") && !json.Valid(got) {
			t.Fatalf("Fit made invalid JSON from valid: %q → %q", b, got)
		}
	})
}
