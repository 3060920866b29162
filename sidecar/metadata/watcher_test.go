package metadata

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// taskPath is where the fake endpoint answers, as under a real
// ECS_CONTAINER_METADATA_URI_V4.
const taskPath = "/v4/bfa2636268144d039771334145e490c5-1117626119/task"

// endpoint is a fake TMDE whose /task behaviour a test switches at will.
type endpoint struct {
	srv      *httptest.Server
	mu       sync.Mutex
	handler  http.HandlerFunc
	requests atomic.Int64
}

func newEndpoint(t *testing.T, h http.HandlerFunc) *endpoint {
	t.Helper()
	e := &endpoint{handler: h}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != taskPath {
			http.NotFound(w, r)
			return
		}
		e.requests.Add(1)
		e.mu.Lock()
		h := e.handler
		e.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) set(h http.HandlerFunc) {
	e.mu.Lock()
	e.handler = h
	e.mu.Unlock()
}

func (e *endpoint) uri() string { return e.srv.URL + strings.TrimSuffix(taskPath, "/task") }

func serveBytes(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

func serveStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "agent not ready", code)
	}
}

// serveTruncated declares the whole fixture's length, sends half of it and
// drops the connection.
func serveTruncated(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(b))
		buf.Write(b[:len(b)/2])
		buf.Flush()
	}
}

// serveSlow answers only once release is closed.
func serveSlow(b []byte, release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			serveBytes(b)(w, r)
		case <-r.Context().Done():
		}
	}
}

// stat reads one metadata series from the registry's stats groups.
func stat(t *testing.T, reg *metrics.Registry, name string, label ...string) float64 {
	t.Helper()
	v := reg.Stats()["metadata"].(map[string]any)[name]
	if len(label) == 1 {
		v = v.(map[string]any)[label[0]]
	}
	switch v := v.(type) {
	case uint64:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	t.Fatalf("metadata %s%v = %#v: not a number", name, label, v)
	return 0
}

// eventually polls cond until it holds or 10s pass (a failure deadline,
// not a speed requirement).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runWatcher runs w.Run until the test ends and checks that it returns nil.
func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil after cancel", err)
		}
	})
}

func TestStartServesFixture(t *testing.T) {
	ep := newEndpoint(t, serveBytes(readFixture(t, "tmde-v4-task.json")))
	reg := metrics.New()
	w := NewWatcher(Config{URI: ep.uri() + "/", Wait: 5 * time.Second, Refresh: time.Minute}, nil, reg)
	if w.Task() != nil {
		t.Fatal("Task() before Start is not nil")
	}
	before := time.Now()
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start() = %v, want nil", err)
	}
	if diff := cmp.Diff(fixtureTask(), w.Task(), cmpNet); diff != "" {
		t.Errorf("Task() mismatch (-want +got):\n%s", diff)
	}
	if err := w.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	if got := stat(t, reg, "fetches_total"); got != 1 {
		t.Errorf("fetches_total = %v, want 1", got)
	}
	if got := stat(t, reg, "containers"); got != 2 {
		t.Errorf("containers = %v, want 2", got)
	}
	if got := stat(t, reg, "last_success_timestamp_seconds"); got < float64(before.Unix()) {
		t.Errorf("last_success_timestamp_seconds = %v, want >= %d", got, before.Unix())
	}
	e := event.ECS{Container: event.Container{ID: curlID}}
	w.Enrich(&e)
	if diff := cmp.Diff(withContainer(fargateECS, curlID, "curl-image"), e); diff != "" {
		t.Errorf("Enrich after Start mismatch (-want +got):\n%s", diff)
	}
}

func TestStartGivesUpOnSlowEndpointThenRunSucceeds(t *testing.T) {
	release := make(chan struct{})
	ep := newEndpoint(t, serveSlow(readFixture(t, "tmde-v4-task.json"), release))
	reg := metrics.New()
	w := NewWatcher(Config{URI: ep.uri(), Wait: 300 * time.Millisecond, Refresh: 20 * time.Millisecond}, nil, reg)

	err := w.Start(context.Background())
	if err == nil {
		t.Fatal("Start() against a hung endpoint = nil, want an error")
	}
	for _, want := range []string{"within 300ms (--metadata-wait)", "context deadline exceeded", taskPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start() = %q, want it to contain %q", err, want)
		}
	}
	if w.Task() != nil {
		t.Error("Task() after a failed Start is not nil")
	}
	if got := stat(t, reg, "fetch_errors_total", "request"); got < 1 {
		t.Errorf("fetch_errors_total{reason=request} = %v, want >= 1", got)
	}

	close(release)
	runWatcher(t, w)
	eventually(t, "Run to fetch the task", func() bool { return w.Task() != nil })
	if got := w.Task().Family; got != "sample-fargate" {
		t.Errorf("Task().Family = %q after Run, want %q", got, "sample-fargate")
	}
}

