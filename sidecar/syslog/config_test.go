package syslog

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/firelens"
)

func TestDefaultConfigMatchesTagsAndRecipe(t *testing.T) {
	var got Config
	k, err := kong.New(&got, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultConfig(), got); diff != "" {
		t.Errorf("kong defaults differ from DefaultConfig() (-want +got):\n%s", diff)
	}
	out := firelens.DefaultSyslogOutput()
	_, port, _ := net.SplitHostPort(got.TCPAddr)
	if port != strconv.Itoa(out.Port) || got.MaxMessageSize != out.Maxsize {
		t.Errorf("receiver port %s, max message %d; the log_router recipe sends to port %d with Syslog_Maxsize %d", port, got.MaxMessageSize, out.Port, out.Maxsize)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestKongEnv(t *testing.T) {
	t.Setenv("SIDEWATCH_SYSLOG_MAX_CONNS", "7")
	t.Setenv("SIDEWATCH_SYSLOG_UDP_ADDR", "")
	var got Config
	k, err := kong.New(&got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Parse([]string{"--syslog-idle-timeout", "6m"}); err != nil {
		t.Fatal(err)
	}
	if got.MaxConns != 7 || got.UDPAddr != "" || got.IdleTimeout != 6*time.Minute {
		t.Errorf("parsed %+v, want max conns 7, UDP disabled, idle 6m", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bad_tcp_addr", func(c *Config) { c.TCPAddr = "1514" }, "--syslog-tcp-addr (SIDEWATCH_SYSLOG_TCP_ADDR)"},
		{"bad_udp_addr", func(c *Config) { c.UDPAddr = "localhost" }, "--syslog-udp-addr (SIDEWATCH_SYSLOG_UDP_ADDR)"},
		{"zero_conns", func(c *Config) { c.MaxConns = 0 }, "--syslog-max-conns (SIDEWATCH_SYSLOG_MAX_CONNS) must be in [1, 4096], got 0"},
		{"huge_conns", func(c *Config) { c.MaxConns = 1 << 40 }, "--syslog-max-conns (SIDEWATCH_SYSLOG_MAX_CONNS)"},
		{"tiny_messages", func(c *Config) { c.MaxMessageSize = 100 }, "--syslog-max-message-size (SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE)"},
		{"huge_messages", func(c *Config) { c.MaxMessageSize = 1 << 30 }, "--syslog-max-message-size (SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE)"},
		{"short_idle", func(c *Config) { c.IdleTimeout = 30 * time.Second }, "--syslog-idle-timeout (SIDEWATCH_SYSLOG_IDLE_TIMEOUT) must be in [5m0s, 24h0m0s]"},
		{"short_frame_timeout", func(c *Config) { c.FrameTimeout = time.Millisecond }, "--syslog-frame-timeout (SIDEWATCH_SYSLOG_FRAME_TIMEOUT)"},
		{"huge_udp_buffer", func(c *Config) { c.UDPReadBuffer = 1 << 40 }, "--syslog-udp-read-buffer (SIDEWATCH_SYSLOG_UDP_READ_BUFFER)"},
		{"zero_multiline_wait", func(c *Config) { c.MultilineWait = 0 }, "--syslog-multiline-wait (SIDEWATCH_SYSLOG_MULTILINE_WAIT)"},
		{"cert_without_key", func(c *Config) { c.TLSCert = "c.pem" }, "--syslog-tls-key (SIDEWATCH_SYSLOG_TLS_KEY) go together"},
		{"tls_without_tcp", func(c *Config) { c.TLSCert, c.TLSKey, c.TCPAddr = "c.pem", "k.pem", "" }, "needs --syslog-tcp-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	both := DefaultConfig()
	both.TCPAddr, both.UDPAddr = "", ""
	if err := both.Validate(); err != nil {
		t.Errorf("Validate() with both listeners disabled = %v, want nil (receiver off)", err)
	}
}
