package flow

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaultConfigMatchesTags keeps DefaultConfig and the kong defaults in
// step.
func TestDefaultConfigMatchesTags(t *testing.T) {
	def := reflect.ValueOf(DefaultConfig())
	typ := def.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("default")
		got, want := fmt.Sprint(def.Field(i).Interface()), tag
		if d, ok := def.Field(i).Interface().(time.Duration); ok {
			td, err := time.ParseDuration(tag)
			if err != nil {
				t.Fatalf("%s: default tag %q: %v", f.Name, tag, err)
			}
			got, want = d.String(), td.String()
		}
		if got != want {
			t.Errorf("%s: DefaultConfig() = %s, tag default = %s", f.Name, got, want)
		}
		for _, k := range []string{"name", "env", "help"} {
			if f.Tag.Get(k) == "" {
				t.Errorf("%s has no %s tag", f.Name, k)
			}
		}
		if want := "SIDEWATCH_" + strings.ToUpper(strings.ReplaceAll(f.Tag.Get("name"), "-", "_")); f.Tag.Get("env") != want {
			t.Errorf("%s: env = %s, want %s", f.Name, f.Tag.Get("env"), want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

func TestConfigValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero_tcp_new", func(c *Config) { c.TCPNewTimeout = 0 }, "--flow-tcp-new-timeout (SIDEWATCH_FLOW_TCP_NEW_TIMEOUT) must be positive"},
		{"negative_udp", func(c *Config) { c.UDPTimeout = -time.Second }, "--flow-udp-timeout (SIDEWATCH_FLOW_UDP_TIMEOUT) must not be negative"},
		{"negative_active", func(c *Config) { c.ActiveTimeout = -1 }, "--flow-active-timeout (SIDEWATCH_FLOW_ACTIVE_TIMEOUT) must not be negative"},
		{"zero_max_flows", func(c *Config) { c.MaxFlows = 0 }, "--flow-max-flows (SIDEWATCH_FLOW_MAX_FLOWS) must be between 1 and"},
		{"huge_max_flows", func(c *Config) { c.MaxFlows = 1 << 30 }, "--flow-max-flows (SIDEWATCH_FLOW_MAX_FLOWS) must be between 1 and"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	c := DefaultConfig()
	c.ActiveTimeout = 0
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() with --flow-active-timeout 0 = %v, want nil (0 disables)", err)
	}
}
