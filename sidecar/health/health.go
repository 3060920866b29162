// Package health serves the sidecar's /healthz and /metrics on a loopback
// HTTP listener and checks them for `sidewatch health`, so an ECS
// healthCheck works in an image without curl or a shell.
//
// /healthz is honest: 503 with the reason while a check fails (the
// pipeline stalled, every sink failing, an AWS sink unable to deliver).
// The listener cannot be starved by another container of the task: it
// admits MaxConns connections through a connguard.Guard (an idle one is
// reset for a newcomer), with read, write and idle timeouts and a header
// size limit.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/connguard"
)

// Limits of the listener: an ECS health check and a scraper need a few
// connections and small, quick requests.
const (
	MaxConns          = 16
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 8 << 10
	// minReadWait lets a flood of idle connections be worked through
	// quickly: a request is read at once, so the risk connguard's default
	// guards against (resetting a connection with unread bytes) is small.
	minReadWait = 2 * time.Millisecond
)

// MetricsWriter renders the metrics exposition.
type MetricsWriter interface {
	WritePrometheus(w io.Writer) error
}

// Server answers /healthz (200 once Ready is called, 503 before) and
// /metrics (Prometheus text format).
type Server struct {
	ln      net.Listener
	guard   *connguard.Guard
	srv     *http.Server
	ready   atomic.Bool
	checks  []func() error // set before Run; each nil while its part is healthy
	metrics MetricsWriter
}

// Listen binds addr (host:port) at once so that a port clash fails startup.
func Listen(addr string, m MetricsWriter) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health listener: %w", err)
	}
	s := &Server{ln: ln, metrics: m, guard: connguard.New(connguard.Config{MaxConns: MaxConns, MinReadWait: minReadWait})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState: func(c net.Conn, st http.ConnState) {
			// A served request is the frame: a connection that just had
			// one is the last to be reset for a newcomer.
			if gc, ok := c.(*connguard.Conn); ok && st == http.StateIdle {
				gc.Progress(1, false)
			}
		},
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Ready marks the sidecar healthy: listeners are up and the launcher is
// installed.
func (s *Server) Ready() { s.ready.Store(true) }

// AddCheck adds a condition to /healthz: while f returns an error, the
// answer is 503 with the error as the reason (an AWS sink that cannot
// deliver). Call it before Run.
func (s *Server) AddCheck(f func() error) { s.checks = append(s.checks, f) }

// Run answers requests until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(connguard.NewListener(ctx, s.ln, s.guard)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("health listener: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// Close releases the listener of a server that is never run; Run closes
// it itself.
func (s *Server) Close() error {
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "starting\n")
		return
	}
	for _, check := range s.checks {
		if err := check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, err.Error()+"\n")
			return
		}
	}
	io.WriteString(w, "ok\n")
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.WritePrometheus(w)
}

// Check asks the sidecar at addr whether it is healthy. It returns nil for
// a 200 answer and an error saying what went wrong otherwise.
func Check(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health check %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check %s: %s: %s", addr, resp.Status, bytesTrim(body))
	}
	return nil
}

func bytesTrim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
