package rules

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// pipe stands for the pipeline behind the detection engine's tap: the
// events handed on, and the alerts on the reserved alert path.
type pipe struct{ events, alerts []event.Event }

func (p *pipe) Publish(_ context.Context, ev event.Event) error {
	p.events = append(p.events, ev)
	return nil
}
func (p *pipe) Offer(ev event.Event) bool      { p.events = append(p.events, ev); return true }
func (p *pipe) OfferAlert(ev event.Event) bool { p.alerts = append(p.alerts, ev); return true }

// ruleAlerts are the alerts of rules (not of the built-in detections).
func (p *pipe) ruleAlerts() []event.Event {
	var out []event.Event
	for _, a := range p.alerts {
		if a.Alert.SignatureID < detect.BuiltinSIDMin || a.Alert.SignatureID > detect.BuiltinSIDMax {
			out = append(out, a)
		}
	}
	return out
}

// engineWithRules is the detection engine with text's rules added as in
// `sidewatch run`, and its tap in front of p.
func engineWithRules(t testing.TB, cfg detect.Config, text string) (*detect.Tap, *pipe) {
	t.Helper()
	p := &pipe{}
	eng, err := detect.New(cfg, p, nil, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Add("rules", NewDetector(newTestEngine(t, text)))
	return eng.Tap(p), p
}

// TestDetectorAlert checks the alert a rule raises through the detection
// engine: the rule's identity and metadata, the flow's, in the direction
// of the match.
func TestDetectorAlert(t *testing.T) {
	tap, p := engineWithRules(t, detect.DefaultConfig(), `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY bad cert"; flow:established,to_client; tls.cert_issuer; content:"Evil CA"; classtype:policy-violation; sid:3000200; rev:3; gid:1; metadata:created_at 2026_01_01, tag a, tag b;)`)
	ev := tlsEvent(&event.TLS{IssuerDN: "O=Evil CA", SNI: "x.example"})
	ev.CommunityID, ev.InIface = "1:abc=", "eth1"
	ev.ECS.Container.Name = "app"
	tap.Offer(*ev)
	got := p.ruleAlerts()
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1", len(got))
	}
	a := got[0]
	want := event.Alert{Action: "allowed", GID: 1, SignatureID: 3000200, Rev: 3, Signature: "ET POLICY bad cert", Category: "Potential Corporate Privacy Violation", Severity: 1}
	if a.Alert.Action != want.Action || a.Alert.GID != want.GID || a.Alert.SignatureID != want.SignatureID || a.Alert.Rev != want.Rev ||
		a.Alert.Signature != want.Signature || a.Alert.Category != want.Category || a.Alert.Severity != want.Severity {
		t.Errorf("alert = %+v, want %+v", *a.Alert, want)
	}
	md := a.Alert.Metadata
	if len(md) != 2 || md[0].Key != "created_at" || !slices.Equal(md[0].Values, []string{"2026_01_01"}) || md[1].Key != "tag" || !slices.Equal(md[1].Values, []string{"a", "b"}) {
		t.Errorf("alert.metadata = %v, want the rule's, grouped by key", md)
	}
	// A to_client match is written from the server's side, as Suricata does.
	if a.SrcIP != ev.DestIP || a.DestIP != ev.SrcIP || a.SrcPort != 443 || a.DestPort != ev.SrcPort {
		t.Errorf("alert %s:%d -> %s:%d, want the server to the client", a.SrcIP, a.SrcPort, a.DestIP, a.DestPort)
	}
	if a.EventType != event.TypeAlert || a.FlowID != ev.FlowID || a.CommunityID != "1:abc=" || a.InIface != "eth1" || a.AppProto != "tls" || a.ECS.Container.Name != "app" {
		t.Errorf("alert event = %+v, want the flow's identity, app_proto tls and the container", a)
	}
	if len(p.events) != 1 || p.events[0].TLS != ev.TLS {
		t.Errorf("the tls event was not handed on unchanged: %v", p.events)
	}
}

