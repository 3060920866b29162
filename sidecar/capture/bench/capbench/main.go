// Command capbench runs the live capture path of the sidecar (capture.Open,
// flow table, events counted and discarded) until SIGTERM, then prints the
// capture and flow counters as JSON. make bench-capture compares it with
// tcpdump on the same interface. CAPBENCH_CPUPROFILE=FILE writes a CPU
// profile.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

type countEvents struct{ n atomic.Uint64 }

func (c *countEvents) Offer(event.Event) bool { c.n.Add(1); return true }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capbench:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := capture.DefaultConfig()
	if v := os.Getenv("SIDEWATCH_CAPTURE_INTERFACES"); v != "" {
		cfg.Interfaces = strings.Split(v, ",")
	}
	if v := os.Getenv("SIDEWATCH_CAPTURE_RING_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &cfg.RingMiB); err != nil {
			return fmt.Errorf("SIDEWATCH_CAPTURE_RING_MIB: %w", err)
		}
	}
	reg := metrics.New()
	c, err := capture.Open(cfg, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if path := os.Getenv("CAPBENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	events := &countEvents{}
	fmt.Fprintln(os.Stderr, "capbench: capturing")
	if err := c.Run(ctx, flow.NewTable(flow.DefaultConfig(), events, reg)); err != nil {
		return err
	}
	stats := reg.Stats()
	stats["events"] = events.n.Load()
	return json.NewEncoder(os.Stdout).Encode(stats)
}
