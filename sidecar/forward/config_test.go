package forward

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
)

// What the sidecar listens on is what the recipe sends to.
func TestDefaultsMatchTheRecipe(t *testing.T) {
	c := DefaultConfig().WithLauncherDir(firelens.LauncherDir)
	tcp := firelens.DefaultForwardRecipe(firelens.TransportTCP)
	unix := firelens.DefaultForwardRecipe(firelens.TransportUnix)
	if c.TCPAddr != tcp.Addr || c.KeyFile != tcp.KeyFile || c.UnixPath != unix.UnixPath {
		t.Errorf("receiver %s, key %s, socket %s; recipe sends to %s with key %s, socket %s",
			c.TCPAddr, c.KeyFile, c.UnixPath, tcp.Addr, tcp.KeyFile, unix.UnixPath)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"bad_addr", func(c *Config) { c.TCPAddr = "localhost" }, "SIDEWATCH_FORWARD_TCP_ADDR"},
		{"relative_socket", func(c *Config) { c.UnixPath = "forward.sock" }, "SIDEWATCH_FORWARD_UNIX_PATH"},
		{"long_socket", func(c *Config) { c.UnixPath = "/" + strings.Repeat("a", 120) }, "SIDEWATCH_FORWARD_UNIX_PATH"},
		{"zero_conns", func(c *Config) { c.MaxConns = 0 }, "SIDEWATCH_FORWARD_MAX_CONNS"},
		{"huge_message", func(c *Config) { c.MaxMessageSize = 2 << 30 }, "SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE"},
		{"log_over_message", func(c *Config) { c.MaxLogSize = c.MaxMessageSize + 1 }, "SIDEWATCH_FORWARD_MAX_LOG_SIZE"},
		{"tiny_fields", func(c *Config) { c.MaxFieldsSize = 10 }, "SIDEWATCH_FORWARD_MAX_FIELDS_SIZE"},
		{"short_idle", func(c *Config) { c.IdleTimeout = time.Second }, "SIDEWATCH_FORWARD_IDLE_TIMEOUT"},
		{"frame_over_idle", func(c *Config) { c.FrameTimeout = time.Hour }, "SIDEWATCH_FORWARD_FRAME_TIMEOUT"},
		{"zero_handshake", func(c *Config) { c.HandshakeTimeout = 0 }, "SIDEWATCH_FORWARD_HANDSHAKE_TIMEOUT"},
		{"long_handshake", func(c *Config) { c.HandshakeTimeout = time.Hour }, "SIDEWATCH_FORWARD_HANDSHAKE_TIMEOUT"},
		{"too_many_conns", func(c *Config) { c.MaxConns = maxConns + 1 }, "SIDEWATCH_FORWARD_MAX_CONNS"},
		{"short_frame", func(c *Config) { c.FrameTimeout = 100 * time.Millisecond }, "SIDEWATCH_FORWARD_FRAME_TIMEOUT"},
		{"long_idle", func(c *Config) { c.IdleTimeout = 48 * time.Hour }, "SIDEWATCH_FORWARD_IDLE_TIMEOUT"},
		{"short_ack", func(c *Config) { c.AckTimeout = time.Millisecond }, "SIDEWATCH_FORWARD_ACK_TIMEOUT"},
		{"long_ack", func(c *Config) { c.AckTimeout = time.Hour }, "SIDEWATCH_FORWARD_ACK_TIMEOUT"},
		{"tiny_message", func(c *Config) { c.MaxMessageSize = 1024 }, "SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE"},
		{"negative_budget", func(c *Config) { c.BufferBudget = -1 }, "SIDEWATCH_FORWARD_BUFFER_BUDGET"},
		{"huge_budget", func(c *Config) { c.BufferBudget = 1 << 50 }, "SIDEWATCH_FORWARD_BUFFER_BUDGET"},
		{"budget_under_two_messages", func(c *Config) { c.BufferBudget = 2*int64(c.MaxMessageSize) - 1 }, "SIDEWATCH_FORWARD_BUFFER_BUDGET"},
		{"budget_under_two_messages_names_message_size", func(c *Config) { c.BufferBudget = 2*int64(c.MaxMessageSize) - 1 }, "SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig().WithLauncherDir("/v")
			tt.change(&c)
			// The flag of SIDEWATCH_FORWARD_X_Y is --forward-x-y.
			flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tt.want, "SIDEWATCH_")), "_", "-")
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), flag+" ") {
				t.Errorf("Validate() = %v, want an error naming %s and %s", err, flag, tt.want)
			}
		})
	}
}

func TestListenRefusesNonSocketFile(t *testing.T) {
	c := DefaultConfig()
	c.TCPAddr = ""
	c.UnixPath = filepath.Join(t.TempDir(), "forward.sock")
	if err := writeFile(c.UnixPath); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(c, &fakePipe{}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file = %v, want a refusal (never delete other files)", err)
	}
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }
