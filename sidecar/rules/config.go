package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is the rule flags of `sidewatch run` and `sidewatch replay`.
type Config struct {
	Files          []string      `name:"rules" env:"SIDEWATCH_RULES" sep:"," placeholder:"PATH" help:"Suricata-format rule files, or directories of *.rules files (comma-separated). Empty: no rules."`
	Vars           []string      `name:"rules-var" env:"SIDEWATCH_RULES_VARS" sep:";" placeholder:"NAME=VALUE" help:"Rule variables, e.g. HTTP_PORTS=[80,8080] or EXTERNAL_NET=any (env: ;-separated). HOME_NET is --home-net, which the detections share."`
	Classification string        `name:"rules-classification" env:"SIDEWATCH_RULES_CLASSIFICATION" placeholder:"FILE" help:"classification.config giving each classtype its category and severity (default: Suricata's and ET's table)."`
	Reload         time.Duration `name:"rules-reload" env:"SIDEWATCH_RULES_RELOAD" default:"30s" help:"How often rule files are checked for changes and reloaded (0: only on SIGHUP)."`
	MaxThresholds  int           `name:"rules-max-thresholds" env:"SIDEWATCH_RULES_MAX_THRESHOLDS" default:"65536" help:"Threshold and detection_filter counters kept (by rule and address)."`
	MaxFlows       int           `name:"rules-max-flows" env:"SIDEWATCH_RULES_MAX_FLOWS" default:"65536" help:"Flows remembered so that an IP-only rule alerts once per flow."`
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the values kong cannot, naming flag and variable. Without
// rule files the other rule flags do not matter.
func (c *Config) Validate() error {
	if len(c.Files) == 0 {
		return nil
	}
	var errs []error
	if c.Reload < 0 || c.Reload > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--rules-reload (SIDEWATCH_RULES_RELOAD) must be between 0s and 24h0m0s, got %s", c.Reload))
	}
	if c.MaxThresholds < 1 || c.MaxThresholds > 1<<24 {
		errs = append(errs, fmt.Errorf("--rules-max-thresholds (SIDEWATCH_RULES_MAX_THRESHOLDS) must be 1-16777216, got %d", c.MaxThresholds))
	}
	if c.MaxFlows < 1 || c.MaxFlows > 1<<24 {
		errs = append(errs, fmt.Errorf("--rules-max-flows (SIDEWATCH_RULES_MAX_FLOWS) must be 1-16777216, got %d", c.MaxFlows))
	}
	// The variables must parse, so that a typo fails at start, not as one
	// error per rule.
	if _, err := c.Options(""); err != nil {
		errs = append(errs, err)
	}
	for _, v := range c.Vars {
		if name, _, _ := strings.Cut(v, "="); strings.TrimPrefix(strings.TrimSpace(name), "$") == "HOME_NET" {
			errs = append(errs, errors.New("--rules-var (SIDEWATCH_RULES_VARS) HOME_NET: the task's addresses are one setting for rules and detections: give them with --home-net (SIDEWATCH_HOME_NET)"))
		}
	}
	return errors.Join(errs...)
}

// RequireEngine reports rule files given without the detection engine
// they run in.
func (c *Config) RequireEngine(detectOff bool) error {
	if len(c.Files) > 0 && detectOff {
		return errors.New("--rules (SIDEWATCH_RULES) runs in the detection engine: it cannot be used with --no-detect (SIDEWATCH_NO_DETECT)")
	}
	return nil
}

// Options builds the load options: Suricata's default variables, HOME_NET
// set to home when the flags do not set it, then the flags' variables.
func (c *Config) Options(home string) (Options, error) {
	vars := DefaultVars(home)
	for _, v := range c.Vars {
		name, val, ok := strings.Cut(v, "=")
		if !ok || !varName.MatchString(strings.TrimPrefix(strings.TrimSpace(name), "$")) {
			return Options{}, fmt.Errorf("--rules-var (SIDEWATCH_RULES_VARS) %q: want NAME=VALUE", v)
		}
		vars[strings.TrimPrefix(strings.TrimSpace(name), "$")] = strings.TrimSpace(val)
	}
	for _, name := range []string{"HOME_NET", "EXTERNAL_NET"} {
		if _, err := vars.parseAddrs("$" + name); err != nil {
			return Options{}, fmt.Errorf("--rules-var (SIDEWATCH_RULES_VARS) %s: %w", name, err)
		}
	}
	opt := Options{Vars: vars}
	if c.Classification != "" {
		f, err := os.Open(c.Classification)
		if err != nil {
			return Options{}, fmt.Errorf("--rules-classification (SIDEWATCH_RULES_CLASSIFICATION): %w", err)
		}
		defer f.Close()
		cl, err := ParseClasses(f)
		if err != nil {
			return Options{}, fmt.Errorf("--rules-classification (SIDEWATCH_RULES_CLASSIFICATION) %s: %w", c.Classification, err)
		}
		opt.Classes = cl
	}
	return opt, nil
}

// HomeVar writes the task's addresses and networks as the value of
// HOME_NET; none gives "" (Suricata's default).
func HomeVar(nets []netip.Prefix) string {
	if len(nets) == 0 {
		return ""
	}
	list := make([]string, len(nets))
	for i, n := range nets {
		if n.IsSingleIP() {
			list[i] = n.Addr().String()
		} else {
			list[i] = n.String()
		}
	}
	return "[" + strings.Join(list, ",") + "]"
}
