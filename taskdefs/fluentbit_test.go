package taskdefs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	generator "github.com/awslabs/go-config-generator-for-fluentd-and-fluentbit"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// These tests run the log_router that inject writes with real Fluent Bit
// (5.1.1 and 1.9.10, the line of aws-for-fluent-bit 2.x): the ECS agent's
// own generator writes the FireLens config from the injected task
// definition, the real fluent-launch binary patches it and execs Fluent
// Bit with the golden command (minus the AWS image's Go plugins, which
// exist only in that image), records arrive over the FireLens unix socket
// as the log driver sends them, and a fake CloudWatch Logs endpoint (TLS,
// SigV4) receives what the cloudwatch_logs outputs send. The harness adds
// only Flush 1 and Grace 1, to keep the tests short.

// fluentBit returns the path of a Fluent Bit version, or "" when absent:
// $SIDEWATCH_FLUENT_BIT_<5_1_1>, else fluent-bit-<5.1.1> on PATH.
func fluentBit(version string) string {
	if p := os.Getenv("SIDEWATCH_FLUENT_BIT_" + strings.ReplaceAll(version, ".", "_")); p != "" {
		return p
	}
	p, _ := exec.LookPath("fluent-bit-" + version)
	return p
}

// launcherBin is cmd/fluent-launch built once for this test binary;
// TestMain removes its directory.
var launcherBin struct {
	once      sync.Once
	dir, path string
	err       error
}

func buildLauncher(t *testing.T) string {
	t.Helper()
	launcherBin.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			launcherBin.err = err
			return
		}
		if launcherBin.dir, err = os.MkdirTemp("", "sw-launcher-"); err != nil {
			launcherBin.err = err
			return
		}
		launcherBin.path = filepath.Join(launcherBin.dir, "fluent-launch")
		cmd := exec.Command(gobin, "build", "-trimpath", "-o", launcherBin.path, "github.com/sidewatch/sidewatch/cmd/fluent-launch")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			launcherBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if launcherBin.err != nil {
		t.Skipf("needs cmd/fluent-launch built: %v", launcherBin.err)
	}
	return launcherBin.path
}

// cloudWatchCall is one request to the fake CloudWatch Logs endpoint.
type cloudWatchCall struct {
	Action string // X-Amz-Target without the service prefix
	Region string // of the SigV4 credential scope
	Body   struct {
		LogGroupName  string `json:"logGroupName"`
		LogStreamName string `json:"logStreamName"`
		LogEvents     []struct {
			Message string `json:"message"`
		} `json:"logEvents"`
	}
}

// fakeCloudWatch is a TLS CloudWatch Logs endpoint on a random loopback
// address, port 443: Fluent Bit 1.9.10's cloudwatch_logs always connects
// there (5.1.1 also takes a port).
type fakeCloudWatch struct {
	host, caFile string
	serverErrors bytes.Buffer
	mu           sync.Mutex
	calls        []cloudWatchCall
}

func startFakeCloudWatch(t *testing.T) *fakeCloudWatch {
	t.Helper()
	f := &fakeCloudWatch{}
	var l net.Listener
	var err error
	for range 10 {
		f.host = fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(250), rand.IntN(256), 1+rand.IntN(250))
		if l, err = net.Listen("tcp", f.host+":443"); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("needs to listen on a loopback address, port 443 (root): %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c cloudWatchCall
		_, c.Action, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		// Credential=AKID/20261202/ca-central-1/logs/aws4_request
		if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			if parts := strings.Split(cred, "/"); len(parts) > 3 {
				c.Region = parts[2]
			}
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &c.Body)
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		// Fluent Bit 1.9.10 looks the header up case-sensitively.
		w.Header()["x-amzn-RequestId"] = []string{fmt.Sprintf("sidewatch-test-%d", len(f.calls))}
		io.WriteString(w, `{"nextSequenceToken":"1"}`)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ErrorLog = log.New(&f.serverErrors, "", 0)
	// Fluent Bit 1.9.10 fails TLS 1.3 with Go ("bad record MAC"), and
	// its cloudwatch_logs always verifies the server: a certificate for
	// this address, which the test's configs trust with tls.ca_file.
	cert, pemPath := testCertificate(t, f.host)
	f.caFile = pemPath
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return f
}

