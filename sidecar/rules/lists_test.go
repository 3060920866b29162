package rules

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// writeFiles writes name → content files into dir and returns their paths
// in the order given.
func writeFiles(t testing.TB, dir string, files ...string) []string {
	t.Helper()
	var paths []string
	for i := 0; i+1 < len(files); i += 2 {
		p := filepath.Join(dir, files[i])
		if err := os.WriteFile(p, []byte(files[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// intelEngine is the detection engine with intel files, as `sidewatch run
// --detect-intel-files` builds it: its lists back dataset and iprep.
func intelEngine(t testing.TB, files []string) *detect.Engine {
	t.Helper()
	cfg := detect.DefaultConfig()
	cfg.Intel.Files = files
	cfg.Intel.Reload = time.Second
	eng, err := detect.New(cfg, nil, nil, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// intelFiles are real indicator files in the formats feeds publish.
func intelFiles(t testing.TB, dir string) []string {
	return writeFiles(t, dir,
		"c2.txt", "# C2 servers\n"+remoteIP+"\n198.51.100.0/24 ; SBL1\n",
		"feodo.csv", "# \"first_seen_utc\",\"dst_ip\",\"dst_port\",\"malware\"\n\"2026-01-01\",\"198.51.100.7\",\"443\",\"Dridex\"\n",
		"blocked.hosts", "# hosts file\n0.0.0.0 intel.example\n0.0.0.0 bad.example\n",
		"tools.txt", "e7d705a3286e19ea42f587b344ee6865\nt13d1516h2_8daaf6152771_e5627efa2ab1\n",
	)
}

func TestDatasetsAndIPRep(t *testing.T) {
	dir := t.TempDir()
	// Suricata's dataset formats: strings in base64, addresses as text.
	writeFiles(t, dir,
		"names.lst", "ZXZpbC5leGFtcGxl\n# comment\nYmFkLmV4YW1wbGU=\n", // evil.example, bad.example
		"ips.lst", "203.0.113.9\n2001:db8::1\n",
		"ja3.lst", "E7D705A3286E19EA42F587B344EE6865\n")
	lists := IntelLists(intelEngine(t, intelFiles(t, dir)))
	text := `alert dns any any -> any any (msg:"ds"; dns.query; dataset:isset,names,type string,load names.lst; sid:1;)
alert dns any any -> any any (msg:"ds not"; dns.query; dataset:isnotset,names; sid:2;)
alert ip any any -> any any (msg:"ip ds"; ip.dst; dataset:isset,ips,type ip,load ips.lst; sid:3;)
alert tls any any -> any any (msg:"md5 ds"; ja3.hash; dataset:isset,ja3s,type md5,load ja3.lst; sid:4;)
alert ip any any -> any any (msg:"iprep"; iprep:dst,c2.txt,>,30; sid:5;)
alert dns any any -> any any (msg:"intel list of names"; dns.query; dataset:isset,blocked.hosts; sid:6;)
alert ip any any -> any any (msg:"intel list on ip.dst"; ip.dst; dataset:isset,feodo.csv,type ip; sid:7;)
alert tls any any -> any any (msg:"intel list of JA3"; ja3.hash; dataset:isset,tools.txt; sid:8;)
alert tls any any -> any any (msg:"intel list of JA4"; ja4.hash; dataset:isset,tools.txt; sid:9;)
alert tls any any -> any any (msg:"SNI not listed"; tls.sni; dataset:isnotset,blocked.hosts; sid:10;)
alert ip any any -> any any (msg:"iprep both lists"; iprep:dst,feodo.csv,isset; iprep:dst,c2.txt,isset; sid:11;)
`
	set, err := LoadReader(filepath.Join(dir, "x.rules"), dir, strings.NewReader(text), Options{Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	if set.Report.Loaded != 11 {
		t.Fatalf("loaded %d: errors %v unsupported %v", set.Report.Loaded, set.Report.Errors, set.Report.Unsupported)
	}
	e := NewEngine(EngineConfig{MaxThresholds: 10, MaxFlows: 10}, metrics.New())
	e.Swap(set)
	tests := []struct {
		name string
		ev   *event.Event
		want []int
	}{
		{"listed_name", dnsEvent("request", "evil.example"), []int{1}},
		{"unlisted_name", dnsEvent("request", "good.example"), []int{2}},
		{"intel_name", dnsEvent("request", "intel.example"), []int{2, 6}},
		{"intel_subdomain", dnsEvent("request", "a.b.Intel.Example."), []int{2, 6}},
		{"in_file_and_intel_list", dnsEvent("request", "bad.example"), []int{1, 6}},
		{"listed_ip_and_rep", flowEvent(taskIP, remoteIP, 443), []int{3, 5}},
		{"ip_in_network_of_one_list_exact_in_other", flowEvent(taskIP, "198.51.100.7", 443), []int{5, 7, 11}},
		{"ip_in_network_only", flowEvent(taskIP, "198.51.100.8", 443), []int{5}},
		{"unlisted_ip", flowEvent(taskIP, "192.0.2.1", 443), nil},
		{"ja3_file_and_list_ja4_list", tlsEvent(&event.TLS{SNI: "intel.example", JA3: &event.TLSHash{Hash: "e7d705a3286e19ea42f587b344ee6865"}, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"}), []int{3, 4, 5, 8, 9}},
		{"unlisted_tls", tlsEvent(&event.TLS{SNI: "www.example", JA3: &event.TLSHash{Hash: "00000000000000000000000000000000"}, JA4: "t13d1516h2_8daaf6152771_000000000000"}), []int{3, 5, 10}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.FlowID = uint64(i+1) * 1000 // a fresh flow each
			got := sids(alertsOf(e, tt.ev))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("alerts %v, want %v", got, tt.want)
			}
		})
	}
	// A list-backed lookup allocates nothing.
	clean := dnsEvent("request", "clean.example")
	set2, _ := LoadReader("y.rules", dir, strings.NewReader(`alert dns any any -> any any (msg:"l"; dns.query; dataset:isset,blocked.hosts; sid:1;)`), Options{Lists: lists})
	e2 := NewEngine(EngineConfig{MaxThresholds: 10, MaxFlows: 10}, metrics.New())
	e2.Swap(set2)
	if n := testing.AllocsPerRun(100, func() { e2.Event(clean, func(event.Event) { t.Fatal("alert") }) }); n != 0 {
		t.Errorf("%.0f allocations per clean event with a list-backed dataset, want 0", n)
	}
}

// TestUnknownListsReported: a rule naming a list that does not exist, or a
// list on a buffer no list can hold, is reported with the reason and never
// loaded to silently match nothing.
func TestUnknownListsReported(t *testing.T) {
	dir := t.TempDir()
	lists := IntelLists(intelEngine(t, intelFiles(t, dir)))
	tests := []struct {
		name  string
		rule  string
		lists Lists
		kw    string // unsupported keyword, or "" for a syntax error
		want  string
	}{
		{"dataset_unknown_list", `alert dns any any -> any any (msg:"x"; dns.query; dataset:isset,c2; sid:1;)`, lists, "dataset",
			"no intel list of that name (the intel lists are builtin-mining-pools, c2.txt, feodo.csv, blocked.hosts, tools.txt)"},
		{"iprep_unknown_list", `alert ip any any -> any any (msg:"x"; iprep:dst,CnC,>,30; sid:1;)`, lists, "iprep", "iprep category CnC: no intel list of that name"},
		{"iprep_without_intel", `alert ip any any -> any any (msg:"x"; iprep:dst,c2.txt,>,30; sid:1;)`, nil, "iprep", "no intel lists are loaded (--detect-intel-files)"},
		{"dataset_without_intel", `alert dns any any -> any any (msg:"x"; dns.query; dataset:isset,c2.txt; sid:1;)`, nil, "dataset", "no intel lists are loaded"},
		{"list_on_uri", `alert http any any -> any any (msg:"x"; http.uri; dataset:isset,blocked.hosts; sid:1;)`, lists, "dataset", "dataset blocked.hosts on http.uri: intel lists hold"},
		{"list_type_mismatch", `alert dns any any -> any any (msg:"x"; dns.query; dataset:isset,c2.txt,type ip; sid:1;)`, lists, "", "type ip does not fit buffer dns.query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadReader("z.rules", dir, strings.NewReader(tt.rule), Options{Lists: tt.lists})
			if err != nil {
				t.Fatal(err)
			}
			rep := &set.Report
			if rep.Loaded != 0 {
				t.Fatalf("the rule loaded")
			}
			got := ""
			switch {
			case tt.kw != "" && len(rep.Unsupported) == 1:
				got = rep.Unsupported[0].Keyword + ": " + rep.Unsupported[0].Reason
			case tt.kw == "" && len(rep.Errors) == 1:
				got = ": " + rep.Errors[0].Error()
			}
			if !strings.HasPrefix(got, tt.kw+": ") || !strings.Contains(got, tt.want) {
				t.Errorf("reported %q (unsupported %v, errors %v), want %s: ...%s...", got, rep.Unsupported, rep.Errors, tt.kw, tt.want)
			}
		})
	}
}

// TestListsFollowIntelReloads: the rules look up the engine's set in force,
// so an indicator added to an intel file matches after the engine reloads
// it, with no rule reload.
func TestListsFollowIntelReloads(t *testing.T) {
	dir := t.TempDir()
	files := intelFiles(t, dir)
	eng := intelEngine(t, files)
	set, _ := LoadReader("r.rules", dir, strings.NewReader(`alert dns any any -> any any (msg:"l"; dns.query; dataset:isset,blocked.hosts; sid:1;)`), Options{Lists: IntelLists(eng)})
	e := NewEngine(EngineConfig{MaxThresholds: 10, MaxFlows: 10}, metrics.New())
	e.Swap(set)
	if got := sids(alertsOf(e, dnsEvent("request", "new.example"))); len(got) != 0 {
		t.Fatalf("alerts %v before the name is listed", got)
	}
	hosts := files[2]
	if err := os.WriteFile(hosts+".new", []byte("0.0.0.0 new.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(hosts+".new", hosts); err != nil {
		t.Fatal(err)
	}
	// The engine's service reloads changed intel files (polled every
	// second here).
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var got []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ev := dnsEvent("request", "new.example")
		ev.FlowID = uint64(time.Now().UnixNano())
		if got = sids(alertsOf(e, ev)); len(got) > 0 {
			break
		}
	}
	if !slices.Equal(got, []int{1}) {
		t.Errorf("alerts %v after the intel reload, want [1]", got)
	}
}