// TestIPOnlyRuleMarksFlowAlerted: an IP-only rule alerts on the flow event
// itself, and that flow event, handed on after the rules ran, says
// alerted: true; another flow's does not.
func TestIPOnlyRuleMarksFlowAlerted(t *testing.T) {
	tap, p := engineWithRules(t, detect.DefaultConfig(), `alert ip $HOME_NET any -> 203.0.113.9 any (msg:"listed destination"; sid:1000001;)`)
	hit := flowEvent(taskIP, remoteIP, 443)
	miss := flowEvent(taskIP, "192.0.2.1", 443)
	miss.FlowID = 15
	tap.Offer(*hit)
	tap.Offer(*miss)
	if got := sids(p.ruleAlerts()); !slices.Equal(got, []int{1000001}) {
		t.Fatalf("alerts %v, want [1000001]", got)
	}
	if len(p.events) != 2 || !p.events[0].Flow.Alerted || p.events[1].Flow.Alerted {
		t.Errorf("flow.alerted = %v, %v; want true for the alerted flow only", p.events[0].Flow.Alerted, p.events[1].Flow.Alerted)
	}
}

// TestDedupAfterThresholds: the engine writes one alert per signature,
// source and destination per window, and a rule's threshold and
// detection_filter count every match before that; a zero window writes
// every alert the rule raises, as Suricata.
func TestDedupAfterThresholds(t *testing.T) {
	// Six matching requests a second apart from the task to one resolver,
	// then one to another resolver.
	var evs []*event.Event
	for i := range 6 {
		ev := dnsEvent("request", "t.example")
		ev.Timestamp = event.At(t0.Add(time.Duration(i) * time.Second))
		evs = append(evs, ev)
	}
	other := dnsEvent("request", "t.example")
	other.DestIP = mustAddr("10.0.0.3")
	other.Timestamp = event.At(t0.Add(7 * time.Second))
	evs = append(evs, other)
	later := dnsEvent("request", "t.example")
	later.Timestamp = event.At(t0.Add(6 * time.Minute))
	evs = append(evs, later)
	tests := []struct {
		name   string
		opt    string
		window time.Duration
		want   []string // the alerts written: destination, and suppressed count when not 0
	}{
		{"plain_deduplicated", "", 5 * time.Minute, []string{"10.0.0.2", "10.0.0.3", "10.0.0.2 suppressed=5"}},
		{"plain_window_0", "", 0, []string{"10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.2"}},
		// Every third match by the task (the 3rd, the 6th; the 7th is the
		// first of a new count), then dedup.
		{"threshold_then_dedup", "threshold:type threshold, track by_src, count 3, seconds 60;", 5 * time.Minute, []string{"10.0.0.2"}},
		{"threshold_window_0", "threshold:type threshold, track by_src, count 3, seconds 60;", 0, []string{"10.0.0.2", "10.0.0.2"}},
		// Matches after the 2nd within 60 s: 3rd to 7th, then dedup.
		{"detection_filter_then_dedup", "detection_filter:track by_src, count 2, seconds 60;", 5 * time.Minute, []string{"10.0.0.2", "10.0.0.3"}},
		{"detection_filter_window_0", "detection_filter:track by_src, count 2, seconds 60;", 0, []string{"10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := detect.DefaultConfig()
			cfg.DedupWindow = tt.window
			tap, p := engineWithRules(t, cfg, `alert dns any any -> any any (msg:"t"; dns.query; content:"t.example"; `+tt.opt+` sid:1;)`)
			for i, ev := range evs {
				ev.FlowID = uint64(100 + i)
				tap.Offer(*ev)
			}
			var got []string
			for _, a := range p.ruleAlerts() {
				s := a.DestIP.String()
				for _, m := range a.Alert.Metadata {
					if m.Key == "suppressed" {
						s += " suppressed=" + strings.Join(m.Values, ",")
					}
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("alerts written %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSuppressedMatchAllocatesNothing: a rule matching every event of a
// busy client is deduplicated after its first alert, and those matches
// cost no allocation (the signature is built on the stack).
func TestSuppressedMatchAllocatesNothing(t *testing.T) {
	alerts := 0
	eng, err := detect.New(detect.DefaultConfig(), discard{&alerts}, nil, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// TLS: the built-in DNS tunnel detection allocates once per query
	// outside AWS's zones (x/net/publicsuffix parses each name as an
	// address first), which would hide what this test measures.
	eng.Add("rules", NewDetector(newTestEngine(t, `alert tls any any -> any any (msg:"t"; tls.sni; content:"t.example"; metadata:tag a; sid:1;)`)))
	tap := eng.Tap(discard{&alerts})
	ev := tlsEvent(&event.TLS{SNI: "t.example"})
	tap.Offer(*ev)
	if n := testing.AllocsPerRun(200, func() { tap.Offer(*ev) }); n != 0 {
		t.Errorf("%.1f allocations per suppressed match, want 0", n)
	}
	if alerts != 1 {
		t.Errorf("%d alerts written, want 1 (the rest suppressed)", alerts)
	}
}
