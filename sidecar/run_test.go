package sidecar

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/detect"
)

// testConfig is a Config with the defaults kong would apply, every
// component that needs root or fixed ports off, and paths under t.TempDir.
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "fluent-launch")
	if err := os.WriteFile(src, []byte("launcher"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Sinks:           []string{"stdout"},
		QueueMaxBytes:   1 << 20,
		StallTimeout:    time.Minute,
		ShutdownTimeout: 5 * time.Second,
		HealthAddr:      "127.0.0.1:0",
		LauncherSource:  src,
		LauncherDir:     filepath.Join(dir, "vol"),
	}
	cfg.Metadata.Wait, cfg.Metadata.Refresh = time.Second, time.Minute
	cfg.Detect = detect.DefaultConfig()
	return disableRootComponents(cfg)
}

func TestRunStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, &out, slog.New(slog.DiscardHandler), "test") }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !strings.Contains(out.String(), `"event_type":"stats"`) {
		t.Errorf("no final stats event in %q", out.String())
	}
	// Goroutines of net/http's idle connections take a moment to exit.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before Run, %d after; leaked:\n%s", before, after, buf[:n])
	}
}

func TestValidateNamesVariables(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"queue_max_bytes", func(c *Config) { c.QueueMaxBytes = 1_000_000_000_000 }, "--queue-max-bytes (SIDEWATCH_QUEUE_MAX_BYTES)"},
		{"stats_interval", func(c *Config) { c.StatsInterval = -time.Second }, "--stats-interval (SIDEWATCH_STATS_INTERVAL)"},
		{"shutdown_timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "--shutdown-timeout (SIDEWATCH_SHUTDOWN_TIMEOUT)"},
		{"health_addr", func(c *Config) { c.HealthAddr = "localhost" }, "--health-addr (SIDEWATCH_HEALTH_ADDR)"},
		{"no_sink", func(c *Config) { c.Sinks = nil }, "--sink (SIDEWATCH_SINK)"},
		{"launcher_source", func(c *Config) { c.LauncherSource = "" }, "SIDEWATCH_LAUNCHER_SOURCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	cfg := testConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() of the test config = %v, want nil", err)
	}
}

func TestInstallLauncherReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	vol := filepath.Join(dir, "a", "b")
	for _, content := range []string{"v1", "v2-longer"} {
		if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		dst, err := installLauncher(src, vol)
		if err != nil {
			t.Fatalf("installLauncher: %v", err)
		}
		got, _ := os.ReadFile(dst)
		if string(got) != content {
			t.Errorf("installed content = %q, want %q", got, content)
		}
		if info, _ := os.Stat(dst); info.Mode().Perm() != 0o755 {
			t.Errorf("installed mode = %v, want 0755", info.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(vol)
	if len(entries) != 1 {
		t.Errorf("volume holds %d entries, want only fluent-launch (no temp files left)", len(entries))
	}
}
