package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/pcapread"
)

// maxExpireSteps bounds the one-second Expire steps taken across a gap in
// a file's timestamps; a longer gap is crossed in one call.
const maxExpireSteps = 24 * 60 * 60

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
	f, err := os.Open(path)
	if err != nil {
		return FileStats{}, err
	}
	defer f.Close()
	st, err := readPackets(ctx, f, table)
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	return st, nil
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
		for steps := 0; !ts.Before(next); steps++ {
			if steps == maxExpireSteps {
				next = ts.Truncate(time.Second)
			}
			table.Expire(next)
			next = next.Add(time.Second)
		}
		in := src.Interface(f.Interface)
		table.Packet(ts, in.Name, flow.LinkType(in.LinkType), f.Data, f.OrigLen)
		st.Packets++
		st.Last = ts
	}
}
