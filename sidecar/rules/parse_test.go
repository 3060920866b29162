package rules

import (
	"errors"
	"strings"
	"testing"
)

// loadOne loads a single rule with the default variables plus a task's
// HOME_NET.
func loadOne(t *testing.T, text string) (*Set, error) {
	t.Helper()
	return LoadReader("test.rules", t.TempDir(), strings.NewReader(text), Options{Vars: DefaultVars("[10.0.1.5]")})
}

// TestParseTable loads rules of every supported shape and of every
// unsupported one, and checks what the load reports.
func TestParseTable(t *testing.T) {
	tests := []struct {
		name string
		rule string
		// want: "" loaded; "unsupported:KW" skipped for keyword KW; "error:TEXT" a syntax error containing TEXT.
		want string
	}{
		// Supported shapes, in ET Open's style.
		{"dns_query_endswith", `alert dns $HOME_NET any -> any any (msg:"ET MALWARE Observed DNS Query to Known Bad Domain (evil .example)"; dns.query; content:"evil.example"; nocase; endswith; classtype:trojan-activity; sid:3000001; rev:1; metadata:created_at 2026_01_01, signature_severity Major;)`, ""},
		{"dns_query_legacy", `alert dns any any -> any any (msg:"legacy dns_query"; dns_query; content:"bad.example"; nocase; sid:3000002; rev:2;)`, ""},
		{"dns_dotprefix", `alert dns $HOME_NET any -> any any (msg:"dotprefix"; dns.query; dotprefix; content:".evil.example"; nocase; endswith; sid:3000003;)`, ""},
		{"dns_bsize_exact", `alert dns $HOME_NET any -> any any (msg:"exact"; dns.query; content:"pool.miner.example"; bsize:18; sid:3000004;)`, ""},
		{"tls_sni", `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE Observed Malicious SSL Cert (SNI)"; flow:established,to_server; tls.sni; content:"c2.example"; startswith; endswith; fast_pattern; classtype:domain-c2; sid:3000005; rev:1;)`, ""},
		{"tls_sni_legacy", `alert tls any any -> any any (msg:"tls_sni"; tls_sni; content:"c2.example"; sid:3000006;)`, ""},
		{"tls_cert_subject", `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"cert subject"; flow:established,to_client; tls.cert_subject; content:"CN=evil"; sid:3000007;)`, ""},
		{"tls_cert_issuer", `alert tls any any -> any any (msg:"issuer"; tls.cert_issuer; content:"O=Bad CA"; sid:3000008;)`, ""},
		{"ja3_hash", `alert tls $HOME_NET any -> any any (msg:"ET JA3 Hash - Suspected Tool"; ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865"; reference:url,github.com/salesforce/ja3; classtype:unknown; sid:3000009; rev:1;)`, ""},
		{"ja3_hash_legacy", `alert tls any any -> any any (msg:"ja3_hash"; ja3_hash; content:"e7d705a3286e19ea42f587b344ee6865"; sid:3000010;)`, ""},
		{"ja3s_hash", `alert tls any any -> any any (msg:"ja3s"; ja3s.hash; content:"623de93db17d313345d7ea481e7443cf"; sid:3000011;)`, ""},
		{"ja4_hash", `alert tls any any -> any any (msg:"ja4"; ja4.hash; content:"t13d1516h2_8daaf6152771_e5627efa2ab1"; sid:3000012;)`, ""},
		{"http_host", `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"host"; flow:established,to_server; http.host; content:"bad.example"; bsize:11; sid:3000013;)`, ""},
		{"http_uri_distance_within", `alert http any any -> any any (msg:"uri"; http.method; content:"GET"; http.uri; content:"/gate.php?"; startswith; content:"id="; distance:0; within:20; isdataat:!1,relative; sid:3000014;)`, ""},
		{"http_user_agent_legacy", `alert http $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:"ET SCAN Nikto"; flow:established,to_server; content:"Nikto"; http_user_agent; depth:5; sid:3000015; rev:3;)`, ""},
		{"http_stat_code", `alert http any any -> any any (msg:"stat"; flow:to_client; http.stat_code; content:"404"; sid:3000016;)`, ""},
		{"http_content_type", `alert http any any -> any any (msg:"ctype"; http.content_type; content:"application/x-dosexec"; sid:3000017;)`, ""},
		{"uricontent", `alert http any any -> any any (msg:"uricontent"; uricontent:"/admin"; nocase; sid:3000018;)`, ""},
		{"pcre_on_buffer", `alert http any any -> any any (msg:"pcre"; http.uri; content:"/x"; pcre:"/^\/x\/[a-f0-9]{8}$/"; sid:3000019;)`, ""},
		{"pcre_legacy_flag", `alert http any any -> any any (msg:"pcre V"; content:"curl"; http_user_agent; pcre:"/^curl\/\d/V"; sid:3000020;)`, ""},
		{"hex_content", `alert http any any -> any any (msg:"hex"; http.uri; content:"|2f|evil|2E|php"; sid:3000021;)`, ""},
		{"ssh_software", `alert ssh any any -> any any (msg:"ssh"; ssh.software; content:"libssh"; nocase; sid:3000022;)`, ""},
		{"ip_only_list", `alert ip $HOME_NET any -> [198.51.100.7,203.0.113.0/24] any (msg:"ET CINS Active Threat Intelligence Poor Reputation IP"; reference:url,www.cinsscore.com; threshold: type limit, track by_src, seconds 3600, count 1; classtype:misc-attack; sid:3000023; rev:1;)`, ""},
		{"tcp_ip_only_ports", `alert tcp $HOME_NET any -> !$HOME_NET [3333,4444,14444] (msg:"stratum port"; flow:to_server; sid:3000024;)`, ""},
		{"detection_filter", `alert http any any -> any any (msg:"df"; http.uri; content:"/login"; detection_filter:track by_src, count 5, seconds 60; sid:3000025;)`, ""},
		{"priority_overrides", `alert dns any any -> any any (msg:"prio"; dns.query; content:"x.example"; classtype:misc-activity; priority:1; sid:3000026;)`, ""},
		{"target", `alert dns any any -> any any (msg:"target"; dns.query; content:"y.example"; target:src_ip; sid:3000027;)`, ""},
		{"pass_rule", `pass dns any any -> any any (msg:"allow"; dns.query; content:"ok.example"; sid:3000028;)`, ""},
		{"drop_as_alert", `drop dns any any -> any any (msg:"drop watched"; dns.query; content:"z.example"; sid:3000029;)`, ""},
		{"bidirectional", `alert ip 198.51.100.0/24 any <> $HOME_NET any (msg:"bidir"; sid:3000030;)`, ""},
		{"port_ranges_negation", `alert tcp any [1024:,!8080] -> any :1023 (msg:"ports"; sid:3000031;)`, ""},
		{"multiline", "alert dns any any -> any any (msg:\"multi\"; \\\n dns.query; content:\"m.example\"; \\\n sid:3000032;)", ""},
		{"escaped_msg", `alert dns any any -> any any (msg:"a \; b \"c\""; dns.query; content:"q\;x"; sid:3000033;)`, ""},
		{"urilen", `alert http any any -> any any (msg:"urilen"; urilen:>200; sid:3000034;)`, ""},
		{"gid_rev", `alert dns any any -> any any (msg:"gid"; dns.query; content:"g.example"; gid:2; sid:3000035; rev:7;)`, ""},
		{"startswith", `alert http any any -> any any (msg:"sw"; http.user_agent; content:"python-requests/"; startswith; sid:3000036;)`, ""},
		{"flowbits_set_ignored", `alert tcp [198.51.100.1,198.51.100.2] any -> $HOME_NET any (msg:"ET TOR style"; threshold: type limit, track by_src, seconds 60, count 1; classtype:misc-attack; flowbits:set,ET.TorIP; sid:3000038; rev:5500;)`, ""},
		{"itype_icode", `alert icmp $EXTERNAL_NET any -> $HOME_NET any (msg:"ET ICMP_INFO PING"; itype:8; icode:0; classtype:misc-activity; sid:3000039; rev:1;)`, ""},
		{"ip_src_content", `alert ip any any -> any any (msg:"ip.src"; ip.src; content:"10.0.1."; startswith; sid:3000037;)`, ""},

		// Unsupported: skipped with the first keyword outside the subset.
		{"raw_content", `alert tcp any any -> any any (msg:"raw"; flow:established,to_server; content:"|00 01|"; depth:2; sid:3100001;)`, "unsupported:content"},
		{"flowbits_isset", `alert http any any -> any any (msg:"fb"; flowbits:isset,x; http.uri; content:"/a"; sid:3100002;)`, "unsupported:flowbits"},
		{"flowbits_noalert", `alert http any any -> any any (msg:"fb"; http.uri; content:"/a"; flowbits:set,x; flowbits:noalert; sid:3100020;)`, "unsupported:flowbits"},
		{"byte_test", `alert tcp any any -> any any (msg:"bt"; byte_test:1,>,2,0; sid:3100003;)`, "unsupported:byte_test"},
		{"lua", `alert tcp any any -> any any (msg:"lua"; lua:script.lua; sid:3100004;)`, "unsupported:lua"},
		{"file_data", `alert http any any -> any any (msg:"fd"; file_data; content:"MZ"; sid:3100005;)`, "unsupported:file_data"},
		{"http_header", `alert http any any -> any any (msg:"hh"; http.header; content:"X-Evil"; sid:3100006;)`, "unsupported:http.header"},
		{"tls_certs", `alert tls any any -> any any (msg:"certs"; tls.certs; content:"x"; sid:3100007;)`, "unsupported:tls.certs"},
		{"smb_proto", `alert smb any any -> any any (msg:"smb"; sid:3100008;)`, "unsupported:smb"},
		{"pcre_backref", `alert http any any -> any any (msg:"br"; http.uri; pcre:"/(a)\1/"; sid:3100009;)`, "unsupported:pcre"},
		{"pcre_lookahead", `alert http any any -> any any (msg:"la"; http.uri; pcre:"/a(?!b)/"; sid:3100010;)`, "unsupported:pcre"},
		{"pcre_possessive", `alert http any any -> any any (msg:"pq"; http.uri; pcre:"/a++b/"; sid:3100011;)`, "unsupported:pcre"},
		{"pcre_header_flag", `alert http any any -> any any (msg:"H"; pcre:"/x/H"; sid:3100012;)`, "unsupported:pcre"},
		{"pcre_big_repeat", `alert http any any -> any any (msg:"rep"; http.uri; pcre:"/a{2000}/"; sid:3100013;)`, "unsupported:pcre"},
		{"dsize", `alert udp any any -> any 53 (msg:"dsize"; dsize:>512; sid:3100014;)`, "unsupported:dsize"},
		{"flow_only_stream", `alert tcp any any -> any any (msg:"os"; flow:only_stream; sid:3100015;)`, "unsupported:flow"},
		{"dataset_set", `alert dns any any -> any any (msg:"ds"; dns.query; dataset:set,seen,type string,save seen.lst; sid:3100016;)`, "unsupported:dataset"},
		{"iprep_without_lists", `alert ip any any -> any any (msg:"iprep"; iprep:dst,CnC,>,30; sid:3100017;)`, "unsupported:iprep"},
		{"transactional_direction", `alert http any any => any any (msg:"tx"; sid:3100018;)`, "unsupported:=>"},
		{"byte_extract_var", `alert http any any -> any any (msg:"be"; http.uri; content:"a"; depth:len; sid:3100019;)`, "unsupported:byte_extract"},

		// Errors: what Suricata would refuse to load.
		{"no_sid", `alert dns any any -> any any (msg:"no sid"; dns.query; content:"a";)`, "error:no sid"},
		{"bad_hex", `alert dns any any -> any any (msg:"hex"; dns.query; content:"|4g|"; sid:3200001;)`, "error:bad hex digit"},
		{"odd_hex", `alert dns any any -> any any (msg:"hex"; dns.query; content:"|414|"; sid:3200002;)`, "error:odd number"},
		{"unknown_classtype", `alert dns any any -> any any (msg:"c"; dns.query; content:"a"; classtype:nope; sid:3200003;)`, "error:unknown classtype"},
		{"undefined_var", `alert dns $NOPE any -> any any (msg:"v"; sid:3200004;)`, "error:undefined address variable"},
		{"bad_direction", `alert dns any any >> any any (msg:"d"; sid:3200005;)`, "error:bad direction"},
		{"unterminated_option", `alert dns any any -> any any (msg:"x"; sid:3200006)`, "error:not terminated"},
		{"http_host_uppercase", `alert http any any -> any any (msg:"h"; http.host; content:"Evil.example"; sid:3200007;)`, "error:upper-case"},
		{"depth_with_distance", `alert http any any -> any any (msg:"d"; http.uri; content:"a"; content:"b"; depth:3; distance:1; sid:3200008;)`, "error:cannot be combined"},
		{"within_shorter", `alert http any any -> any any (msg:"w"; http.uri; content:"a"; content:"bcd"; within:2; sid:3200009;)`, "error:shorter than the content"},
		{"modifier_without_content", `alert http any any -> any any (msg:"m"; http.uri; nocase; sid:3200010;)`, "error:must follow a content"},
		{"reserved_sid", `alert dns any any -> any any (msg:"r"; dns.query; content:"a"; sid:9000001;)`, "error:reserved"},
		{"header_fields", `alert dns any any -> any (msg:"h"; sid:3200011;)`, "error:header has 6 fields"},
		{"bad_address", `alert ip 10.0.0.300 any -> any any (msg:"a"; sid:3200012;)`, "error:bad address"},
		{"bad_port", `alert tcp any 70000 -> any any (msg:"p"; sid:3200013;)`, "error:bad port"},
		{"threshold_missing_count", `alert dns any any -> any any (msg:"t"; dns.query; content:"a"; threshold:type limit, track by_src, seconds 60; sid:3200014;)`, "error:want type"},
		{"unknown_protocol", `alert foo any any -> any any (msg:"p"; sid:3200015;)`, "error:unknown protocol"},
		{"legacy_modifier_without_content", `alert http any any -> any any (msg:"l"; http_uri; sid:3200016;)`, "error:must follow a content"},
		{"pcre_unknown_flag", `alert http any any -> any any (msg:"f"; http.uri; pcre:"/a/q"; sid:3200017;)`, "error:unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := loadOne(t, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			rep := set.Report
			got := ""
			switch {
			case len(rep.Errors) > 0:
				got = "error:" + rep.Errors[0].Error()
			case len(rep.Unsupported) > 0:
				got = "unsupported:" + rep.Unsupported[0].Keyword
			case rep.Loaded != 1:
				got = "nothing loaded"
			}
			if kind, text, _ := strings.Cut(tt.want, ":"); kind == "error" {
				if !strings.HasPrefix(got, "error:") || !strings.Contains(got, text) {
					t.Errorf("got %q, want an error containing %q", got, text)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(tt.want, "unsupported:") {
				u := rep.Unsupported[0]
				if u.SID == 0 || u.Line != 1 || u.Reason == "" {
					t.Errorf("unsupported report %+v: want the sid, line 1 and a reason", u)
				}
			}
		})
	}
}

func TestRuleFields(t *testing.T) {
	set, err := loadOne(t, `alert dns $HOME_NET any -> any any (msg:"ET MALWARE a \; b"; dns.query; content:"x.example"; classtype:trojan-activity; reference:url,example.com/a; reference:md5,0123; sid:3000100; rev:4; gid:1; metadata:created_at 2026_01_01, signature_severity Major, tag c2; target:dest_ip;)`)
	if err != nil || set.Report.Loaded != 1 {
		t.Fatalf("load: %v %+v", err, set.Report)
	}
	r := set.Rules[0]
	if r.SID != 3000100 || r.Rev != 4 || r.GID != 1 || r.Msg != "ET MALWARE a ; b" {
		t.Errorf("sid/rev/gid/msg = %d/%d/%d/%q", r.SID, r.Rev, r.GID, r.Msg)
	}
	if r.Category != "A Network Trojan was detected" || r.Severity != 1 || r.ClassType != "trojan-activity" {
		t.Errorf("class = %q %q severity %d", r.ClassType, r.Category, r.Severity)
	}
	if len(r.References) != 2 || r.References[0] != "url,example.com/a" {
		t.Errorf("references = %q", r.References)
	}
	want := []Meta{{"created_at", "2026_01_01"}, {"signature_severity", "Major"}, {"tag", "c2"}}
	if len(r.Metadata) != len(want) {
		t.Fatalf("metadata = %q, want %q", r.Metadata, want)
	}
	for i := range want {
		if r.Metadata[i] != want[i] {
			t.Errorf("metadata[%d] = %q, want %q", i, r.Metadata[i], want[i])
		}
	}
	if r.Target != "dest_ip" {
		t.Errorf("target = %q", r.Target)
	}
}

func TestReportCountsAndLines(t *testing.T) {
	text := `# a comment
#alert dns any any -> any any (msg:"disabled"; dns.query; content:"d"; sid:1;)

alert dns any any -> any any (msg:"ok"; dns.query; content:"a"; sid:2;)
alert tcp any any -> any any (msg:"raw"; content:"b"; sid:3;)
alert dns any any -> any any (msg:"bad"; dns.query; content:"|zz|"; sid:4;)
alert dns any any -> any any (msg:"dup"; dns.query; content:"c"; sid:2;)
`
	set, err := loadOne(t, text)
	if err != nil {
		t.Fatal(err)
	}
	rep := set.Report
	if rep.Parsed != 4 || rep.Disabled != 1 || rep.Loaded != 1 || len(rep.Unsupported) != 1 || len(rep.Errors) != 2 {
		t.Fatalf("report parsed %d disabled %d loaded %d unsupported %d errors %d, want 4 1 1 1 2", rep.Parsed, rep.Disabled, rep.Loaded, len(rep.Unsupported), len(rep.Errors))
	}
	if rep.Unsupported[0].Line != 5 || rep.Unsupported[0].SID != 3 {
		t.Errorf("unsupported at line %d sid %d, want line 5 sid 3", rep.Unsupported[0].Line, rep.Unsupported[0].SID)
	}
	if e := rep.Errors[0]; e.Line != 6 || e.SID != 4 {
		t.Errorf("error at line %d sid %d, want line 6 sid 4", e.Line, e.SID)
	}
	if e := rep.Errors[1]; e.Line != 7 || !strings.Contains(e.Error(), "duplicate") {
		t.Errorf("error %v, want a duplicate sid at line 7", e)
	}
	var se *SyntaxError
	if !errors.As(error(rep.Errors[0]), &se) || se.Unwrap() == nil {
		t.Errorf("errors are SyntaxErrors wrapping the cause")
	}
}

func TestAddressesAndPorts(t *testing.T) {
	vars := DefaultVars("[10.0.1.5,fd00::5]")
	vars["LIST"] = "[192.0.2.0/24,!192.0.2.128/25]"
	tests := []struct {
		name, spec string
		in, out    []string
	}{
		{"any", "any", []string{"1.2.3.4", "::1"}, nil},
		{"home", "$HOME_NET", []string{"10.0.1.5", "fd00::5"}, []string{"10.0.1.6", "fd00::6"}},
		{"external", "$EXTERNAL_NET", []string{"10.0.1.6", "8.8.8.8", "::2"}, []string{"10.0.1.5", "fd00::5"}},
		{"list_with_negation", "$LIST", []string{"192.0.2.1", "192.0.2.127"}, []string{"192.0.2.128", "192.0.2.255", "192.0.3.1"}},
		{"negated_list", "![10.0.0.0/8,192.168.0.0/16]", []string{"8.8.8.8", "172.16.0.1", "::1"}, []string{"10.1.2.3", "192.168.1.1"}},
		{"only_negations", "[!10.0.0.1]", []string{"10.0.0.2", "::1"}, []string{"10.0.0.1"}},
		{"range", "198.51.100.10-198.51.100.20", []string{"198.51.100.10", "198.51.100.20"}, []string{"198.51.100.9", "198.51.100.21"}},
		{"netmask", "10.0.0.0/255.255.0.0", []string{"10.0.200.1"}, []string{"10.1.0.1"}},
		{"nested", "[[10.0.0.0/8,!10.1.0.0/16],192.0.2.1]", []string{"10.2.0.1", "192.0.2.1"}, []string{"10.1.0.1"}},
		{"ipv6_cidr", "2001:db8::/32", []string{"2001:db8::1", "2001:db8:ffff::1"}, []string{"2001:db9::1", "10.0.0.1"}},
		{"mapped", "::ffff:10.0.0.1", []string{"10.0.0.1"}, []string{"10.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := vars.parseAddrs(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.in {
				if !s.contains(mustAddr(a)) {
					t.Errorf("%s does not contain %s, want it to", tt.spec, a)
				}
			}
			for _, a := range tt.out {
				if s.contains(mustAddr(a)) {
					t.Errorf("%s contains %s, want it not to", tt.spec, a)
				}
			}
		})
	}
	for _, bad := range []string{"!any", "[1.2.3.4", "$A", "1.2.3.4/33", "[]"} {
		if _, err := vars.parseAddrs(bad); err == nil {
			t.Errorf("parseAddrs(%q) = nil error, want one", bad)
		}
	}
	cyc := Vars{"A": "$B", "B": "$A"}
	if _, err := cyc.parseAddrs("$A"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cyclic variables: err = %v, want a cycle error", err)
	}
	ports := []struct {
		spec    string
		in, out []uint16
	}{
		{"any", []uint16{0, 80, 65535}, nil},
		{"80", []uint16{80}, []uint16{81}},
		{"[80,443,8000:8080]", []uint16{80, 443, 8000, 8080}, []uint16{81, 7999, 8081}},
		{"!80", []uint16{79, 81}, []uint16{80}},
		{"1024:", []uint16{1024, 65535}, []uint16{1023}},
		{":1023", []uint16{0, 1023}, []uint16{1024}},
		{"[1:100,!50:60]", []uint16{1, 49, 61}, []uint16{50, 60}},
		{"$HTTP_PORTS", []uint16{80}, []uint16{443}},
		{"$FILE_DATA_PORTS", []uint16{80, 110, 143}, []uint16{25}},
	}
	for _, p := range ports {
		s, err := vars.parsePorts(p.spec)
		if err != nil {
			t.Fatalf("parsePorts(%q): %v", p.spec, err)
		}
		for _, n := range p.in {
			if !s.contains(n) {
				t.Errorf("ports %s do not contain %d, want them to", p.spec, n)
			}
		}
		for _, n := range p.out {
			if s.contains(n) {
				t.Errorf("ports %s contain %d, want them not to", p.spec, n)
			}
		}
	}
	for _, bad := range []string{"!any", "65536", "10:5", "[80", "x"} {
		if _, err := vars.parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) = nil error, want one", bad)
		}
	}
}

func TestParseClasses(t *testing.T) {
	c, err := ParseClasses(strings.NewReader("# comment\nconfig classification: my-class,My, own class,1\nconfig classification: low,Low,4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c["my-class"]; got.Description != "My, own class" || got.Priority != 1 {
		t.Errorf("my-class = %+v", got)
	}
	for _, bad := range []string{"", "config classification: a,b\n", "classification: a,b,1\n", "config classification: a,b,x\n"} {
		if _, err := ParseClasses(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseClasses(%q) = nil error, want one", bad)
		}
	}
}
