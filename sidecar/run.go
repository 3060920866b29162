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
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/health"
	"github.com/sidewatch/sidewatch/sidecar/metadata"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/pipeline"
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

	// 4. Listeners. Each is bound here, before anything runs, so that a
	// bind failure stops startup with a clear error.
	var rcv *syslog.Receiver
	if cfg.Syslog.TCPAddr != "" || cfg.Syslog.UDPAddr != "" {
		if rcv, err = syslog.Listen(cfg.Syslog, pipe, reg); err != nil {
			closeSinks(sinks)
			return err
		}
		for _, w := range rcv.Warnings() {
			log.Warn(w)
		}
	}
	var hs *health.Server
	if cfg.HealthAddr != "" {
		if hs, err = health.Listen(cfg.HealthAddr, reg); err != nil {
			if rcv != nil {
				rcv.Close()
			}
			closeSinks(sinks)
			return err
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

	pipeDone := make(chan error, 1)
	go func() { pipeDone <- pipe.Run(context.WithoutCancel(ctx)) }()
	if rcv != nil {
		startProducer("syslog", rcv.Serve)
		tcp, udp := rcv.Addrs()
		log.Info("syslog receiver up", "tcp", tcp, "udp", udp)
	}
	if cfg.Metadata.URI != "" {
		startService("metadata", meta.Run)
	}
	if hs != nil {
		startService("health", hs.Serve)
		hs.Ready()
		log.Info("health listener up", "addr", hs.Addr().String())
	}
	log.Info("sidewatch running", "version", version, "sinks", cfg.Sinks, "startup", time.Since(started).Round(time.Microsecond))

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

func closeSinks(sinks []pipeline.Sink) {
	for _, s := range sinks {
		s.Close()
	}
}