// testCertificate is a self-signed certificate for a loopback address,
// and the file holding it in PEM.
func testCertificate(t *testing.T, host string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		IPAddresses:           []net.IP{net.ParseIP(host)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
}

// events returns the messages put to a stream, and the regions used.
func (f *fakeCloudWatch) events(group, stream string) (msgs, regions []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Action == "PutLogEvents" && c.Body.LogGroupName == group && c.Body.LogStreamName == stream {
			for _, e := range c.Body.LogEvents {
				msgs = append(msgs, e.Message)
			}
			regions = append(regions, c.Region)
		}
	}
	return msgs, regions
}

func (f *fakeCloudWatch) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.calls)
	return string(b) + "\nserver errors: " + f.serverErrors.String()
}

// fireLensConfig writes the config ECS would generate for def, with the
// ECS agent's generator, its forward socket at sock. CloudWatch outputs
// point at the fake endpoint; one more output, file, keeps every record
// as it reaches the user's destinations.
func fireLensConfig(t *testing.T, def *Object, sock string, cw *fakeCloudWatch, allRecords string) string {
	t.Helper()
	cfg := generator.New()
	cfg.AddInput("forward", "", map[string]string{"unix_path": sock, "Mem_Buf_Limit": "25MB"})
	cfg.AddFieldToRecord("ecs_cluster", "batch-cluster", "*")
	cfg.AddFieldToRecord("ecs_task_arn", testTaskARN, "*")
	cfg.AddFieldToRecord("ecs_task_definition", def.String("family")+":3", "*")
	for _, c := range containers(def) {
		lc := c.Object("logConfiguration")
		if lc.String("logDriver") != "awsfirelens" || lc.Object("options") == nil {
			continue
		}
		opts := map[string]string{}
		for _, m := range lc.Object("options").All() {
			if m.Key != "Name" && m.Key != "log-driver-buffer-limit" {
				opts[m.Key] = m.Value.(string)
			}
		}
		if isCloudWatchPlugin(lc.Object("options").String("Name")) {
			opts["endpoint"] = cw.host
			opts["tls.ca_file"] = cw.caFile
		}
		cfg.AddOutput(lc.Object("options").String("Name"), c.String("name")+"-firelens*", opts)
	}
	cfg.AddOutput("file", "*", map[string]string{"Path": filepath.Dir(allRecords), "File": filepath.Base(allRecords), "Format": "plain"})
	var b bytes.Buffer
	if err := cfg.WriteFluentBitConfig(&b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fluent-bit.conf")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	testTaskID  = "4c3fd43e0a7e4c3c8f0e9a2d1b6c5e7f"
	testTaskARN = "arn:aws:ecs:ca-central-1:210987654321:task/batch-cluster/" + testTaskID
)

// fakeTaskMetadata serves TMDE v4 /task for fluent-launch --ecs-env.
func fakeTaskMetadata(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Cluster":"batch-cluster","TaskARN":%q,"Family":"batch-ec2","Revision":"3","LaunchType":"EC2"}`, testTaskARN)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v4/" + testTaskID + "-1234567890"
}

// sendForward sends records to a Fluent Bit forward input, one Message
// mode entry each, as the fluentd log driver does (EventTime, string map).
func sendForward(t *testing.T, sock, tag string, records []map[string]string) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	str := func(s string) {
		switch {
		case len(s) < 32:
			b.WriteByte(0xa0 | byte(len(s)))
		case len(s) < 256:
			b.Write([]byte{0xd9, byte(len(s))})
		default:
			b.WriteByte(0xda)
			binary.Write(&b, binary.BigEndian, uint16(len(s)))
		}
		b.WriteString(s)
	}
	now := time.Now()
	for i, rec := range records {
		b.WriteByte(0x93) // [tag, time, record]
		str(tag)
		b.Write([]byte{0xd7, 0x00}) // EventTime
		binary.Write(&b, binary.BigEndian, uint32(now.Unix()))
		binary.Write(&b, binary.BigEndian, uint32(i*1000))
		b.WriteByte(0x80 | byte(len(rec)))
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			str(k)
			str(rec[k])
		}
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// syslogListener collects what the router's syslog output sends.
type syslogListener struct {
	addr string
	mu   sync.Mutex
	buf  bytes.Buffer
}

func startSyslog(t *testing.T) *syslogListener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &syslogListener{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					s.mu.Lock()
					s.buf.Write(line)
					s.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *syslogListener) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// copies collects what the sidecar's forward receiver (the real one)
// gets from the router: "container: message" per record.
type copies struct {
	mu   sync.Mutex
	recs []string
}

func (c *copies) Publish(_ context.Context, ev event.Event) error {
	if ev.Log != nil {
		name, _, _ := strings.Cut(ev.Log.Tag, "-firelens-")
		c.mu.Lock()
		c.recs = append(c.recs, name+": "+strings.Clone(ev.Log.Message))
		c.mu.Unlock()
	}
	return nil
}

func (c *copies) Sync(context.Context) error { return nil }

func (c *copies) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.recs, "\n") + "\n"
}

