package applayer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// scenarios is the traffic of TestLiveTraffic and of the committed
// captures in testdata/.
func scenarios() []scenario {
	return []scenario{
		{name: "dns", tools: []string{"dnsmasq", "dig"}, serve: serveDNS, run: runDNS, check: checkDNS},
		{name: "http", tools: []string{"python3", "curl"}, serve: serveHTTP, run: runHTTP, check: checkHTTP},
		{name: "tls", tools: []string{"openssl", "curl"}, serve: serveTLS, run: runTLS, check: checkTLS},
		{name: "ssh", tools: []string{"sshd", "ssh", "ssh-keygen"}, serve: serveSSH, run: runSSH, check: checkSSH},
	}
}

// dnsQueries are the lookups of the dns scenario: name, type, and +tcp.
var dnsQueries = [][3]string{
	{"www.example.test", "A", ""},
	{"www.example.test", "AAAA", ""},
	{"alias.example.test", "A", ""},
	{"example.test", "MX", ""},
	{"example.test", "TXT", ""},
	{"_http._tcp.example.test", "SRV", ""},
	{"80.0.98.10.in-addr.arpa", "PTR", ""},
	{"missing.example.test", "A", ""},
	{"www.example.test", "A", "+tcp"},
}

func serveDNS(t *testing.T, l *lab) {
	l.daemon(t, l.server, l.listening(l.server, "udp", 53), "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--user=root", "--local-ttl=300", "--pid-file="+filepath.Join(l.dir, "dnsmasq.pid"), "--listen-address="+serverAddr, "--bind-interfaces",
		"--local=/example.test/", "--host-record=www.example.test,10.98.0.80,fd98::80", "--cname=alias.example.test,www.example.test",
		"--mx-host=example.test,mail.example.test,10", "--txt-record=example.test,v=spf1 -all,second string",
		"--srv-host=_http._tcp.example.test,www.example.test,8080,1,2")
}

func runDNS(t *testing.T, l *lab) {
	for _, q := range dnsQueries {
		args := []string{"dig", "@" + serverAddr, "+tries=1", "+time=2", q[0], q[1]}
		if q[2] != "" {
			args = append(args, q[2])
		}
		l.in(t, l.client, args...)
	}
}

func checkDNS(t *testing.T, evs []event.Event) {
	var got []string
	for _, ev := range evs {
		d := ev.DNS
		if d == nil {
			t.Errorf("not a dns event: %s", ev.AppendJSON(nil))
			continue
		}
		line := d.Type + " " + d.Queries[0].RRName + " " + d.Queries[0].RRType + " " + d.Rcode
		for _, a := range d.Answers {
			line += " " + a.RRType + "=" + a.RData
			if a.SRV != nil {
				line += a.SRV.Name
			}
		}
		got = append(got, line)
	}
	for _, want := range []string{
		"request www.example.test A NOERROR",
		"response www.example.test A NOERROR A=10.98.0.80",
		"response www.example.test AAAA NOERROR AAAA=fd98:0000:0000:0000:0000:0000:0000:0080",
		"response alias.example.test A NOERROR CNAME=www.example.test A=10.98.0.80",
		"response example.test MX NOERROR MX=mail.example.test",
		"response example.test TXT NOERROR TXT=v=spf1 -all TXT=second string",
		"response _http._tcp.example.test SRV NOERROR SRV=www.example.test",
		"response 80.0.98.10.in-addr.arpa PTR NOERROR PTR=www.example.test",
		"response missing.example.test A NXDOMAIN",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no dns event %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	tcp := 0
	for _, ev := range evs {
		if ev.Proto == "TCP" {
			tcp++
		}
	}
	if tcp != 2 {
		t.Errorf("%d dns events over TCP, want the query and its response", tcp)
	}
}

// httpServer is a keep-alive HTTP/1.1 server: chunked, redirect, 404,
// large, HEAD and POST (with 100 Continue) responses.
const httpServer = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, ctype, body, extra=(), head=False):
        self.send_response(code)
        if ctype: self.send_header("Content-Type", ctype)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head: self.wfile.write(body)
    def route(self, head):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/redirect":
            self.reply(302, None, b"", (("Location", "/landing"),), head)
        elif self.path == "/missing":
            self.reply(404, "text/plain", b"not here\n", (), head)
        elif self.path == "/large":
            self.reply(200, "application/octet-stream", b"x" * 20000, (), head)
        else:
            self.reply(200, "text/html", b"<html>sidewatch</html>\n", (), head)
    def do_GET(self): self.route(False)
    def do_HEAD(self): self.route(True)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(201, "application/json", b'{"ok":true}')
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
`

// pipelined sends two requests in one write and reads until close.
const pipelined = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /pipelined-1 HTTP/1.1\r\nHost: svc.example.test\r\nUser-Agent: pipeliner/1\r\n\r\n"
          b"GET /chunked HTTP/1.1\r\nHost: svc.example.test\r\nUser-Agent: pipeliner/1\r\nConnection: close\r\n\r\n")
while s.recv(65536): pass
`

