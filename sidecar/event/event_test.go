package event

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 22, 4, 46, 4, 123456789, time.UTC)

func u8(v uint8) *uint8 { return &v }

func flowEvent() Event {
	return Event{
		Timestamp:   At(t0),
		FlowID:      1129404235823119,
		InIface:     "eth1",
		EventType:   TypeFlow,
		SrcIP:       netip.MustParseAddr("10.0.193.10"),
		SrcPort:     53841,
		DestIP:      netip.MustParseAddr("10.0.0.2"),
		DestPort:    53,
		Proto:       "UDP",
		IPVersion:   4,
		CommunityID: "1:UQQDDweoyG2joKun34WohFtz0c8=",
		Flow: &Flow{PktsToServer: 1, PktsToClient: 1, BytesToServer: 87, BytesToClient: 151,
			Start: At(t0.Add(-30 * time.Second)), End: At(t0.Add(-29 * time.Second)), Age: 1, State: "established", Reason: "timeout"},
		ECS: ECS{Cluster: "prod", TaskARN: "arn:aws:ecs:us-east-1:111122223333:task/prod/0123", Family: "web", Revision: "7",
			AvailabilityZone: "us-east-1a", LaunchType: "FARGATE"},
	}
}

func flowUpdateEvent(final bool) Event {
	ev := flowEvent()
	ev.EventType, ev.Flow, ev.Proto = TypeFlowUpdate, nil, "TCP"
	ev.FlowUpdate = &FlowUpdate{PktsToServer: 120, PktsToClient: 0, BytesToServer: 9000, BytesToClient: 0,
		Total: FlowCounter{PktsToServer: 1200, PktsToClient: 1100, BytesToServer: 90000, BytesToClient: 4200000},
		Start: At(t0.Add(-10 * time.Minute)), Since: At(t0.Add(-5 * time.Minute)), End: At(t0.Add(-time.Second)),
		Age: 599, State: "established", Final: final}
	return ev
}

