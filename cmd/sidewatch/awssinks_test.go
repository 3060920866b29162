//go:build !sidecaronly

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// awsWorld is moto with a bucket, a log group and a delivery stream whose
// destination is a second bucket.
type awsWorld struct {
	moto          *mototest.Server
	s3            *s3api.Client
	logs          *cwl.Client
	bucket, group string
	stream        string // firehose
	fhBucket      string
}

func newAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	m, err := mototest.Start()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(m.Close)
	mototest.SetEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := &awsWorld{moto: m, bucket: "sw-events", group: "/sidewatch/alerts", stream: "sw-stream", fhBucket: "sw-firehose-dest"}
	w.s3 = s3api.NewFromConfig(cfg, func(o *s3api.Options) {
		o.BaseEndpoint, o.UsePathStyle, o.DisableLogOutputChecksumValidationSkipped = &m.URL, true, true
	})
	w.logs = cwl.NewFromConfig(cfg, func(o *cwl.Options) { o.BaseEndpoint = &m.URL })
	ctx := context.Background()
	for _, b := range []string{w.bucket, w.fhBucket} {
		if _, err := w.s3.CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.logs.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &w.group}); err != nil {
		t.Fatal(err)
	}
	fhc := fh.NewFromConfig(cfg, func(o *fh.Options) { o.BaseEndpoint = &m.URL })
	if _, err := fhc.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: &w.stream,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + w.fhBucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/fh")}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// env configures the three sinks with environment variables only, as a
// task definition would, against endpoint.
func (w *awsWorld) env(endpoint, spoolDir string) []string {
	return append(mototest.Env(),
		"SIDEWATCH_SINK=stdout,s3,cloudwatch,firehose",
		"SIDEWATCH_SPOOL_DIR="+spoolDir,
		"SIDEWATCH_S3_BUCKET="+w.bucket, "SIDEWATCH_S3_ENDPOINT_URL="+endpoint, "SIDEWATCH_S3_MAX_OBJECT_AGE=2s",
		"SIDEWATCH_CLOUDWATCH_LOG_GROUP="+w.group, "SIDEWATCH_CLOUDWATCH_LOG_STREAM=task-1",
		"SIDEWATCH_CLOUDWATCH_EVENT_TYPES=log", "SIDEWATCH_CLOUDWATCH_ENDPOINT_URL="+endpoint,
		"SIDEWATCH_FIREHOSE_DELIVERY_STREAM="+w.stream, "SIDEWATCH_FIREHOSE_ENDPOINT_URL="+endpoint,
		"SIDEWATCH_AWS_MAX_BACKOFF=1s", "SIDEWATCH_AWS_ATTEMPT_TIMEOUT=5s",
		"ECS_CONTAINER_METADATA_URI_V4=",
	)
}

// bucketLines returns the lines of every object in bucket, objects in key
// order, gunzipped when gzip.
func (w *awsWorld) bucketLines(t *testing.T, bucket string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	p := s3api.NewListObjectsV2Paginator(w.s3, &s3api.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			get, err := w.s3.GetObject(ctx, &s3api.GetObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader = get.Body
			if strings.HasSuffix(*o.Key, ".gz") {
				if r, err = gzip.NewReader(get.Body); err != nil {
					t.Fatalf("%s: %v", *o.Key, err)
				}
			}
			b, err := io.ReadAll(r)
			get.Body.Close()
			if err != nil {
				t.Fatalf("%s: %v", *o.Key, err)
			}
			out = append(out, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		}
	}
	return out
}

func (w *awsWorld) streamLines(t *testing.T, stream string) []string {
	t.Helper()
	var out []string
	var token *string
	for {
		resp, err := w.logs.GetLogEvents(context.Background(), &cwl.GetLogEventsInput{LogGroupName: &w.group, LogStreamName: &stream, StartFromHead: aws.Bool(true), NextToken: token})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		for _, e := range resp.Events {
			out = append(out, *e.Message)
		}
		if len(resp.Events) == 0 {
			return out
		}
		token = resp.NextForwardToken
	}
}

// runningSidecar is a running `sidewatch run`.
type runningSidecar struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	syslog         string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSidecar(t *testing.T, bin string, env []string) *runningSidecar {
	t.Helper()
	s := &runningSidecar{stdout: &syncBuffer{}, stderr: &syncBuffer{}, syslog: freeAddr(t)}
	s.cmd = exec.Command(bin, "run", "--no-launcher", "--stats-interval", "0")
	s.cmd.Env = append(env, "SIDEWATCH_HEALTH_ADDR="+freeAddr(t), "SIDEWATCH_SYSLOG_TCP_ADDR="+s.syslog,
		"SIDEWATCH_SYSLOG_UDP_ADDR=", "SIDEWATCH_NO_CAPTURE=true", "SIDEWATCH_LOG_FORMAT=json")
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	return s
}

// send writes n syslog lines numbered from first, pausing between
// them, and returns once the sidecar has read them (TCP backpressure).
func (s *runningSidecar) send(t *testing.T, first, n int, pause time.Duration) {
	t.Helper()
	var conn net.Conn
	for deadline := time.Now().Add(10 * time.Second); conn == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("syslog never listened; stderr:\n%s", s.stderr.String())
		}
		conn, _ = net.Dial("tcp", s.syslog)
	}
	defer conn.Close()
	for i := first; i < first+n; i++ {
		fmt.Fprintf(conn, "<14>%s host app[1]: message %06d %s\n", time.Now().UTC().Format(time.Stamp), i, strings.Repeat("x", 200))
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

func (s *runningSidecar) stop(t *testing.T) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run after SIGTERM: %v; stderr:\n%s", err, s.stderr.String())
	}
}

