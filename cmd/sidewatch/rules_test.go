package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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

	// Rules naming intel lists load when check gets the intel files run gets.
	lists := filepath.Join(dir, "lists.rules")
	os.WriteFile(lists, []byte(`alert ip $HOME_NET any -> any any (msg:"listed"; iprep:dst,c2.txt,>,30; sid:1000005;)
alert dns $HOME_NET any -> any any (msg:"pool"; dns.query; dataset:isset,builtin-mining-pools; sid:1000006;)
`), 0o644)
	intel := filepath.Join(dir, "c2.txt")
	os.WriteFile(intel, []byte("203.0.113.9\n"), 0o644)
	out.Reset()
	if code := run(context.Background(), []string{"rules", "check", "-v", lists}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "loaded: 1\n") ||
		!strings.Contains(out.String(), "sid 1000005 unsupported: iprep category c2.txt: no intel list of that name (the intel lists are builtin-mining-pools)") {
		t.Errorf("check without --intel-files: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"rules", "check", "--intel-files", intel, lists}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "loaded: 2\n") {
		t.Errorf("check with --intel-files: exit %d\n%s", code, out.String())
	}
}

// replayWithRules replays the committed capture eth.pcap (10.99.0.1 talks
// TCP and UDP with 10.99.0.2) with rules, checks the output against
// Suricata's schema, and returns the alerts by sid and the alerted flows.
func replayWithRules(t *testing.T, rc rules.Config, dc detect.Config) (map[int][]event.Event, map[uint64]bool, string) {
	t.Helper()
	if rc.MaxThresholds == 0 {
		rc.MaxThresholds, rc.MaxFlows = 100, 100
	}
	var stdout, stderr bytes.Buffer
	cmd := &ReplayCmd{Files: []string{filepath.Join(captures, "eth.pcap")}, Flow: flow.DefaultConfig(), App: applayer.DefaultConfig(), Detect: dc, Rules: rc}
	if err := cmd.Run(replayEnv(&stdout, &stderr)); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	eveschema.New(t).ValidateLines(t, stdout.Bytes())
	bySID := map[int][]event.Event{}
	alertedFlows := map[uint64]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		switch {
		case ev.EventType == event.TypeAlert:
			bySID[ev.Alert.SignatureID] = append(bySID[ev.Alert.SignatureID], ev)
		case ev.Flow != nil && ev.Flow.Alerted:
			alertedFlows[ev.FlowID] = true
		}
	}
	return bySID, alertedFlows, stdout.String() + stderr.String()
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
	dc := detect.DefaultConfig()
	dc.HomeNet = []string{"10.99.0.1"}
	bySID, alertedFlows, out := replayWithRules(t, rules.Config{Files: []string{file}}, dc)
	if len(bySID[1000010]) != 1 || len(bySID[1000011]) != 0 || len(bySID[1000012]) == 0 || len(bySID) != 2 {
		t.Fatalf("alerts by sid %v, want one of 1000010, some of 1000012 and no other:\n%s", bySID, out)
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

// TestReplayRulesHomeAndLists: --home-net is the rules' HOME_NET (Suricata's
// private ranges when absent), and iprep/dataset name the intel files of
// --detect-intel-files.
func TestReplayRulesHomeAndLists(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "local.rules")
	os.WriteFile(file, []byte(`alert tcp $HOME_NET any -> $HOME_NET 8080 (msg:"LOCAL inside home"; flow:to_server; sid:1000020;)
alert ip $HOME_NET any -> any any (msg:"LOCAL listed server (iprep)"; iprep:dst,servers.txt,isset; sid:1000021;)
alert ip any any -> any any (msg:"LOCAL listed server (dataset)"; ip.dst; dataset:isset,servers.txt; sid:1000022;)
alert ip any any -> any any (msg:"LOCAL unlisted list"; iprep:dst,nosuch.txt,isset; sid:1000023;)
`), 0o644)
	servers := filepath.Join(dir, "servers.txt")
	os.WriteFile(servers, []byte("# test servers\n10.99.0.2\n"), 0o644)
	tests := []struct {
		name  string
		home  []string
		intel []string
		want  []int
	}{
		{"suricata_default_home", nil, nil, []int{1000020}},
		{"home_net_given", []string{"10.99.0.1"}, nil, nil},
		{"intel_lists", []string{"10.99.0.1"}, []string{servers}, []int{1000021, 1000022}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := detect.DefaultConfig()
			dc.HomeNet, dc.Intel.Files = tt.home, tt.intel
			bySID, _, out := replayWithRules(t, rules.Config{Files: []string{file}}, dc)
			var got []int
			for sid := range bySID {
				if sid < detect.BuiltinSIDMin {
					got = append(got, sid)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("rule alerts %v, want %v\n%s", got, tt.want, out)
			}
			if !strings.Contains(out, "nosuch.txt: no intel list of that name") {
				t.Errorf("the rule naming a missing list is not reported:\n%s", out)
			}
		})
	}
}

// TestRulesConfigErrors: rule files without the detection engine, and a
// second HOME_NET, are refused with the flags named.
func TestRulesConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "local.rules")
	os.WriteFile(file, []byte(`alert ip any any -> any any (msg:"x"; sid:1000030;)`+"\n"), 0o644)
	pcap := filepath.Join(captures, "eth.pcap")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"replay_no_detect", []string{"replay", "--rules", file, "--no-detect", pcap}, "--rules (SIDEWATCH_RULES) runs in the detection engine: it cannot be used with --no-detect (SIDEWATCH_NO_DETECT)"},
		{"replay_home_var", []string{"replay", "--rules", file, "--rules-var", "HOME_NET=[10.0.0.1]", pcap}, "--rules-var (SIDEWATCH_RULES_VARS) HOME_NET: the task's addresses are one setting for rules and detections: give them with --home-net (SIDEWATCH_HOME_NET)"},
		{"run_no_detect", []string{"run", "--no-launcher", "--rules", file, "--no-detect"}, "it cannot be used with --no-detect"},
		{"run_home_var", []string{"run", "--no-launcher", "--rules", file, "--rules-var", "HOME_NET=[10.0.0.1]"}, "give them with --home-net"},
		{"bad_home_net", []string{"replay", "--home-net", "10.0.0.0/33", pcap}, "--home-net (SIDEWATCH_HOME_NET)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, errOut.String(), tt.want)
			}
		})
	}
}