// startForward runs the sidecar's forward receiver on a TCP port and a
// unix socket in dir, with its shared key there.
func startForward(t *testing.T, dir string) (*copies, forward.Config, string) {
	t.Helper()
	c := &copies{}
	cfg := forward.DefaultConfig()
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.KeyFile = filepath.Join(dir, forward.KeyName)
	cfg.UnixPath = filepath.Join(dir, forward.SocketName)
	r, err := forward.Listen(cfg, c, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	tcp, _ := r.Addrs()
	return c, cfg, tcp
}

// routerArgs turns the golden log_router command into fluent-launch's
// arguments for this machine: Fluent Bit and the configs given, the AWS
// image's Go plugins left out, the syslog copy sent to addr.
func routerArgs(t *testing.T, def *Object, fb, cfg, out, syslogAddr string, fwd forward.Config, fwdAddr string) []string {
	t.Helper()
	i := slices.IndexFunc(containers(def), func(c *Object) bool { return runsLauncher(c) })
	if i < 0 {
		t.Fatal("no log_router runs fluent-launch")
	}
	cmd := strList(containers(def)[i].Array("command"))
	host, port, _ := net.SplitHostPort(syslogAddr)
	fwdHost, fwdPort, _ := net.SplitHostPort(fwdAddr)
	forwardOut := slices.Contains(cmd, "forward")
	args := []string{"-r", fb, "-c", cfg, "-m", out, "-s", "Flush", "1", "-s", "Grace", "1"}
	for j := 0; j < len(cmd); j++ {
		a := cmd[j]
		switch {
		case a == "-e" && j+1 < len(cmd) && strings.HasPrefix(cmd[j+1], awsGoPluginDir):
			j++
			continue
		case a == "--key-file":
			args = append(args, a, fwd.KeyFile)
			j++
			continue
		case a == "storage.path" && j > 0 && cmd[j-1] == "-s":
			args = append(args, a, filepath.Join(filepath.Dir(out), "flb-storage"))
			j++
			continue
		case strings.HasPrefix(a, "Host=") && forwardOut:
			a = "Host=" + fwdHost
		case a == "Port="+forwardPort():
			a = "Port=" + fwdPort
		case strings.HasPrefix(a, "unix_path="):
			a = "unix_path=" + fwd.UnixPath
		case strings.HasPrefix(a, "Host="):
			a = "Host=" + host
		case a == "Port=1514":
			a = "Port=" + port
		}
		args = append(args, a)
	}
	return args
}

// runRouter starts fluent-launch, which becomes Fluent Bit, and stops it
// at the end of the test.
func runRouter(t *testing.T, args, env []string, sock string) *bytes.Buffer {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(buildLauncher(t), args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return &logs
		}
		select {
		case err := <-done:
			t.Fatalf("the log_router exited (%v) before listening:\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log_router did not listen on %s:\n%s", sock, logs.String())
		}
	}
}

// waitFor polls cond until it holds, or fails with what describe says.
func waitFor(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, describe())
		}
	}
}

