package tls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// ext is one extension of a hand-made hello.
type ext struct {
	typ  uint16
	data []byte
}

func u16list(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func vec16(b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }
func vec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }

func sniExt(name string) ext {
	entry := append([]byte{0}, vec16([]byte(name))...)
	return ext{extServerName, vec16(entry)}
}

func alpnExt(protos ...string) ext {
	var l []byte
	for _, p := range protos {
		l = append(l, vec8([]byte(p))...)
	}
	return ext{extALPN, vec16(l)}
}

// clientHelloBody builds a ClientHello body.
func clientHelloBody(version uint16, ciphers []uint16, exts ...ext) []byte {
	b := binary.BigEndian.AppendUint16(nil, version)
	b = append(b, make([]byte, 32)...)       // random
	b = append(b, vec8(make([]byte, 32))...) // session id
	b = append(b, vec16(u16list(ciphers...))...)
	b = append(b, 1, 0) // null compression
	var e []byte
	for _, x := range exts {
		e = binary.BigEndian.AppendUint16(e, x.typ)
		e = append(e, vec16(x.data)...)
	}
	return append(b, vec16(e)...)
}

// handshake wraps a body in a handshake header.
func handshake(typ byte, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// records splits b into handshake records of at most size bytes.
func records(typ byte, b []byte, size int) []byte {
	var out []byte
	for len(b) > 0 {
		n := min(size, len(b))
		out = append(out, typ, 3, 1, byte(n>>8), byte(n))
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return out
}

// specHello is the ClientHello of the JA4 spec's example (JA4.md,
// "Example" and "Raw Output"), with GREASE values added that must be
// ignored.
func specHello() []byte {
	ciphers := []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	sigs := u16list(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
	byType := map[uint16]ext{
		0x0000: sniExt("www.example.com"),
		0x0010: alpnExt("h2", "http/1.1"),
		0x000d: {0x000d, vec16(sigs)},
		0x002b: {0x002b, vec8(u16list(0x5a5a, 0x0304, 0x0303))},
		0x000a: {0x000a, vec16(u16list(0x3a3a, 0x001d, 0x0017, 0x0018))},
		0x000b: {0x000b, vec8([]byte{0})},
	}
	var exts []ext
	exts = append(exts, ext{0x1a1a, nil})
	for _, typ := range []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015} {
		e, ok := byType[typ]
		if !ok {
			e = ext{typ, nil}
		}
		exts = append(exts, e)
	}
	exts = append(exts, ext{0xfafa, []byte{0}})
	return clientHelloBody(0x0303, ciphers, exts...)
}

func TestJA4SpecExample(t *testing.T) {
	var h ClientHello
	if err := h.Parse(specHello()); err != nil {
		t.Fatal(err)
	}
	var j JA4
	if got, want := string(j.Append(nil, &h)), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("JA4 = %s, want %s (JA4.md example)", got, want)
	}
}

func TestJA4(t *testing.T) {
	base := []uint16{0x1301, 0x002f}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		// No extensions at all: the c part is twelve zeros; TLS 1.2.
		{"no_extensions", clientHelloBody(0x0303, base), "t12i020000_" + sha12("002f,1301") + "_000000000000"},
		// No ciphers: the b part is twelve zeros.
		{"no_ciphers", clientHelloBody(0x0301, nil, ext{0x0017, nil}), "t10i000100_000000000000_" + sha12("0017")},
		// Only SNI and ALPN: both are counted but left out of c, which is
		// then empty.
		{"sni_alpn_only", clientHelloBody(0x0303, base, sniExt("a"), alpnExt("http/1.1")), "t12d0202h1_" + sha12("002f,1301") + "_000000000000"},
		// Extensions without signature algorithms: no underscore.
		{"no_sigalgs", clientHelloBody(0x0303, base, ext{0x0017, nil}, ext{0x0005, nil}), "t12i020200_" + sha12("002f,1301") + "_" + sha12("0005,0017")},
		{"single_char_alpn", clientHelloBody(0x0303, base, alpnExt("x")), "t12i0201xx_" + sha12("002f,1301") + "_000000000000"},
		{"empty_first_alpn", clientHelloBody(0x0303, base, alpnExt("", "h2")), "t12i020100_" + sha12("002f,1301") + "_000000000000"},
		// JA4.md: 0xAB 0xCD gives "ad", 0x30 0xAB gives "3b".
		{"non_alnum_alpn", clientHelloBody(0x0303, base, alpnExt("\xab\xcd")), "t12i0201ad_" + sha12("002f,1301") + "_000000000000"},
		{"half_alnum_alpn", clientHelloBody(0x0303, base, alpnExt("0\xab")), "t12i02013b_" + sha12("002f,1301") + "_000000000000"},
		{"ssl3", clientHelloBody(0x0300, base), "ts3i020000_" + sha12("002f,1301") + "_000000000000"},
		{"unknown_version", clientHelloBody(0x0305, base), "t00i020000_" + sha12("002f,1301") + "_000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ClientHello
			if err := h.Parse(tt.body); err != nil {
				t.Fatal(err)
			}
			var j JA4
			if got := string(j.Append(nil, &h)); got != tt.want {
				t.Errorf("JA4 = %s, want %s", got, tt.want)
			}
		})
	}
}

