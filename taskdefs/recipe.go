package taskdefs

import (
	"fmt"
	"net"
	"slices"

	"github.com/sidewatch/sidewatch/firelens"
)

// Recipes: how the log_router copies every record to the sidecar.
const (
	// RecipeForward is Fluent Bit's forward output with acknowledgements,
	// a filesystem-buffered copy and a bounded backlog (docs/forward.md):
	// the user's destinations never wait for the sidecar.
	RecipeForward = "forward"
	// RecipeSyslog is the documented Alert Logic-compatible recipe:
	// RFC 3164 over TCP. While the sidecar is down its retries can
	// stall the user's other outputs.
	RecipeSyslog = "syslog"
)

// copyRecipe is the chosen recipe as command-line pieces, and what the
// sidecar needs for the router to reach it.
type copyRecipe struct {
	name         string
	launcherArgs []string // before "--"
	fluentBit    []string // after "--"
	// sidecarEnv is set on the sidecar; stale is removed when it has
	// exactly the value an earlier inject set.
	sidecarEnv, stale [][2]string
	link              bool   // the router needs a link to the sidecar
	reach             string // how the router reaches the sidecar, for messages
}

// Sidecar listeners that inject opens beyond loopback in bridge mode,
// where the router is another network namespace.
var (
	bridgeSyslogEnv  = [2]string{"SIDEWATCH_SYSLOG_TCP_ADDR", bridgeSyslogAddr}
	bridgeForwardEnv = [2]string{"SIDEWATCH_FORWARD_TCP_ADDR", "0.0.0.0:" + forwardPort()}
)

func forwardPort() string {
	_, port, _ := net.SplitHostPort(firelens.DefaultForwardAddr)
	return port
}

// chooseRecipe settles the copy to the sidecar for this router: the
// forward recipe unless --recipe syslog; its transport from the network
// mode and the router's Fluent Bit version.
func (j *injection) chooseRecipe() error {
	bridge := j.mode == "bridge" || j.mode == ""
	switch j.opts.Recipe {
	case RecipeSyslog:
		o := j.syslogOutput()
		cmd := firelens.LauncherCommand(o)
		sep := slices.Index(cmd, "--")
		j.recipe = copyRecipe{name: RecipeSyslog, launcherArgs: cmd[:sep], fluentBit: cmd[sep+1:]}
		j.recipe.reach = fmt.Sprintf("its syslog receiver on %s:%d", o.Host, o.Port)
		if bridge {
			j.recipe.sidecarEnv = [][2]string{bridgeSyslogEnv}
			j.recipe.link = true
			j.recipe.reach += fmt.Sprintf(" over a link (the receiver listens on %s, where any container on the instance's bridge network can send it forged logs: the syslog recipe has no authentication)", bridgeSyslogAddr)
		}
		j.recipe.stale = [][2]string{bridgeForwardEnv}
	case "", RecipeForward:
		unixAcks, _ := ParseVersion(firelens.UnixAcksMinVersion)
		var r firelens.ForwardRecipe
		switch {
		case bridge && fluentBitAtLeast(j.fluentBit, unixAcks):
			// The router's Fluent Bit matches acks over a unix socket:
			// the shared volume reaches the sidecar, no network needed.
			r = firelens.DefaultForwardRecipe(firelens.TransportUnix)
			j.recipe.reach = "the forward receiver's unix socket " + r.UnixPath + " in the shared volume"
		case bridge:
			// Older Fluent Bit never matches acks over a unix socket: a
			// link, authenticated by the shared key.
			r = firelens.DefaultForwardRecipe(firelens.TransportTCP)
			r.Addr = net.JoinHostPort(j.opts.SidecarName, forwardPort())
			j.recipe.sidecarEnv = [][2]string{bridgeForwardEnv}
			j.recipe.link = true
			j.recipe.reach = fmt.Sprintf("the forward receiver at %s over a link, authenticated with the shared key (the unix socket in the shared volume needs Fluent Bit %s or later to match acks; this router's is %s)", r.Addr, firelens.UnixAcksMinVersion, orUnknown(j.fluentBit))
		default:
			r = firelens.DefaultForwardRecipe(firelens.TransportTCP)
			j.recipe.reach = "the forward receiver on " + r.Addr
		}
		if err := r.Validate(); err != nil {
			return err
		}
		j.recipe.name = RecipeForward
		j.recipe.launcherArgs = r.LauncherArgs()
		j.recipe.fluentBit = r.FluentBitArgs()
		j.recipe.stale = [][2]string{bridgeSyslogEnv}
	default:
		return fmt.Errorf("recipe %q: want forward or syslog", j.opts.Recipe)
	}
	if !bridge {
		j.recipe.stale = append(j.recipe.stale, bridgeSyslogEnv, bridgeForwardEnv)
	}
	return nil
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}
