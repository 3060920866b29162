package detect

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

type cliForTest struct {
	Config `embed:""`
}

func parseFlags(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cliForTest
	p, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(args)
	return c.Config, err
}

// TestDefaultConfigMatchesFlags keeps DefaultConfig and the kong defaults
// in step, and every flag's env variable named after it.
func TestDefaultConfigMatchesFlags(t *testing.T) {
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	got, err := parseFlags(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("kong defaults:\n%+v\nDefaultConfig():\n%+v", got, want)
	}
	if def := DefaultConfig(); def.Validate() != nil {
		err := def.Validate()
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	for _, f := range configFields() {
		name, env := f.Tag.Get("name"), f.Tag.Get("env")
		if want := "SIDEWATCH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")); strings.Split(env, ",")[0] != want {
			t.Errorf("%s: env %q, want %s first", f.Name, env, want)
		}
		if f.Tag.Get("help") == "" {
			t.Errorf("%s has no help", f.Name)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	got, err := parseFlags(t, map[string]string{
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
		"SIDEWATCH_DETECT_PORTSCAN":              "false",
		"SIDEWATCH_DETECT_INTEL_FILES":           "/a.txt,/b.csv",
		"SIDEWATCH_DETECT_DNS_TUNNEL_ALLOW":      "example.com",
	}, "--detect-portscan-ports", "30", "--no-detect-mining")
	if err != nil {
		t.Fatal(err)
	}
	if got.Credentials.Path != "/v2/credentials/abc" || got.PortScan.Enabled || got.PortScan.Ports != 30 || got.Mining.Enabled ||
		len(got.Intel.Files) != 2 || len(got.DNSTunnel.Allow) != 1 {
		t.Errorf("parsed %+v", got)
	}
	// SIDEWATCH_DETECT_CREDENTIALS_PATH wins over the ECS variable.
	got, _ = parseFlags(t, map[string]string{"SIDEWATCH_DETECT_CREDENTIALS_PATH": "/v2/credentials/mine"})
	if got.Credentials.Path != "/v2/credentials/mine" {
		t.Errorf("credentials path = %q", got.Credentials.Path)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error naming flag and variable
	}{
		{"dedup_negative", func(c *Config) { c.DedupWindow = -time.Second }, "--detect-dedup-window (SIDEWATCH_DETECT_DEDUP_WINDOW)"},
		{"dedup_max_zero", func(c *Config) { c.DedupMax = 0 }, "--detect-dedup-max (SIDEWATCH_DETECT_DEDUP_MAX) must be between 1"},
		{"ports_one", func(c *Config) { c.PortScan.Ports = 1 }, "--detect-portscan-ports (SIDEWATCH_DETECT_PORTSCAN_PORTS)"},
		{"hosts_huge", func(c *Config) { c.PortScan.Hosts = 100000 }, "--detect-portscan-hosts"},
		{"unanswered_tiny", func(c *Config) { c.PortScan.Unanswered = time.Millisecond }, "--detect-portscan-unanswered"},
		{"entropy", func(c *Config) { c.DNSTunnel.Entropy = 9 }, "--detect-dns-tunnel-entropy (SIDEWATCH_DETECT_DNS_TUNNEL_ENTROPY)"},
		{"tunnel_names", func(c *Config) { c.DNSTunnel.Names = 0 }, "--detect-dns-tunnel-names"},
		{"credentials_path", func(c *Config) { c.Credentials.Path = "v2/credentials/x" }, "--detect-credentials-path"},
		{"home_net", func(c *Config) { c.HomeNet = []string{"10.0.0.0/33"} }, "--home-net (SIDEWATCH_HOME_NET)"},
		{"log_bytes", func(c *Config) { c.Logs.MaxBytes = 1 }, "--detect-log-max-bytes"},
		{"intel_reload", func(c *Config) { c.Intel.Reload = -1 }, "--detect-intel-reload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	off := DefaultConfig()
	off.Off, off.DedupMax = true, 0
	if err := off.Validate(); err != nil {
		t.Errorf("--no-detect still validates the rest: %v", err)
	}
}

func TestHomeNet(t *testing.T) {
	e, _, _ := newTestEngine(t, func(c *Config) { c.HomeNet = []string{"10.0.193.10", "fd99::/64"} })
	for _, tt := range []struct {
		addr string
		want bool
	}{{"10.0.193.10", true}, {"10.0.193.11", false}, {"fd99::5", true}, {"127.0.0.1", true}, {"::1", true}, {"::ffff:10.0.193.10", true}} {
		if got := e.isHome(netip4(tt.addr)); got != tt.want {
			t.Errorf("isHome(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// configFields returns every flag's field of Config, embedded structs
// walked.
func configFields() []reflect.StructField {
	var out []reflect.StructField
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if _, ok := f.Tag.Lookup("embed"); ok {
				walk(f.Type)
				continue
			}
			out = append(out, f)
		}
	}
	walk(reflect.TypeOf(Config{}))
	return out
}
