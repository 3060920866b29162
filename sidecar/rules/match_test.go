package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var t0 = time.Date(2026, 11, 22, 4, 46, 4, 0, time.UTC)

const (
	taskIP     = "10.0.1.5"
	resolverIP = "10.0.0.2"
	remoteIP   = "203.0.113.9"
)

func dnsEvent(typ string, names ...string) *event.Event {
	ev := &event.Event{Timestamp: event.At(t0), FlowID: 11, EventType: event.TypeDNS, Proto: "UDP", IPVersion: 4,
		SrcIP: mustAddr(taskIP), SrcPort: 40000, DestIP: mustAddr(resolverIP), DestPort: 53,
		DNS: &event.DNS{Version: 3, Type: typ}}
	if typ == "response" {
		ev.SrcIP, ev.DestIP, ev.SrcPort, ev.DestPort = ev.DestIP, ev.SrcIP, ev.DestPort, ev.SrcPort
	}
	for _, n := range names {
		ev.DNS.Queries = append(ev.DNS.Queries, event.DNSQuery{RRName: n, RRType: "A"})
	}
	return ev
}

func tlsEvent(t *event.TLS) *event.Event {
	return &event.Event{Timestamp: event.At(t0), FlowID: 12, EventType: event.TypeTLS, Proto: "TCP", IPVersion: 4,
		SrcIP: mustAddr(taskIP), SrcPort: 40001, DestIP: mustAddr(remoteIP), DestPort: 443, TLS: t}
}

func httpEvent(h *event.HTTP) *event.Event {
	return &event.Event{Timestamp: event.At(t0), FlowID: 13, EventType: event.TypeHTTP, Proto: "TCP", IPVersion: 4,
		SrcIP: mustAddr(taskIP), SrcPort: 40002, DestIP: mustAddr(remoteIP), DestPort: 80, HTTP: h}
}

func flowEvent(src, dst string, dport uint16) *event.Event {
	return &event.Event{Timestamp: event.At(t0), FlowID: 14, EventType: event.TypeFlow, Proto: "TCP", IPVersion: 4,
		SrcIP: mustAddr(src), SrcPort: 40003, DestIP: mustAddr(dst), DestPort: dport,
		Flow: &event.Flow{PktsToServer: 3, PktsToClient: 2}}
}

// flowUpdateEvent is a flow_update of flowEvent's flow whose interval
// carried packets one way only.
func flowUpdateEvent(toClientSoFar uint64) *event.Event {
	ev := flowEvent(taskIP, remoteIP, 443)
	ev.EventType, ev.Flow = event.TypeFlowUpdate, nil
	ev.FlowUpdate = &event.FlowUpdate{PktsToServer: 4, Total: event.FlowCounter{PktsToServer: 9, PktsToClient: toClientSoFar}}
	return ev
}

func sshEvent(client, server string) *event.Event {
	ev := flowEvent(taskIP, remoteIP, 22)
	ev.EventType, ev.Flow = event.TypeSSH, nil
	ev.SSH = &event.SSH{
		Client: &event.SSHPeer{ProtoVersion: "2.0", SoftwareVersion: client, HASSH: &event.TLSHash{Hash: "ec7378c1a92f5a8dde7e8b7a1ddf33d1"}},
		Server: &event.SSHPeer{ProtoVersion: "2.0", SoftwareVersion: server, HASSH: &event.TLSHash{Hash: "b12d2871a1189eff20364cf5333619ee"}},
	}
	return ev
}

func icmpEvent(typ, code uint8) *event.Event {
	ev := flowEvent(taskIP, remoteIP, 0)
	ev.Proto, ev.SrcPort = "ICMP", 0
	rt, rc := uint8(0), uint8(0)
	ev.ICMPType, ev.ICMPCode, ev.ResponseICMPType, ev.ResponseICMPCode = &typ, &code, &rt, &rc
	return ev
}

// newTestEngine loads text with HOME_NET = the task's address.
func newTestEngine(t testing.TB, text string) *Engine {
	t.Helper()
	set, err := LoadReader("test.rules", t.TempDir(), strings.NewReader(text), Options{Vars: DefaultVars("[" + taskIP + "]")})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Report.Errors) > 0 || len(set.Report.Unsupported) > 0 {
		t.Fatalf("rules did not all load: errors %v unsupported %v", set.Report.Errors, set.Report.Unsupported)
	}
	e := NewEngine(EngineConfig{MaxThresholds: 1000, MaxFlows: 1000}, metrics.New())
	e.Swap(set)
	return e
}