// sha12 is JA4's truncated hash, computed independently.
func sha12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

func TestJA3(t *testing.T) {
	tests := []struct {
		name       string
		body       []byte
		str, hash  string
		versionStr string
	}{
		// The two checks of salesforce/ja3's README (network notes).
		{"ja3_readme_1", clientHelloBody(769, []uint16{47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
			sniExt("a"), ext{10, vec16(u16list(23, 24, 25))}, ext{11, vec8([]byte{0})}),
			"769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0", "ada70206e40642a3e4461f35503241d5", "TLSv1"},
		{"ja3_readme_2_no_extensions", clientHelloBody(769, []uint16{4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99}),
			"769,4-5-10-9-100-98-3-6-19-18-99,,,", "de350869b8c85de67a350c8d186f11e6", "TLSv1"},
		{"grease_removed", specHello(),
			"771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0", "", "TLS 1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ClientHello
			if err := h.Parse(tt.body); err != nil {
				t.Fatal(err)
			}
			s := h.AppendJA3(nil)
			if string(s) != tt.str {
				t.Errorf("JA3 string = %s, want %s", s, tt.str)
			}
			if tt.hash != "" {
				if got := string(AppendMD5Hex(nil, s)); got != tt.hash {
					t.Errorf("JA3 hash = %s, want %s", got, tt.hash)
				}
			}
			if got := VersionName(h.Version()); got != tt.versionStr {
				t.Errorf("VersionName(Version()) = %q, want %q", got, tt.versionStr)
			}
		})
	}
}

func TestClientHelloFields(t *testing.T) {
	var h ClientHello
	if err := h.Parse(specHello()); err != nil {
		t.Fatal(err)
	}
	if string(h.SNI) != "www.example.com" || len(h.ALPNs) != 2 || string(h.ALPNs[1]) != "http/1.1" {
		t.Errorf("SNI %q ALPNs %q", h.SNI, h.ALPNs)
	}
	if h.MaxVersion() != VersionTLS13 || h.Version() != VersionTLS13 {
		t.Errorf("MaxVersion %#x Version %#x, want TLS 1.3", h.MaxVersion(), h.Version())
	}
	if len(h.Ciphers) != 16 || len(h.Extensions) != 18 || len(h.SigAlgs) != 8 || len(h.Groups) != 4 {
		t.Errorf("%d ciphers, %d extensions, %d sigalgs, %d groups; want 16, 18, 8, 4 (GREASE kept)", len(h.Ciphers), len(h.Extensions), len(h.SigAlgs), len(h.Groups))
	}
}

