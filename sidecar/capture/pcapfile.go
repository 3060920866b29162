package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/pcapread"
)

// stepGap is the longest gap in a file's timestamps crossed one second at a
// time, as the live capture's clock ticks; across a longer one the replay
// goes straight to each second at which a flow is due (Table.NextDeadline),
// so that a packet's cost does not grow with the gap before it.
const stepGap = 64 * time.Second

// FileStats counts what ReadFile read.
type FileStats struct {
	Packets int       // frames handed to the table
	First   time.Time // timestamp of the first frame
	Last    time.Time // timestamp of the last frame
	// CapLenOverOrigLen counts records that captured more bytes than their
	// original length: read as captured, as tshark reads them.
	CapLenOverOrigLen int
	// SkippedBlocks counts pcapng blocks that hold no frame and are not
	// needed (name resolution, statistics, secrets, custom blocks).
	SkippedBlocks int
}

// ReadFile feeds every frame of the pcap or pcapng file at path to table,
// exactly as the live capture does, with packet time as the clock: before
// a frame, table.Expire runs at each whole second passed since the
// previous frame, as the live capture runs it each second of wall time.
// ReadFile does not flush the table, so that several files can be read in
// turn. in_iface is the pcapng interface name ("" for pcap files; see
// pcapread.Interface for unnamed pcapng interfaces). The frames before an
// error (a file cut short) have been read.
func ReadFile(ctx context.Context, path string, table *flow.Table) (FileStats, error) {
	f, err := openInput(ctx, path)
	if err != nil {
		return FileStats{}, err
	}
	defer f.Close()
	// A read that waits (a FIFO whose writer is slow) ends at cancellation;
	// a regular file has no deadline and is checked between frames.
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	st, err := readPackets(ctx, f, table)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	return st, nil
}

// openInput opens path for reading. Opening a FIFO waits for its writer,
// so that wait ends at cancellation too (SIGTERM during a replay of a pipe
// nobody writes to), and the FIFO is read through the runtime's poller.
func openInput(ctx context.Context, path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return os.Open(path)
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		ch <- opened{f, err}
	}()
	var waited opened
	select {
	case waited = <-ch:
	case <-ctx.Done():
		// Release the blocked open by being its writer for a moment.
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		select {
		case r := <-ch:
			if r.f != nil {
				r.f.Close()
			}
		case <-time.After(time.Second):
			// Not released (no permission to write): the goroutine ends
			// with the process, which is stopping.
		}
		return nil, fmt.Errorf("open %s: %w", path, ctx.Err())
	}
	if waited.err != nil {
		return nil, waited.err
	}
	defer waited.f.Close()
	// A writer is there: a second, non-blocking descriptor goes through the
	// poller, so that SetReadDeadline can end a read that waits.
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

func readPackets(ctx context.Context, r io.Reader, table *flow.Table) (FileStats, error) {
	var st FileStats
	src, err := pcapread.NewReader(r)
	if err != nil {
		return st, err
	}
	var next time.Time // the next whole second at which to expire
	for {
		if st.Packets%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		f, err := src.Next()
		rs := src.Stats()
		st.CapLenOverOrigLen, st.SkippedBlocks = rs.CapLenOverOrigLen, rs.SkippedBlocks
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		ts := f.Time
		if st.Packets == 0 {
			st.First = ts
			next = ts.Truncate(time.Second).Add(time.Second)
		}
		for !ts.Before(next) {
			if ts.Sub(next) > stepGap {
				next = nextDue(table, next, ts)
			}
			table.Expire(next)
			next = next.Add(time.Second)
		}
		in := src.Interface(f.Interface)
		if link := flow.LinkType(in.LinkType); !link.Decoded() {
			return st, fmt.Errorf("frame %d: link type %d (interface %q) is not one sidewatch decodes (Ethernet, Linux SLL and SLL2, BSD loopback, raw IPv4/IPv6)", st.Packets+1, in.LinkType, in.Name)
		}
		table.Packet(ts, in.Name, flow.LinkType(in.LinkType), f.Data, f.OrigLen)
		st.Packets++
		st.Last = ts
	}
}

// nextDue returns the second at which to run Expire next, from next, when
// the next frame is at ts, far ahead: the first whole second at or after
// the table's next deadline, or ts's own second when nothing is due before.
// Expire ends a flow with the same record at any time after its timeout, so
// skipping seconds at which nothing is due changes no event.
func nextDue(table *flow.Table, next, ts time.Time) time.Time {
	to := ts.Truncate(time.Second)
	if d, ok := table.NextDeadline(); ok {
		if c := d.Truncate(time.Second); c.Before(d) {
			d = c.Add(time.Second)
		} else {
			d = c
		}
		if d.Before(to) {
			to = d
		}
	}
	if to.After(next) {
		return to
	}
	return next
}
