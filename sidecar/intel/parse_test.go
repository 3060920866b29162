package intel

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// parsed is one emitted indicator, printed for comparison.
func (i indicator) String() string {
	if i.kind == KindIP {
		return "ip " + i.prefix.String()
	}
	return i.kind.String() + " " + i.value
}

// parseLines runs the lines through one parser and returns what each
// emitted (indicator|description) or its rejection reason.
func parseLines(lines ...string) []string {
	var p lineParser
	var out []string
	for _, l := range lines {
		var got []string
		reason := p.parse(l, func(ind indicator, desc string) {
			got = append(got, fmt.Sprintf("%s|%s", ind, desc))
		})
		switch {
		case reason != "":
			out = append(out, "reject "+reason)
		case len(got) == 0:
			out = append(out, "skip")
		default:
			out = append(out, strings.Join(got, " + "))
		}
	}
	return out
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"plain_ipv4", []string{"203.0.113.7"}, []string{"ip 203.0.113.7/32|"}},
		{"plain_ipv6", []string{"2001:db8::1"}, []string{"ip 2001:db8::1/128|"}},
		{"mapped_ipv6_is_ipv4", []string{"::ffff:203.0.113.7", "::ffff:203.0.113.0/120"}, []string{"ip 203.0.113.7/32|", "ip 203.0.113.0/24|"}},
		{"cidr_masked", []string{"198.51.100.77/24", "2001:db8:1::5/48"}, []string{"ip 198.51.100.0/24|", "ip 2001:db8:1::/48|"}},
		{"comments_and_blanks", []string{"# Emerging Threats block list", "", "   ", "; comment", "// comment"}, []string{"skip", "skip", "skip", "skip", "skip"}},
		{"inline_comment", []string{"203.0.113.9 # seen 2026-01-02", "evil.example\t# c2"}, []string{"ip 203.0.113.9/32|", "domain evil.example|"}},
		{"indicator_with_words", []string{"203.0.113.9 scanner host"}, []string{"ip 203.0.113.9/32|scanner host"}},
		{"domain_normalised", []string{"Evil.Example.COM.", "*.wild.example", ".dot.example"}, []string{"domain evil.example.com|", "domain wild.example|", "domain dot.example|"}},
		{"domain_underscore_ok", []string{"_dmarc.example.org"}, []string{"domain _dmarc.example.org|"}},
		{"spamhaus_drop", []string{"; Spamhaus DROP List 2026/01/01", "1.10.16.0/20 ; SBL256894", "2001:db8::/32 ; SBL1"}, []string{"skip", "ip 1.10.16.0/20|SBL256894", "ip 2001:db8::/32|SBL1"}},
		{"spamhaus_json", []string{`{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}`, `{"type":"metadata","timestamp":1,"size":2,"records":1,"copyright":"x"}`},
			[]string{"ip 1.10.16.0/20|SBL256894", "skip"}},
		{"json_errors", []string{`{"cidr":`, `{"rir":"apnic"}`, `{"cidr":"nope/8"}`}, []string{"reject " + ReasonJSON, "reject " + ReasonJSONNoIndicator, "reject " + ReasonInvalidIP}},
		{"hosts_file", []string{"127.0.0.1 localhost", "::1 ip6-localhost ip6-loopback", "0.0.0.0 ads.example.net", "0.0.0.0 a.example b.example # two", "0.0.0.0 0.0.0.0"},
			[]string{"reject " + ReasonLocalName, "reject " + ReasonLocalName, "domain ads.example.net|", "domain a.example| + domain b.example|", "reject " + ReasonLocalName}},
		{"hosts_file_bad_name", []string{"0.0.0.0 bad!name.example"}, []string{"reject " + ReasonInvalidName}},
		{"ja3", []string{"B386946A5A44D1DDCC843BC75336DFCE"}, []string{"ja3 b386946a5a44d1ddcc843bc75336dfce|"}},
		{"ja4", []string{"t13d1516h2_8daaf6152771_e5627efa2ab1", "q13i0310h3_55b375c5d22e_cd85d2d88918"},
			[]string{"ja4 t13d1516h2_8daaf6152771_e5627efa2ab1|", "ja4 q13i0310h3_55b375c5d22e_cd85d2d88918|"}},
		{"ja4_malformed_is_not_ja4", []string{"x13d1516h2_8daaf6152771_e5627efa2ab1"}, []string{"reject " + ReasonSingleLabel}},
		{"url_host", []string{"http://evil.example:8080/a/b?c", "https://user@[2001:db8::9]:443/x", "hxxp://203.0.113.4/mal.sh"},
			[]string{"domain evil.example|", "ip 2001:db8::9/128|", "ip 203.0.113.4/32|"}},
		{"ip_port", []string{"203.0.113.5:4444", "[2001:db8::5]:443"}, []string{"ip 203.0.113.5/32|", "ip 2001:db8::5/128|"}},
		{"rejects", []string{"localhost", "1.2.3.256", "10.0.0.0/33", "fe80::1%eth0", "bücher.example", "a..example", strings.Repeat("a", 64) + ".example", "bad name", "10.1.2"},
			[]string{"reject " + ReasonSingleLabel, "reject " + ReasonInvalidIP, "reject " + ReasonInvalidCIDR, "reject " + ReasonZone, "reject " + ReasonNonASCII,
				"reject " + ReasonInvalidName, "reject " + ReasonNameTooLong, "reject " + ReasonSingleLabel, "reject " + ReasonInvalidIP}},
		{"too_long", []string{strings.Repeat("a", MaxLineBytes+1)}, []string{"reject " + ReasonLineTooLong}},
		{"abusech_feodo_csv", []string{
			`# Feodo Tracker botnet C2 IP blocklist`,
			`# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"`,
			`"2021-01-17 07:30:05","67.213.75.205","443","online","2023-02-23","Dridex"`,
			`"2021-01-17 07:30:05","not-an-ip","443","online","2023-02-23","Dridex"`,
			`"2021-01-17 07:30:05"`,
		}, []string{"skip", "skip", "ip 67.213.75.205/32|Dridex", "reject " + ReasonInvalidIP, "reject " + ReasonShortRecord}},
		{"abusech_sslbl_ja3_csv", []string{
			`# ja3_md5,Firstseen,Lastseen,Listingreason`,
			`b386946a5a44d1ddcc843bc75336dfce,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex`,
			`203.0.113.1,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex`,
		}, []string{"skip", "ja3 b386946a5a44d1ddcc843bc75336dfce|Dridex", "reject " + ReasonNotIndicator}},
		{"abusech_threatfox_csv", []string{
			`# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable"`,
			`"2026-01-01 10:00:00", "1", "evil.example", "domain", "botnet_cc", "win.x", "", "X Bot"`,
			`"2026-01-01 10:00:00", "2", "203.0.113.8:8443", "ip:port", "botnet_cc", "win.x", "", "X Bot"`,
			`"2026-01-01 10:00:00", "3", "http://drop.example/p.exe", "url", "payload", "win.x", "", "X Bot"`,
			`"2026-01-01 10:00:00", "4", "44d88612fea8a8f36de82e1278abb02f", "md5_hash", "payload", "win.x", "", "X Bot"`,
		}, []string{"skip", "domain evil.example|X Bot", "ip 203.0.113.8/32|X Bot", "domain drop.example|X Bot", "reject " + ReasonUnsupportedType}},
		{"abusech_urlhaus_csv", []string{
			`# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter`,
			`"1","2026-01-01 00:00:00","http://198.51.100.3:80/i","online","2026-01-01","malware_download","elf,mirai","https://urlhaus.example/1","r"`,
		}, []string{"skip", "ip 198.51.100.3/32|malware_download"}},
		{"csv_header_not_commented", []string{"domain,reason", "pool.example,mining"}, []string{"skip", "domain pool.example|mining"}},
		{"headerless_csv", []string{"203.0.113.10,scanner,2026"}, []string{"ip 203.0.113.10/32|scanner,2026"}},
		{"csv_quotes", []string{"domain,reason", `"quoted.example","a ""b"", c"`, `"open.example,x`}, []string{"skip", `domain quoted.example|a "b", c`, "reject " + ReasonQuote}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseLines(tt.lines...)
			for i := range tt.lines {
				want := ""
				if i < len(tt.want) {
					want = tt.want[i]
				}
				if got[i] != want {
					t.Errorf("line %q: got %q, want %q", tt.lines[i], got[i], want)
				}
			}
		})
	}
}

