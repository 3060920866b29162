package sidecar

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/flow"
)

func TestValidateCaptureAndUser(t *testing.T) {
	base := func(t *testing.T) Config {
		cfg := testConfig(t)
		cfg.NoCapture = false
		cfg.Capture, cfg.Flow, cfg.App = capture.DefaultConfig(), flow.DefaultConfig(), applayer.DefaultConfig()
		return cfg
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"capture_ring", func(c *Config) { c.Capture.RingMiB = 0 }, "--capture-ring-mib (SIDEWATCH_CAPTURE_RING_MIB)"},
		{"flow_max_flows", func(c *Config) { c.Flow.MaxFlows = 0 }, "--flow-max-flows (SIDEWATCH_FLOW_MAX_FLOWS)"},
		{"user_root", func(c *Config) { c.User = "0" }, "--user (SIDEWATCH_USER)"},
		{"user_name", func(c *Config) { c.User = "nobody" }, "--user (SIDEWATCH_USER)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base(t)
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	t.Run("capture_off_skips_its_checks", func(t *testing.T) {
		cfg := base(t)
		cfg.NoCapture, cfg.Capture.RingMiB = true, 0
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate() with --no-capture = %v, want nil", err)
		}
	})
	t.Run("valid_user", func(t *testing.T) {
		cfg := base(t)
		cfg.User = "65532:65532"
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
	})
}

func TestCaptureConfigIgnoresOwnListeners(t *testing.T) {
	tests := []struct {
		name       string
		syslogAddr string
		healthAddr string
		ports      []uint16
		want       []uint16
	}{
		{"defaults", "127.0.0.1:1514", "127.0.0.1:9901", []uint16{1514}, []uint16{1514, 9901}},
		{"syslog_moved", "127.0.0.1:5140", "127.0.0.1:9901", []uint16{1514}, []uint16{1514, 5140, 9901}},
		{"listeners_off", "", "", []uint16{1514}, []uint16{1514}},
		{"ephemeral_ports", "127.0.0.1:0", "127.0.0.1:0", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{HealthAddr: tt.healthAddr}
			cfg.Syslog.TCPAddr, cfg.Syslog.UDPAddr = tt.syslogAddr, tt.syslogAddr
			cfg.Capture.IgnorePorts = tt.ports
			got := captureConfig(cfg).IgnorePorts
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("captureConfig(syslog %q, health %q, ports %v) ports mismatch (-want +got):\n%s", tt.syslogAddr, tt.healthAddr, tt.ports, diff)
			}
		})
	}
}
