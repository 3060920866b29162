package sidecar

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/sidewatch/sidewatch/internal/bounds"
	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/metadata"
	"github.com/sidewatch/sidewatch/sidecar/privdrop"
	"github.com/sidewatch/sidewatch/sidecar/rules"
	"github.com/sidewatch/sidewatch/sidecar/sink"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/cloudwatch"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/sink/firehose"
	"github.com/sidewatch/sidewatch/sidecar/sink/s3"
	"github.com/sidewatch/sidewatch/sidecar/spool"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// Config is everything `sidewatch run` takes. Each field is a flag and a
// SIDEWATCH_* environment variable, since Fargate containers are configured
// through their task definition's environment.
type Config struct {
	Sinks           []string      `name:"sink" env:"SIDEWATCH_SINK" default:"stdout" enum:"stdout,file,s3,cloudwatch,firehose" sep:"," help:"Where events go, comma-separated: stdout, file, s3, cloudwatch (CloudWatch Logs), firehose."`
	QueueMaxBytes   int64         `name:"queue-max-bytes" env:"SIDEWATCH_QUEUE_MAX_BYTES" default:"33554432" help:"Encoded bytes the event queue holds (32 MiB); when full, log producers wait and network events are dropped and counted."`
	StatsInterval   time.Duration `name:"stats-interval" env:"SIDEWATCH_STATS_INTERVAL" default:"60s" help:"Period of stats events (0 disables the periodic ones; one is always written at shutdown)."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"SIDEWATCH_SHUTDOWN_TIMEOUT" default:"25s" help:"Time allowed after SIGTERM to drain the queue and flush the sinks (ECS kills at 30s)."`
	HealthAddr      string        `name:"health-addr" env:"SIDEWATCH_HEALTH_ADDR" default:"127.0.0.1:9901" help:"Loopback address of /healthz and /metrics (empty disables)."`
	StallTimeout    time.Duration `name:"health-stall-timeout" env:"SIDEWATCH_HEALTH_STALL_TIMEOUT" default:"60s" help:"/healthz turns 503 once events have waited this long with no batch written, or every sink has failed this long."`
	LauncherSource  string        `name:"launcher-source" env:"SIDEWATCH_LAUNCHER_SOURCE" default:"/usr/local/lib/sidewatch/fluent-launch" help:"fluent-launch binary to install into the shared volume."`
	LauncherDir     string        `name:"launcher-dir" env:"SIDEWATCH_LAUNCHER_DIR" default:"/var/sidewatch/lib/fluent-bit" help:"Shared volume directory the log_router mounts with volumesFrom."`
	NoLauncher      bool          `name:"no-launcher" env:"SIDEWATCH_NO_LAUNCHER" help:"Do not install fluent-launch (no log_router in this task)."`
	NoCapture       bool          `name:"no-capture" env:"SIDEWATCH_NO_CAPTURE" help:"Do not capture packets (then run needs no CAP_NET_RAW)."`
	User            string        `name:"user" env:"SIDEWATCH_USER" placeholder:"UID[:GID]" help:"Once every socket is open, switch to this numeric user and group and clear all capabilities."`
	EVEIPv6Compress bool          `name:"eve-ipv6-compress" env:"SIDEWATCH_EVE_IPV6_COMPRESS" help:"Write IPv6 addresses compressed (fd99::1) instead of expanded as Suricata writes them (fd99:0000:...:0001)."`

	Stdout     sink.StdoutConfig `embed:"" group:"Stdout sink"`
	File       sink.FileConfig   `embed:"" group:"File sink"`
	AWS        awscfg.Config     `embed:"" group:"AWS sinks"`
	Delivery   delivery.Options  `embed:"" group:"AWS sinks"`
	Spool      spool.Config      `embed:"" group:"AWS sinks"`
	S3         s3.Config         `embed:"" group:"S3 sink"`
	CloudWatch cloudwatch.Config `embed:"" group:"CloudWatch Logs sink"`
	Firehose   firehose.Config   `embed:"" group:"Firehose sink"`
	Metadata   metadata.Config   `embed:"" group:"Task metadata"`
	Syslog     syslog.Config     `embed:"" group:"Syslog receiver"`
	Forward    forward.Config    `embed:"" group:"Forward receiver"`
	Capture    capture.Config    `embed:"" group:"Packet capture"`
	Flow       flow.Config       `embed:"" group:"Flows"`
	App        applayer.Config   `embed:"" group:"App layer"`
	Detect     detect.Config     `embed:"" group:"Detections"`
	Rules      rules.Config      `embed:"" group:"Rules"`
}