func serveHTTP(t *testing.T, l *lab) {
	script := filepath.Join(l.dir, "server.py")
	if err := os.WriteFile(script, []byte(httpServer), 0o644); err != nil {
		t.Fatal(err)
	}
	l.daemon(t, l.server, l.listening(l.server, "tcp", 8080), "python3", script, serverAddr, "8080")
}

func runHTTP(t *testing.T, l *lab) {
	base := "http://" + serverAddr + ":8080"
	l.in(t, l.client, "curl", "-sS", "-o", "/dev/null", "-A", "sidewatch-test/1.0", "-H", "Referer: http://svc.example.test/", "-H", "X-Forwarded-For: 203.0.113.7",
		base+"/", base+"/chunked", base+"/redirect", base+"/missing")
	body := filepath.Join(l.dir, "upload.bin")
	if err := os.WriteFile(body, bytes.Repeat([]byte("u"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	l.in(t, l.client, "curl", "-sS", "-o", "/dev/null", "--data-binary", "@"+body, base+"/upload")
	l.in(t, l.client, "curl", "-sS", "-o", "/dev/null", "-I", "--resolve", "svc.example.test:8080:"+serverAddr, "http://svc.example.test:8080/large")
	script := filepath.Join(l.dir, "pipelined.py")
	if err := os.WriteFile(script, []byte(pipelined), 0o644); err != nil {
		t.Fatal(err)
	}
	l.in(t, l.client, "python3", script, serverAddr, "8080")
}

func checkHTTP(t *testing.T, evs []event.Event) {
	var got []string
	for _, ev := range evs {
		h := ev.HTTP
		if h == nil {
			t.Errorf("not an http event: %s", ev.AppendJSON(nil))
			continue
		}
		got = append(got, strings.Join([]string{h.HTTPMethod, h.Hostname, h.URL, h.Protocol, strconv.Itoa(h.Status), strconv.FormatInt(h.Length, 10), h.HTTPContentType, h.Redirect, h.HTTPUserAgent}, " "))
	}
	for _, want := range []string{
		"GET 10.98.0.2 / HTTP/1.1 200 23 text/html  sidewatch-test/1.0",
		"GET 10.98.0.2 /chunked HTTP/1.1 200 19 text/plain  sidewatch-test/1.0",
		"GET 10.98.0.2 /redirect HTTP/1.1 302 0  /landing sidewatch-test/1.0",
		"GET 10.98.0.2 /missing HTTP/1.1 404 9 text/plain  sidewatch-test/1.0",
		"POST 10.98.0.2 /upload HTTP/1.1 201 11 application/json  curl/7.88.1",
		"HEAD svc.example.test /large HTTP/1.1 200 0 application/octet-stream  curl/7.88.1",
		"GET svc.example.test /pipelined-1 HTTP/1.1 200 23 text/html  pipeliner/1",
		"GET svc.example.test /chunked HTTP/1.1 200 19 text/plain  pipeliner/1",
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, strings.TrimSuffix(want, "curl/7.88.1")) }) {
			t.Errorf("no http event %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func serveTLS(t *testing.T, l *lab) {
	cert, key := filepath.Join(l.dir, "cert.pem"), filepath.Join(l.dir, "key.pem")
	run(t, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
		"-days", "3650", "-subj", "/C=US/O=Sidewatch Test/CN="+tlsName, "-addext", "subjectAltName=DNS:"+tlsName+",IP:"+serverAddr,
		"-set_serial", "0x5157ea7c4")
	l.daemon(t, l.server, l.listening(l.server, "tcp", 8443), "openssl", "s_server", "-accept", serverAddr+":8443", "-cert", cert, "-key", key,
		"-www", "-alpn", "http/1.1", "-quiet")
}

func runTLS(t *testing.T, l *lab) {
	resolve := tlsName + ":8443:" + serverAddr
	l.in(t, l.client, "curl", "-sSk", "-o", "/dev/null", "--resolve", resolve, "--tlsv1.2", "--tls-max", "1.2", "https://"+tlsName+":8443/")
	l.in(t, l.client, "curl", "-sSk", "-o", "/dev/null", "--resolve", resolve, "--tlsv1.3", "https://"+tlsName+":8443/")
	// By address: no SNI.
	l.in(t, l.client, "curl", "-sSk", "-o", "/dev/null", "--tlsv1.2", "--tls-max", "1.2", "https://"+serverAddr+":8443/")
}

func checkTLS(t *testing.T, evs []event.Event) {
	var got []string
	for _, ev := range evs {
		s := ev.TLS
		if s == nil {
			t.Errorf("not a tls event: %s", ev.AppendJSON(nil))
			continue
		}
		got = append(got, strings.Join([]string{s.Version, s.SNI, s.Subject, s.Serial, strings.Join(s.ServerALPNs, ","), s.JA4[:4]}, "|"))
	}
	want := []string{
		"TLS 1.2|svc.example.test|C=US, O=Sidewatch Test, CN=svc.example.test|05:15:7E:A7:C4|http/1.1|t12d",
		"TLS 1.2||C=US, O=Sidewatch Test, CN=svc.example.test|05:15:7E:A7:C4|http/1.1|t12i",
		"TLS 1.3|svc.example.test||||t13d",
	}
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tls events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func serveSSH(t *testing.T, l *lab) {
	key := filepath.Join(l.dir, "hostkey")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
	cfg := filepath.Join(l.dir, "sshd_config")
	conf := "Port 2222\nListenAddress " + serverAddr + "\nHostKey " + key + "\nPidFile none\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Fatal(err)
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		t.Fatal(err)
	}
	l.daemon(t, l.server, l.listening(l.server, "tcp", 2222), sshd, "-D", "-e", "-f", cfg)
}

func runSSH(t *testing.T, l *lab) {
	// No key is accepted: the connection ends at authentication, after the
	// identification strings and key exchange.
	exec.Command("ip", "netns", "exec", l.client, "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-p", "2222", "nobody@"+serverAddr, "true").Run()
}

func checkSSH(t *testing.T, evs []event.Event) {
	if len(evs) != 1 || evs[0].SSH == nil {
		t.Fatalf("%d events, want one ssh event: %v", len(evs), evs)
	}
	s := evs[0].SSH
	if s.Client == nil || s.Server == nil || s.Client.ProtoVersion != "2.0" || !strings.HasPrefix(s.Server.SoftwareVersion, "OpenSSH_") ||
		s.Client.HASSH == nil || s.Server.HASSH == nil || len(s.Client.HASSH.Hash) != 32 {
		t.Errorf("ssh event %s", evs[0].AppendJSON(nil))
	}
}
