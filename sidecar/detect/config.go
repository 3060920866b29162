package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config switches and tunes the detections. Every field is a flag and a
// SIDEWATCH_DETECT_* variable; the defaults are those of DefaultConfig.
type Config struct {
	Off             bool          `name:"no-detect" env:"SIDEWATCH_NO_DETECT" help:"Turn every detection off: no alert events."`
	DedupWindow     time.Duration `name:"detect-dedup-window" env:"SIDEWATCH_DETECT_DEDUP_WINDOW" default:"5m" help:"One alert per signature, source and destination within this window; the next one counts those suppressed (0: every alert)."`
	DedupMax        int           `name:"detect-dedup-max" env:"SIDEWATCH_DETECT_DEDUP_MAX" default:"16384" help:"Signature/source/destination triples remembered for deduplication; the oldest is forgotten when full (counted)."`
	AlertedFlowsMax int           `name:"detect-alerted-flows-max" env:"SIDEWATCH_DETECT_ALERTED_FLOWS_MAX" default:"65536" help:"Open flows remembered as alerted, so that their flow events say alerted: true; the oldest is forgotten when full (counted)."`
	// HomeNet is the one home setting: the detections' and the rules'
	// HOME_NET (sidecar/rules reads it through Engine.HomeNet).
	HomeNet []string `name:"home-net" env:"SIDEWATCH_HOME_NET" sep:"," placeholder:"CIDR" help:"The task's own addresses or networks (comma-separated): the rules' HOME_NET, and what tells inbound scans from outbound ones. Empty: the addresses of the network namespace's interfaces (run) or Suricata's default, 192.168.0.0/16,10.0.0.0/8,172.16.0.0/12 (replay)."`

	PortScan    PortScanConfig    `embed:""`
	Mining      MiningConfig      `embed:""`
	DNSTunnel   DNSTunnelConfig   `embed:""`
	IMDS        IMDSConfig        `embed:""`
	Credentials CredentialsConfig `embed:""`
	Intel       IntelConfig       `embed:""`
	Logs        LogsConfig        `embed:""`
}

// SuricataHomeNet is Suricata's default HOME_NET, the home of `sidewatch
// replay` when --home-net is not given: a capture is not this machine's
// traffic, so the private ranges stand for the task.
var SuricataHomeNet = []string{"192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12"}

// DefaultConfig returns the defaults the kong tags declare.
func DefaultConfig() Config {
	return Config{
		DedupWindow:     5 * time.Minute,
		DedupMax:        16384,
		AlertedFlowsMax: 65536,
		PortScan:        defaultPortScanConfig(),
		Mining:          MiningConfig{Enabled: true},
		DNSTunnel:       defaultDNSTunnelConfig(),
		IMDS:            IMDSConfig{Enabled: true},
		Credentials:     defaultCredentialsConfig(),
		Intel:           IntelConfig{Reload: 30 * time.Second},
		Logs:            LogsConfig{Secrets: true, Exploits: true, MaxBytes: 64 << 10},
	}
}

// bound is one numeric option and its limits, for Validate.
type bound struct {
	flag      string
	v, lo, hi int64
	unit      string // "" or "duration"
}

func (b bound) check() error {
	if b.v >= b.lo && b.v <= b.hi {
		return nil
	}
	env := "SIDEWATCH_" + strings.ToUpper(strings.ReplaceAll(b.flag, "-", "_"))
	if b.unit == "duration" {
		return fmt.Errorf("--%s (%s) must be between %s and %s, got %s", b.flag, env, time.Duration(b.lo), time.Duration(b.hi), time.Duration(b.v))
	}
	return fmt.Errorf("--%s (%s) must be between %d and %d, got %d", b.flag, env, b.lo, b.hi, b.v)
}

func durationBound(flag string, v, lo, hi time.Duration) bound {
	return bound{flag: flag, v: int64(v), lo: int64(lo), hi: int64(hi), unit: "duration"}
}

func intBound(flag string, v, lo, hi int) bound {
	return bound{flag: flag, v: int64(v), lo: int64(lo), hi: int64(hi)}
}

// Validate checks the values kong cannot, naming the flag and variable.
func (c *Config) Validate() error {
	if c.Off {
		return nil
	}
	bounds := []bound{
		durationBound("detect-dedup-window", c.DedupWindow, 0, 24*time.Hour),
		intBound("detect-dedup-max", c.DedupMax, 1, 1<<20),
		intBound("detect-alerted-flows-max", c.AlertedFlowsMax, 1, 1<<22),
	}
	bounds = append(bounds, c.PortScan.bounds()...)
	bounds = append(bounds, c.DNSTunnel.bounds()...)
	bounds = append(bounds, c.Credentials.bounds()...)
	bounds = append(bounds, c.Intel.bounds()...)
	bounds = append(bounds, c.Logs.bounds()...)
	var errs []error
	for _, b := range bounds {
		if err := b.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := parseNets(c.HomeNet); err != nil {
		errs = append(errs, fmt.Errorf("--home-net (SIDEWATCH_HOME_NET): %w", err))
	}
	errs = append(errs, c.DNSTunnel.validate(), c.Credentials.validate())
	return errors.Join(errs...)
}

// parseNets reads addresses and CIDRs.
func parseNets(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
