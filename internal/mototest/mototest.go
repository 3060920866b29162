// Package mototest runs moto_server, the AWS emulator, for tests.
package mototest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotInstalled means moto_server is not on PATH.
var ErrNotInstalled = errors.New("needs moto_server (the AWS emulator, from pip package moto[server])")

// Server is a running moto_server on a loopback port.
type Server struct {
	URL string

	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

// Start runs moto_server on a free loopback port and waits until it
// answers.
func Start() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	s.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(s.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
	}
	s.Close()
	return nil, fmt.Errorf("moto_server gave no answer on %s within 60s; output:\n%s", s.URL, s.output())
}

// Write collects moto_server's output for error messages.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Close stops moto_server.
func (s *Server) Close() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Env is the environment that points the AWS CLI and SDKs at throwaway
// credentials, away from the user's files.
func Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
	}
}

// SetEnv points this process's AWS SDK at throwaway credentials (Env) for
// the rest of the test.
func SetEnv(t interface{ Setenv(k, v string) }) {
	for _, kv := range Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}
