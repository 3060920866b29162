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
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/health"
	"github.com/sidewatch/sidewatch/sidecar/metadata"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
	"github.com/sidewatch/sidewatch/sidecar/privdrop"
	"github.com/sidewatch/sidewatch/sidecar/sink"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// Run starts the agent and blocks until ctx is cancelled (SIGTERM), then
// shuts down within cfg.ShutdownTimeout: producers stop taking input, the
// queue drains, a final stats event is written and the sinks are flushed.
// stdout receives events when the stdout sink is selected.
func Run(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger, version string) error {
	started := time.Now()
	reg := metrics.New()
	reg.GaugeFunc("build", "info", "Always 1; the version label names the build.", func() float64 { return 1 }, "version", version)

	// 1. Side effects the log_router depends on come first.
	if !cfg.NoLauncher {
		path, err := installLauncher(cfg.LauncherSource, cfg.LauncherDir)
		if err != nil {
			return err
		}
		log.Info("launcher installed", "path", path)
	}

	// 2. Task metadata: a bounded wait, then start anyway.
	meta := metadata.NewWatcher(cfg.Metadata, &http.Client{Timeout: 5 * time.Second}, reg)
	if cfg.Metadata.URI != "" {
		if err := meta.Start(ctx); err != nil {
			log.Warn("starting without task metadata; will keep trying", "err", err)
		}
	}

	// 3. Sinks and the pipeline.
	sinks, err := openSinks(cfg, stdout, reg)
	if err != nil {
		return err
	}
	pipe := pipeline.New(pipeline.Config{
		QueueSize:     cfg.QueueSize,
		StatsInterval: cfg.StatsInterval,
		Logger:        log.With("component", "pipeline"),
	}, reg, meta, sinks...)

	// 4. Listeners and the capture socket. Each is opened here, before
	// anything runs, so that a failure stops startup with a clear error.
	var (
		rcv  *syslog.Receiver
		fwd  *forward.Receiver
		capt *capture.Capture
		hs   *health.Server
	)
	abort := func(err error) error {
		closeCapture(capt)
		if rcv != nil {
			rcv.Close()
		}
		if fwd != nil {
			fwd.Close()
		}
		closeSinks(sinks)
		return err
	}
	if cfg.Syslog.TCPAddr != "" || cfg.Syslog.UDPAddr != "" {
		if rcv, err = syslog.Listen(cfg.Syslog, pipe, reg); err != nil {
			return abort(err)
		}
		for _, w := range rcv.Warnings() {
			log.Warn(w)
		}
	}
	if fc := cfg.forwardConfig(); fc.Enabled() {
		if fwd, err = forward.Listen(fc, pipe, reg); err != nil {
			return abort(err)
		}
	}
	if !cfg.NoCapture {
		if capt, err = capture.Open(captureConfig(cfg), reg); err != nil {
			return abort(fmt.Errorf("packet capture: %w", err))
		}
	}
	// The privileged sockets are open: drop privileges before any input is
	// read. The health listener needs none (and has no Close to undo it).
	if cfg.User != "" {
		if err := dropPrivileges(cfg.User); err != nil {
			return abort(err)
		}
		log.Info("privileges dropped", "user", cfg.User)
	}
	if cfg.HealthAddr != "" {
		if hs, err = health.Listen(cfg.HealthAddr, reg); err != nil {
			return abort(err)
		}
	}

	// 5. Run everything. Producers stop on ctx; the pipeline stops when
	// Close is called after they have all returned.
	var (
		producers sync.WaitGroup
		services  sync.WaitGroup
		errMu     sync.Mutex
		runErr    error
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(name string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		errMu.Lock()
		runErr = errors.Join(runErr, fmt.Errorf("%s: %w", name, err))
		errMu.Unlock()
		cancel() // one failed component stops the agent
	}
	startProducer := func(name string, run func(context.Context) error) {
		producers.Add(1)
		go func() {
			defer producers.Done()
			fail(name, run(runCtx))
		}()
	}
	startService := func(name string, run func(context.Context) error) {
		services.Add(1)
		go func() {
			defer services.Done()
			fail(name, run(runCtx))
		}()
	}
	if capt != nil {
		table := flow.NewTable(cfg.Flow, pipe, reg)
		startProducer("capture", func(ctx context.Context) error { return capt.Run(ctx, table) })
	}

	pipeDone := make(chan error, 1)
	go func() { pipeDone <- pipe.Run(context.WithoutCancel(ctx)) }()
	if rcv != nil {
		startProducer("syslog", rcv.Serve)
		tcp, udp := rcv.Addrs()
		log.Info("syslog receiver up", "tcp", addrString(tcp), "udp", addrString(udp))
	}
	if fwd != nil {
		startProducer("forward", fwd.Serve)
		tcp, unix := fwd.Addrs()
		log.Info("forward receiver up", "tcp", tcp, "unix", unix)
	}
	if cfg.Metadata.URI != "" {
		startService("metadata", meta.Run)
	}
	if hs != nil {
		startService("health", hs.Serve)
		hs.Ready()
		log.Info("health listener up", "addr", hs.Addr().String())
	}
	log.Info("sidewatch running", "version", version, "sinks", cfg.Sinks, "startup", time.Since(started).Round(time.Microsecond).String())

	// 6. Shutdown.
	<-runCtx.Done()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	deadline := time.NewTimer(cfg.ShutdownTimeout)
	defer deadline.Stop()
	drained := make(chan error, 1)
	go func() {
		producers.Wait()
		pipe.Close()
		drained <- <-pipeDone
	}()
	select {
	case err := <-drained:
		fail("pipeline", err)
	case <-deadline.C:
		fail("shutdown", fmt.Errorf("not drained within --shutdown-timeout %s", cfg.ShutdownTimeout))
	}
	cancel()
	services.Wait()
	return runErr
}

func openSinks(cfg Config, stdout io.Writer, reg *metrics.Registry) ([]pipeline.Sink, error) {
	var sinks []pipeline.Sink
	if slices.Contains(cfg.Sinks, "stdout") {
		sinks = append(sinks, sink.NewStdout(stdout))
	}
	if slices.Contains(cfg.Sinks, "file") {
		f, err := sink.OpenFile(cfg.File, reg)
		if err != nil {
			closeSinks(sinks)
			return nil, err
		}
		sinks = append(sinks, f)
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

func closeCapture(c *capture.Capture) {
	if c != nil {
		c.Close()
	}
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
