// Package sidecar is the sidewatch agent process: it wires the producers
// (syslog receiver, packet capture), the task metadata, the pipeline, the
// sinks and the health listener together, and owns their lifetimes.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/health"
	"github.com/sidewatch/sidewatch/sidecar/metadata"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
	"github.com/sidewatch/sidewatch/sidecar/privdrop"
	"github.com/sidewatch/sidewatch/sidecar/sink"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/cloudwatch"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/sink/firehose"
	"github.com/sidewatch/sidewatch/sidecar/sink/s3"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// Run starts the agent and blocks until ctx is cancelled (SIGTERM) or a
// component fails, then shuts down within cfg.ShutdownTimeout: inputs stop
// taking input and drain, the pipeline writes what is queued and a final
// stats event and flushes the sinks, then services stop. stdout receives
// events when the stdout sink is selected.
func Run(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger, version string) error {
	started := time.Now()
	reg := metrics.New()
	reg.Info("build", "info", "Always 1; the version label names the build.", "version", version)
	ps, hs, err := open(ctx, cfg, stdout, log, reg)
	if err != nil {
		return err
	}
	ready := func() {
		// Start-up (flag parsing, SDK and rule set-up) leaves a few MiB of
		// freed heap that the runtime would hand back only slowly; return
		// it now, since an idle sidecar should cost its task little
		// (docs/image.md, "Footprint").
		debug.FreeOSMemory()
		if hs != nil {
			hs.Ready()
			log.Info("health listener up", "addr", hs.Addr().String())
		}
		log.Info("sidewatch running", "version", version, "sinks", cfg.Sinks, "startup", time.Since(started).Round(time.Microsecond).String(),
			"record_memory_max_mib", recordMemory(cfg)>>20, "rss_max_mib", rssBound(cfg)>>20)
	}
	stopping := func(cause error) {
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout, "cause", cause)
	}
	return ps.run(ctx, cfg.ShutdownTimeout, ready, stopping)
}

// open builds the sidecar's components in start order, opening every
// privileged socket before the privilege drop, and the sinks and the
// health listener after it: a sink creates its files as the user it will
// write and rotate them as (a directory that user cannot write is a
// startup error, not a rotation failing later). On error, what was opened
// is closed.
func open(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger, reg *metrics.Registry) (ps parts, hs *health.Server, err error) {
	defer func() {
		if err != nil {
			ps.close()
		}
	}()

	// Side effects the log_router depends on come first.
	if !cfg.NoLauncher {
		path, err := installLauncher(cfg.LauncherSource, cfg.LauncherDir)
		if err != nil {
			return ps, nil, err
		}
		log.Info("launcher installed", "path", path)
	}

	// Task metadata: a bounded wait, then start anyway.
	meta := metadata.NewWatcher(cfg.Metadata, &http.Client{Timeout: 5 * time.Second}, reg)
	if cfg.Metadata.URI != "" {
		if err := meta.Start(ctx); err != nil {
			log.Warn("starting without task metadata; will keep trying", "err", err)
		}
		ps.add("metadata", stageService, meta)
	}

	// The pipeline gets its sinks after the privilege drop, before it runs.
	pipe := pipeline.New(pipeline.Config{
		MaxBytes:      cfg.QueueMaxBytes,
		StatsInterval: cfg.StatsInterval,
		StallTimeout:  cfg.StallTimeout,
		Logger:        log.With("component", "pipeline"),
		EVE:           event.Options{CompressIPv6: cfg.EVEIPv6Compress},
	}, reg, meta)
	ps.add("pipeline", stagePipeline, pipe)

	// Detections: the inputs publish through the engine's tap, and the
	// engine is the flow table's last inspector (docs/detections.md).
	in, eng, err := openDetect(cfg, pipe, log, reg)
	if err != nil {
		return ps, nil, err
	}
	if eng != nil {
		ps.add("detect", stageService, eng)
		if len(cfg.Rules.Files) > 0 {
			d, w, err := OpenRules(cfg.Rules, eng, reg, log.With("component", "rules"))
			if err != nil {
				return ps, nil, err
			}
			eng.Add("rules", d)
			ps.add("rules", stageService, w)
		}
	}

	if cfg.Syslog.TCPAddr != "" || cfg.Syslog.UDPAddr != "" {
		rcv, err := syslog.Listen(cfg.Syslog, in, reg)
		if err != nil {
			return ps, nil, err
		}
		ps.add("syslog", stageInput, rcv)
		for _, w := range rcv.Warnings() {
			log.Warn(w)
		}
		tcp, udp := rcv.Addrs()
		log.Info("syslog receiver up", "tcp", addrString(tcp), "udp", addrString(udp))
	}
	if fc := cfg.forwardConfig(); fc.Enabled() {
		fwd, err := forward.Listen(fc, in, reg)
		if err != nil {
			return ps, nil, err
		}
		ps.add("forward", stageInput, fwd)
		tcp, unix := fwd.Addrs()
		log.Info("forward receiver up", "tcp", tcp, "unix", unix)
	}
	if !cfg.NoCapture {
		capt, err := capture.Open(captureConfig(cfg), reg)
		if err != nil {
			return ps, nil, fmt.Errorf("packet capture: %w", err)
		}
		ps.add("capture", stageInput, newCapturePart(capt, flow.NewTable(cfg.Flow, in, reg, inspectors(cfg.App, in, reg, eng)...)))
	}

	// The privileged sockets are open: drop privileges before any input is
	// read. The sinks and the health listener need none.
	if cfg.User != "" {
		if err := dropPrivileges(cfg.User); err != nil {
			return ps, nil, err
		}
		log.Info("privileges dropped", "user", cfg.User)
	}
	sinks, err := openSinks(cfg, stdout, meta, log, reg)
	if err != nil {
		return ps, nil, err
	}
	pipe.Attach(sinks...)
	for _, s := range sinks {
		if w, ok := s.(interface{ Warnings() []string }); ok {
			for _, msg := range w.Warnings() {
				log.Warn(msg)
			}
		}
	}
	if cfg.HealthAddr != "" {
		if hs, err = health.Listen(cfg.HealthAddr, reg); err != nil {
			return ps, nil, err
		}
		ps.add("health", stageService, hs)
		hs.AddCheck(pipe.Check)
		for _, s := range sinks {
			if h, ok := s.(interface{ Health() error }); ok {
				hs.AddCheck(h.Health)
			}
		}
	}
	return ps, hs, nil
}

