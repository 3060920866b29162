package health

import (
	"context"
	"io"
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
