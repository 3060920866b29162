package main

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// ReplayCmd is `sidewatch replay FILE...`: it runs pcap and pcapng files
// through the sidecar's decode → flow → event path, with packet time as the
// clock, and prints the events as JSON lines on stdout.
type ReplayCmd struct {
	Files        []string        `arg:"" type:"existingfile" name:"file" help:"pcap or pcapng files, read in turn as one capture."`
	IPv6Compress bool            `name:"eve-ipv6-compress" help:"Write IPv6 addresses compressed (fd99::1) instead of expanded as Suricata writes them."`
	Flow         flow.Config     `embed:"" group:"Flows"`
	App          applayer.Config `embed:"" group:"App layer"`
}

// Run replays the files. A file that fails part-way (a capture cut short)
// is reported, and the flows read so far are still printed.
func (c *ReplayCmd) Run(e *env) error {
	if err := errors.Join(c.Flow.Validate(), c.App.Validate()); err != nil {
		return err
	}
	out := &lineWriter{w: bufio.NewWriterSize(e.stdout, 64<<10), opt: event.Options{CompressIPv6: c.IPv6Compress}}
	reg := metrics.New()
	var insp []flow.Inspector
	if c.App.Enabled() {
		insp = append(insp, applayer.New(c.App, out, reg))
	}
	table := flow.NewTable(c.Flow, out, reg, insp...)
	var errs []error
	var last time.Time
	packets := 0
	for _, path := range c.Files {
		st, err := capture.ReadFile(e.ctx, path, table)
		packets += st.Packets
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
	e.log.Info("replay done", "files", len(c.Files), "packets", packets, "flow", stats["flow"], "applayer", stats["applayer"], "reassembly", stats["reassembly"])
	return errors.Join(errs...)
}

// lineWriter is the replay's flow.Emitter: it writes each event as a JSON
// line. Unlike the live pipeline it never drops: replay has no clock to keep
// up with.
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