// lines returns stdout's events, only those with event_type in types when
// given.
func lines(out string, types ...string) []string {
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		_, typ, _ := spool.Head(sc.Bytes())
		if len(types) == 0 || slices.Contains(types, typ) {
			got = append(got, sc.Text())
		}
	}
	return got
}

func sameLines(t *testing.T, what string, got, want []string, ordered bool) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	if !ordered {
		slices.Sort(g)
		slices.Sort(w)
	}
	if !slices.Equal(g, w) {
		missing, extra := 0, 0
		for _, l := range w {
			if !slices.Contains(g, l) {
				missing++
			}
		}
		for _, l := range g {
			if !slices.Contains(w, l) {
				extra++
			}
		}
		t.Errorf("%s: %d lines, want %d (the events on stdout); %d missing, %d not on stdout, ordered=%v", what, len(g), len(w), missing, extra, ordered)
	}
}

// TestRunDeliversToAWS configures the sinks with environment variables only
// (alerts-style filter on CloudWatch: logs only) and checks that what each
// service holds equals the events on stdout.
func TestRunDeliversToAWS(t *testing.T) {
	w := newAWSWorld(t)
	bin := buildSidewatch(t)
	sc := startSidecar(t, bin, w.env(w.moto.URL, t.TempDir()))
	sc.send(t, 0, 500, 0)
	sc.stop(t)
	all := lines(sc.stdout.String())
	logs := lines(sc.stdout.String(), "log")
	if len(logs) != 500 {
		t.Fatalf("stdout has %d log events, want 500; stderr:\n%s", len(logs), sc.stderr.String())
	}
	sameLines(t, "s3", w.bucketLines(t, w.bucket), all, true)
	sameLines(t, "cloudwatch", w.streamLines(t, "task-1"), logs, true)
	sameLines(t, "firehose", w.bucketLines(t, w.fhBucket), all, false)
}