func TestHelloParseErrors(t *testing.T) {
	full := specHello()
	for _, n := range []int{0, 1, 33, 40, 70, 75, 80} {
		var h ClientHello
		if err := h.Parse(full[:n]); !errors.Is(err, ErrShortMessage) {
			t.Errorf("ClientHello cut to %d bytes: %v, want ErrShortMessage", n, err)
		}
	}
	// An extension whose length runs past the list.
	bad := clientHelloBody(0x0303, []uint16{1}, ext{5, []byte{1, 2, 3}})
	bad = bad[:len(bad)-1]
	binary.BigEndian.PutUint16(bad[len(bad)-7-2:], 7)
	var h ClientHello
	if err := h.Parse(bad); !errors.Is(err, ErrShortMessage) {
		t.Errorf("truncated extension: %v, want ErrShortMessage", err)
	}
	var s ServerHello
	if err := s.Parse([]byte{3, 3, 1}); !errors.Is(err, ErrShortMessage) {
		t.Errorf("short ServerHello: %v, want ErrShortMessage", err)
	}
}

// goHandshake runs a real crypto/tls handshake over a pipe and returns the
// bytes each side wrote (up to the first application data).
func goHandshake(t *testing.T, max uint16, cert tls.Certificate) (client, server []byte) {
	t.Helper()
	c, s := net.Pipe()
	var cbuf, sbuf bytes.Buffer
	cc := tls.Client(&tee{Conn: c, w: &cbuf}, &tls.Config{ServerName: "www.example.test", InsecureSkipVerify: true, MaxVersion: max, NextProtos: []string{"h2", "http/1.1"}})
	sc := tls.Server(&tee{Conn: s, w: &sbuf}, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	done := make(chan error, 1)
	go func() { done <- sc.Handshake() }()
	if err := cc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	return cbuf.Bytes(), sbuf.Bytes()
}

type tee struct {
	net.Conn
	w *bytes.Buffer
}

func (t *tee) Write(b []byte) (int, error) {
	t.w.Write(b)
	return t.Conn.Write(b)
}

func testCert(t testing.TB) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x0a1b2c3d4e5f),
		Subject:      pkix.Name{Country: []string{"US"}, Organization: []string{"Sidewatch Test"}, CommonName: "www.example.test"},
		Issuer:       pkix.Name{CommonName: "ignored for self-signed"},
		NotBefore:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		NotAfter:     time.Date(2051, 6, 7, 8, 9, 10, 0, time.UTC),
		DNSNames:     []string{"www.example.test", "example.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, parsed
}

// walk feeds b to a Stream in chunks of size bytes, as a reassembler
// would (keeping what Next did not consume), and returns every message up
// to the first encrypted record (what follows a ChangeCipherSpec, even in
// handshake records, is ciphertext).
func walk(t *testing.T, b []byte, size int) []Msg {
	t.Helper()
	var s Stream
	var held []byte
	var out []Msg
	scratch := make([]byte, 0, MaxMessageLen+4)
	for len(b) > 0 || len(held) > 0 {
		n := min(size, len(b))
		held = append(held, b[:n]...)
		b = b[n:]
		for {
			m, used, err := s.Next(held, scratch)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			held = held[used:]
			if m.Kind == KindNone {
				break
			}
			m.Body = bytes.Clone(m.Body)
			out = append(out, m)
			if m.Kind == KindChangeCipherSpec || m.Kind == KindApplicationData {
				return out
			}
		}
		if n == 0 {
			if len(held) > 0 {
				t.Fatalf("%d bytes left unconsumed at the end", len(held))
			}
			break
		}
	}
	return out
}

