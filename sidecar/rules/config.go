package rules

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is the rule flags of `sidewatch run` and `sidewatch replay`.
type Config struct {
	Files          []string      `name:"rules" env:"SIDEWATCH_RULES" sep:"," placeholder:"PATH" help:"Suricata-format rule files, or directories of *.rules files (comma-separated). Empty: no rules."`
	Vars           []string      `name:"rules-var" env:"SIDEWATCH_RULES_VARS" sep:";" placeholder:"NAME=VALUE" help:"Rule variables, e.g. HOME_NET=[10.0.0.0/16] or HTTP_PORTS=[80,8080] (env: ;-separated). HOME_NET defaults to the task's own addresses."`
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
	if c.Reload < 0 {
		errs = append(errs, fmt.Errorf("--rules-reload (SIDEWATCH_RULES_RELOAD) must not be negative, got %s", c.Reload))
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
	return errors.Join(errs...)
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

// TaskAddresses returns the addresses of this network namespace's
// interfaces as a rule address list: in a task, where all containers share
// one namespace, these are the task's own addresses (HOME_NET).
func TaskAddresses() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("rules: task addresses: %w", err)
	}
	var list []string
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		list = append(list, p.Addr().Unmap().String())
	}
	if len(list) == 0 {
		return "", errors.New("rules: task addresses: no interface has an address")
	}
	return "[" + strings.Join(list, ",") + "]", nil
}