// faultProxy forwards to moto, or answers throttling errors, 500s, or is
// down (connection refused), as mode says.
type faultProxy struct {
	addr  string
	ln    net.Listener
	srv   *http.Server
	mode  atomic.Value // "pass", "throttle", "500"
	mu    sync.Mutex
	count map[string]int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, _ := url.Parse(target)
	p := &faultProxy{addr: freeAddr(t), count: map[string]int{}}
	p.mode.Store("pass")
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := p.mode.Load().(string)
		p.mu.Lock()
		p.count[mode]++
		p.mu.Unlock()
		s3 := r.Header.Get("X-Amz-Target") == ""
		switch {
		case mode == "throttle" && s3:
			w.WriteHeader(503)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		case mode == "throttle":
			w.Header().Set("X-Amzn-Errortype", "ThrottlingException")
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
		case mode == "500":
			w.WriteHeader(500)
			io.WriteString(w, `{"__type":"InternalFailure","message":"boom"}`)
		default:
			rp.ServeHTTP(w, r)
		}
	})}
	p.up(t)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *faultProxy) up(t *testing.T) {
	var err error
	for range 50 {
		if p.ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go p.srv.Serve(p.ln)
}

// down closes the listener: connections are refused.
func (p *faultProxy) down() { p.ln.Close() }

// TestRunFaultsLoseNothing runs the three sinks through a proxy that
// throttles, then answers 500s, then is down (connection refused) for
// SIDEWATCH_TEST_OUTAGE (default 5s; CI sets 30s), while logs keep coming;
// afterwards every service has every event, in order for S3 and CloudWatch
// Logs.
func TestRunFaultsLoseNothing(t *testing.T) {
	outage := 5 * time.Second
	if v := os.Getenv("SIDEWATCH_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		outage = d
	}
	w := newAWSWorld(t)
	bin := buildSidewatch(t)
	proxy := newFaultProxy(t, w.moto.URL)
	sc := startSidecar(t, bin, w.env("http://"+proxy.addr, t.TempDir()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.send(t, 0, 1000, outage/500+6*time.Millisecond)
	}()
	time.Sleep(time.Second)
	proxy.mode.Store("throttle")
	time.Sleep(2 * time.Second)
	proxy.mode.Store("500")
	time.Sleep(2 * time.Second)
	proxy.mode.Store("pass")
	proxy.down()
	time.Sleep(outage)
	proxy.up(t)
	<-done
	time.Sleep(3 * time.Second) // the last backoff is at most 1s
	sc.stop(t)
	proxy.mu.Lock()
	t.Logf("proxy answered %v; outage %s", proxy.count, outage)
	proxy.mu.Unlock()
	if proxy.count["throttle"] == 0 || proxy.count["500"] == 0 {
		t.Errorf("the faults were not exercised: %v", proxy.count)
	}
	all := lines(sc.stdout.String())
	logs := lines(sc.stdout.String(), "log")
	if len(logs) != 1000 {
		t.Fatalf("stdout has %d log events, want 1000", len(logs))
	}
	sameLines(t, "s3", w.bucketLines(t, w.bucket), all, true)
	sameLines(t, "cloudwatch", w.streamLines(t, "task-1"), logs, true)
	sameLines(t, "firehose", w.bucketLines(t, w.fhBucket), all, false)
}

// TestRunKill9WithFullSpool fills the s3 sink's spool while S3 is down,
// kills the sidecar with SIGKILL, then restarts it with S3 back: every event
// the spool held is delivered at least once, and duplicates are counted.
func TestRunKill9WithFullSpool(t *testing.T) {
	w := newAWSWorld(t)
	bin := buildSidewatch(t)
	proxy := newFaultProxy(t, w.moto.URL)
	proxy.down()
	spoolDir := t.TempDir()
	env := append(w.env("http://"+proxy.addr, spoolDir), "SIDEWATCH_SINK=s3", "SIDEWATCH_SPOOL_MAX_BYTES=1048576", "SIDEWATCH_S3_MAX_OBJECT_BYTES=262144")
	sc := startSidecar(t, bin, env)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sc.send(t, 0, 20000, 0) // ~5 MB into a 1 MiB spool: blocks when full
	}()
	// Wait until the spool is full and the sender blocked.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("spool never filled; stderr:\n%s", sc.stderr.String())
		}
		if spoolBytes(spoolDir+"/s3") > 1<<20-64<<10 {
			break
		}
	}
	sc.cmd.Process.Kill()
	sc.cmd.Wait()
	<-sent

	// What the spool holds after the crash (as the restart will see it).
	sp, err := spool.Open(spoolDir+"/s3", 1<<20, "check", metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	var spooled []string
	for {
		r, ok, _, err := sp.TryRead()
		if err != nil || !ok {
			break
		}
		spooled = append(spooled, string(r.Line))
	}
	sp.Close()
	if len(spooled) < 1000 {
		t.Fatalf("spool holds %d events after the kill, want a full spool (≥ 1000)", len(spooled))
	}

	proxy.up(t)
	sc2 := startSidecar(t, bin, env)
	time.Sleep(time.Second)
	sc2.stop(t)
	got := w.bucketLines(t, w.bucket)
	seen := map[string]int{}
	for _, l := range got {
		seen[l]++
	}
	dups := 0
	for _, l := range spooled {
		if seen[l] == 0 {
			t.Fatalf("spooled event missing from S3 after restart: %.80s", l)
		}
		if seen[l] > 1 {
			dups++
		}
	}
	t.Logf("spool held %d events at the kill; S3 has %d lines, %d spooled events twice", len(spooled), len(got), dups)
}

func spoolBytes(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".seg") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// TestRunSpoolDirectoryWritableByUser: with --user the AWS sinks open after
// the privilege drop, so a spool directory only root can write is a
// start-up error naming the directory, the uid and the options, not a
// failure at the first segment; a directory of the user's own works.
func TestRunSpoolDirectoryWritableByUser(t *testing.T) {
	requireRootTools(t)
	bin := buildSidewatch(t)
	// Not t.TempDir: its parent is root's alone, so uid 65534 could not
	// reach even a directory of its own below it.
	dir, err := os.MkdirTemp("", "sidewatch-spool")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "nobody")
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		spoolDir string
		wantErr  bool
	}{
		{"root_owned", filepath.Join(dir, "spool"), true},
		{"user_owned", filepath.Join(own, "spool"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, "run", "--no-launcher", "--no-capture", "--health-addr", "",
				"--syslog-tcp-addr", "127.0.0.1:0", "--syslog-udp-addr", "", "--user", "65534",
				"--sink", "s3", "--s3-bucket", "sidewatch-test", "--aws-region", "us-east-1", "--spool-dir", tt.spoolDir)
			cmd.Env = append(os.Environ(), "ECS_CONTAINER_METADATA_URI_V4=", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
			cmd.Stderr = &stderr
			err := cmd.Run()
			if !tt.wantErr {
				// Still running when the context ends: it started.
				if ctx.Err() == nil {
					t.Fatalf("sidewatch run exited early: %v; stderr:\n%s", err, stderr.String())
				}
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("sidewatch run kept running with an unwritable spool directory; stderr:\n%s", stderr.String())
			}
			for _, want := range []string{"must be writable", "uid 65534", "--spool-dir, SIDEWATCH_SPOOL_DIR", tt.spoolDir} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
				}
			}
		})
	}
}