func TestStreamRealHandshakes(t *testing.T) {
	cert, parsed := testCert(t)
	for _, tc := range []struct {
		name string
		max  uint16
	}{{"tls12", tls.VersionTLS12}, {"tls13", tls.VersionTLS13}} {
		client, server := goHandshake(t, tc.max, cert)
		for _, size := range []int{1, 7, 100, 1 << 20} {
			cm := walk(t, client, size)
			if len(cm) == 0 || cm[0].Kind != KindHandshake || cm[0].Type != TypeClientHello {
				t.Fatalf("%s/%d: client messages %+v, want a ClientHello first", tc.name, size, cm)
			}
			var ch ClientHello
			if err := ch.Parse(cm[0].Body); err != nil {
				t.Fatal(err)
			}
			if string(ch.SNI) != "www.example.test" || len(ch.ALPNs) != 2 {
				t.Errorf("%s/%d: SNI %q ALPNs %q", tc.name, size, ch.SNI, ch.ALPNs)
			}
			sm := walk(t, server, size)
			if len(sm) == 0 || sm[0].Type != TypeServerHello {
				t.Fatalf("%s/%d: server messages %+v", tc.name, size, sm)
			}
			var sh ServerHello
			if err := sh.Parse(sm[0].Body); err != nil {
				t.Fatal(err)
			}
			// TLS 1.3 sends the ALPN in the encrypted extensions.
			wantALPN := "http/1.1"
			if tc.max == tls.VersionTLS13 {
				wantALPN = ""
			}
			if sh.Version() != tc.max || string(sh.ALPN) != wantALPN {
				t.Errorf("%s/%d: ServerHello version %#x ALPN %q, want %#x %q", tc.name, size, sh.Version(), sh.ALPN, tc.max, wantALPN)
			}
			if tc.max == tls.VersionTLS13 {
				if len(sm) < 2 || sm[1].Kind != KindChangeCipherSpec && sm[1].Kind != KindApplicationData {
					t.Errorf("%s/%d: after a TLS 1.3 ServerHello: %+v, want encrypted records", tc.name, size, sm[1:])
				}
				continue
			}
			if len(sm) < 2 || sm[1].Type != TypeCertificate {
				t.Fatalf("%s/%d: %+v, want a Certificate after the ServerHello", tc.name, size, sm)
			}
			der := sm[1].Body[6:]
			if !bytes.Equal(der, parsed.Raw) {
				t.Fatalf("%s/%d: first certificate of %d bytes differs from the one served", tc.name, size, len(der))
			}
		}
	}
}

func TestStreamSkipsAndErrors(t *testing.T) {
	ch := handshake(TypeClientHello, specHello())
	// A ServerHelloDone-like message of another type and a large unknown
	// message before the ClientHello are skipped, across records.
	other := handshake(14, nil)
	big := handshake(4, make([]byte, 40000))
	stream := records(recordHandshake, append(append(append([]byte{}, other...), big...), ch...), 1000)
	msgs := walk(t, stream, 333)
	if len(msgs) != 1 || msgs[0].Type != TypeClientHello || !bytes.Equal(msgs[0].Body, specHello()) {
		t.Fatalf("got %d messages, want the ClientHello alone", len(msgs))
	}
	// A certificate list: only the list length and the first certificate
	// are returned; the rest of the message is skipped.
	cert1, cert2 := bytes.Repeat([]byte{1}, 3000), bytes.Repeat([]byte{2}, 70000)
	list := append(append([]byte{0, byte(len(cert1) >> 8), byte(len(cert1))}, cert1...), append([]byte{1, byte(len(cert2) >> 8), byte(len(cert2))}, cert2...)...)
	body := append([]byte{byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}, list...)
	stream = records(recordHandshake, append(handshake(TypeCertificate, body), handshake(14, nil)...), 16384)
	msgs = walk(t, stream, 1460)
	if len(msgs) != 1 || msgs[0].Type != TypeCertificate || !bytes.Equal(msgs[0].Body[6:], cert1) || msgs[0].Len != len(body) {
		t.Fatalf("certificate message: %d messages, want one with the first certificate only", len(msgs))
	}

	var s Stream
	if _, _, err := s.Next([]byte("GET / HTTP/1.1\r\n"), nil); !errors.Is(err, ErrNotTLS) {
		t.Errorf("HTTP: %v, want ErrNotTLS", err)
	}
	s = Stream{}
	// A handshake message cut by an alert record.
	half := records(recordHandshake, ch[:100], 100)
	half = append(half, recordAlert, 3, 3, 0, 2, 2, 40)
	if _, _, err := s.Next(half, nil); !errors.Is(err, ErrInterleaved) {
		t.Errorf("interleaved alert: %v, want ErrInterleaved", err)
	}
	s = Stream{}
	huge := handshake(TypeClientHello, make([]byte, MaxMessageLen+1))
	if _, _, err := s.Next(records(recordHandshake, huge, 16384), nil); !errors.Is(err, ErrTooLong) {
		t.Errorf("huge ClientHello: %v, want ErrTooLong", err)
	}
}