func TestStartBrokenEndpoint(t *testing.T) {
	fixture := readFixture(t, "tmde-v4-task.json")
	tests := []struct {
		name    string
		handler http.HandlerFunc
		reason  string
		wantErr string
	}{
		{"status_500", serveStatus(http.StatusInternalServerError), "status", `500 Internal Server Error: "agent not ready"`},
		{"status_404", serveStatus(http.StatusNotFound), "status", "404 Not Found"},
		{"invalid_json", serveBytes([]byte("<html>oops</html>")), "parse", "invalid character '<'"},
		{"empty_body", serveBytes(nil), "parse", "unexpected end of JSON input"},
		{"no_task_arn", serveBytes([]byte(`{"Cluster":"c"}`)), "parse", "no TaskARN"},
		{"truncated_body", serveTruncated(fixture), "body", "unexpected EOF"},
		{"too_large", serveBytes(bytes.Repeat([]byte(" "), 64<<10+1)), "body", "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep := newEndpoint(t, tt.handler)
			reg := metrics.New()
			w := NewWatcher(Config{URI: ep.uri(), Wait: 500 * time.Millisecond, Refresh: time.Minute}, nil, reg)
			w.maxBody = 64 << 10 // the fixture is 5 KiB; keeps the too_large row fast
			err := w.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--metadata-wait") {
				t.Fatalf("Start() = %v, want an error containing %q and --metadata-wait", err, tt.wantErr)
			}
			if w.Task() != nil {
				t.Error("Task() after a failed Start is not nil")
			}
			n := float64(ep.requests.Load())
			if n < 2 {
				t.Errorf("endpoint got %v requests, want >= 2 (retries)", n)
			}
			if got := stat(t, reg, "fetch_errors_total", tt.reason); got < 1 {
				t.Errorf("fetch_errors_total{reason=%s} = %v, want >= 1", tt.reason, got)
			}
			// Every request the endpoint saw failed and was counted; the
			// last may be cut short by the wait and count as "request".
			var total float64
			for _, r := range []string{"request", "status", "body", "parse"} {
				total += stat(t, reg, "fetch_errors_total", r)
			}
			if total < n {
				t.Errorf("fetch_errors_total sums to %v, want >= %v (the requests served)", total, n)
			}
		})
	}
}

func TestStartZeroWaitTriesOnce(t *testing.T) {
	ep := newEndpoint(t, serveStatus(http.StatusServiceUnavailable))
	w := NewWatcher(Config{URI: ep.uri(), Wait: 0, Refresh: time.Minute}, nil, metrics.New())
	if err := w.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "one attempt") {
		t.Fatalf("Start() = %v, want an error saying it made one attempt", err)
	}
	if got := ep.requests.Load(); got != 1 {
		t.Errorf("endpoint got %d requests, want 1", got)
	}
}

func TestStartCancelled(t *testing.T) {
	ep := newEndpoint(t, serveStatus(http.StatusInternalServerError))
	w := NewWatcher(Config{URI: ep.uri(), Wait: time.Hour, Refresh: time.Minute}, nil, metrics.New())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ep.requests.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := w.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "context canceled") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Start() = %v, want an error naming the cancellation and the last failure", err)
	}
}

func TestRunKeepsLastGoodSnapshot(t *testing.T) {
	fixture := readFixture(t, "tmde-v4-task.json")
	ep := newEndpoint(t, serveBytes(fixture))
	reg := metrics.New()
	w := NewWatcher(Config{URI: ep.uri(), Wait: 5 * time.Second, Refresh: 10 * time.Millisecond}, nil, reg)
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	good := w.Task()

	ep.set(serveStatus(http.StatusInternalServerError))
	runWatcher(t, w)
	eventually(t, "two failed refreshes", func() bool { return stat(t, reg, "fetch_errors_total", "status") >= 2 })
	if w.Task() != good {
		t.Error("Task() changed after failed refreshes, want the last good snapshot")
	}
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Err() = %v, want the 500 error", err)
	}

	// A new container appears in the task: the next refresh picks it up.
	grown := bytes.Replace(fixture, []byte(`"Containers": [`), []byte(`"Containers": [{"DockerId":"bfa2636268144d039771334145e490c5-0000000042","Name":"late"},`), 1)
	ep.set(serveBytes(grown))
	eventually(t, "the refreshed task", func() bool { t := w.Task(); return t != nil && len(t.Containers) == 3 })
	if err := w.Err(); err != nil {
		t.Errorf("Err() after recovery = %v, want nil", err)
	}
	e := event.ECS{Container: event.Container{ID: "bfa2636268144d039771334145e490c5-0000000042"}}
	w.Enrich(&e)
	if got, want := e.Container.Name, "late"; got != want {
		t.Errorf("Enrich(new container id): name = %q, want %q", got, want)
	}
}

