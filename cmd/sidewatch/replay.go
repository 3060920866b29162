package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sidewatch/sidewatch/sidecar"
	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/rules"
)

// ReplayCmd is `sidewatch replay FILE...`: it runs pcap and pcapng files
// through the sidecar's decode → flow → event path, with packet time as the
// clock, and prints the events as JSON lines on stdout.
type ReplayCmd struct {
	Files        []string        `arg:"" type:"existingfile" name:"file" help:"pcap or pcapng files, read in turn as one capture."`
	IPv6Compress bool            `name:"eve-ipv6-compress" help:"Write IPv6 addresses compressed (fd99::1) instead of expanded as Suricata writes them."`
	Flow         flow.Config     `embed:"" group:"Flows"`
	App          applayer.Config `embed:"" group:"App layer"`
	Detect       detect.Config   `embed:"" group:"Detections"`
	Rules        rules.Config    `embed:"" group:"Rules"`
}

// Run replays the files. A file that fails part-way (a capture cut short)
// is reported, and the flows read so far are still printed.
func (c *ReplayCmd) Run(e *env) error {
	if err := errors.Join(c.Flow.Validate(), c.App.Validate(), c.Detect.Validate(), c.Rules.Validate(), c.Rules.RequireEngine(c.Detect.Off)); err != nil {
		return err
	}
	out := &lineWriter{w: bufio.NewWriterSize(e.stdout, 64<<10), opt: event.Options{CompressIPv6: c.IPv6Compress}}
	reg := metrics.New()
	// As run wires it: events through the detection engine's tap, the
	// engine after the app layer, the rules one of its detectors.
	var emit flow.Emitter = out
	var eng *detect.Engine
	if !c.Detect.Off {
		dc := c.Detect
		if len(dc.HomeNet) == 0 {
			// A capture is not this machine's traffic: without --home-net
			// the private ranges stand for the task, as in Suricata.
			dc.HomeNet = detect.SuricataHomeNet
		}
		var err error
		eng, err = detect.New(dc, out, reg, detect.Options{CommunityIDSeed: c.Flow.CommunityIDSeed, OnIntelLoad: sidecar.IntelLogger(e.log)})
		if err != nil {
			return fmt.Errorf("detections: %w", err)
		}
		if len(c.Rules.Files) > 0 {
			// Loaded once: the watcher's reloads are not run.
			d, _, err := sidecar.OpenRules(c.Rules, eng, reg, e.log)
			if err != nil {
				return err
			}
			eng.Add("rules", d)
		}
		emit = eng.Tap(out)
	}
	var insp []flow.Inspector
	if c.App.Enabled() {
		insp = append(insp, applayer.New(c.App, emit, reg))
	}
	if eng != nil {
		insp = append(insp, eng)
	}
	table := flow.NewTable(c.Flow, emit, reg, insp...)
	var errs []error
	var last time.Time
	packets, capOverOrig, skippedBlocks := 0, 0, 0
	for _, path := range c.Files {
		st, err := capture.ReadFile(e.ctx, path, table)
		packets += st.Packets
		capOverOrig += st.CapLenOverOrigLen
		skippedBlocks += st.SkippedBlocks
		if st.Last.After(last) {
			last = st.Last
		}
		if err != nil {
			errs = append(errs, err)
			if e.ctx.Err() != nil {
				break
			}
		}
	}
	table.Flush(last, flow.ReasonShutdown)
	if err := out.w.Flush(); err != nil && out.err == nil {
		out.err = err
	}
	if out.err != nil {
		errs = append(errs, fmt.Errorf("write events: %w", out.err))
	}
	stats := reg.Stats()
	e.log.Info("replay done", "files", len(c.Files), "packets", packets, "caplen_over_origlen", capOverOrig, "pcapng_blocks_skipped", skippedBlocks, "flow", stats["flow"], "applayer", stats["applayer"], "reassembly", stats["reassembly"], "detect", stats["detect"], "rules", stats["rules"])
	return errors.Join(errs...)
}

// lineWriter is the replay's flow.Emitter and the detection engine's
// pipeline and alert path: it writes each event as a JSON line. Unlike the
// live pipeline it never drops: replay has no clock to keep up with.
type lineWriter struct {
	w   *bufio.Writer
	opt event.Options
	buf []byte
	err error
}

func (l *lineWriter) Offer(ev event.Event) bool {
	if l.err != nil {
		return false
	}
	l.buf = append(ev.Append(l.buf[:0], l.opt), '\n')
	if _, err := l.w.Write(l.buf); err != nil {
		l.err = err
		return false
	}
	return true
}

// Publish writes ev (no producer of the replay waits).
func (l *lineWriter) Publish(_ context.Context, ev event.Event) error {
	if !l.Offer(ev) {
		return l.err
	}
	return nil
}

// OfferAlert writes an alert.
func (l *lineWriter) OfferAlert(ev event.Event) bool { return l.Offer(ev) }