// Bounds of the options checked by Validate. Every numeric option has
// them, so that no value can panic or exhaust memory at startup.
const (
	minQueueBytes      = 1 << 20
	maxQueueBytes      = 8 << 30
	minStatsInterval   = 10 * time.Millisecond
	maxStatsInterval   = 24 * time.Hour
	minShutdownTimeout = 100 * time.Millisecond
	maxShutdownTimeout = 10 * time.Minute
	minStallTimeout    = time.Second
	maxStallTimeout    = 24 * time.Hour
)

// Validate checks the values kong cannot, naming the flag and variable.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs,
		bounds.Int("--queue-max-bytes", "SIDEWATCH_QUEUE_MAX_BYTES", c.QueueMaxBytes, minQueueBytes, maxQueueBytes),
		bounds.Duration("--stats-interval", "SIDEWATCH_STATS_INTERVAL", c.StatsInterval, 0, maxStatsInterval),
		bounds.Duration("--shutdown-timeout", "SIDEWATCH_SHUTDOWN_TIMEOUT", c.ShutdownTimeout, minShutdownTimeout, maxShutdownTimeout),
		bounds.Duration("--health-stall-timeout", "SIDEWATCH_HEALTH_STALL_TIMEOUT", c.StallTimeout, minStallTimeout, maxStallTimeout),
	)
	if c.StatsInterval > 0 && c.StatsInterval < minStatsInterval {
		errs = append(errs, fmt.Errorf("--stats-interval (SIDEWATCH_STATS_INTERVAL) must be 0 (off) or at least %s, got %s", minStatsInterval, c.StatsInterval))
	}
	if c.HealthAddr != "" {
		if _, _, err := net.SplitHostPort(c.HealthAddr); err != nil {
			errs = append(errs, fmt.Errorf("--health-addr (SIDEWATCH_HEALTH_ADDR) %q: want host:port: %w", c.HealthAddr, err))
		}
	}
	if len(c.Sinks) == 0 {
		errs = append(errs, errors.New("--sink (SIDEWATCH_SINK) names no sink"))
	}
	if slices.Contains(c.Sinks, "file") {
		if c.File.Path == "" {
			errs = append(errs, errors.New("--file-path (SIDEWATCH_FILE_PATH) is required with --sink file"))
		}
		if err := c.File.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.awsSinks() {
		for _, err := range []error{c.AWS.Validate(), c.Delivery.Validate(), c.Spool.Validate()} {
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if slices.Contains(c.Sinks, s3.Name) {
		if err := c.S3.Validate(true); err != nil {
			errs = append(errs, err)
		}
	}
	if slices.Contains(c.Sinks, cloudwatch.Name) {
		if err := c.CloudWatch.Validate(true); err != nil {
			errs = append(errs, err)
		}
	}
	if slices.Contains(c.Sinks, firehose.Name) {
		if err := c.Firehose.Validate(true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Metadata.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Syslog.Validate(); err != nil {
		errs = append(errs, err)
	}
	if fw := c.forwardConfig(); fw.Enabled() {
		if err := fw.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.NoCapture {
		if err := c.Capture.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := c.Flow.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := c.App.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Detect.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Rules.RequireEngine(c.Detect.Off); err != nil {
		errs = append(errs, err)
	}
	if c.User != "" {
		if _, err := privdrop.ParseUser(c.User); err != nil {
			errs = append(errs, fmt.Errorf("--user (SIDEWATCH_USER): %w", err))
		}
	}
	if !c.NoLauncher && (c.LauncherSource == "" || c.LauncherDir == "") {
		errs = append(errs, errors.New("--launcher-source (SIDEWATCH_LAUNCHER_SOURCE) and --launcher-dir (SIDEWATCH_LAUNCHER_DIR) must be set unless --no-launcher (SIDEWATCH_NO_LAUNCHER)"))
	}
	return errors.Join(errs...)
}

// awsSinks reports whether an AWS sink is selected.
func (c *Config) awsSinks() bool {
	return slices.ContainsFunc(c.Sinks, func(s string) bool { return s == s3.Name || s == cloudwatch.Name || s == firehose.Name })
}

// forwardConfig is the forward receiver's config with its files in the
// launcher directory unless set. Without the launcher (no log_router) the
// files have no default, so the receiver is off unless they are given.
func (c *Config) forwardConfig() forward.Config {
	if c.NoLauncher {
		f := c.Forward
		if f.KeyFile == "" {
			f.TCPAddr = ""
		}
		if f.UnixPath == "" {
			f.UnixPath = forward.Off
		}
		return f
	}
	return c.Forward.WithLauncherDir(c.LauncherDir)
}
