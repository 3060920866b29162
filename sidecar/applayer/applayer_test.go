package applayer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

func mustName(t testing.TB, s string) dnsmessage.Name {
	n, err := dnsmessage.NewName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dnsExchange builds a query for name (type A) and its response with a
// CNAME, two A records, an OPT record in the query.
func dnsExchange(t testing.TB, id uint16, name string) (query, response []byte) {
	q := dnsmessage.Question{Name: mustName(t, name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	b.Question(q)
	b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false)
	b.OPTResource(opt, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 10, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}})
	query, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RecursionDesired: true, RecursionAvailable: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	b.CNAMEResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeCNAME, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.CNAMEResource{CNAME: mustName(t, "edge.example.net.")})
	for _, ip := range [][4]byte{{192, 0, 2, 10}, {192, 0, 2, 11}} {
		b.AResource(dnsmessage.ResourceHeader{Name: mustName(t, "edge.example.net."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 20}, dnsmessage.AResource{A: ip})
	}
	response, err = b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return query, response
}

func TestDNSOverUDP(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	f := &testFlow{id: 77, client: netip.MustParseAddrPort("10.0.1.5:40000"), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
	q, r := dnsExchange(t, 0x1234, "www.example.com.")
	datagram(en, f, toServer, t0, q)
	datagram(en, f, toClient, t0.Add(time.Millisecond), r)
	en.expire(f, &f.state, &f.app)
	want := []string{
		`{"timestamp":"2026-11-22T06:00:00.000000+0000","flow_id":77,"in_iface":"eth1","event_type":"dns","src_ip":"10.0.1.5","src_port":40000,"dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","ip_v":4,"community_id":"` + f.CommunityID() + `","dns":{"version":3,"type":"request","tx_id":0,"id":4660,"flags":"100","rd":true,"opcode":0,"rcode":"NOERROR","queries":[{"rrname":"www.example.com","rrtype":"A"}],"additionals":[{"rrname":"","rrtype":"OPT","ttl":0,"opt":[{"code":10,"data":"0102030405060708"}]}]}}`,
		`{"timestamp":"2026-11-22T06:00:00.001000+0000","flow_id":77,"in_iface":"eth1","event_type":"dns","src_ip":"10.0.0.2","src_port":53,"dest_ip":"10.0.1.5","dest_port":40000,"proto":"UDP","ip_v":4,"community_id":"` + f.CommunityID() + `","dns":{"version":3,"type":"response","tx_id":1,"id":4660,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rcode":"NOERROR","queries":[{"rrname":"www.example.com","rrtype":"A"}],"answers":[{"rrname":"www.example.com","rrtype":"CNAME","ttl":60,"rdata":"edge.example.net"},{"rrname":"edge.example.net","rrtype":"A","ttl":20,"rdata":"192.0.2.10"},{"rrname":"edge.example.net","rrtype":"A","ttl":20,"rdata":"192.0.2.11"}],"grouped":{"A":["192.0.2.10","192.0.2.11"],"CNAME":["edge.example.net"]}}}`,
	}
	if diff := cmp.Diff(want, lineStrings(out.lines())); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if f.app != "dns" {
		t.Errorf("app_proto %q, want dns", f.app)
	}
	if n := counterValue(t, reg, "applayer", "dns_unanswered_total"); n != 0 {
		t.Errorf("dns_unanswered_total = %d, want 0", n)
	}
	eveschema.New(t).ValidateLines(t, out.lines())
}

func lineStrings(b []byte) []string {
	var out []string
	for _, l := range split(b) {
		out = append(out, string(l))
	}
	return out
}

func TestDNSOverTCP(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	c := newConn(t, en, "[fd00::5]:41000", "[fd00::2]:53", 9)
	c.mss = 20 // messages split across segments
	c.handshake()
	q1, r1 := dnsExchange(t, 1, "a.example.")
	q2, r2 := dnsExchange(t, 2, "b.example.")
	framed := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
			b = append(b, m...)
		}
		return b
	}
	c.send(toServer, framed(q1, q2))
	c.send(toClient, framed(r1, r2))
	c.close()
	c.expire()
	var got []string
	for _, ev := range out.events {
		got = append(got, ev.DNS.Type+" "+ev.DNS.Queries[0].RRName+" "+ev.SrcIP.String())
	}
	want := []string{"request a.example fd00::5", "request b.example fd00::5", "response a.example fd00::2", "response b.example fd00::2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if c.f.app != "dns" {
		t.Errorf("app_proto %q, want dns", c.f.app)
	}
	if n := counterValue(t, reg, "applayer", "dns_unmatched_responses_total"); n != 0 {
		t.Errorf("unmatched responses %d, want 0", n)
	}
}