func TestUnknownContainerTriggersEarlyRefresh(t *testing.T) {
	const lateID = "bfa2636268144d039771334145e490c5-0000000042"
	fixture := readFixture(t, "tmde-v4-task.json")
	ep := newEndpoint(t, serveBytes(fixture))
	reg := metrics.New()
	// Refresh is far off: only the early refresh can pick up the change.
	w := NewWatcher(Config{URI: ep.uri(), Wait: 5 * time.Second, Refresh: time.Hour}, nil, reg)
	w.minGap = 0
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	ep.set(serveBytes(bytes.Replace(fixture, []byte(`"Containers": [`), []byte(`"Containers": [{"DockerId":"`+lateID+`","Name":"late"},`), 1)))
	runWatcher(t, w)

	eventually(t, "the early refresh to resolve the new id", func() bool {
		e := event.ECS{Container: event.Container{ID: lateID}}
		w.Enrich(&e)
		return e.Container.Name == "late"
	})
	if got := stat(t, reg, "early_refreshes_total"); got < 1 {
		t.Errorf("early_refreshes_total = %v, want >= 1", got)
	}
}

func TestNoURI(t *testing.T) {
	w := NewWatcher(Config{Wait: time.Second, Refresh: time.Minute}, nil, metrics.New())
	if err := w.Start(context.Background()); err != nil {
		t.Errorf("Start() without URI = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Errorf("Run() without URI = %v, want nil", err)
	}
	if w.Task() != nil {
		t.Error("Task() without URI is not nil")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URI: "http://169.254.170.2/v4/abc-123", Wait: 10 * time.Second, Refresh: time.Minute}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // empty: valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no_uri", func(c *Config) { c.URI = "" }, ""},
		{"zero_wait", func(c *Config) { c.Wait = 0 }, ""},
		{"https_uri", func(c *Config) { c.URI = "https://example.test/v4" }, ""},
		{"uri_without_scheme", func(c *Config) { c.URI = "169.254.170.2/v4/abc" }, "--metadata-uri (SIDEWATCH_METADATA_URI, ECS_CONTAINER_METADATA_URI_V4) must be an http:// or https:// URL"},
		{"uri_other_scheme", func(c *Config) { c.URI = "unix:///run/agent.sock" }, "--metadata-uri"},
		{"negative_wait", func(c *Config) { c.Wait = -time.Second }, "--metadata-wait (SIDEWATCH_METADATA_WAIT) must be in [0s, 10m0s]"},
		{"refresh_too_short", func(c *Config) { c.Refresh = 10 * time.Millisecond }, "--metadata-refresh (SIDEWATCH_METADATA_REFRESH) must be in [1s, 24h0m0s]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate(%+v) = %v, want nil", c, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate(%+v) = %v, want error containing %q", c, err, tt.wantErr)
			}
		})
	}
}

func TestNewWatcherBypassesProxy(t *testing.T) {
	own := &http.Transport{Proxy: http.ProxyFromEnvironment}
	tests := []struct {
		name      string
		client    *http.Client
		wantProxy bool
	}{
		{"nil_client", nil, false},
		{"client_with_default_transport", &http.Client{Timeout: 3 * time.Second}, false},
		{"client_with_own_transport", &http.Client{Transport: own}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatcher(Config{}, tt.client, metrics.New())
			tr, ok := w.client.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("NewWatcher(%s): transport is %T, want *http.Transport", tt.name, w.client.Transport)
			}
			if got := tr.Proxy != nil; got != tt.wantProxy {
				t.Errorf("NewWatcher(%s): transport has a proxy func = %v, want %v", tt.name, got, tt.wantProxy)
			}
			if tt.client != nil && w.client.Timeout != tt.client.Timeout {
				t.Errorf("NewWatcher(%s): client timeout = %v, want %v kept", tt.name, w.client.Timeout, tt.client.Timeout)
			}
			if tt.client != nil && tt.client.Transport == nil && w.client == tt.client {
				t.Errorf("NewWatcher(%s) modified the caller's client instead of copying it", tt.name)
			}
		})
	}
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	ep := newEndpoint(t, serveBytes(readFixture(t, "tmde-v4-task.json")))
	before := runtime.NumGoroutine()
	w := NewWatcher(Config{URI: ep.uri(), Wait: 5 * time.Second, Refresh: 5 * time.Millisecond}, nil, metrics.New())
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	eventually(t, "a few refreshes", func() bool { return ep.requests.Load() >= 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	eventually(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}
