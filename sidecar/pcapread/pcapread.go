// Package pcapread reads capture files, pcap and pcapng, one frame at a
// time into reused buffers, with each frame's interface and link type.
package pcapread

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"time"
)

// MaxCapLen bounds a record's captured length: a larger record is damage
// (or a fuzzed file), not a frame. It is the largest snap length libpcap
// and Wireshark accept for the link types sidewatch decodes (262144).
const MaxCapLen = 256 << 10

// maxBlock bounds a pcapng block (Wireshark's limit is 16 MiB too): a
// larger length is a damaged file.
const maxBlock = 16 << 20

// maxInterfaces bounds the interfaces of one file, so that a file of
// nothing but Interface Description Blocks cannot take all memory.
const maxInterfaces = 1 << 16

// pcap magic numbers, as read little-endian from the first four bytes.
const (
	magicMicro        = 0xa1b2c3d4
	magicNano         = 0xa1b23c4d
	magicMicroSwapped = 0xd4c3b2a1
	magicNanoSwapped  = 0x4d3cb2a1
)

// pcapng block types.
const (
	blockIDB         = 0x00000001 // Interface Description
	blockPB          = 0x00000002 // Packet (obsolete)
	blockSPB         = 0x00000003 // Simple Packet
	blockEPB         = 0x00000006 // Enhanced Packet
	blockSHB         = 0x0a0d0d0a // Section Header
	byteOrderMagic   = 0x1a2b3c4d // as read little-endian from a little-endian section
	byteOrderSwapped = 0x4d3c2b1a // ... from a big-endian one
)

// pcapng options of an Interface Description Block.
const (
	optEnd      = 0
	optName     = 2
	optTSResol  = 9
	optTSOffset = 14
)

// Interface is a capture interface: the one of a pcap file, or one
// Interface Description Block of a pcapng file.
type Interface struct {
	// Name is the pcapng if_name option. An unnamed pcapng interface is
	// named "<section>:<id>" (both counted from 0 in file order: "1:0" is
	// the first interface of the second section), which no real interface
	// name looks like; a pcap file's interface has no name ("").
	Name     string
	LinkType uint16 // LINKTYPE_* number
	Snaplen  uint32 // 0: no limit given
	Section  int    // pcapng section, counted from 0 (0 for pcap)
	ID       int    // interface id within the section (0 for pcap)

	tps    uint64 // timestamp units per second
	offset int64  // seconds added to every timestamp (if_tsoffset)
}

// time converts a timestamp of units since the epoch (plus the offset).
func (in *Interface) time(units uint64) time.Time {
	sec := units / in.tps
	hi, lo := bits.Mul64(units%in.tps, 1e9)
	ns, _ := bits.Div64(hi, lo, in.tps) // hi < tps: no overflow
	return time.Unix(int64(sec)+in.offset, int64(ns))
}

// Frame is one captured frame.
type Frame struct {
	Time      time.Time
	Data      []byte // the captured bytes, valid until the next call to Next
	OrigLen   int    // the frame's length on the wire, as recorded
	Interface int    // index into the reader's interfaces (see Interface)
}

// Stats counts what a Reader met besides frames.
type Stats struct {
	// CapLenOverOrigLen counts records whose captured length exceeds their
	// original length: they are read as captured, as tshark reads them.
	CapLenOverOrigLen int
	// SkippedBlocks counts pcapng blocks read past (name resolution,
	// statistics, decryption secrets, custom and unknown blocks).
	SkippedBlocks int
}

// lengthOrder says whether a pcap file's record header has the captured
// and original lengths in the modern order (libpcap 2.3 swapped them).
type lengthOrder uint8

const (
	lengthsModern  lengthOrder = iota
	lengthsSwapped             // version 2.0-2.2
	lengthsMaybe               // version 2.3: swapped if caplen > len
)