func TestCertificate(t *testing.T) {
	_, parsed := testCert(t)
	var c Certificate
	if err := c.Parse(parsed.Raw); err != nil {
		t.Fatal(err)
	}
	if got, want := string(AppendDN(nil, c.Subject)), "C=US, O=Sidewatch Test, CN=www.example.test"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if got, want := string(AppendDN(nil, c.Issuer)), "C=US, O=Sidewatch Test, CN=www.example.test"; got != want {
		t.Errorf("issuer %q, want %q (self-signed: the subject)", got, want)
	}
	if got, want := string(AppendSerial(nil, c.Serial)), "0A:1B:2C:3D:4E:5F"; got != want {
		t.Errorf("serial %q, want %q", got, want)
	}
	sum := sha1.Sum(parsed.Raw)
	if got, want := string(AppendFingerprint(nil, parsed.Raw)), hexColons(sum[:]); got != want {
		t.Errorf("fingerprint %q, want %q", got, want)
	}
	if got := string(c.NotBefore.Append(nil)); got != "2026-01-02T03:04:05" {
		t.Errorf("notbefore %q", got)
	}
	if got := string(c.NotAfter.Append(nil)); got != "2051-06-07T08:09:10" {
		t.Errorf("notafter %q (GeneralizedTime after 2049)", got)
	}
	var sans []string
	it := NewSANs(c.SAN)
	for kind, v, ok := it.Next(); ok; kind, v, ok = it.Next() {
		sans = append(sans, hex.EncodeToString([]byte{kind})+":"+string(v))
	}
	if got, want := strings.Join(sans, " "), "82:www.example.test 82:example.test 87:\x7f\x00\x00\x01"; got != want {
		t.Errorf("SANs %q, want %q", got, want)
	}
}

func hexColons(b []byte) string {
	var parts []string
	for _, c := range b {
		parts = append(parts, hex.EncodeToString([]byte{c}))
	}
	return strings.Join(parts, ":")
}