func alertsOf(e *Engine, evs ...*event.Event) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		e.Event(ev, func(a event.Event) { out = append(out, a) })
	}
	return out
}

func sids(alerts []event.Event) []int {
	var out []int
	for _, a := range alerts {
		out = append(out, a.Alert.SignatureID)
	}
	return out
}

// TestMatchTable fires rules in ET Open's style at synthetic events.
func TestMatchTable(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		ev    *event.Event
		want  []int
	}{
		{"dns_endswith_hit", `alert dns $HOME_NET any -> any any (msg:"m"; dns.query; content:"evil.example"; nocase; endswith; sid:1;)`, dnsEvent("request", "a.b.EVIL.example"), []int{1}},
		{"dns_endswith_suffix_only", `alert dns $HOME_NET any -> any any (msg:"m"; dns.query; content:"evil.example"; nocase; endswith; sid:1;)`, dnsEvent("request", "evil.example.org"), nil},
		{"dns_response_not_matched", `alert dns any any -> any any (msg:"m"; dns.query; content:"evil.example"; sid:1;)`, dnsEvent("response", "evil.example"), nil},
		{"dns_home_net_source", `alert dns !$HOME_NET any -> any any (msg:"m"; dns.query; content:"evil.example"; sid:1;)`, dnsEvent("request", "evil.example"), nil},
		{"dns_dotprefix_subdomain", `alert dns any any -> any any (msg:"m"; dns.query; dotprefix; content:".evil.example"; endswith; sid:1;)`, dnsEvent("request", "x.evil.example"), []int{1}},
		{"dns_dotprefix_apex", `alert dns any any -> any any (msg:"m"; dns.query; dotprefix; content:".evil.example"; endswith; sid:1;)`, dnsEvent("request", "evil.example"), []int{1}},
		{"dns_dotprefix_lookalike", `alert dns any any -> any any (msg:"m"; dns.query; dotprefix; content:".evil.example"; endswith; sid:1;)`, dnsEvent("request", "notevil.example"), nil},
		{"dns_bsize_exact", `alert dns any any -> any any (msg:"m"; dns.query; content:"pool.example"; bsize:12; sid:1;)`, dnsEvent("request", "pool.example"), []int{1}},
		{"dns_bsize_longer", `alert dns any any -> any any (msg:"m"; dns.query; content:"pool.example"; bsize:12; sid:1;)`, dnsEvent("request", "xpool.example"), nil},
		{"dns_case_sensitive", `alert dns any any -> any any (msg:"m"; dns.query; content:"Evil"; sid:1;)`, dnsEvent("request", "evil.example"), nil},
		{"dns_second_query", `alert dns any any -> any any (msg:"m"; dns.query; content:"bad.example"; startswith; endswith; sid:1;)`, dnsEvent("request", "good.example", "bad.example"), []int{1}},
		{"dns_pcre", `alert dns any any -> any any (msg:"m"; dns.query; content:".example"; pcre:"/^[a-z0-9]{20,}\.example$/"; sid:1;)`, dnsEvent("request", "abcdefghij0123456789x.example"), []int{1}},
		{"dns_pcre_miss", `alert dns any any -> any any (msg:"m"; dns.query; content:".example"; pcre:"/^[a-z0-9]{20,}\.example$/"; sid:1;)`, dnsEvent("request", "short.example"), nil},
		{"tls_sni_exact", `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"m"; flow:established,to_server; tls.sni; content:"c2.example"; startswith; endswith; sid:1;)`, tlsEvent(&event.TLS{SNI: "c2.example"}), []int{1}},
		{"tls_sni_wrong_direction_header", `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"m"; flow:established,to_server; tls.sni; content:"c2.example"; sid:1;)`, tlsEvent(&event.TLS{SNI: "c2.example"}), nil},
		{"tls_cert_to_client", `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"m"; flow:established,to_client; tls.cert_subject; content:"CN=evil"; sid:1;)`, tlsEvent(&event.TLS{Subject: "C=XX, CN=evil.example"}), []int{1}},
		{"ja3", `alert tls any any -> any any (msg:"m"; ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865"; sid:1;)`, tlsEvent(&event.TLS{JA3: &event.TLSHash{Hash: "e7d705a3286e19ea42f587b344ee6865"}}), []int{1}},
		{"ja3_other", `alert tls any any -> any any (msg:"m"; ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865"; sid:1;)`, tlsEvent(&event.TLS{JA3: &event.TLSHash{Hash: "00000000000000000000000000000000"}}), nil},
		{"ja3s", `alert tls any any -> any any (msg:"m"; ja3s.hash; content:"623de93db17d313345d7ea481e7443cf"; sid:1;)`, tlsEvent(&event.TLS{JA3S: &event.TLSHash{Hash: "623de93db17d313345d7ea481e7443cf"}}), []int{1}},
		{"ja4", `alert tls any any -> any any (msg:"m"; ja4.hash; content:"t13d1516h2_"; startswith; sid:1;)`, tlsEvent(&event.TLS{JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1"}), []int{1}},
		{"http_ua_legacy_depth", `alert http $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:"m"; flow:established,to_server; content:"Nikto"; http_user_agent; depth:5; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "Nikto/2.5.0"}), []int{1}},
		{"http_ua_depth_miss", `alert http any any -> any any (msg:"m"; content:"Nikto"; http_user_agent; depth:5; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "Mozilla Nikto"}), nil},
		{"http_port_var_miss", `alert http any any -> any $HTTP_PORTS (msg:"m"; http.user_agent; content:"Nikto"; sid:1;)`, func() *event.Event {
			ev := httpEvent(&event.HTTP{HTTPUserAgent: "Nikto"})
			ev.DestPort = 8080
			return ev
		}(), nil},
		{"http_host_lowered", `alert http any any -> any any (msg:"m"; http.host; content:"bad.example"; bsize:11; sid:1;)`, httpEvent(&event.HTTP{Hostname: "BAD.Example"}), []int{1}},
		{"http_uri_relative", `alert http any any -> any any (msg:"m"; http.uri; content:"/gate.php?"; startswith; content:"id="; distance:0; within:10; sid:1;)`, httpEvent(&event.HTTP{URL: "/gate.php?x=1&id=7"}), []int{1}},
		{"http_uri_relative_too_far", `alert http any any -> any any (msg:"m"; http.uri; content:"/gate.php?"; startswith; content:"id="; distance:0; within:5; sid:1;)`, httpEvent(&event.HTTP{URL: "/gate.php?xxxxxxxx=1&id=7"}), nil},
		{"http_backtrack", `alert http any any -> any any (msg:"m"; http.uri; content:"a"; content:"b"; distance:0; within:1; sid:1;)`, httpEvent(&event.HTTP{URL: "/axxab"}), []int{1}},
		{"http_negated", `alert http any any -> any any (msg:"m"; http.uri; content:"/admin"; content:!"token="; sid:1;)`, httpEvent(&event.HTTP{URL: "/admin?token=1"}), nil},
		{"http_negated_absent", `alert http any any -> any any (msg:"m"; http.uri; content:"/admin"; content:!"token="; sid:1;)`, httpEvent(&event.HTTP{URL: "/admin?user=1"}), []int{1}},
		{"http_isdataat_end", `alert http any any -> any any (msg:"m"; http.uri; content:".php"; isdataat:!1,relative; sid:1;)`, httpEvent(&event.HTTP{URL: "/x.php"}), []int{1}},
		{"http_isdataat_more", `alert http any any -> any any (msg:"m"; http.uri; content:".php"; isdataat:!1,relative; sid:1;)`, httpEvent(&event.HTTP{URL: "/x.php?a"}), nil},
		{"http_offset_depth", `alert http any any -> any any (msg:"m"; http.uri; content:"def"; offset:3; depth:3; sid:1;)`, httpEvent(&event.HTTP{URL: "abcdefghij"}), []int{1}},
		{"http_offset_depth_miss", `alert http any any -> any any (msg:"m"; http.uri; content:"def"; offset:4; depth:3; sid:1;)`, httpEvent(&event.HTTP{URL: "abcdefghij"}), nil},
		{"http_stat_and_method", `alert http any any -> any any (msg:"m"; flow:to_client; http.method; content:"POST"; http.stat_code; content:"500"; sid:1;)`, httpEvent(&event.HTTP{HTTPMethod: "POST", Status: 500}), []int{1}},
		{"http_content_type", `alert http any any -> any any (msg:"m"; http.content_type; content:"x-dosexec"; sid:1;)`, httpEvent(&event.HTTP{HTTPContentType: "application/x-dosexec"}), []int{1}},
		{"http_urilen", `alert http any any -> any any (msg:"m"; urilen:>10; sid:1;)`, httpEvent(&event.HTTP{URL: "/0123456789abc"}), []int{1}},
		{"http_urilen_short", `alert http any any -> any any (msg:"m"; urilen:>10; sid:1;)`, httpEvent(&event.HTTP{URL: "/a"}), nil},
		{"pcre_relative", `alert http any any -> any any (msg:"m"; http.uri; content:"/id/"; pcre:"/^[0-9]+$/R"; sid:1;)`, httpEvent(&event.HTTP{URL: "/id/123"}), []int{1}},
		{"pcre_relative_miss", `alert http any any -> any any (msg:"m"; http.uri; content:"/id/"; pcre:"/^[0-9]+$/R"; sid:1;)`, httpEvent(&event.HTTP{URL: "/id/12a"}), nil},
		{"pcre_byte_semantics", `alert http any any -> any any (msg:"m"; http.uri; pcre:"/^\/.{3}$/"; sid:1;)`, httpEvent(&event.HTTP{URL: "/\xc3\xa9x"}), []int{1}},
		{"pcre_hex_byte", `alert http any any -> any any (msg:"m"; http.uri; pcre:"/\xff\xfe/"; sid:1;)`, httpEvent(&event.HTTP{URL: "/a\xff\xfe"}), []int{1}},
		{"pcre_dollar_newline", `alert http any any -> any any (msg:"m"; http.user_agent; pcre:"/bot$/"; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "evilbot\n"}), []int{1}},
		{"pcre_dollar_endonly", `alert http any any -> any any (msg:"m"; http.user_agent; pcre:"/bot$/E"; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "evilbot\n"}), nil},
		{"pcre_whitespace_vt", `alert http any any -> any any (msg:"m"; http.user_agent; pcre:"/a\sb/"; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "a\vb"}), []int{1}},
		{"ip_only_dst_list", `alert ip $HOME_NET any -> [198.51.100.7,203.0.113.0/24] any (msg:"m"; sid:1;)`, flowEvent(taskIP, remoteIP, 443), []int{1}},
		{"ip_only_dst_list_miss", `alert ip $HOME_NET any -> [198.51.100.7,203.0.113.0/28] any (msg:"m"; sid:1;)`, flowEvent(taskIP, "203.0.113.99", 443), nil},
		{"ip_only_to_client_side", `alert ip [203.0.113.0/24] any -> $HOME_NET any (msg:"m"; sid:1;)`, flowEvent(taskIP, remoteIP, 443), []int{1}},
		{"ip_only_on_dns_event", `alert ip any any -> 10.0.0.2 any (msg:"m"; sid:1;)`, dnsEvent("request", "a.example"), []int{1}},
		{"ip_only_on_flow_update", `alert ip $HOME_NET any -> 203.0.113.0/24 any (msg:"m"; sid:1;)`, flowUpdateEvent(2), []int{1}},
		{"established_flow_update_by_totals", `alert tcp any any -> any any (msg:"m"; flow:established; sid:1;)`, flowUpdateEvent(2), []int{1}},
		{"one_sided_flow_update_not_established", `alert tcp any any -> any any (msg:"m"; flow:established; sid:1;)`, flowUpdateEvent(0), nil},
		{"one_sided_flow_update_to_client", `alert ip 203.0.113.0/24 any -> $HOME_NET any (msg:"m"; sid:1;)`, flowUpdateEvent(0), nil},
		{"tcp_ports", `alert tcp $HOME_NET any -> !$HOME_NET [3333,4444] (msg:"m"; flow:to_server; sid:1;)`, flowEvent(taskIP, remoteIP, 4444), []int{1}},
		{"tcp_on_udp_event", `alert tcp any any -> any any (msg:"m"; sid:1;)`, dnsEvent("request", "a.example"), nil},
		{"bidirectional_reverse", `alert ip 203.0.113.0/24 any <> $HOME_NET any (msg:"m"; flow:to_server; sid:1;)`, flowEvent(taskIP, remoteIP, 443), []int{1}},
		{"established_udp_request", `alert dns any any -> any any (msg:"m"; flow:established; dns.query; content:"a"; sid:1;)`, dnsEvent("request", "a.example"), nil},
		{"not_established_udp_request", `alert dns any any -> any any (msg:"m"; flow:not_established; dns.query; content:"a"; sid:1;)`, dnsEvent("request", "a.example"), []int{1}},
		{"pass_silences", "alert dns any any -> any any (msg:\"m\"; dns.query; content:\"example\"; sid:1;)\npass dns any any -> any any (msg:\"ok\"; dns.query; content:\"ok.example\"; sid:2;)", dnsEvent("request", "ok.example"), nil},
		{"two_rules_sorted", "alert dns any any -> any any (msg:\"b\"; dns.query; content:\"example\"; sid:20;)\nalert dns any any -> any any (msg:\"a\"; dns.query; content:\"bad\"; sid:10;)", dnsEvent("request", "bad.example"), []int{20, 10}},
		{"ip_src_content", `alert ip any any -> any any (msg:"m"; ip.src; content:"10.0.1."; startswith; sid:1;)`, flowEvent(taskIP, remoteIP, 443), []int{1}},
		{"ssh_client_software", `alert ssh $HOME_NET any -> any any (msg:"m"; ssh.software; content:"libssh"; nocase; sid:1;)`, sshEvent("libssh_0.9.6", "OpenSSH_9.2p1"), []int{1}},
		{"ssh_server_software_to_client", `alert ssh any any -> $HOME_NET any (msg:"m"; ssh.software; content:"OpenSSH_9"; sid:1;)`, sshEvent("libssh_0.9.6", "OpenSSH_9.2p1"), []int{1}},
		{"ssh_server_software_wrong_side", `alert ssh $HOME_NET any -> any any (msg:"m"; flow:to_server; ssh.software; content:"OpenSSH_9"; sid:1;)`, sshEvent("libssh_0.9.6", "OpenSSH_9.2p1"), nil},
		{"ssh_hassh", `alert ssh any any -> any any (msg:"m"; ssh.hassh; content:"ec7378c1a92f5a8dde7e8b7a1ddf33d1"; sid:1;)`, sshEvent("x", "y"), []int{1}},
		{"ssh_hassh_server_not_client", `alert ssh any any -> any any (msg:"m"; ssh.hassh.server; content:"ec7378c1a92f5a8dde7e8b7a1ddf33d1"; sid:1;)`, sshEvent("x", "y"), nil},
		{"http_referer", `alert http any any -> any any (msg:"m"; http.referer; content:"evil.example"; sid:1;)`, httpEvent(&event.HTTP{HTTPRefer: "http://evil.example/x"}), []int{1}},
		{"http_location", `alert http any any -> any any (msg:"m"; http.location; content:".exe"; endswith; sid:1;)`, httpEvent(&event.HTTP{Redirect: "/dl/a.exe", Status: 302}), []int{1}},
		{"itype_echo", `alert icmp $HOME_NET any -> any any (msg:"m"; itype:8; icode:0; sid:1;)`, icmpEvent(8, 0), []int{1}},
		{"itype_other", `alert icmp $HOME_NET any -> any any (msg:"m"; itype:13; sid:1;)`, icmpEvent(8, 0), nil},
		{"itype_reply_to_client", `alert icmp any any -> $HOME_NET any (msg:"m"; itype:0; sid:1;)`, icmpEvent(8, 0), []int{1}},
		{"to_lowercase", `alert http any any -> any any (msg:"m"; http.user_agent; to_lowercase; content:"sqlmap"; sid:1;)`, httpEvent(&event.HTTP{HTTPUserAgent: "SQLMap/1.7"}), []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, tt.rules)
			got := sids(alertsOf(e, tt.ev))
			if !slices.Equal(got, tt.want) {
				t.Errorf("alerts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIPOnlyOncePerFlow(t *testing.T) {
	e := newTestEngine(t, `alert ip any any -> 203.0.113.9 any (msg:"m"; sid:1;)`)
	a := flowEvent(taskIP, remoteIP, 443)
	b := tlsEvent(&event.TLS{SNI: "x"})
	b.FlowID = a.FlowID
	c := flowEvent(taskIP, remoteIP, 443)
	c.FlowID = 99
	if got := sids(alertsOf(e, a, b, c)); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("alerts %v, want one per flow (two flows)", got)
	}
	// A long flow: its flow_update events and its flow record alert once.
	u1, u2, f := flowUpdateEvent(2), flowUpdateEvent(3), flowEvent(taskIP, remoteIP, 443)
	for _, ev := range []*event.Event{u1, u2, f} {
		ev.FlowID = 100
	}
	if got := sids(alertsOf(e, u1, u2, f)); !slices.Equal(got, []int{1}) {
		t.Errorf("alerts %v, want one for the flow with two flow_update events", got)
	}
}

func TestThresholds(t *testing.T) {
	at := func(sec int, src string) *event.Event {
		ev := dnsEvent("request", "t.example")
		ev.Timestamp = event.At(t0.Add(time.Duration(sec) * time.Second))
		ev.SrcIP = mustAddr(src)
		return ev
	}
	tests := []struct {
		name string
		opt  string
		evs  []*event.Event
		want int
	}{
		{"limit", "threshold:type limit, track by_src, count 2, seconds 60", []*event.Event{at(0, taskIP), at(1, taskIP), at(2, taskIP), at(3, taskIP)}, 2},
		{"limit_new_window", "threshold:type limit, track by_src, count 1, seconds 60", []*event.Event{at(0, taskIP), at(1, taskIP), at(61, taskIP)}, 2},
		{"limit_per_source", "threshold:type limit, track by_src, count 1, seconds 60", []*event.Event{at(0, taskIP), at(1, "10.0.1.6"), at(2, taskIP)}, 2},
		{"threshold_every_third", "threshold:type threshold, track by_rule, count 3, seconds 60", []*event.Event{at(0, taskIP), at(1, taskIP), at(2, taskIP), at(3, taskIP), at(4, taskIP), at(5, taskIP), at(6, taskIP)}, 2},
		{"both_once", "threshold:type both, track by_src, count 2, seconds 60", []*event.Event{at(0, taskIP), at(1, taskIP), at(2, taskIP), at(3, taskIP)}, 1},
		{"detection_filter_after_count", "detection_filter:track by_src, count 2, seconds 60", []*event.Event{at(0, taskIP), at(1, taskIP), at(2, taskIP), at(3, taskIP)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, `alert dns any any -> any any (msg:"t"; dns.query; content:"t.example"; `+tt.opt+`; sid:1;)`)
			if got := len(alertsOf(e, tt.evs...)); got != tt.want {
				t.Errorf("%d alerts, want %d", got, tt.want)
			}
		})
	}
}

func TestThresholdTableBounded(t *testing.T) {
	th := newThresholds(4)
	spec := &thresholdSpec{kind: "limit", track: "by_src", count: 1, seconds: 60}
	for i := range 100 {
		th.allow(spec, thresholdKey{sid: 1, a: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}, t0)
	}
	n, evicted := th.stats()
	if n > 4 || evicted == 0 {
		t.Errorf("entries %d evicted %d, want at most 4 entries and evictions counted", n, evicted)
	}
}

// TestSwapKeepsMatching checks that replacing the set switches rules at once.
func TestSwapKeepsMatching(t *testing.T) {
	e := newTestEngine(t, `alert dns any any -> any any (msg:"old"; dns.query; content:"old.example"; sid:1;)`)
	set2, err := LoadReader("b.rules", "", strings.NewReader(`alert dns any any -> any any (msg:"new"; dns.query; content:"new.example"; sid:2;)`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sids(alertsOf(e, dnsEvent("request", "old.example"))); !slices.Equal(got, []int{1}) {
		t.Fatalf("before swap: %v", got)
	}
	e.Swap(set2)
	if got := sids(alertsOf(e, dnsEvent("request", "old.example"), dnsEvent("request", "new.example"))); !slices.Equal(got, []int{2}) {
		t.Errorf("after swap: %v, want [2]", got)
	}
}

// TestConcurrentEventsAndSwaps matches from several goroutines while sets
// are swapped in: run with -race, every event must see a whole set.
func TestConcurrentEventsAndSwaps(t *testing.T) {
	e := newTestEngine(t, `alert dns any any -> any any (msg:"a"; dns.query; content:"x.example"; threshold:type limit, track by_src, count 1000000, seconds 60; sid:1;)`)
	sets := make([]*Set, 2)
	for i := range sets {
		s, err := LoadReader("s.rules", "", strings.NewReader(genRules(200)+`alert dns any any -> any any (msg:"a"; dns.query; content:"x.example"; sid:1;)`), Options{Vars: DefaultVars("[" + taskIP + "]")})
		if err != nil {
			t.Fatal(err)
		}
		sets[i] = s
	}
	done := make(chan int)
	for g := range 4 {
		go func() {
			n := 0
			ev := dnsEvent("request", "a.x.example")
			ev.FlowID = uint64(g)
			for range 2000 {
				e.Event(ev, func(a event.Event) {
					if a.Alert.SignatureID == 1 {
						n++
					}
				})
			}
			done <- n
		}()
	}
	for i := range 200 {
		e.Swap(sets[i%2])
	}
	for range 4 {
		if n := <-done; n != 2000 {
			t.Errorf("a goroutine got %d alerts for 2000 matching events", n)
		}
	}
}