// Reader reads frames from a pcap or pcapng file. Not safe for concurrent
// use.
type Reader struct {
	br    *bufio.Reader
	ng    bool
	order binary.ByteOrder
	off   int64 // offset in the file of the next byte to read
	n     int   // records (pcap) or blocks (pcapng) started so far
	hdr   [32]byte
	buf   []byte

	ifaces  []Interface // every interface of the file, sections in turn
	section int         // current pcapng section
	base    int         // index in ifaces of the section's interface 0

	pcapNano bool
	lengths  lengthOrder
	last     time.Time // the previous frame's time (for Simple Packet Blocks)
	stats    Stats
}

// NewReader reads the file header of a pcap or pcapng file from r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	if err := rd.readFull(rd.hdr[:4]); err != nil {
		return nil, fmt.Errorf("read file header: %w", noEOF(err))
	}
	if binary.LittleEndian.Uint32(rd.hdr[:4]) == blockSHB {
		rd.ng = true
		rd.section = -1
		if err := rd.readSHB(0); err != nil {
			return nil, err
		}
		return rd, nil
	}
	return rd, rd.readPcapHeader()
}

// Interface returns the interface a Frame's Interface index names.
func (r *Reader) Interface(i int) Interface { return r.ifaces[i] }

// Interfaces returns how many interfaces the file has declared so far.
func (r *Reader) Interfaces() int { return len(r.ifaces) }

// Stats returns the counts so far.
func (r *Reader) Stats() Stats { return r.stats }

// Next reads the next frame. It returns io.EOF at the clean end of the
// file; any other error names the record or block and its offset, and the
// frames before it stand (a file cut short ends in an error wrapping
// io.ErrUnexpectedEOF).
func (r *Reader) Next() (Frame, error) {
	if r.ng {
		return r.nextBlock()
	}
	return r.nextRecord()
}

// readFull reads len(b) bytes: io.EOF if none were left, or
// io.ErrUnexpectedEOF if some were.
func (r *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(r.br, b)
	r.off += int64(n)
	return err
}