// inspectors returns the flow table's inspectors: the app layer, unless
// every protocol is off, then the detection engine, if any.
func inspectors(cfg applayer.Config, out applayer.Emitter, reg *metrics.Registry, eng *detect.Engine) []flow.Inspector {
	var insp []flow.Inspector
	if cfg.Enabled() {
		insp = append(insp, applayer.New(cfg, out, reg))
	}
	if eng != nil {
		insp = append(insp, eng)
	}
	return insp
}

// capturePart runs the packet capture into its flow table. The flush that
// ends every open flow when the capture stops is deferred to Drain, where
// the final flow records wait for room in the queue within the shutdown
// budget (FlushWait) instead of being dropped when it is full.
type capturePart struct {
	*capture.Capture
	table   *flow.Table
	flushAt time.Time // when the capture stopped; written by Run
	ran     chan struct{}
}

func newCapturePart(c *capture.Capture, t *flow.Table) *capturePart {
	return &capturePart{Capture: c, table: t, ran: make(chan struct{})}
}

func (c *capturePart) Run(ctx context.Context) error {
	defer close(c.ran)
	return c.Capture.Run(ctx, deferredFlush{c.table, &c.flushAt})
}

func (c *capturePart) Drain(ctx context.Context) error {
	select {
	case <-c.ran:
	case <-ctx.Done():
		return errors.New("capture: still running at the shutdown deadline; open flows not reported")
	}
	at := c.flushAt
	if at.IsZero() {
		at = time.Now()
	}
	if n := c.table.FlushWait(ctx, at, flow.ReasonShutdown); n > 0 {
		return fmt.Errorf("capture: %d final flow records dropped (queue full at the shutdown deadline)", n)
	}
	return nil
}

// deferredFlush is the flow table as the capture sees it, with Flush
// recording the time only.
type deferredFlush struct {
	*flow.Table
	at *time.Time
}

func (d deferredFlush) Flush(now time.Time, _ string) { *d.at = now }

// openSinks opens the selected sinks in a fixed order: stdout, file, then
// the AWS sinks (s3, cloudwatch, firehose), each behind its own spool.
func openSinks(cfg Config, stdout io.Writer, meta *metadata.Watcher, log *slog.Logger, reg *metrics.Registry) (sinks []pipeline.Sink, err error) {
	defer func() {
		if err != nil {
			closeSinks(sinks)
		}
	}()
	if slices.Contains(cfg.Sinks, "stdout") {
		sinks = append(sinks, sink.NewStdout(stdout, cfg.Stdout))
	}
	if slices.Contains(cfg.Sinks, "file") {
		f, err := sink.OpenFile(cfg.File, reg)
		if err != nil {
			return sinks, err
		}
		sinks = append(sinks, f)
	}
	if !cfg.awsSinks() {
		return sinks, nil
	}
	awsCfg, err := awscfg.Load(cfg.AWS, meta.Task())
	if err != nil {
		return sinks, err
	}
	task := awscfg.TaskOf(meta.Task())
	sinkLog := log.With("component", "sink")
	opens := []struct {
		name string
		open func() (*delivery.Sink, error)
	}{
		{s3.Name, func() (*delivery.Sink, error) {
			return s3.Open(cfg.S3, awsCfg, task, cfg.Spool, cfg.Delivery, sinkLog, reg)
		}},
		{cloudwatch.Name, func() (*delivery.Sink, error) {
			return cloudwatch.Open(cfg.CloudWatch, awsCfg, task, cfg.Spool, cfg.Delivery, sinkLog, reg)
		}},
		{firehose.Name, func() (*delivery.Sink, error) {
			return firehose.Open(cfg.Firehose, awsCfg, cfg.Spool, cfg.Delivery, sinkLog, reg)
		}},
	}
	for _, o := range opens {
		if !slices.Contains(cfg.Sinks, o.name) {
			continue
		}
		s, err := o.open()
		if err != nil {
			return sinks, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// captureConfig adds the ports of the sidecar's own listeners (syslog
// receiver, health) to the loopback ports the capture filter leaves out, so
// that the agent does not watch itself.
func captureConfig(cfg Config) capture.Config {
	c := cfg.Capture
	c.IgnorePorts = slices.Clone(c.IgnorePorts)
	for _, addr := range []string{cfg.Syslog.TCPAddr, cfg.Syslog.UDPAddr, cfg.Forward.TCPAddr, cfg.HealthAddr} {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			if p, err := strconv.ParseUint(port, 10, 16); err == nil && p != 0 && !slices.Contains(c.IgnorePorts, uint16(p)) {
				c.IgnorePorts = append(c.IgnorePorts, uint16(p))
			}
		}
	}
	return c
}

func dropPrivileges(user string) error {
	u, err := privdrop.ParseUser(user)
	if err != nil {
		return fmt.Errorf("--user (SIDEWATCH_USER): %w", err)
	}
	return privdrop.Drop(u)
}

func closeSinks(sinks []pipeline.Sink) {
	for _, s := range sinks {
		s.Close()
	}
}

// addrString prints a listener address, or "off" for a disabled one.
func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