func TestParseIndicatorKinds(t *testing.T) {
	tests := []struct {
		name, in string
		want     Kind
		wantIP   netip.Prefix
	}{
		{"ipv4", "192.0.2.1", KindIP, netip.MustParsePrefix("192.0.2.1/32")},
		{"ipv4_cidr_zero", "0.0.0.0/0", KindIP, netip.MustParsePrefix("0.0.0.0/0")},
		{"domain", "example.org", KindDomain, netip.Prefix{}},
		{"numeric_label_inside", "1.2.3.example", KindDomain, netip.Prefix{}},
		{"ja3", "e7d705a3286e19ea42f587b344ee6865", KindJA3, netip.Prefix{}},
		{"ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1", KindJA4, netip.Prefix{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ind, reason := parseIndicator(tt.in, colAuto)
			if reason != "" || ind.kind != tt.want {
				t.Fatalf("parseIndicator(%q) = %v, %q; want kind %v", tt.in, ind, reason, tt.want)
			}
			if tt.want == KindIP && ind.prefix != tt.wantIP {
				t.Errorf("parseIndicator(%q) prefix = %v, want %v", tt.in, ind.prefix, tt.wantIP)
			}
		})
	}
}

// FuzzParseLine: no line may panic, and every indicator a line yields must
// be valid and findable after loading.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "1.10.16.0/20 ; SBL256894", `{"cidr":"1.10.16.0/20","sblid":"SBL1"}`, "0.0.0.0 a.example b.example",
		`# "first_seen_utc","dst_ip","dst_port"`, `"2021","67.213.75.205","443"`, "http://[::1]:80/x", "t13d1516h2_8daaf6152771_e5627efa2ab1",
		"b386946a5a44d1ddcc843bc75336dfce,2017,2019,Dridex", "*.Example.COM.", "fe80::1%eth0", `"a""b`, "::ffff:1.2.3.4/100",
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, header, line string) {
		if strings.ContainsAny(header+line, "\r\n") || strings.HasPrefix(header, "\xef\xbb\xbf") {
			t.Skip("one line each: Load splits lines and drops a BOM")
		}
		var p lineParser
		var inds []indicator
		emit := func(ind indicator, _ string) { inds = append(inds, ind) }
		p.parse(header, emit)
		p.parse(line, emit)
		set, _, err := Load([]Source{{Name: "fuzz", Data: []byte(header + "\n" + line)}})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, ind := range inds {
			var ok bool
			switch ind.kind {
			case KindIP:
				if !ind.prefix.IsValid() || ind.prefix != ind.prefix.Masked() {
					t.Fatalf("%q yields invalid prefix %v", line, ind.prefix)
				}
				_, ok = set.LookupAddr(ind.prefix.Addr())
			case KindDomain:
				if ind.value != strings.ToLower(ind.value) || strings.HasSuffix(ind.value, ".") || !strings.Contains(ind.value, ".") {
					t.Fatalf("%q yields unnormalised domain %q", line, ind.value)
				}
				_, ok = set.LookupDomain("sub." + ind.value)
			case KindJA3:
				_, ok = set.LookupJA3(ind.value)
			case KindJA4:
				_, ok = set.LookupJA4(ind.value)
			default:
				t.Fatalf("%q yields kind %d", line, ind.kind)
			}
			if !ok {
				t.Errorf("%q: %v loaded but not found", line, ind)
			}
		}
	})
}
