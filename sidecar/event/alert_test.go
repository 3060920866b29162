package event

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func alertEvent() Event {
	return Event{
		Timestamp: At(t0), FlowID: 2011736501236541, InIface: "eth0", EventType: TypeAlert,
		SrcIP: netip.MustParseAddr("169.254.172.2"), SrcPort: 51724, DestIP: netip.MustParseAddr("169.254.169.254"), DestPort: 80,
		Proto: "TCP", IPVersion: 4, CommunityID: "1:XlntnyxZWmHxqaaSiQfESlKN/8w=",
		Alert: &Alert{Action: "allowed", GID: 1, SignatureID: 9000401, Rev: 1, Signature: "SIDEWATCH instance metadata service contacted",
			Category: "Attempted Information Leak", Severity: 2,
			Metadata: AlertMetadata{
				{"mitre_technique_id", []string{"T1552.005"}},
				{"guardduty_finding_type", []string{"UnauthorizedAccess:Runtime/MetadataDNSRebind"}},
				{"ports", []string{"22", "80"}},
				{"suppressed", []string{"3"}},
			}},
	}
}

// alertEscaped has metadata keys and values that need escaping, and an
// empty list.
func alertEscaped() Event {
	ev := alertEvent()
	ev.Alert.Metadata = AlertMetadata{{"evidence \"x\"", []string{"a\nb", ""}}, {"empty", []string{}}}
	return ev
}

func TestAlertMetadataKeepsOrder(t *testing.T) {
	got := string(alertEvent().Alert.Metadata.appendJSON(nil))
	want := `{"mitre_technique_id":["T1552.005"],"guardduty_finding_type":["UnauthorizedAccess:Runtime/MetadataDNSRebind"],"ports":["22","80"],"suppressed":["3"]}`
	if got != want {
		t.Errorf("metadata = %s, want %s", got, want)
	}
}

func TestAlertMetadataUnmarshalErrors(t *testing.T) {
	for _, in := range []string{`[]`, `{"a":"b"}`, `{"a":[1]}`, `{"a":["b"]`, `{"a" ["b"]}`} {
		var m AlertMetadata
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %v, nil error; want an error", in, m)
		}
	}
}

func BenchmarkAppendJSONAlert(b *testing.B) {
	ev := alertEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
