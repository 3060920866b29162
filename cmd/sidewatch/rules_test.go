package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/rules"
)

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.rules")
	os.WriteFile(good, []byte(`alert dns $HOME_NET any -> any any (msg:"ok"; dns.query; content:"evil.example"; nocase; endswith; sid:1000001;)
#alert dns any any -> any any (msg:"disabled"; sid:1000009;)
alert tcp any any -> any any (msg:"raw payload"; content:"x"; sid:1000002;)
alert http any any -> any any (msg:"fb"; flowbits:isset,a; http.uri; content:"/"; sid:1000003;)
`), 0o644)
	bad := filepath.Join(dir, "bad.rules")
	os.WriteFile(bad, []byte("\n\nalert dns any any -> any any (msg:\"bad hex\"; dns.query; content:\"|zz|\"; sid:1000004;)\n"), 0o644)

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rules", "check", good}, &out, &errOut); code != 0 {
		t.Fatalf("check of a file without errors: exit %d, want 0\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"files: 1\n", "parsed: 3\n", "loaded: 1\n", "unsupported: 2\n", "content ", "flowbits ", "errors: 0\n", "disabled (commented out, not checked): 1\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"rules", "check", "-v", "--by-file", good, bad}, &out, &errOut); code != 1 {
		t.Fatalf("check with a syntax error: exit %d, want 1", code)
	}
	for _, want := range []string{"errors: 1\n", bad + ":3: sid 1000004: content: bad hex digit", "sid 1000003 unsupported: flowbits:isset", "bad.rules"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	if code := run(context.Background(), []string{"rules", "check", filepath.Join(dir, "missing.rules")}, &out, &errOut); code == 0 {
		t.Errorf("check of a missing file: exit 0, want an error")
	}
}

// TestReplayRules replays a committed capture with rules: IP-only rules
// raise EVE-valid alerts carrying the rule's sid, message, class and
// severity, and the alerted flow says so.
func TestReplayRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "local.rules")
	os.WriteFile(file, []byte(`alert tcp $HOME_NET any -> 10.99.0.2 8080 (msg:"LOCAL TCP to the test server"; flow:to_server; classtype:policy-violation; sid:1000010; rev:2; metadata:created_at 2026_11_22;)
alert tcp $HOME_NET any -> 10.99.0.2 9999 (msg:"LOCAL other port"; sid:1000011;)
alert udp $EXTERNAL_NET any -> $HOME_NET any (msg:"LOCAL reversed"; sid:1000012;)
`), 0o644)
	var stdout, stderr bytes.Buffer
	rc := rules.Config{Files: []string{file}, Vars: []string{"HOME_NET=[10.99.0.1]"}, MaxThresholds: 100, MaxFlows: 100}
	cmd := &ReplayCmd{Files: []string{filepath.Join(captures, "eth.pcap")}, Flow: flow.DefaultConfig(), App: applayer.DefaultConfig(), Detect: detect.DefaultConfig(), Rules: rc}
	if err := cmd.Run(replayEnv(&stdout, &stderr)); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	eveschema.New(t).ValidateLines(t, stdout.Bytes())
	var alerts []event.Event
	alertedFlows := map[uint64]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		switch {
		case ev.EventType == event.TypeAlert:
			alerts = append(alerts, ev)
		case ev.Flow != nil && ev.Flow.Alerted:
			alertedFlows[ev.FlowID] = true
		}
	}
	bySID := map[int][]event.Event{}
	for _, a := range alerts {
		bySID[a.Alert.SignatureID] = append(bySID[a.Alert.SignatureID], a)
	}
	if len(bySID[1000010]) != 1 || len(bySID[1000011]) != 0 || len(bySID[1000012]) == 0 || len(bySID) != 2 {
		t.Fatalf("alerts by sid %v, want one of 1000010, some of 1000012 and no other:\n%s", bySID, stdout.String())
	}
	// A match in the server-to-client direction is written from the server.
	for _, a := range bySID[1000012] {
		if a.SrcIP.String() != "10.99.0.2" || a.DestIP.String() != "10.99.0.1" || a.Proto != "UDP" {
			t.Errorf("reversed rule alert %s -> %s %s, want 10.99.0.2 -> 10.99.0.1 UDP", a.SrcIP, a.DestIP, a.Proto)
		}
	}
	a := bySID[1000010][0]
	want := event.Alert{Action: "allowed", GID: 1, SignatureID: 1000010, Rev: 2, Signature: "LOCAL TCP to the test server", Category: "Potential Corporate Privacy Violation", Severity: 1}
	if got := *a.Alert; got.SignatureID != want.SignatureID || got.Rev != want.Rev || got.Signature != want.Signature || got.Category != want.Category || got.Severity != want.Severity || got.Action != want.Action || got.GID != want.GID {
		t.Errorf("alert %+v, want %+v", got, want)
	}
	if a.SrcIP.String() != "10.99.0.1" || a.DestIP.String() != "10.99.0.2" || a.DestPort != 8080 || a.CommunityID == "" {
		t.Errorf("alert %s:%d -> %s:%d community %q, want the flow's client to 10.99.0.2:8080", a.SrcIP, a.SrcPort, a.DestIP, a.DestPort, a.CommunityID)
	}
	if md := a.Alert.Metadata; len(md) != 1 || md[0].Key != "created_at" || len(md[0].Values) != 1 || md[0].Values[0] != "2026_11_22" {
		t.Errorf("alert.metadata = %v, want the rule's created_at", md)
	}
	if !alertedFlows[a.FlowID] {
		t.Errorf("the flow event of flow %d does not say alerted", a.FlowID)
	}
}
