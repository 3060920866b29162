package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

type fixedMetrics string

func (m fixedMetrics) WritePrometheus(w io.Writer) error {
	_, err := io.WriteString(w, string(m))
	return err
}

func TestServerAndCheck(t *testing.T) {
	s, err := Listen("127.0.0.1:0", fixedMetrics("sidewatch_up 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr := s.Addr().String()

	err = Check(context.Background(), addr)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Check before Ready = %v, want a 503 error", err)
	}
	s.Ready()
	if err := Check(context.Background(), addr); err != nil {
		t.Errorf("Check after Ready = %v, want nil", err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "sidewatch_up 1\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("/metrics = %q (%s), want the registry's text with the Prometheus content type", body, resp.Header.Get("Content-Type"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := Check(ctx2, addr); err == nil {
		t.Errorf("Check after shutdown = nil, want an error")
	}
}

func TestListenBusyPort(t *testing.T) {
	s, err := Listen("127.0.0.1:0", fixedMetrics(""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if _, err := Listen(s.Addr().String(), fixedMetrics("")); err == nil {
		t.Errorf("Listen on a busy port = nil error, want one")
	}
}

func serveHealth(t *testing.T) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", fixedMetrics(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	s.Ready()
	return s
}

// TestIdleConnectionsCannotBlindHealth is row 5 of issue 10 for the health
// port: a container holding many idle connections neither grows the
// sidecar without bound nor keeps `sidewatch health` out.
func TestIdleConnectionsCannotBlindHealth(t *testing.T) {
	s := serveHealth(t)
	addr := s.Addr().String()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 500 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break // the backlog is full: fine, the point is the check below
		}
		idle = append(idle, c)
	}
	if n := s.guard.Open(); n > MaxConns {
		t.Errorf("%d connections served at once, want at most %d", n, MaxConns)
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := Check(ctx, addr)
		cancel()
		if err != nil {
			t.Fatalf("Check with %d idle connections open = %v, want ok", len(idle), err)
		}
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	s := serveHealth(t)
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr().String()+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: status %d, want 431", resp.StatusCode)
	}
}

func TestCheckReportsReason(t *testing.T) {
	s, err := Listen("127.0.0.1:0", fixedMetrics(""))
	if err != nil {
		t.Fatal(err)
	}
	s.AddCheck(func() error { return errors.New("pipeline stalled: 12 events queued") })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Ready()
	err = Check(context.Background(), s.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "pipeline stalled: 12 events queued") {
		t.Errorf("Check = %v, want a 503 with the reason", err)
	}
}