type routerCase struct {
	golden string
	// versions it must run on; the others must refuse it at start.
	versions  []string
	refusedOn []string
	logs      map[string][]string // container -> lines it writes
	// want: "group stream" -> the events CloudWatch must get.
	want map[string][]string
	// region every PutLogEvents must be signed for.
	region string
	// in the copy to the sidecar: syslog lines, or the forward
	// receiver's "container: message"
	copies []string
}

var routerCases = []routerCase{
	{
		// 5, 6, 8, 9: each app's multiline options join its lines (and
		// only its lines) into one event, in CloudWatch and in the copy to
		// the sidecar; streams keep the awslogs names; no record gains a
		// "pid" key.
		golden:   "i05_i06_multiline_core_plugin",
		versions: []string{"5.1.1", "1.9.10"},
		logs: map[string][]string{
			"orders":        {"INFO starting", "ERROR payment failed", "java.lang.IllegalStateException: card expired", "    at shop.Pay.run(Pay.java:42)", "INFO retry"},
			"billing-batch": {"2026-12-02 06:00:00 run started", "Traceback (most recent call last):", `  File "batch.py", line 7`, "2026-12-02 06:00:01 run done"},
		},
		want: map[string][]string{
			"/ecs/orders-java orders/orders/" + testTaskID:       {"INFO starting", "ERROR payment failed\njava.lang.IllegalStateException: card expired\n    at shop.Pay.run(Pay.java:42)", "INFO retry"},
			"/ecs/orders-java batch/billing-batch/" + testTaskID: {"2026-12-02 06:00:00 run started\nTraceback (most recent call last):\n  File \"batch.py\", line 7", "2026-12-02 06:00:01 run done"},
		},
		region: "eu-west-1",
		copies: []string{"orders: ERROR payment failed\njava.lang.IllegalStateException: card expired\n", "billing-batch: 2026-12-02 06:00:00 run started\nTraceback"},
	},
	{
		// 8, 11: on EC2 the stream without a prefix is the container's
		// ID; without awslogs-region the task's region is used.
		golden:   "i08_i11_i12_ec2_core_plugin",
		versions: []string{"5.1.1", "1.9.10"},
		logs:     map[string][]string{"scheduler": {"tick"}, "runner": {"job 1 done"}},
		want: map[string][]string{
			"/ecs/batch " + containerID("scheduler"): {"tick"},
			"/ecs/batch runner/runner/" + testTaskID: {"job 1 done"},
		},
		copies: []string{"runner: job 1 done\n"},
	},
	{
		// 2: in bridge mode a 5.x router reaches the sidecar over the unix
		// socket in the shared volume, acknowledged.
		golden:   "i02_bridge_unix_socket",
		versions: []string{"5.1.1"},
		logs:     map[string][]string{"web": {"GET / 200"}},
		want:     map[string][]string{"/ecs/legacy-web web/web/" + testTaskID: {"GET / 200"}},
		region:   "us-east-1",
		copies:   []string{"web: GET / 200\n"},
	},
	{
		// 9: Fluent Bit 5.1.1 sets the PROCID with its preset; 1.9.10 has
		// no such option, so this command is only for 5.x.
		golden:    "i09_presets",
		versions:  []string{"5.1.1"},
		refusedOn: []string{"1.9.10"},
		logs:      map[string][]string{"geo": {"lookup ok"}},
		want:      map[string][]string{"/ecs/geo geo/geo/" + testTaskID: {"lookup ok"}},
		region:    "sa-east-1",
		copies:    []string{"geo[1]: lookup ok\n"},
	},
}

// containerID is the fake 64-hex Docker ID of a container.
func containerID(name string) string {
	return fmt.Sprintf("%064x", []byte(name))[:64]
}

