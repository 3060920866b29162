package flow

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the flow table. Every field is a flag and a SIDEWATCH_FLOW_*
// variable; the defaults are those of DefaultConfig.
type Config struct {
	TCPNewTimeout         time.Duration `name:"flow-tcp-new-timeout" env:"SIDEWATCH_FLOW_TCP_NEW_TIMEOUT" default:"60s" help:"Idle timeout of a TCP flow whose handshake has not completed."`
	TCPEstablishedTimeout time.Duration `name:"flow-tcp-established-timeout" env:"SIDEWATCH_FLOW_TCP_ESTABLISHED_TIMEOUT" default:"1h" help:"Idle timeout of an established TCP flow."`
	TCPClosedTimeout      time.Duration `name:"flow-tcp-closed-timeout" env:"SIDEWATCH_FLOW_TCP_CLOSED_TIMEOUT" default:"30s" help:"Idle timeout of a TCP flow after a RST or a FIN from both sides."`
	UDPTimeout            time.Duration `name:"flow-udp-timeout" env:"SIDEWATCH_FLOW_UDP_TIMEOUT" default:"60s" help:"Idle timeout of UDP flows and of IP protocols other than TCP and ICMP."`
	ICMPTimeout           time.Duration `name:"flow-icmp-timeout" env:"SIDEWATCH_FLOW_ICMP_TIMEOUT" default:"30s" help:"Idle timeout of ICMP and ICMPv6 flows."`
	ActiveTimeout         time.Duration `name:"flow-active-timeout" env:"SIDEWATCH_FLOW_ACTIVE_TIMEOUT" default:"5m" help:"Write a flow_update event (the period's packets and bytes, and the totals so far) for a flow open this long, and again each period after while it carries traffic; the flow event stays one per flow (0 disables)."`
	MaxFlows              int           `name:"flow-max-flows" env:"SIDEWATCH_FLOW_MAX_FLOWS" default:"65536" help:"Flows tracked at once; when full, the least recently seen flow is ended (reason forced)."`
	CommunityIDSeed       uint16        `name:"flow-community-id-seed" env:"SIDEWATCH_FLOW_COMMUNITY_ID_SEED" default:"0" help:"Seed of the Community ID hash (0-65535); must match the other sensors it is joined with."`
}

// DefaultConfig returns the defaults the kong tags declare.
func DefaultConfig() Config {
	return Config{
		TCPNewTimeout:         60 * time.Second,
		TCPEstablishedTimeout: time.Hour,
		TCPClosedTimeout:      30 * time.Second,
		UDPTimeout:            60 * time.Second,
		ICMPTimeout:           30 * time.Second,
		ActiveTimeout:         5 * time.Minute,
		MaxFlows:              65536,
	}
}

// maxFlowsLimit keeps entry indexes within int32.
const maxFlowsLimit = 1 << 24

// maxTimeout bounds every flow timeout: a flow idle for a week is over.
const maxTimeout = 7 * 24 * time.Hour

// Validate checks the values kong cannot, naming the flag and variable.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		v          time.Duration
		flag, env  string
		zeroIsOkay bool
	}{
		{c.TCPNewTimeout, "flow-tcp-new-timeout", "SIDEWATCH_FLOW_TCP_NEW_TIMEOUT", false},
		{c.TCPEstablishedTimeout, "flow-tcp-established-timeout", "SIDEWATCH_FLOW_TCP_ESTABLISHED_TIMEOUT", false},
		{c.TCPClosedTimeout, "flow-tcp-closed-timeout", "SIDEWATCH_FLOW_TCP_CLOSED_TIMEOUT", false},
		{c.UDPTimeout, "flow-udp-timeout", "SIDEWATCH_FLOW_UDP_TIMEOUT", false},
		{c.ICMPTimeout, "flow-icmp-timeout", "SIDEWATCH_FLOW_ICMP_TIMEOUT", false},
		{c.ActiveTimeout, "flow-active-timeout", "SIDEWATCH_FLOW_ACTIVE_TIMEOUT", true},
	} {
		switch {
		case d.v < 0:
			errs = append(errs, fmt.Errorf("--%s (%s) must not be negative, got %s", d.flag, d.env, d.v))
		case d.v == 0 && !d.zeroIsOkay:
			errs = append(errs, fmt.Errorf("--%s (%s) must be positive, got %s", d.flag, d.env, d.v))
		}
	}
	for _, d := range []struct {
		v         time.Duration
		flag, env string
	}{
		{c.TCPNewTimeout, "flow-tcp-new-timeout", "SIDEWATCH_FLOW_TCP_NEW_TIMEOUT"},
		{c.TCPEstablishedTimeout, "flow-tcp-established-timeout", "SIDEWATCH_FLOW_TCP_ESTABLISHED_TIMEOUT"},
		{c.TCPClosedTimeout, "flow-tcp-closed-timeout", "SIDEWATCH_FLOW_TCP_CLOSED_TIMEOUT"},
		{c.UDPTimeout, "flow-udp-timeout", "SIDEWATCH_FLOW_UDP_TIMEOUT"},
		{c.ICMPTimeout, "flow-icmp-timeout", "SIDEWATCH_FLOW_ICMP_TIMEOUT"},
		{c.ActiveTimeout, "flow-active-timeout", "SIDEWATCH_FLOW_ACTIVE_TIMEOUT"},
	} {
		if d.v > maxTimeout {
			errs = append(errs, fmt.Errorf("--%s (%s) must be at most %s, got %s", d.flag, d.env, maxTimeout, d.v))
		}
	}
	if c.MaxFlows < 1 || c.MaxFlows > maxFlowsLimit {
		errs = append(errs, fmt.Errorf("--flow-max-flows (SIDEWATCH_FLOW_MAX_FLOWS) must be between 1 and %d, got %d", maxFlowsLimit, c.MaxFlows))
	}
	return errors.Join(errs...)
}