func TestDNSMalformedCounted(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	f := &testFlow{id: 1, client: netip.MustParseAddrPort("10.0.1.5:40000"), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
	q, _ := dnsExchange(t, 5, "www.example.com.")
	datagram(en, f, toServer, t0, q)
	// A response whose question is a pointer to itself.
	loop := []byte{0, 5, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}
	datagram(en, f, toClient, t0, loop)
	en.expire(f, &f.state, &f.app)
	if len(out.events) != 1 {
		t.Errorf("%d events, want the query's only", len(out.events))
	}
	if n := counterValue(t, reg, "applayer", "dns_not_logged_total", "pointer_loop"); n != 1 {
		t.Errorf("pointer_loop = %d, want 1", n)
	}
	if n := counterValue(t, reg, "applayer", "dns_unanswered_total"); n != 1 {
		t.Errorf("dns_unanswered_total = %d, want 1", n)
	}
}

func testCertificate(t testing.TB) (gotls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234567890),
		Subject:      pkix.Name{Country: []string{"US"}, Organization: []string{"Sidewatch Test"}, CommonName: "svc.example.test"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames:     []string{"svc.example.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	return gotls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, parsed
}

// tlsBytes runs a crypto/tls handshake and one request over a pipe and
// returns what each side wrote.
func tlsBytes(t testing.TB, max uint16, cert gotls.Certificate) (client, server []byte) {
	c, s := net.Pipe()
	var cb, sb bytes.Buffer
	cc := gotls.Client(&tee{c, &cb}, &gotls.Config{ServerName: "svc.example.test", InsecureSkipVerify: true, MaxVersion: max, NextProtos: []string{"h2", "http/1.1"}})
	sc := gotls.Server(&tee{s, &sb}, &gotls.Config{Certificates: []gotls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	done := make(chan error, 1)
	go func() {
		err := sc.Handshake()
		if err == nil {
			buf := make([]byte, 10)
			_, err = sc.Read(buf)
		}
		done <- err
	}()
	if err := cc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cc.Write([]byte("ping"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	return cb.Bytes(), sb.Bytes()
}

type tee struct {
	net.Conn
	w *bytes.Buffer
}

func (t *tee) Write(b []byte) (int, error) {
	t.w.Write(b)
	return t.Conn.Write(b)
}

func TestTLS(t *testing.T) {
	cert, parsed := testCertificate(t)
	for _, tc := range []struct {
		name    string
		max     uint16
		version string
		mss     int
	}{
		{"tls12", gotls.VersionTLS12, "TLS 1.2", 1448},
		{"tls13", gotls.VersionTLS13, "TLS 1.3", 1448},
		{"tls12_hello_split_in_segments", gotls.VersionTLS12, "TLS 1.2", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tlsBytes(t, tc.max, cert)
			en, out, _ := newEngine(t, DefaultConfig())
			c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:8443", 3)
			c.mss = tc.mss
			c.handshake()
			// The client's hello, the server's flight, the rest.
			c.send(toServer, client)
			c.send(toClient, server)
			if len(out.events) != 1 {
				t.Fatalf("%d events after the handshake, want 1", len(out.events))
			}
			if c.f.state&stateDone == 0 {
				t.Errorf("flow state %#x after the handshake, want done (no more inspection)", c.f.state)
			}
			c.close()
			c.expire()
			ev := out.events[0]
			got := ev.TLS
			if got.SNI != "svc.example.test" || got.Version != tc.version || c.f.app != "tls" {
				t.Errorf("sni %q version %q app_proto %q", got.SNI, got.Version, c.f.app)
			}
			if got.JA3 == nil || len(got.JA3.Hash) != 32 || !strings.HasPrefix(got.JA3.String, "771,") || !strings.HasPrefix(got.JA4, "t"+strings.ReplaceAll(tc.version[4:], ".", "")+"d") {
				t.Errorf("ja3 %+v ja4 %q", got.JA3, got.JA4)
			}
			if diff := cmp.Diff([]string{"h2", "http/1.1"}, got.ClientALPNs); diff != "" {
				t.Errorf("client_alpns (-want +got):\n%s", diff)
			}
			if tc.max == gotls.VersionTLS13 {
				if got.Subject != "" || got.ServerHandshake == nil || got.ServerHandshake.Version != "TLS 1.3" {
					t.Errorf("TLS 1.3: subject %q server_handshake %+v; want no certificate fields", got.Subject, got.ServerHandshake)
				}
				return
			}
			sum := sha1.Sum(parsed.Raw)
			fp := hex.EncodeToString(sum[:])
			var fpc []string
			for i := 0; i < len(fp); i += 2 {
				fpc = append(fpc, fp[i:i+2])
			}
			want := event.TLS{Subject: "C=US, O=Sidewatch Test, CN=svc.example.test", IssuerDN: "C=US, O=Sidewatch Test, CN=svc.example.test",
				SubjectAltName: []string{"svc.example.test"}, Serial: "12:34:56:78:90", Fingerprint: strings.Join(fpc, ":"),
				NotBefore: "2026-01-01T00:00:00", NotAfter: "2036-01-01T00:00:00", ServerALPNs: []string{"http/1.1"}}
			gotCert := event.TLS{Subject: got.Subject, IssuerDN: got.IssuerDN, SubjectAltName: got.SubjectAltName, Serial: got.Serial, Fingerprint: got.Fingerprint,
				NotBefore: got.NotBefore, NotAfter: got.NotAfter, ServerALPNs: got.ServerALPNs}
			if diff := cmp.Diff(want, gotCert); diff != "" {
				t.Errorf("certificate fields (-want +got):\n%s", diff)
			}
			if got.JA3S == nil || !strings.HasPrefix(got.JA3S.String, "771,") {
				t.Errorf("ja3s %+v", got.JA3S)
			}
			eveschema.New(t).ValidateLines(t, out.lines())
		})
	}
}

func TestTLSHelloOnlyLoggedAtExpiry(t *testing.T) {
	cert, _ := testCertificate(t)
	client, _ := tlsBytes(t, gotls.VersionTLS13, cert)
	en, out, _ := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "198.51.100.7:443", 3)
	c.handshake()
	c.send(toServer, client[:300]) // part of the hello only... then the rest
	c.send(toServer, client[300:])
	if len(out.events) != 0 {
		t.Fatalf("%d events before the server answered", len(out.events))
	}
	c.expire()
	if len(out.events) != 1 || out.events[0].TLS.SNI != "svc.example.test" {
		t.Fatalf("events at expiry: %+v, want the ClientHello's", out.events)
	}
}

func TestHTTPPipelined(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:9000", 4)
	c.mss = 37
	c.handshake()
	c.send(toServer, []byte("GET /a?x=1 HTTP/1.1\r\nHost: Svc.Example:9000\r\nUser-Agent: curl/7.88.1\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n"+
		"POST /upload HTTP/1.1\r\nHost: svc.example\r\nReferer: http://svc.example/a\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("u", 5000)+
		"HEAD /h HTTP/1.1\r\nHost: svc.example\r\n\r\n"+
		"GET /gone HTTP/1.1\r\nHost: svc.example\r\n\r\n"))
	c.send(toClient, []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"+
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"+
		"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"+
		"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"))
	c.send(toServer, []byte("GET /last HTTP/1.0\r\nHost: svc.example\r\n\r\n"))
	c.close()
	c.expire()
	type tx struct {
		ID                            uint64
		Method, Host, URL, Proto      string
		Status                        int
		Length                        int64
		Port                          uint16
		UA, XFF, Ref, CType, Redirect string
	}
	var got []tx
	for _, ev := range out.events {
		h := ev.HTTP
		got = append(got, tx{ev.TxID.N, h.HTTPMethod, h.Hostname, h.URL, h.Protocol, h.Status, h.Length, h.HTTPPort, h.HTTPUserAgent, h.XFF, h.HTTPRefer, h.HTTPContentType, h.Redirect})
	}
	want := []tx{
		{0, "GET", "svc.example", "/a?x=1", "HTTP/1.1", 200, 20, 9000, "curl/7.88.1", "10.9.9.9", "", "text/plain", ""},
		{1, "POST", "svc.example", "/upload", "HTTP/1.1", 201, 2, 0, "", "", "http://svc.example/a", "", ""},
		{2, "HEAD", "svc.example", "/h", "HTTP/1.1", 200, 0, 0, "", "", "", "", ""},
		{3, "GET", "svc.example", "/gone", "HTTP/1.1", 301, 0, 0, "", "", "", "", "/new"},
		{4, "GET", "svc.example", "/last", "HTTP/1.0", 0, 0, 0, "", "", "", "", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transactions (-want +got):\n%s", diff)
	}
	if c.f.app != "http" {
		t.Errorf("app_proto %q", c.f.app)
	}
	if n := counterValue(t, reg, "applayer", "http_unpaired_total", "no_response"); n != 1 {
		t.Errorf("no_response = %d, want 1", n)
	}
	eveschema.New(t).ValidateLines(t, out.lines())
}

func TestHTTPBodyUntilClose(t *testing.T) {
	en, out, _ := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:80", 4)
	c.handshake()
	c.send(toServer, []byte("GET / HTTP/1.0\r\n\r\n"))
	c.send(toClient, []byte("HTTP/1.0 200 OK\r\n\r\n"+strings.Repeat("x", 100000)))
	c.close()
	if len(out.events) != 1 || out.events[0].HTTP.Length != 100000 {
		t.Fatalf("events %+v, want one with a 100000-byte body, at the server's FIN", out.events)
	}
}

func TestHTTPBodyGapSurvives(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:80", 4)
	c.handshake()
	c.send(toServer, []byte("GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"))
	c.send(toClient, []byte("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n"))
	// 4000 body bytes never captured; the client acknowledges them.
	c.send(toClient, bytes.Repeat([]byte("y"), 1000))
	c.seq[toClient] += 4000
	c.packet(toServer, flagACK, c.seq[toServer], nil)
	c.send(toClient, bytes.Repeat([]byte("y"), 5000))
	c.send(toClient, []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	if len(out.events) != 2 || out.events[0].HTTP.Length != 10000 || out.events[1].HTTP.Status != 404 {
		t.Fatalf("events %d %+v, want both transactions, the first with its 10000-byte body", len(out.events), out.events)
	}
	if n := counterValue(t, reg, "reassembly", "lost_bytes_total"); n != 4000 {
		t.Errorf("lost_bytes_total = %d, want 4000", n)
	}
}

// sshPacket builds an SSH binary packet.
func sshPacket(payload []byte) []byte {
	pad := 8 - (len(payload)+5)%8
	if pad < 4 {
		pad += 8
	}
	p := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	p = append(p, byte(pad))
	p = append(p, payload...)
	return append(p, make([]byte, pad)...)
}

func kexinit(lists ...string) []byte {
	p := append([]byte{20}, make([]byte, 16)...)
	for _, l := range lists {
		p = binary.BigEndian.AppendUint32(p, uint32(len(l)))
		p = append(p, l...)
	}
	p = append(p, make([]byte, 8+5)...)
	return sshPacket(p)
}

func TestSSH(t *testing.T) {
	en, out, _ := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:2222", 5)
	c.handshake()
	lists := []string{"curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes256-ctr", "hmac-sha2-256", "hmac-sha2-512", "none", "zlib"}
	c.send(toClient, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
	c.send(toServer, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
	c.send(toServer, kexinit(lists...))
	c.send(toClient, kexinit(lists...))
	if len(out.events) != 1 {
		t.Fatalf("%d events, want 1 after both KEXINITs", len(out.events))
	}
	got := out.events[0].SSH
	want := &event.SSH{
		Client: &event.SSHPeer{ProtoVersion: "2.0", SoftwareVersion: "OpenSSH_9.2p1", HASSH: &event.TLSHash{Hash: md5hex("curve25519-sha256;aes128-ctr;hmac-sha2-256;none"), String: "curve25519-sha256;aes128-ctr;hmac-sha2-256;none"}},
		Server: &event.SSHPeer{ProtoVersion: "2.0", SoftwareVersion: "OpenSSH_9.2p1", HASSH: &event.TLSHash{Hash: md5hex("curve25519-sha256;aes256-ctr;hmac-sha2-512;zlib"), String: "curve25519-sha256;aes256-ctr;hmac-sha2-512;zlib"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ssh (-want +got):\n%s", diff)
	}
	if c.f.app != "ssh" {
		t.Errorf("app_proto %q", c.f.app)
	}
	eveschema.New(t).ValidateLines(t, out.lines())
}

func TestDetection(t *testing.T) {
	tests := []struct {
		name           string
		client, server string
		want           string
	}{
		{"http_on_any_port", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n", "http"},
		{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "", "http2"},
		{"ssh_server_first", "", "SSH-2.0-dropbear_2022.83\r\n", "ssh"},
		{"redis_fails", "*1\r\n$4\r\nPING\r\n", "+PONG\r\n", "failed"},
		{"smtp_fails", "", "220 mail.example ESMTP Postfix\r\n", "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en, _, _ := newEngine(t, DefaultConfig())
			c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:6379", 6)
			c.handshake()
			if tt.server != "" && tt.want != "http" {
				c.send(toClient, []byte(tt.server))
			}
			if tt.client != "" {
				c.send(toServer, []byte(tt.client))
			}
			if tt.want == "http" {
				c.send(toClient, []byte(tt.server))
			}
			c.close()
			c.expire()
			if c.f.app != tt.want {
				t.Errorf("app_proto %q, want %q", c.f.app, tt.want)
			}
		})
	}
	// A flow without payload has no app_proto and costs no state.
	en, _, _ := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:22", 6)
	c.handshake()
	c.close()
	if c.f.state&indexMask != 0 || en.used != 0 {
		t.Errorf("state %#x, %d states in use for a flow without payload", c.f.state, en.used)
	}
	c.expire()
	if c.f.app != "" {
		t.Errorf("app_proto %q without payload, want none", c.f.app)
	}
}

func TestProtocolSwitchedOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP = false
	en, out, _ := newEngine(t, cfg)
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:80", 6)
	c.handshake()
	c.send(toServer, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	if c.f.state&stateDone == 0 || en.used != 0 {
		t.Errorf("state %#x, %d in use: an HTTP flow with http off must be left alone", c.f.state, en.used)
	}
	c.send(toClient, []byte("HTTP/1.1 200 OK\r\n\r\n"))
	c.close()
	c.expire()
	if len(out.events) != 0 || c.f.app != "http" {
		t.Errorf("%d events, app_proto %q; want none, http", len(out.events), c.f.app)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	// Every event the engine builds encodes as JSON that decodes back to
	// the same bytes (the arena's strings are ordinary strings).
	en, out, _ := newEngine(t, DefaultConfig())
	f := &testFlow{id: 77, client: netip.MustParseAddrPort("10.0.1.5:40000"), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
	q, r := dnsExchange(t, 0x1234, "xn--bcher-kva.example.")
	datagram(en, f, toServer, t0, q)
	datagram(en, f, toClient, t0, r)
	for _, line := range split(out.lines()) {
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		if again := ev.AppendJSON(nil); !bytes.Equal(again, line) {
			t.Errorf("round trip:\n got %s\nwant %s", again, line)
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestMidstreamCounted counts a connection picked up without its SYN,
// and not one whose SYN went by before its first payload.
func TestMidstreamCounted(t *testing.T) {
	en, out, reg := newEngine(t, DefaultConfig())
	c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:80", 1)
	c.handshake()
	c.send(toServer, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	c.send(toClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	if n := counterValue(t, reg, "reassembly", "midstream_total"); n != 0 {
		t.Errorf("midstream_total = %d after a connection seen from its SYN, want 0", n)
	}
	late := newConn(t, en, "10.0.1.5:40001", "10.0.0.9:80", 2)
	late.send(toServer, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	late.send(toClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	if n := counterValue(t, reg, "reassembly", "midstream_total"); n != 2 {
		t.Errorf("midstream_total = %d after a connection picked up midway, want its 2 directions", n)
	}
	if len(out.events) != 2 {
		t.Errorf("%d events, want both transactions", len(out.events))
	}
}

// TestParkedFlows checks TCP flows whose one direction matched nothing
// while the other was silent: their state is freed, and they end as a
// flow whose state was kept would have.
func TestParkedFlows(t *testing.T) {
	junk := make([]byte, 1448) // mid-transfer bytes: no protocol's start
	get := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, tc := range []struct {
		name       string
		run        func(c *conn)
		wantParked uint64
		wantApp    string // before expiry
		wantEvents int    // after expiry
		wantFinal  string // after expiry
		wantMid    uint64 // directions picked up midway
	}{
		{"server_bulk_client_acks", func(c *conn) {
			for range 4 {
				c.send(toClient, junk)
				c.packet(toServer, flagACK, c.seq[toServer], nil)
			}
		}, 1, "", 0, "failed", 1},
		{"client_speaks_after", func(c *conn) {
			c.send(toClient, junk)
			c.packet(toServer, flagACK, c.seq[toServer], nil)
			c.send(toServer, get)
		}, 1, "http", 1, "http", 2},
		{"client_junk_after", func(c *conn) {
			c.send(toClient, junk)
			c.send(toServer, junk)
		}, 1, "failed", 0, "failed", 2},
		{"reset_by_parked_side", func(c *conn) {
			c.send(toClient, junk)
			c.packet(toClient, flagRST, c.seq[toClient], nil)
		}, 1, "failed", 0, "failed", 1},
		{"fin_from_silent_side", func(c *conn) {
			c.send(toClient, junk)
			c.packet(toServer, flagFIN|flagACK, c.seq[toServer], nil)
		}, 1, "failed", 0, "failed", 2},
		{"syn_before_then_request", func(c *conn) {
			c.packet(toServer, flagSYN, c.seq[toServer]-1, nil)
			c.send(toClient, junk)
			c.send(toServer, get)
		}, 1, "http", 1, "http", 1},
		{"client_sent_first", func(c *conn) {
			c.send(toServer, []byte{0x16, 0x03})
			c.send(toClient, junk)
		}, 0, "", 0, "failed", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en, out, reg := newEngine(t, DefaultConfig())
			c := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:443", 1)
			tc.run(c)
			if got := counterValue(t, reg, "applayer", "flows_parked_total"); got != tc.wantParked {
				t.Errorf("flows_parked_total: got %d, want %d", got, tc.wantParked)
			}
			if c.f.app != tc.wantApp {
				t.Errorf("app_proto before expiry: got %q, want %q", c.f.app, tc.wantApp)
			}
			if got := counterValue(t, reg, "reassembly", "midstream_total"); got != tc.wantMid {
				t.Errorf("midstream_total: got %d, want %d", got, tc.wantMid)
			}
			c.expire()
			if len(out.events) != tc.wantEvents {
				t.Errorf("events: got %d, want %d", len(out.events), tc.wantEvents)
			}
			if c.f.app != tc.wantFinal {
				t.Errorf("app_proto after expiry: got %q, want %q", c.f.app, tc.wantFinal)
			}
			if en.used != 0 || c.f.state != stateDone {
				t.Errorf("after expiry: got %d states, slot %#x, want 0, %#x", en.used, c.f.state, stateDone)
			}
			if got := counterValue(t, reg, "reassembly", "memory_bytes"); got != 0 && tc.wantParked > 0 {
				t.Errorf("reassembly memory: got %d, want 0", got)
			}
		})
	}
}