func TestAppendDN(t *testing.T) {
	name := func(rdns ...[][2][]byte) []byte {
		var out []byte
		for _, rdn := range rdns {
			var set []byte
			for _, a := range rdn {
				attr := append([]byte{0x06, byte(len(a[0]))}, a[0]...)
				attr = append(attr, a[1]...)
				set = append(set, append([]byte{0x30, byte(len(attr))}, attr...)...)
			}
			out = append(out, append([]byte{0x31, byte(len(set))}, set...)...)
		}
		return out
	}
	str := func(tag byte, s string) []byte { return append([]byte{tag, byte(len(s))}, s...) }
	cn, o, dc := []byte{0x55, 4, 3}, []byte{0x55, 4, 10}, []byte{0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19}
	tests := []struct {
		name string
		dn   []byte
		want string
	}{
		{"multi_valued_rdn", name([][2][]byte{{cn, str(0x0c, "a")}, {o, str(0x13, "b")}}, [][2][]byte{{dc, str(0x16, "com")}}), "CN=a + O=b, DC=com"},
		{"bmp_string", name([][2][]byte{{cn, []byte{0x1e, 4, 0, 'h', 0x26, 0x03}}}), "CN=h☃"},
		{"unknown_oid_and_type", name([][2][]byte{{[]byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x15, 0x07}, []byte{0x02, 2, 0x01, 0xff}}}), "1.3.6.1.4.1.311.21.7=01FF"},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendDN(nil, tt.dn)); got != tt.want {
				t.Errorf("AppendDN = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCertificateErrors(t *testing.T) {
	_, parsed := testCert(t)
	for _, n := range []int{0, 1, 4, 10, 30, len(parsed.Raw) / 2} {
		var c Certificate
		if err := c.Parse(parsed.Raw[:n]); !errors.Is(err, ErrBadCertificate) {
			t.Errorf("certificate cut to %d bytes: %v, want ErrBadCertificate", n, err)
		}
	}
}

func TestFingerprintsAllocateNothing(t *testing.T) {
	body := specHello()
	var h ClientHello
	var j JA4
	buf := make([]byte, 0, 1024)
	h.Parse(body)
	j.Append(buf[:0], &h)
	if n := testing.AllocsPerRun(100, func() {
		h.Parse(body)
		s := h.AppendJA3(buf[:0])
		AppendMD5Hex(s, s)
		j.Append(buf[:0], &h)
	}); n != 0 {
		t.Errorf("parse and fingerprint: %.1f allocations per hello, want 0", n)
	}
}

func BenchmarkClientHello(b *testing.B) {
	body := specHello()
	var h ClientHello
	var j JA4
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Parse(body); err != nil {
			b.Fatal(err)
		}
		s := h.AppendJA3(buf[:0])
		s = AppendMD5Hex(s, s)
		j.Append(s, &h)
	}
}

func FuzzStream(f *testing.F) {
	f.Add(records(recordHandshake, handshake(TypeClientHello, specHello()), 100), uint8(50))
	f.Add(records(recordHandshake, handshake(TypeCertificate, []byte{0, 0, 9, 0, 0, 6, 0x30, 4, 0x02, 2, 1, 2}), 5), uint8(3))
	f.Add([]byte{22, 3, 1, 0, 4, 2, 0, 0, 0, 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		size := int(chunk) + 1
		var s Stream
		var held []byte
		scratch := make([]byte, 0, 256)
		var ch ClientHello
		var sh ServerHello
		var c Certificate
		var j JA4
		for len(b) > 0 {
			n := min(size, len(b))
			held = append(held, b[:n]...)
			b = b[n:]
			for {
				m, used, err := s.Next(held, scratch)
				if used < 0 || used > len(held) {
					t.Fatalf("consumed %d of %d", used, len(held))
				}
				held = held[used:]
				if err != nil {
					return
				}
				if m.Kind == KindNone {
					break
				}
				switch m.Type {
				case TypeClientHello:
					if ch.Parse(m.Body) == nil {
						ch.AppendJA3(nil)
						j.Append(nil, &ch)
					}
				case TypeServerHello:
					if sh.Parse(m.Body) == nil {
						sh.AppendJA3S(nil)
					}
				case TypeCertificate:
					if len(m.Body) > 6 && c.Parse(m.Body[6:]) == nil {
						AppendDN(nil, c.Subject)
						AppendDN(nil, c.Issuer)
						it := NewSANs(c.SAN)
						for _, _, ok := it.Next(); ok; _, _, ok = it.Next() {
						}
					}
				}
			}
		}
	})
}

func FuzzCertificate(f *testing.F) {
	_, parsed := testCert(f)
	f.Add(parsed.Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		var c Certificate
		if c.Parse(der) != nil {
			return
		}
		AppendDN(nil, c.Subject)
		AppendDN(nil, c.Issuer)
		AppendSerial(nil, c.Serial)
		if c.NotBefore.Valid {
			if got := c.NotBefore.Append(nil); len(got) != len("2006-01-02T15:04:05") {
				t.Fatalf("notbefore %q", got)
			}
		}
	})
}
