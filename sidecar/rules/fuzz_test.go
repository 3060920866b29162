package rules

import (
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// FuzzLoad feeds arbitrary rule text to the loader, then matches what
// loaded against a few events: neither may panic or hang, and every rule
// the report counts is accounted for.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		`alert dns $HOME_NET any -> any any (msg:"m"; dns.query; content:"evil.example"; nocase; endswith; sid:1;)`,
		`alert http any any -> any any (msg:"m"; http.uri; content:"/a"; content:"b"; distance:0; within:4; pcre:"/x[0-9]+$/R"; isdataat:!1,relative; sid:2;)`,
		`alert tls any any -> any any (msg:"m"; tls.sni; dotprefix; content:".c2.example"; endswith; bsize:>3; sid:3;)`,
		`alert ip [10.0.0.0/8,!10.1.0.0/16] any <> $EXTERNAL_NET [80,443,1024:] (msg:"m"; threshold:type limit,track by_src,count 1,seconds 60; sid:4;)`,
		`alert http any any -> any any (msg:"m"; content:"Nikto"; http_user_agent; depth:5; pcre:"/^Nik\xffto/V"; sid:5;)`,
		"alert dns any any -> any any (msg:\"m\"; \\\n dns.query; content:\"|41 42|c\"; sid:6;)",
		`#alert dns any any -> any any (msg:"off"; sid:7;)`,
		`alert http any any -> any any (msg:"m"; http.uri; pcre:"/(?i:ab)[\s\S]{2,5}\Z/smG"; sid:8;)`,
		`alert dns any any -> any any (msg:"m"; dns.query; dotprefix; dataset:isset,blocked.hosts; sid:9;)`,
		`alert ip any any -> any any (msg:"m"; iprep:any,c2.txt,>,3; ip.src; dataset:isnotset,feodo.csv,type ip; sid:10;)`,
		`alert tls any any -> any any (msg:"m"; ja3.hash; dataset:isset,tools.txt; ja4.hash; dataset:isnotset,tools.txt; sid:11;)`,
	} {
		f.Add(s)
	}
	// The detection engine's lists, from real intel files.
	lists := IntelLists(intelEngine(f, intelFiles(f, f.TempDir())))
	events := []*event.Event{
		dnsEvent("request", "a.evil.example", "\xff\x00.example", "x.intel.example"),
		tlsEvent(&event.TLS{SNI: "x.c2.example", Subject: "CN=x", JA3: &event.TLSHash{Hash: "e7d705a3286e19ea42f587b344ee6865"}}),
		httpEvent(&event.HTTP{URL: "/a/b/x123", HTTPUserAgent: "Nik\xffto", Hostname: "H.example", HTTPMethod: "GET", Status: 200}),
		flowEvent(taskIP, remoteIP, 443),
	}
	f.Fuzz(func(t *testing.T, text string) {
		set, err := LoadReader("fuzz.rules", t.TempDir(), strings.NewReader(text), Options{Lists: lists})
		if err != nil {
			return // an unreadable input (a line over the limit) is an error, not a panic
		}
		rep := set.Report
		if rep.Loaded+len(rep.Unsupported)+len(rep.Errors) != rep.Parsed {
			t.Fatalf("loaded %d + unsupported %d + errors %d != parsed %d", rep.Loaded, len(rep.Unsupported), len(rep.Errors), rep.Parsed)
		}
		e := NewEngine(EngineConfig{MaxThresholds: 16, MaxFlows: 16}, metrics.New())
		e.Swap(set)
		for _, ev := range events {
			e.Event(ev, func(a event.Event) {
				if a.Alert == nil || a.Alert.SignatureID <= 0 {
					t.Fatalf("alert without a sid: %+v", a)
				}
			})
		}
	})
}