// discard skips n bytes.
func (r *Reader) discard(n int) error {
	m, err := r.br.Discard(n)
	r.off += int64(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// data reads n bytes into the reused buffer.
func (r *Reader) data(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, max(n, 2048, 2*cap(r.buf)))
	}
	b := r.buf[:n]
	return b, noEOF(r.readFull(b))
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF, for reads that must not
// meet the end of the file.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) readPcapHeader() error {
	h := r.hdr[:24]
	if err := r.readFull(h[4:]); err != nil {
		return fmt.Errorf("read pcap file header: %w", noEOF(err))
	}
	switch magic := binary.LittleEndian.Uint32(h); magic {
	case magicMicro:
		r.order = binary.LittleEndian
	case magicNano:
		r.order, r.pcapNano = binary.LittleEndian, true
	case magicMicroSwapped:
		r.order = binary.BigEndian
	case magicNanoSwapped:
		r.order, r.pcapNano = binary.BigEndian, true
	default:
		return fmt.Errorf("not a pcap or pcapng file (magic number %08x)", magic)
	}
	major, minor := r.order.Uint16(h[4:]), r.order.Uint16(h[6:])
	if major != 2 || minor > 4 {
		return fmt.Errorf("pcap version %d.%d not supported (2.0 to 2.4)", major, minor)
	}
	switch {
	case minor < 3:
		r.lengths = lengthsSwapped
	case minor == 3:
		r.lengths = lengthsMaybe
	}
	// The upper bits of the link type field carry FCS information.
	link := r.order.Uint32(h[20:]) & 0x03ffffff
	if link > 0xffff {
		return fmt.Errorf("pcap link type %d not supported", link)
	}
	in := Interface{LinkType: uint16(link), Snaplen: r.order.Uint32(h[16:]), tps: 1e6}
	if r.pcapNano {
		in.tps = 1e9
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

// nextRecord reads one pcap record.
func (r *Reader) nextRecord() (Frame, error) {
	start := r.off
	h := r.hdr[:16]
	if err := r.readFull(h); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("record %d at offset %d: header: %w", r.n+1, start, err)
	}
	r.n++
	sec, frac := r.order.Uint32(h[0:]), r.order.Uint32(h[4:])
	caplen, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if r.lengths == lengthsSwapped || (r.lengths == lengthsMaybe && caplen > orig) {
		caplen, orig = orig, caplen
	}
	if caplen > MaxCapLen {
		return Frame{}, fmt.Errorf("record %d at offset %d: captured length %d exceeds %d", r.n, start, caplen, MaxCapLen)
	}
	data, err := r.data(int(caplen))
	if err != nil {
		return Frame{}, fmt.Errorf("record %d at offset %d: %d captured bytes: %w", r.n, start, caplen, err)
	}
	if caplen > orig {
		r.stats.CapLenOverOrigLen++
	}
	ns := int64(frac)
	if !r.pcapNano {
		ns *= 1000
	}
	return Frame{Time: time.Unix(int64(sec), ns), Data: data, OrigLen: int(orig)}, nil
}

// readSHB reads a Section Header Block whose first four bytes (the block
// type) have been read, and starts a section.
func (r *Reader) readSHB(start int64) error {
	r.n++
	h := r.hdr[:16]
	if err := r.readFull(h[4:12]); err != nil {
		return r.blockErr(blockSHB, start, "header: %w", noEOF(err))
	}
	switch binary.LittleEndian.Uint32(h[8:]) {
	case byteOrderMagic:
		r.order = binary.LittleEndian
	case byteOrderSwapped:
		r.order = binary.BigEndian
	default:
		return r.blockErr(blockSHB, start, "byte-order magic %08x is neither 1a2b3c4d nor 4d3c2b1a", binary.LittleEndian.Uint32(h[8:]))
	}
	length := r.order.Uint32(h[4:])
	if length < 28 || length%4 != 0 || length > maxBlock {
		return r.blockErr(blockSHB, start, "block length %d (want a multiple of 4 from 28 to %d)", length, maxBlock)
	}
	if err := r.readFull(h[12:16]); err != nil {
		return r.blockErr(blockSHB, start, "header: %w", noEOF(err))
	}
	if major, minor := r.order.Uint16(h[12:]), r.order.Uint16(h[14:]); major != 1 {
		return r.blockErr(blockSHB, start, "pcapng version %d.%d not supported (1.x)", major, minor)
	}
	// The section length (8 bytes) and the options are not needed.
	if err := r.discard(int(length) - 16 - 4); err != nil {
		return r.blockErr(blockSHB, start, "%w", err)
	}
	if err := r.trailer(blockSHB, start, length); err != nil {
		return err
	}
	r.section++
	r.base = len(r.ifaces)
	return nil
}

// trailer reads a block's trailing total length and checks it.
func (r *Reader) trailer(typ uint32, start int64, length uint32) error {
	b := r.hdr[:4]
	if err := r.readFull(b); err != nil {
		return r.blockErr(typ, start, "trailing length: %w", noEOF(err))
	}
	if got := r.order.Uint32(b); got != length {
		return r.blockErr(typ, start, "trailing length %d differs from the block length %d", got, length)
	}
	return nil
}

// blockErr names the current block in an error.
func (r *Reader) blockErr(typ uint32, start int64, format string, args ...any) error {
	return fmt.Errorf("block %d (%s) at offset %d: %w", r.n, blockName(typ), start, fmt.Errorf(format, args...))
}

func blockName(typ uint32) string {
	switch typ {
	case blockSHB:
		return "section header"
	case blockIDB:
		return "interface description"
	case blockEPB:
		return "enhanced packet"
	case blockSPB:
		return "simple packet"
	case blockPB:
		return "packet"
	}
	return "type 0x" + strconv.FormatUint(uint64(typ), 16)
}

// nextBlock reads pcapng blocks up to the next frame.
func (r *Reader) nextBlock() (Frame, error) {
	for {
		start := r.off
		h := r.hdr[:8]
		if err := r.readFull(h[:4]); err != nil {
			if err == io.EOF {
				return Frame{}, io.EOF
			}
			return Frame{}, fmt.Errorf("block %d at offset %d: header: %w", r.n+1, start, err)
		}
		if typ := r.order.Uint32(h); typ == blockSHB {
			if err := r.readSHB(start); err != nil {
				return Frame{}, err
			}
			continue
		}
		r.n++
		if err := r.readFull(h[4:8]); err != nil {
			return Frame{}, fmt.Errorf("block %d at offset %d: header: %w", r.n, start, noEOF(err))
		}
		typ, length := r.order.Uint32(h), r.order.Uint32(h[4:])
		if length < 12 || length%4 != 0 || length > maxBlock {
			return Frame{}, r.blockErr(typ, start, "block length %d (want a multiple of 4 from 12 to %d)", length, maxBlock)
		}
		body := int(length) - 12
		var f Frame
		var isFrame bool
		var err error
		switch typ {
		case blockEPB, blockPB:
			f, err = r.packet(typ, start, body)
			isFrame = true
		case blockSPB:
			f, err = r.simplePacket(start, body)
			isFrame = true
		case blockIDB:
			err = r.interfaceDescription(start, body)
		default:
			r.stats.SkippedBlocks++
			if err = r.discard(body); err != nil {
				err = r.blockErr(typ, start, "%w", err)
			}
		}
		if err == nil {
			err = r.trailer(typ, start, length)
		}
		if err != nil {
			return Frame{}, err
		}
		if isFrame {
			r.last = f.Time
			return f, nil
		}
	}
}

// iface resolves an interface id of the current section.
func (r *Reader) iface(typ uint32, start int64, id uint32) (int, error) {
	if uint64(id) >= uint64(len(r.ifaces)-r.base) {
		return 0, r.blockErr(typ, start, "interface id %d out of range (section %d has %d interfaces)", id, r.section, len(r.ifaces)-r.base)
	}
	return r.base + int(id), nil
}

// packet reads the body of an Enhanced Packet Block or an obsolete Packet
// Block, which differ only in the width of the interface id.
func (r *Reader) packet(typ uint32, start int64, body int) (Frame, error) {
	if body < 20 {
		return Frame{}, r.blockErr(typ, start, "block length %d too short", body+12)
	}
	h := r.hdr[:20]
	if err := r.readFull(h); err != nil {
		return Frame{}, r.blockErr(typ, start, "header: %w", noEOF(err))
	}
	id := r.order.Uint32(h)
	if typ == blockPB {
		id = uint32(r.order.Uint16(h)) // then 16 bits of drop count
	}
	idx, err := r.iface(typ, start, id)
	if err != nil {
		return Frame{}, err
	}
	units := uint64(r.order.Uint32(h[4:]))<<32 | uint64(r.order.Uint32(h[8:]))
	caplen, orig := r.order.Uint32(h[12:]), r.order.Uint32(h[16:])
	if caplen > MaxCapLen {
		return Frame{}, r.blockErr(typ, start, "captured length %d exceeds %d", caplen, MaxCapLen)
	}
	padded := (int(caplen) + 3) &^ 3
	if padded > body-20 {
		return Frame{}, r.blockErr(typ, start, "captured length %d overruns the block (length %d)", caplen, body+12)
	}
	data, err := r.data(int(caplen))
	if err == nil {
		err = r.discard(body - 20 - int(caplen)) // padding and options
	}
	if err != nil {
		return Frame{}, r.blockErr(typ, start, "%w", err)
	}
	if caplen > orig {
		r.stats.CapLenOverOrigLen++
	}
	return Frame{Time: r.ifaces[idx].time(units), Data: data, OrigLen: int(orig), Interface: idx}, nil
}

// simplePacket reads the body of a Simple Packet Block: a frame of the
// section's first interface, cut to its snap length, without a timestamp
// (it takes the previous frame's, so that a replay's clock stands still).
func (r *Reader) simplePacket(start int64, body int) (Frame, error) {
	if body < 4 {
		return Frame{}, r.blockErr(blockSPB, start, "block length %d too short", body+12)
	}
	idx, err := r.iface(blockSPB, start, 0)
	if err != nil {
		return Frame{}, err
	}
	h := r.hdr[:4]
	if err := r.readFull(h); err != nil {
		return Frame{}, r.blockErr(blockSPB, start, "header: %w", noEOF(err))
	}
	orig := r.order.Uint32(h)
	caplen := uint64(min(uint64(orig), uint64(body-4)))
	if snap := r.ifaces[idx].Snaplen; snap != 0 {
		caplen = min(caplen, uint64(snap))
	}
	if caplen > MaxCapLen {
		return Frame{}, r.blockErr(blockSPB, start, "captured length %d exceeds %d", caplen, MaxCapLen)
	}
	data, err := r.data(int(caplen))
	if err == nil {
		err = r.discard(body - 4 - int(caplen))
	}
	if err != nil {
		return Frame{}, r.blockErr(blockSPB, start, "%w", err)
	}
	return Frame{Time: r.last, Data: data, OrigLen: int(orig), Interface: idx}, nil
}

// interfaceDescription reads the body of an Interface Description Block
// and adds the interface to the section. The options are read one at a
// time (each at most 64 KiB), so that a block's length alone cannot make
// the reader allocate.
func (r *Reader) interfaceDescription(start int64, body int) error {
	if body < 8 {
		return r.blockErr(blockIDB, start, "block length %d too short", body+12)
	}
	if len(r.ifaces) >= maxInterfaces {
		return r.blockErr(blockIDB, start, "more than %d interfaces", maxInterfaces)
	}
	h := r.hdr[:8]
	if err := r.readFull(h); err != nil {
		return r.blockErr(blockIDB, start, "%w", noEOF(err))
	}
	id := len(r.ifaces) - r.base
	in := Interface{
		LinkType: r.order.Uint16(h),
		Snaplen:  r.order.Uint32(h[4:]),
		Section:  r.section,
		ID:       id,
		tps:      1e6,
	}
	for left := body - 8; left > 0; {
		if left < 4 {
			// Not room for an option: padding.
			if err := r.discard(left); err != nil {
				return r.blockErr(blockIDB, start, "%w", err)
			}
			break
		}
		oh := r.hdr[:4]
		if err := r.readFull(oh); err != nil {
			return r.blockErr(blockIDB, start, "option: %w", noEOF(err))
		}
		left -= 4
		code, n := r.order.Uint16(oh), int(r.order.Uint16(oh[2:]))
		if code == optEnd {
			if err := r.discard(left); err != nil {
				return r.blockErr(blockIDB, start, "%w", err)
			}
			break
		}
		if n > left {
			return r.blockErr(blockIDB, start, "option %d of length %d overruns the block", code, n)
		}
		padded := min((n+3)&^3, left)
		b, err := r.data(padded)
		if err != nil {
			return r.blockErr(blockIDB, start, "option %d: %w", code, err)
		}
		left -= padded
		v := b[:n]
		switch code {
		case optName:
			in.Name = string(v)
		case optTSResol:
			if n != 1 {
				return r.blockErr(blockIDB, start, "if_tsresol of length %d, want 1", n)
			}
			tps, ok := unitsPerSecond(v[0])
			if !ok {
				return r.blockErr(blockIDB, start, "if_tsresol %#02x: units finer than 2^-63 or 10^-19 s not supported", v[0])
			}
			in.tps = tps
		case optTSOffset:
			if n != 8 {
				return r.blockErr(blockIDB, start, "if_tsoffset of length %d, want 8", n)
			}
			in.offset = int64(r.order.Uint64(v))
		}
	}
	if in.Name == "" {
		in.Name = strconv.Itoa(r.section) + ":" + strconv.Itoa(id)
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

// unitsPerSecond decodes if_tsresol: 10^-n seconds, or 2^-n when the top
// bit is set.
func unitsPerSecond(v byte) (uint64, bool) {
	n := v & 0x7f
	if v&0x80 != 0 {
		return 1 << n, n <= 63
	}
	if n > 19 {
		return 0, false
	}
	tps := uint64(1)
	for range n {
		tps *= 10
	}
	return tps, true
}
