package syslog

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const good = "<14>Nov 14 22:13:20 abc123 web[1]: still working\n"

// stillWorks sends one well-formed record on a fresh connection and checks
// that it arrives.
func (h *harness) stillWorks(t *testing.T) {
	t.Helper()
	n := h.col.len()
	tcp, _ := h.r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(good)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the record", func() bool { return h.col.len() > n })
	evs := h.col.snapshot()
	if len(evs) != n+1 || evs[n].Log.Message != "still working" {
		t.Fatalf("after abuse: got %d events, want %d ending with %q", len(evs), n+1, "still working")
	}
}

func TestAbuse(t *testing.T) {
	garbage := make([]byte, 1<<20)
	rng := mrand.NewChaCha8([32]byte{1})
	rng.Read(garbage)

	tests := []struct {
		name   string
		stream []byte
		check  func(t *testing.T, h *harness)
	}{
		{"binary_garbage", garbage, func(t *testing.T, h *harness) {
			if h.r.m.parseErrors.Load() == 0 {
				t.Errorf("parse errors = 0 after 1 MiB of random bytes, want > 0")
			}
			for _, ev := range h.col.snapshot() {
				if b := ev.AppendJSON(nil); !json.Valid(b) {
					t.Fatalf("invalid JSON event %q", b)
				}
			}
		}},
		{"invalid_utf8", []byte("<14>Nov 14 22:13:20 abc123 web[1]: bad \xff\xfe\xc3 bytes\n"), func(t *testing.T, h *harness) {
			evs := h.col.snapshot()
			if len(evs) != 1 || evs[0].Log.Message != "bad \xff\xfe\xc3 bytes" {
				t.Fatalf("got %d events, want the one message kept byte for byte", len(evs))
			}
			var v map[string]any
			if err := json.Unmarshal(evs[0].AppendJSON(nil), &v); err != nil {
				t.Errorf("event JSON: %v", err)
			}
		}},
		{"ten_mib_line_without_newline", append([]byte("<14>Nov 14 22:13:20 abc123 web[1]: "), bytes.Repeat([]byte("A"), 10<<20)...), func(t *testing.T, h *harness) {
			evs := h.col.snapshot()
			if len(evs) != 1 || !evs[0].Log.Truncated {
				t.Fatalf("got %d events, want 1 truncated", len(evs))
			}
			if got, max := len(evs[0].Log.Message), DefaultConfig().maxFrame(); got > max {
				t.Errorf("message of %d bytes exceeds the frame limit %d", got, max)
			}
			if h.r.m.truncated.Load() != 1 {
				t.Errorf("truncated counter = %d, want 1", h.r.m.truncated.Load())
			}
		}},
		{"octet_count_999999999", append([]byte("999999999 <14>Nov 14 22:13:20 abc123 web[1]: "), bytes.Repeat([]byte("B"), 2<<20)...), func(t *testing.T, h *harness) {
			evs := h.col.snapshot()
			if len(evs) != 1 || !evs[0].Log.Truncated || evs[0].ECS.Container.ID != "abc123" {
				t.Fatalf("got %d events, want 1 truncated from abc123", len(evs))
			}
			if h.r.m.oversizeOctetCount.Load() != 1 || h.r.m.shortFrame.Load() != 1 {
				t.Errorf("oversize, short frame counters = %d, %d; want 1, 1", h.r.m.oversizeOctetCount.Load(), h.r.m.shortFrame.Load())
			}
		}},
		{"invalid_octet_count", []byte("12345678901 x\n"), func(t *testing.T, h *harness) {
			if got := h.col.messages(); len(got) != 1 || got[0] != "12345678901 x" {
				t.Errorf("messages = %q, want the line kept", got)
			}
			if h.r.m.invalidOctetCount.Load() != 1 {
				t.Errorf("invalid octet count counter = %d, want 1", h.r.m.invalidOctetCount.Load())
			}
		}},
		{"nul_bytes_and_crlf", []byte("<14>Nov 14 22:13:20 abc123 web[1]: a\x00b\r\n"), func(t *testing.T, h *harness) {
			if got := h.col.messages(); len(got) != 1 || got[0] != "a\x00b\r" {
				t.Errorf("messages = %q, want [\"a\\x00b\\r\"]", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, testConfig(), fixedNow)
			h.sendTCP(t, tt.stream)
			tt.check(t, h)
			h.stillWorks(t)
		})
	}
}

func TestSlowloris(t *testing.T) {
	h := start(t, testConfig(), fixedNow)
	tcp, _ := h.r.Addrs()
	line := []byte("<14>Nov 14 22:13:20 abc123 web[1]: slow\n")
	var wg sync.WaitGroup
	for range 8 {
		c, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			for _, b := range line[:20] { // never finishes the line
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Other senders are not held up by the slow ones.
	for range 5 {
		h.stillWorks(t)
	}
	wg.Wait()
	waitFor(t, "the slow connections to end", func() bool { return h.r.m.closedEOF.Load() == 13 })
	if got := h.col.len(); got != 13 {
		t.Errorf("got %d events, want 13 (5 whole records, 8 partial lines kept at close)", got)
	}
}

func TestManyConnects(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 8
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()
	const n = 2000
	var (
		wg     sync.WaitGroup
		dialed atomic.Uint64
	)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				c, err := net.Dial("tcp", tcp.String())
				if err != nil {
					continue // the backlog may overflow; the receiver must not care
				}
				dialed.Add(1)
				c.Close()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	// A Dial that failed on the client side (its SYN retried, the backlog
	// full) may still have been accepted.
	for !(h.r.guard.Open() == 0 && h.r.m.accepted.Load() >= dialed.Load() && h.closed() == h.r.m.accepted.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: dialed %d, accepted %d, closed %d, open %d", dialed.Load(), h.r.m.accepted.Load(), h.closed(), h.r.guard.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A client descheduled between Dial and Close for longer than the
	// guard's minimum read wait is, for that moment, an idle connection
	// and may rightly be evicted: on a loaded machine one in a thousand
	// is. Counting closed connections against the cap evicts hundreds.
	const tolerated = n / 1000
	if e, eof := h.r.m.closedEvicted.Load(), h.r.m.closedEOF.Load(); e > tolerated || eof+e != h.r.m.accepted.Load() {
		t.Errorf("%d connections evicted, %d of %d ended by EOF; want at most %d evicted and the rest EOF: a connection closed by its peer never costs another its slot", e, eof, h.r.m.accepted.Load(), tolerated)
	}
	h.stillWorks(t)
}

func TestHalfClosedSender(t *testing.T) {
	h := start(t, testConfig(), fixedNow)
	tcp, _ := h.r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("<14>Nov 14 22:13:20 abc123 web[1]: unterminated")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	waitFor(t, "the record", func() bool { return h.col.len() == 1 })
	if got := h.col.messages()[0]; got != "unterminated" {
		t.Errorf("message = %q, want %q", got, "unterminated")
	}
}

func TestIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 50 * time.Millisecond // below the user minimum; listen skips Validate
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the idle close", func() bool { return h.r.m.closedIdle.Load() == 1 })
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	cfg := testConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	h := start(t, cfg, fixedNow)
	tcp, _ := h.r.Addrs()

	c, err := tls.Dial("tcp", tcp.String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	// A multi-line record is emitted after the quiet period: a read
	// timeout must not break the TLS connection.
	if _, err := c.Write([]byte(good + "\tcontinued\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the TLS record", func() bool { return h.col.len() == 1 })
	if _, err := c.Write([]byte(good)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the second TLS record", func() bool { return h.col.len() == 2 })
	for i, want := range []string{"still working\n\tcontinued", "still working"} {
		if ev := h.col.snapshot()[i]; ev.Log.Message != want || ev.Log.Transport != "tls" {
			t.Errorf("event %d log = %+v, want message %q over tls", i, ev.Log, want)
		}
	}

	// Plain text on the TLS port fails the handshake and is counted.
	plain, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	plain.Write([]byte(good))
	defer plain.Close()
	waitFor(t, "the handshake failure", func() bool { return h.r.m.tlsHandshake.Load() == 1 })
	if got := h.col.len(); got != 2 {
		t.Errorf("got %d events, want 2 (plain text is not read as records)", got)
	}
}

// writeCert writes a self-signed certificate for localhost.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestUDPBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = minMessageSize
	h := start(t, cfg, fixedNow)
	big := append([]byte("<14>Nov 14 22:13:20 abc123 web[1]: "), bytes.Repeat([]byte("u"), 60000)...)
	h.sendUDP(t, big)
	h.sendUDP(t, []byte("\x00\x01\x02 not syslog\n"))
	evs := h.col.snapshot()
	if !evs[0].Log.Truncated || len(evs[0].Log.Message) > cfg.maxFrame() {
		t.Errorf("oversize datagram: truncated %v, message %d bytes; want truncated within %d", evs[0].Log.Truncated, len(evs[0].Log.Message), cfg.maxFrame())
	}
	if evs[1].Log.ParseError != errNoHeader || evs[1].Log.Message != "\x00\x01\x02 not syslog" {
		t.Errorf("garbage datagram: log = %+v, want the raw text with parse error %q", evs[1].Log, errNoHeader)
	}
}

// refusing is a Publisher whose pipeline has closed.
type refusing struct{ calls atomic.Int64 }

func (r *refusing) Publish(context.Context, event.Event) error {
	r.calls.Add(1)
	return errors.New("pipeline closed")
}

func TestPublishFailureCounted(t *testing.T) {
	pub := &refusing{}
	r, stop := serve(t, testConfig(), pub, metrics.New(), fixedNow)
	h := &harness{r: r, col: &collector{}}
	defer stop(time.Second)
	h.sendTCP(t, []byte(good+good))
	if got := r.m.publishLost.Load(); got != 2 || pub.calls.Load() != 2 {
		t.Errorf("dropped{publish_failed} = %d after %d refused publishes, want 2", got, pub.calls.Load())
	}
}
