package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// pcapngMagic is the block type of a pcapng Section Header Block, the
// first four bytes of every pcapng file (the same in either byte order).
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// maxExpireSteps bounds the one-second Expire steps taken across a gap in
// a file's timestamps; a longer gap is crossed in one call.
const maxExpireSteps = 24 * 60 * 60

// FileStats counts what ReadFile read.
type FileStats struct {
	Packets int       // frames handed to the table
	First   time.Time // timestamp of the first frame
	Last    time.Time // timestamp of the last frame
}

// ReadFile feeds every frame of the pcap or pcapng file at path to table,
// exactly as the live capture does, with packet time as the clock: before
// a frame, table.Expire runs at each whole second passed since the
// previous frame, as the live capture runs it each second of wall time.
// ReadFile does not flush the table, so that several files can be read in
// turn. in_iface is the pcapng interface name ("" for pcap files).
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

// frameSource is what pcapgo's pcap and pcapng readers have in common.
type frameSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func readPackets(ctx context.Context, r io.Reader, table *flow.Table) (FileStats, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return FileStats{}, fmt.Errorf("read file header: %w", err)
	}
	var src frameSource
	var ifaceOf func(int) (string, layers.LinkType)
	if string(magic) == string(pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return FileStats{}, fmt.Errorf("pcapng: %w", err)
		}
		src = ng
		ifaceOf = func(i int) (string, layers.LinkType) {
			intf, err := ng.Interface(i)
			if err != nil {
				return "", ng.LinkType()
			}
			return intf.Name, intf.LinkType
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return FileStats{}, fmt.Errorf("pcap: %w", err)
		}
		src = pr
		link := pr.LinkType()
		ifaceOf = func(int) (string, layers.LinkType) { return "", link }
	}

	type iface struct {
		name string
		link layers.LinkType
	}
	var ifaces []iface // by pcapng interface id, resolved on first use
	var st FileStats
	var next time.Time // the next whole second at which to expire
	for {
		if st.Packets%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("frame %d: %w", st.Packets+1, err)
		}
		idx := max(ci.InterfaceIndex, 0)
		for idx >= len(ifaces) {
			name, link := ifaceOf(len(ifaces))
			ifaces = append(ifaces, iface{name, link})
		}
		ts := ci.Timestamp
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
		in := ifaces[idx]
		table.Packet(ts, in.name, flow.LinkType(in.link), data, ci.Length)
		st.Packets++
		st.Last = ts
	}
}