func TestRouterInFluentBit(t *testing.T) {
	for _, rc := range routerCases {
		for _, v := range append(slices.Clone(rc.versions), rc.refusedOn...) {
			t.Run(rc.golden+"/"+v, func(t *testing.T) {
				fb := fluentBit(v)
				if fb == "" {
					t.Skipf("needs Fluent Bit %s (fluent-bit-%s on PATH or $SIDEWATCH_FLUENT_BIT_%s)", v, v, strings.ReplaceAll(v, ".", "_"))
				}
				def := readDef(t, filepath.Join("testdata", "inject", rc.golden+".golden.json"))
				dir := t.TempDir()
				sock := filepath.Join(dir, "fluent.sock")
				all := filepath.Join(dir, "all-records.txt")
				cw := startFakeCloudWatch(t)
				sl := startSyslog(t)
				cfg := fireLensConfig(t, def, sock, cw, all)
				out := filepath.Join(dir, "volume", "fluent-bit.conf")
				env := []string{"PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=AKIDSIDEWATCHTEST", "AWS_SECRET_ACCESS_KEY=sidewatch-test", "ECS_CONTAINER_METADATA_URI_V4=" + fakeTaskMetadata(t)}
				if rc.region != "" {
					env = append(env, "AWS_REGION="+rc.region) // as Fargate sets it
				}
				received, fwd, fwdAddr := startForward(t, filepath.Join(dir, "volume"))
				args := routerArgs(t, def, fb, cfg, out, sl.addr, fwd, fwdAddr)
				copied := sl.String
				if slices.Contains(args, "forward") {
					copied = received.String
				}
				if slices.Contains(rc.refusedOn, v) {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					cmd := exec.CommandContext(ctx, buildLauncher(t), args...)
					cmd.Env = env
					b, err := cmd.CombinedOutput()
					if ctx.Err() != nil {
						t.Fatalf("Fluent Bit %s kept running a command meant for 5.x:\n%s", v, b)
					}
					// Fluent Bit 1.9.10 sometimes exits before its log
					// thread writes the reason ("unknown configuration
					// property"): the exit status is the verdict.
					if err == nil {
						t.Errorf("Fluent Bit %s ran a command meant for 5.x:\n%s", v, b)
					}
					return
				}
				logs := runRouter(t, args, env, sock)
				for name, lines := range rc.logs {
					var recs []map[string]string
					for _, l := range lines {
						recs = append(recs, map[string]string{"container_id": containerID(name), "container_name": "/ecs-" + name, "source": "stdout", "log": l})
					}
					sendForward(t, sock, name+"-firelens-"+testTaskID, recs)
				}
				for key, want := range rc.want {
					group, stream, _ := strings.Cut(key, " ")
					waitFor(t, fmt.Sprintf("%d events in %s %s", len(want), group, stream), func() bool {
						got, _ := cw.events(group, stream)
						return len(got) >= len(want)
					}, func() string { return "CloudWatch calls: " + cw.String() + "\nFluent Bit:\n" + logs.String() })
					got, regions := cw.events(group, stream)
					if !slices.Equal(got, want) {
						t.Errorf("%s %s got events %q, want %q\ncalls: %s\n%s", group, stream, got, want, cw, logs)
					}
					wantRegion := rc.region
					if wantRegion == "" {
						wantRegion = "ca-central-1" // the task ARN's, via fluent-launch --ecs-env
					}
					for _, r := range regions {
						if r != wantRegion {
							t.Errorf("%s %s: request signed for region %q, want %q", group, stream, r, wantRegion)
						}
					}
				}
				for _, want := range rc.copies {
					waitFor(t, fmt.Sprintf("%q in the copy to the sidecar", want), func() bool { return strings.Contains(copied(), want) },
						func() string { return "copies: " + copied() + "\nFluent Bit:\n" + logs.String() })
				}
				// The user's destinations get the records without "pid".
				waitFor(t, "every record in the file output", func() bool {
					b, _ := os.ReadFile(all)
					return bytes.Count(b, []byte("\n")) >= len(rc.want)
				}, func() string { return logs.String() })
				b, _ := os.ReadFile(all)
				if bytes.Contains(b, []byte(`"pid"`)) {
					t.Errorf("records reaching the user's outputs carry a pid key:\n%s", b)
				}
				if p := filepath.Join(filepath.Dir(out), "multiline-parsers.conf"); strings.Contains(rc.golden, "multiline") {
					if _, err := os.Stat(p); err != nil {
						t.Errorf("fluent-launch wrote no parsers file: %v", err)
					}
				}
			})
		}
	}
}