func logEvent() Event {
	return Event{
		Timestamp: At(t0),
		EventType: TypeLog,
		Log:       &Log{Message: "GET /healthz 200\tin 3ms", Facility: "user", Severity: "info", ProcID: "1", Format: "rfc3164", Transport: "tcp"},
		ECS: ECS{Cluster: "prod", TaskARN: "arn:aws:ecs:us-east-1:111122223333:task/prod/0123", Family: "web", Revision: "7",
			Container: Container{ID: "0123456789abcdef0123456789abcdef-1234567890", Name: "web"}},
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tcpFlow := flowEvent()
	tcpFlow.Proto = "TCP"
	tcpFlow.TCP = &TCP{TCPFlags: 0x1b, TCPFlagsTS: 0x1b, TCPFlagsTC: 0x1a, SYN: true, FIN: true, PSH: true, ACK: true, State: "closed"}
	icmp := flowEvent()
	icmp.Proto, icmp.SrcPort, icmp.DestPort, icmp.ICMPType, icmp.ICMPCode = "ICMP", 0, 0, u8(8), u8(0)
	tests := []struct {
		name string
		ev   Event
	}{
		{"flow_udp", flowEvent()},
		{"flow_tcp", tcpFlow},
		{"flow_icmp", icmp},
		{"flow_update", flowUpdateEvent(false)},
		{"flow_update_final", flowUpdateEvent(true)},
		{"log", logEvent()},
		{"log_truncated_with_error", Event{Timestamp: At(t0), EventType: TypeLog, Log: &Log{Message: "<html>", Truncated: true, ParseError: "no header"}}},
		{"dns_request", Event{Timestamp: At(t0), EventType: TypeDNS, DNS: &DNS{Version: 3, Type: "request", ID: 45444, Flags: "100", RD: true, Rcode: "NOERROR",
			Queries: []DNSQuery{{RRName: "www.suricata.io", RRType: "A"}}}}},
		{"dns_response", Event{Timestamp: At(t0), EventType: TypeDNS, DNS: &DNS{Version: 3, Type: "response", TxID: 1, ID: 45444, Flags: "8580", QR: true, AA: true, RD: true, RA: true, Rcode: "NOERROR",
			Queries: []DNSQuery{{RRName: "www.suricata.io", RRType: "A"}},
			Answers: []DNSAnswer{{RRName: "www.suricata.io", RRType: "CNAME", TTL: 3324, RData: "suricata.io"}, {RRName: "suricata.io", RRType: "A", TTL: 10, RData: "192.0.78.24"},
				{RRName: "_x._tcp.suricata.io", RRType: "SRV", TTL: 5, SRV: &DNSSRV{Priority: 1, Weight: 2, Port: 443, Name: "a.suricata.io"}},
				{RRName: "suricata.io", RRType: "SSHFP", TTL: 5, SSHFP: &DNSSSHFP{Fingerprint: "0a:ff", Algo: 4, Type: 2}}},
			Grouped:     &DNSGrouped{A: []string{"192.0.78.24"}, CNAME: []string{"suricata.io"}, SRV: []DNSSRV{{1, 2, 443, "a.suricata.io"}}, SSHFP: []DNSSSHFP{{"0a:ff", 4, 2}}},
			Authorities: []DNSAnswer{{RRName: "io", RRType: "SOA", TTL: 900, SOA: &DNSSOA{MName: "a.nic.io", RName: "hostmaster.nic.io", Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minimum: 5}}},
			Additionals: []DNSAnswer{{RRName: "", RRType: "OPT", TTL: 32768, Opt: []DNSOpt{{Code: 10, Data: "0102"}}}}}}},
		{"dns_nxdomain_truncated_names", Event{Timestamp: At(t0), EventType: TypeDNS, DNS: &DNS{Version: 3, Type: "response", ID: 1, Flags: "8183", QR: true, RD: true, RA: true, Z: true, Opcode: 0, Rcode: "NXDOMAIN",
			Queries: []DNSQuery{{RRName: "x", RRType: "TXT", RRNameTruncated: true}}, Answers: []DNSAnswer{{RRName: "x", RRNameTruncated: true, RRType: "CNAME", RData: "y", RDataTruncated: true}}}}},
		{"tls", Event{Timestamp: At(t0), EventType: TypeTLS, TLS: &TLS{Subject: "CN=sts.amazonaws.com", IssuerDN: "C=US, O=Amazon, CN=Amazon RSA 2048 M01", SubjectAltName: []string{"sts.amazonaws.com"},
			Serial: "0A:1B", Fingerprint: "aa:bb", SNI: "sts.amazonaws.com", Version: "TLS 1.2", NotBefore: "2026-01-01T00:00:00", NotAfter: "2027-01-01T00:00:00",
			JA3: &TLSHash{"c000", "771,4865"}, JA3S: &TLSHash{"f4fe", "771,4865,43-51"}, JA4: "t13d", ClientALPNs: []string{"h2", "http/1.1"}, ServerALPNs: []string{"h2"},
			ClientHandshake: &TLSClientHandshake{Version: "TLS 1.3", Ciphers: []uint16{4865, 49195}, Exts: []uint16{0, 16}, SigAlgs: []uint16{1027}},
			ServerHandshake: &TLSServerHandshake{Version: "TLS 1.2", Cipher: 49199, Exts: []uint16{65281}}}}},
		{"tls_resumed", Event{Timestamp: At(t0), EventType: TypeTLS, TLS: &TLS{SessionResumed: true, Version: "TLS 1.2", ServerHandshake: &TLSServerHandshake{Version: "TLS 1.2"}}}},
		{"http", Event{Timestamp: At(t0), EventType: TypeHTTP, TxID: Tx(0), HTTP: &HTTP{Hostname: "169.254.170.2", HTTPPort: 8080, URL: "/v2/credentials/x", HTTPUserAgent: "curl/7.88.1", XFF: "10.0.0.1",
			HTTPContentType: "application/json", HTTPRefer: "http://a/", HTTPMethod: "GET", Protocol: "HTTP/1.1", Status: 301, Redirect: "/v2/", Length: 1254}}},
		{"http_no_response", Event{Timestamp: At(t0), EventType: TypeHTTP, TxID: Tx(3), HTTP: &HTTP{Hostname: "a", URL: "/", HTTPMethod: "POST", Protocol: "HTTP/1.0"}}},
		{"ssh", Event{Timestamp: At(t0), EventType: TypeSSH, SSH: &SSH{Client: &SSHPeer{ProtoVersion: "2.0", SoftwareVersion: "OpenSSH_9.2p1", HASSH: &TLSHash{"ec7378c1a92f5a8dde7e8b7a1ddf33d1", "curve25519-sha256;aes128-ctr;hmac-sha2-256;none"}},
			Server: &SSHPeer{ProtoVersion: "1.99"}}}},
		{"alert", Event{Timestamp: At(t0), EventType: TypeAlert, Alert: &Alert{Action: "allowed", GID: 1, SignatureID: 9000001, Rev: 1, Signature: "IMDS access", Category: "Attempted Information Leak", Severity: 2}}},
		{"alert_with_metadata", alertEvent()},
		{"alert_metadata_escaped", alertEscaped()},
		{"stats", Event{Timestamp: At(t0), EventType: TypeStats, Stats: &Stats{Uptime: 60, Groups: map[string]any{"pipeline": map[string]any{"dropped_total": map[string]any{"queue_full": uint64(3)}, "written_total": uint64(10)}}}}},
		{"container_only", Event{Timestamp: At(t0), EventType: TypeLog, Log: &Log{Message: ""}, ECS: ECS{Container: Container{Name: "web"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.ev.AppendJSON(nil)
			if !json.Valid(got) {
				t.Fatalf("AppendJSON = %s, not valid JSON", got)
			}
			var back Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", got, err)
			}
			again := back.AppendJSON(nil)
			if !bytes.Equal(again, got) {
				t.Errorf("round trip:\n got %s\nwant %s", again, got)
			}
			// encoding/json with the struct tags must agree on every field.
			if diff := cmp.Diff(decodeAny(t, tagEncode(t, back)), decodeAny(t, got)); diff != "" {
				t.Errorf("AppendJSON vs encoding/json tags (-tags +append):\n%s", diff)
			}
		})
	}
}

// tagEncode encodes e through its struct tags, bypassing MarshalJSON.
func tagEncode(t *testing.T, e Event) []byte {
	type plain Event
	b, err := json.Marshal(plain(e))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAny(t *testing.T, b []byte) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestAppendJSONTimestamp(t *testing.T) {
	ev := Event{Timestamp: At(time.Date(2026, 11, 22, 4, 46, 4, 123456789, time.FixedZone("", -5*3600))), EventType: TypeStats, Stats: &Stats{}}
	got := string(ev.AppendJSON(nil))
	want := `{"timestamp":"2026-11-22T04:46:04.123456-0500","event_type":"stats","stats":{"uptime":0}}`
	if got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello", `"hello"`},
		{"quote_and_backslash", `a"b\c`, `"a\"b\\c"`},
		{"newline_tab_cr", "a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"control", "\x00\x1f", `"\u0000\u001f"`},
		{"html_not_escaped", "<a>&", `"<a>&"`},
		{"utf8", "héllo ☃", `"héllo ☃"`},
		{"invalid_utf8", "a\xffb", `"a\ufffdb"`},
		{"truncated_utf8", "a\xe2\x98", `"a\ufffd\ufffd"`},
		{"line_separators", "a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"c0_line_breakers", "a\x0b\x0c\x1c\x1d\x1eb", `"a\u000b\u000c\u001c\u001d\u001eb"`},
		{"del", "a\x7fb", `"a\u007fb"`},
		{"c1_next_line", "a\u0085b", `"a\u0085b"`},
		{"c1_csi", "\u009b31m", `"\u009b31m"`},
		{"c1_first_and_last", "\u0080\u009f", `"\u0080\u009f"`},
		{"latin1_after_c1_kept", "\u00a0é", `"` + "\u00a0é" + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendString(nil, tt.in)); got != tt.want {
				t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"bad_timestamp", `{"timestamp":"yesterday","event_type":"log"}`},
		{"bad_tcp_flags", `{"timestamp":"2026-11-22T04:46:04.123456+0000","event_type":"flow","tcp":{"tcp_flags":"zz"}}`},
		{"stats_without_uptime", `{"timestamp":"2026-11-22T04:46:04.123456+0000","event_type":"stats","stats":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			if err := json.Unmarshal([]byte(tt.in), &e); err == nil {
				t.Errorf("Unmarshal(%s) = nil error, want an error", tt.in)
			}
		})
	}
}

func BenchmarkAppendJSONFlow(b *testing.B) {
	ev := flowEvent()
	ev.Proto = "TCP"
	ev.TCP = &TCP{TCPFlags: 0x1b, TCPFlagsTS: 0x1b, TCPFlagsTC: 0x1a, SYN: true, FIN: true, PSH: true, ACK: true, State: "closed"}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendJSONFlowUpdate(b *testing.B) {
	ev := flowUpdateEvent(true)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
	if n := testing.AllocsPerRun(100, func() { buf = ev.AppendJSON(buf[:0]) }); n != 0 {
		b.Fatalf("AppendJSON of a flow_update: %v allocations, want 0", n)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendJSONLog(b *testing.B) {
	ev := logEvent()
	ev.Log.Message = strings.Repeat("2026-11-22 04:46:04 INFO request served path=/api/v1/items status=200 ", 2)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func TestTimeAppendMatchesLayout(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -9*3600)}
	times := []time.Time{t0, time.Date(1999, 1, 2, 3, 4, 5, 6000, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, loc := range zones {
		for _, tm := range times {
			tm = tm.In(loc)
			got := string(At(tm).appendJSON(nil))
			want := `"` + tm.Format(EVETimeLayout) + `"`
			if got != want {
				t.Errorf("Time(%v).appendJSON = %s, want %s", tm, got, want)
			}
		}
	}
}

// FuzzAppendString checks that any string encodes to one JSON string that
// decodes back to it (invalid UTF-8 replaced) and holds nothing a common
// line-oriented reader splits on or takes for a control.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "x", "a\u2028b", "\x85\xc2\x85", "\u0085", "\x7f", "\xe2\x80\xa9", "é\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, out, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want && !strings.Contains(s, "\ufffd") {
			// ToValidUTF8 merges runs of invalid bytes; the encoder
			// replaces each byte. Compare with every invalid byte replaced.
			var b strings.Builder
			for i := 0; i < len(s); {
				r, size := utf8.DecodeRuneInString(s[i:])
				b.WriteRune(r)
				i += size
			}
			if back != b.String() {
				t.Fatalf("appendString(%q) decodes to %q", s, back)
			}
		}
		for i, c := range out {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("appendString(%q) = %q: raw control 0x%02x at %d", s, out, c, i)
			}
		}
		for _, r := range string(out) {
			if (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("appendString(%q) = %q: raw U+%04X", s, out, r)
			}
		}
	})
}

func TestAppendAddr(t *testing.T) {
	tests := []struct {
		addr     string
		compress bool
		want     string
	}{
		{"10.0.0.1", false, `"10.0.0.1"`},
		{"fd99::1", false, `"fd99:0000:0000:0000:0000:0000:0000:0001"`},
		{"fd99::1", true, `"fd99::1"`},
		{"::ffff:10.0.0.1", false, `"0000:0000:0000:0000:0000:ffff:0a00:0001"`},
		{"fe80::b0ab:1cff:fe0f:a111", false, `"fe80:0000:0000:0000:b0ab:1cff:fe0f:a111"`},
		{"::", false, `"0000:0000:0000:0000:0000:0000:0000:0000"`},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := string(appendAddr(nil, a, Options{CompressIPv6: tt.compress})); got != tt.want {
			t.Errorf("appendAddr(%s, compress %v) = %s, want %s", tt.addr, tt.compress, got, tt.want)
		}
		// Either form reads back as the same address.
		var back netip.Addr
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil || back != a {
			t.Errorf("%s reads back as %v, %v; want %s", tt.want, back, err, a)
		}
	}
}

func TestPortsAndICMPFields(t *testing.T) {
	ev := flowEvent()
	ev.Proto, ev.SrcPort, ev.DestPort = "TCP", 0, 0
	got := string(ev.AppendJSON(nil))
	if !strings.Contains(got, `"src_ip":"10.0.193.10","src_port":0,"dest_ip":"10.0.0.2","dest_port":0,"proto":"TCP"`) {
		t.Errorf("TCP flow with ports 0: %s; want both ports written, as Suricata does", got)
	}
	icmp := flowEvent()
	icmp.Proto, icmp.SrcPort, icmp.DestPort = "ICMP", 0, 0
	icmp.ICMPType, icmp.ICMPCode, icmp.ResponseICMPType, icmp.ResponseICMPCode = u8(8), u8(0), u8(0), u8(0)
	got = string(icmp.AppendJSON(nil))
	if strings.Contains(got, "_port") || !strings.Contains(got, `"icmp_type":8,"icmp_code":0,"response_icmp_type":0,"response_icmp_code":0`) {
		t.Errorf("ICMP flow: %s; want no ports and both ICMP pairs", got)
	}
	six := flowEvent()
	six.SrcIP, six.DestIP, six.IPVersion = netip.MustParseAddr("fd99::1"), netip.MustParseAddr("fd99::2"), 6
	if got := string(six.Append(nil, Options{CompressIPv6: true})); !strings.Contains(got, `"src_ip":"fd99::1"`) {
		t.Errorf("with CompressIPv6: %s", got)
	}
	if got := string(six.AppendJSON(nil)); !strings.Contains(got, `"src_ip":"fd99:0000:0000:0000:0000:0000:0000:0001"`) {
		t.Errorf("by default: %s; want the expanded form", got)
	}
}
