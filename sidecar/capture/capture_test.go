package capture

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // a substring of the error
	}{
		{"block_not_power_of_two", func(c *Config) { c.BlockKiB = 768 }, "--capture-block-kib (SIDEWATCH_CAPTURE_BLOCK_KIB)"},
		{"block_too_small_for_snaplen", func(c *Config) { c.BlockKiB = 256 }, "--capture-block-kib"},
		{"ring_one_block", func(c *Config) { c.RingMiB, c.BlockKiB = 1, 1024 }, "--capture-ring-mib (SIDEWATCH_CAPTURE_RING_MIB)"},
		{"ring_zero", func(c *Config) { c.RingMiB = 0 }, "--capture-ring-mib"},
		{"ring_not_block_multiple", func(c *Config) { c.RingMiB = 3; c.BlockKiB = 2048 }, "--capture-ring-mib"},
		{"block_timeout_zero", func(c *Config) { c.BlockTimeout = 0 }, "--capture-block-timeout (SIDEWATCH_CAPTURE_BLOCK_TIMEOUT)"},
		{"empty_interface", func(c *Config) { c.Interfaces = []string{"eth1", ""} }, "--capture-interfaces (SIDEWATCH_CAPTURE_INTERFACES)"},
		{"long_interface", func(c *Config) { c.Interfaces = []string{"abcdefghijklmnop"} }, "--capture-interfaces"},
		{"port_zero", func(c *Config) { c.IgnorePorts = []uint16{0} }, "--capture-ignore-loopback-ports (SIDEWATCH_CAPTURE_IGNORE_LOOPBACK_PORTS)"},
		{"too_many_ports", func(c *Config) { c.IgnorePorts = make([]uint16, maxPorts+1) }, "--capture-ignore-loopback-ports"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.modify(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate(%+v) = %v, want an error containing %q", cfg, err, tc.want)
			}
		})
	}
	ok := []func(*Config){
		func(c *Config) { c.RingMiB, c.BlockKiB = 1, 512 },
		func(c *Config) { c.RingMiB, c.BlockKiB = 64, 4096 },
		func(c *Config) { c.BlockTimeout = 10 * time.Millisecond },
		func(c *Config) { c.Interfaces = []string{"eth1", "lo"}; c.IgnorePorts = nil },
	}
	for i, modify := range ok {
		cfg := DefaultConfig()
		modify(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("case %d: Validate(%+v) = %v, want nil", i, cfg, err)
		}
	}
}

// TestDefaultConfigMatchesTags keeps DefaultConfig, the kong defaults and the
// flag and variable names in step.
func TestDefaultConfigMatchesTags(t *testing.T) {
	def := reflect.ValueOf(DefaultConfig())
	typ := def.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var got string
		switch v := def.Field(i).Interface().(type) {
		case []string:
			got = strings.Join(v, ",")
		case []uint16:
			got = strings.Trim(strings.ReplaceAll(fmt.Sprint(v), " ", ","), "[]")
		case time.Duration:
			got = v.String()
		default:
			got = fmt.Sprint(v)
		}
		want := f.Tag.Get("default")
		if d, err := time.ParseDuration(want); err == nil {
			want = d.String()
		}
		if got != want {
			t.Errorf("%s: DefaultConfig() = %q, tag default = %q", f.Name, got, want)
		}
		for _, k := range []string{"name", "env", "help"} {
			if f.Tag.Get(k) == "" {
				t.Errorf("%s has no %s tag", f.Name, k)
			}
		}
		if !strings.HasPrefix(f.Tag.Get("name"), "capture-") {
			t.Errorf("%s: name = %s, want the capture- prefix", f.Name, f.Tag.Get("name"))
		}
		if want := "SIDEWATCH_" + strings.ToUpper(strings.ReplaceAll(f.Tag.Get("name"), "-", "_")); f.Tag.Get("env") != want {
			t.Errorf("%s: env = %s, want %s", f.Name, f.Tag.Get("env"), want)
		}
	}
}
