package pcapread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// got is one frame as the tests compare it.
type got struct {
	Time    time.Time
	Data    string
	OrigLen int
	Iface   string
	Link    uint16
	Section int
	ID      int
}

// readAll reads every frame of file, up to the end or the first error.
func readAll(file []byte) ([]got, Stats, error) {
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, Stats{}, err
	}
	var out []got
	for {
		f, err := r.Next()
		if err == io.EOF {
			return out, r.Stats(), nil
		}
		if err != nil {
			return out, r.Stats(), err
		}
		in := r.Interface(f.Interface)
		out = append(out, got{f.Time.UTC(), string(f.Data), f.OrigLen, in.Name, in.LinkType, in.Section, in.ID})
	}
}

var (
	le byteOrder = binary.LittleEndian
	be byteOrder = binary.BigEndian
	t0           = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestPcap(t *testing.T) {
	sec := uint32(t0.Unix())
	two := func(order byteOrder, nano bool, frac2 uint32) []byte {
		b := pcapFile(order, nano, 2, 4, 262144, 1)
		b = pcapRecord(b, order, sec, 0, 4, 60, []byte("abcd"))
		return pcapRecord(b, order, sec+1, frac2, 3, 3, []byte("xyz"))
	}
	eth := func(tm time.Time, data string, orig int) got {
		return got{Time: tm, Data: data, OrigLen: orig, Link: 1}
	}
	wantTwo := func(frac time.Duration) []got {
		return []got{eth(t0, "abcd", 60), eth(at(time.Second+frac), "xyz", 3)}
	}
	// v21 has the lengths in the order before 2.3: original, then captured.
	v21 := pcapFile(le, false, 2, 1, 128, 1)
	v21 = pcapRecord(v21, le, sec, 0, 1514, 4, []byte("abcd"))
	v21 = pcapRecord(v21, le, sec, 5, 60, 2, []byte("ef"))
	// v23 was written both ways: swapped only where caplen > len.
	v23 := pcapFile(le, false, 2, 3, 128, 1)
	v23 = pcapRecord(v23, le, sec, 0, 4, 1514, []byte("abcd"))
	v23 = pcapRecord(v23, le, sec, 0, 60, 2, []byte("ef"))
	over := pcapFile(le, false, 2, 4, 0, 113)
	over = pcapRecord(over, le, sec, 0, 4, 2, []byte("abcd"))
	over = pcapRecord(over, le, sec, 1, 2, 2, []byte("ef"))
	huge := pcapRecord(pcapFile(le, false, 2, 4, 0, 1), le, sec, 0, 1, 1, []byte("a"))
	huge = pcapRecord(huge, le, sec, 0, MaxCapLen+1, MaxCapLen+1, nil)
	whole := two(le, false, 7)
	testReads(t, []readCase{
		{name: "little_endian_microseconds", file: two(le, false, 7), want: wantTwo(7 * time.Microsecond)},
		{name: "big_endian_microseconds", file: two(be, false, 7), want: wantTwo(7 * time.Microsecond)},
		{name: "little_endian_nanoseconds", file: two(le, true, 7), want: wantTwo(7)},
		{name: "big_endian_nanoseconds", file: two(be, true, 7), want: wantTwo(7)},
		{name: "version_2_0", file: concat(pcapFile(le, false, 2, 0, 0, 1), pcapRecord(nil, le, sec, 0, 9, 1, []byte("a")))[:41], want: []got{eth(t0, "a", 9)}},
		{name: "version_2_1_lengths_swapped", file: v21, want: []got{eth(t0, "abcd", 1514), eth(at(5*time.Microsecond), "ef", 60)}},
		{name: "version_2_3_swapped_where_caplen_exceeds_len", file: v23, want: []got{eth(t0, "abcd", 1514), eth(t0, "ef", 60)}},
		{name: "version_2_5_rejected", file: pcapFile(le, false, 2, 5, 0, 1), wantErr: "pcap version 2.5 not supported (2.0 to 2.4)"},
		{name: "version_1_0_rejected", file: pcapFile(le, false, 1, 0, 0, 1), wantErr: "pcap version 1.0 not supported"},
		{name: "version_3_0_rejected", file: pcapFile(be, false, 3, 0, 0, 1), wantErr: "pcap version 3.0 not supported"},
		{name: "fcs_bits_of_link_type_ignored", file: pcapRecord(pcapFile(le, false, 2, 4, 0, 0x10000001), le, sec, 0, 1, 1, []byte("a")), want: []got{eth(t0, "a", 1)}},
		{name: "link_type_above_16_bits_rejected", file: pcapFile(le, false, 2, 4, 0, 0x10000), wantErr: "pcap link type 65536 not supported"},
		{
			name: "caplen_over_origlen_kept_and_counted", file: over,
			want:      []got{{Time: t0, Data: "abcd", OrigLen: 2, Link: 113}, {Time: at(time.Microsecond), Data: "ef", OrigLen: 2, Link: 113}},
			wantStats: Stats{CapLenOverOrigLen: 1},
		},
		{name: "caplen_over_bound", file: huge, want: []got{eth(t0, "a", 1)}, wantErr: "record 2 at offset 41: captured length 262145 exceeds 262144"},
		{name: "truncated_last_record", file: whole[:len(whole)-1], want: wantTwo(7 * time.Microsecond)[:1], wantErr: "record 2 at offset 44: 3 captured bytes", wantEOF: true},
		{name: "truncated_record_header", file: whole[:len(whole)-3-8], want: wantTwo(7 * time.Microsecond)[:1], wantErr: "record 2 at offset 44: header", wantEOF: true},
		{name: "no_records", file: pcapFile(le, false, 2, 4, 0, 1)},
		{name: "short_file_header", file: pcapFile(le, false, 2, 4, 0, 1)[:20], wantErr: "read pcap file header", wantEOF: true},
		{name: "empty_file", file: nil, wantErr: "read file header", wantEOF: true},
		{name: "not_a_capture", file: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantErr: "not a pcap or pcapng file (magic number 20544547)"},
	})
}

// readCase is one capture file and what reading it must give.
type readCase struct {
	name      string
	file      []byte
	want      []got
	wantStats Stats
	wantErr   string
	wantEOF   bool // the error wraps io.ErrUnexpectedEOF
}

func testReads(t *testing.T, tests []readCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, st, err := readAll(tt.file)
			if diff := cmp.Diff(tt.want, frames); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
			if st != tt.wantStats {
				t.Errorf("stats: got %+v, want %+v", st, tt.wantStats)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error: got %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error: got %v, want one containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != tt.wantEOF {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF): got %v, want %v", err, got, tt.wantEOF)
			}
		})
	}
}

func TestPcapng(t *testing.T) {
	ns := uint64(t0.UnixNano())
	us := ns / 1000
	file := func(order byteOrder) *ng { return (&ng{}).shb(order) }
	named := func(order byteOrder) []byte {
		return file(order).idb(1, 262144, optIfName("eth0")).epb(0, us, 4, 60, []byte("abcd")).epb(0, us+5, 2, 2, []byte("ef")).b
	}
	wantNamed := []got{
		{Time: t0, Data: "abcd", OrigLen: 60, Iface: "eth0", Link: 1},
		{Time: at(5 * time.Microsecond), Data: "ef", OrigLen: 2, Iface: "eth0", Link: 1},
	}
	// The IDB of the second section is the one an id refers to in it.
	sections := concat(
		file(le).idb(1, 0, optIfName("eth0")).epb(0, us, 1, 1, []byte("a")).b,
		file(be).idb(113, 0).idb(276, 0, optIfName("lo")).epb(0, us+1, 1, 1, []byte("b")).epb(1, us+2, 1, 1, []byte("c")).b,
	)
	withOffset := file(le)
	withOffset.idb(101, 0, optIfTSResol(0), withOffset.optIfTSOffset(-3600))
	withOffset.epb(0, uint64(t0.Unix()+3600), 1, 1, []byte("a"))
	truncated := named(le)
	skipped := file(le).idb(1, 0).block(4, []byte("name resolution")).block(5, []byte("interface statistics..")).
		block(10, []byte("decryption secrets")).block(0x40000bad, nil).epb(0, us, 1, 1, []byte("a")).b
	trailer := file(le).idb(1, 0).epb(0, us, 1, 1, []byte("a")).b
	le.PutUint32(trailer[len(trailer)-4:], 99)
	overrun := file(le).idb(1, 0).epb(0, us, 1, 1, []byte("a")).b
	le.PutUint32(overrun[len(overrun)-28:], 40) // the EPB's captured length
	testReads(t, []readCase{
		{name: "little_endian", file: named(le), want: wantNamed},
		{name: "big_endian", file: named(be), want: wantNamed},
		{
			name: "unnamed_interfaces_mixed_link_types",
			file: file(le).idb(1, 0).idb(113, 0).idb(101, 0, optIfName("tun0")).epb(1, us, 1, 1, []byte("a")).epb(0, us, 1, 1, []byte("b")).epb(2, us, 1, 1, []byte("c")).b,
			want: []got{
				{Time: t0, Data: "a", OrigLen: 1, Iface: "0:1", Link: 113, ID: 1},
				{Time: t0, Data: "b", OrigLen: 1, Iface: "0:0", Link: 1},
				{Time: t0, Data: "c", OrigLen: 1, Iface: "tun0", Link: 101, ID: 2},
			},
		},
		{
			name: "two_sections_each_with_its_interfaces",
			file: sections,
			want: []got{
				{Time: t0, Data: "a", OrigLen: 1, Iface: "eth0", Link: 1},
				{Time: at(time.Microsecond), Data: "b", OrigLen: 1, Iface: "1:0", Link: 113, Section: 1},
				{Time: at(2 * time.Microsecond), Data: "c", OrigLen: 1, Iface: "lo", Link: 276, Section: 1, ID: 1},
			},
		},
		{name: "section_without_interfaces", file: concat(file(le).idb(1, 0).b, file(le).epb(0, us, 1, 1, []byte("a")).b), wantErr: "block 4 (enhanced packet) at offset 140: interface id 0 out of range (section 1 has 0 interfaces)"},
		{name: "interface_id_out_of_range", file: file(le).idb(1, 0).epb(1, us, 1, 1, []byte("a")).b, wantErr: "block 3 (enhanced packet) at offset 80: interface id 1 out of range (section 0 has 1 interfaces)"},
		{
			name: "tsresol_nanoseconds",
			file: file(le).idb(1, 0, optIfTSResol(9)).epb(0, ns+7, 1, 1, []byte("a")).b,
			want: []got{{Time: at(7), Data: "a", OrigLen: 1, Iface: "0:0", Link: 1}},
		},
		{
			name: "tsresol_power_of_two",
			file: file(be).idb(1, 0, optIfTSResol(0x80|10)).epb(0, uint64(t0.Unix())<<10|512, 1, 1, []byte("a")).b,
			want: []got{{Time: at(500 * time.Millisecond), Data: "a", OrigLen: 1, Iface: "0:0", Link: 1}},
		},
		{
			name: "tsresol_seconds_and_tsoffset",
			file: withOffset.b,
			want: []got{{Time: t0, Data: "a", OrigLen: 1, Iface: "0:0", Link: 101}},
		},
		{name: "tsresol_too_fine", file: file(le).idb(1, 0, optIfTSResol(20)).b, wantErr: "block 2 (interface description) at offset 60: if_tsresol 0x14"},
		{name: "tsresol_power_of_two_too_fine", file: file(le).idb(1, 0, optIfTSResol(0x80|64)).b, wantErr: "if_tsresol 0xc0"},
		{
			name: "simple_packet_cut_to_snaplen_at_previous_time",
			file: file(le).idb(1, 3, optIfName("eth0")).idb(113, 0).epb(1, us, 1, 1, []byte("a")).spb(60, []byte("bcdefg")).spb(2, []byte("hijk")).b,
			want: []got{
				{Time: t0, Data: "a", OrigLen: 1, Iface: "0:1", Link: 113, ID: 1},
				{Time: t0, Data: "bcd", OrigLen: 60, Iface: "eth0", Link: 1},
				{Time: t0, Data: "hi", OrigLen: 2, Iface: "eth0", Link: 1},
			},
		},
		{name: "simple_packet_without_interface", file: file(le).spb(1, []byte("a")).b, wantErr: "block 2 (simple packet) at offset 60: interface id 0 out of range"},
		{
			name: "obsolete_packet_block",
			file: file(be).idb(1, 0).idb(12, 0).pb(1, us, 3, 70, []byte("abc")).b,
			want: []got{{Time: t0, Data: "abc", OrigLen: 70, Iface: "0:1", Link: 12, ID: 1}},
		},
		{
			name: "other_blocks_skipped", file: skipped,
			want:      []got{{Time: t0, Data: "a", OrigLen: 1, Iface: "0:0", Link: 1}},
			wantStats: Stats{SkippedBlocks: 4},
		},
		{
			name:      "caplen_over_origlen_kept_and_counted",
			file:      file(le).idb(1, 0).epb(0, us, 4, 1, []byte("abcd")).epb(0, us, 1, 1, []byte("e")).b,
			want:      []got{{Time: t0, Data: "abcd", OrigLen: 1, Iface: "0:0", Link: 1}, {Time: t0, Data: "e", OrigLen: 1, Iface: "0:0", Link: 1}},
			wantStats: Stats{CapLenOverOrigLen: 1},
		},
		{name: "caplen_over_bound", file: file(le).idb(1, 0).epb(0, us, MaxCapLen+1, 1, nil).b, wantErr: "block 3 (enhanced packet) at offset 80: captured length 262145 exceeds 262144"},
		{name: "caplen_overruns_block", file: overrun, wantErr: "block 3 (enhanced packet) at offset 80: captured length 40 overruns the block (length 48)"},
		{name: "trailer_mismatch", file: trailer, wantErr: "block 3 (enhanced packet) at offset 80: trailing length 99 differs from the block length 48"},
		{name: "truncated_last_block", file: truncated[:len(truncated)-6], want: wantNamed[:1], wantErr: "block 4 (enhanced packet) at offset 140", wantEOF: true},
		{name: "block_length_not_multiple_of_4", file: concat(file(le).b, le.AppendUint32(le.AppendUint32(nil, blockIDB), 21)), wantErr: "block 2 (interface description) at offset 60: block length 21"},
		{name: "block_length_too_large", file: concat(file(le).b, le.AppendUint32(le.AppendUint32(nil, 0x99), 1<<30)), wantErr: "block 2 (type 0x99) at offset 60: block length 1073741824"},
		{name: "bad_byte_order_magic", file: []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, wantErr: "block 1 (section header) at offset 0: byte-order magic 04030201"},
		{name: "version_2_rejected", file: func() []byte { b := file(le).b; le.PutUint16(b[12:], 2); return b }(), wantErr: "pcapng version 2.0 not supported"},
		{name: "truncated_section_header", file: file(le).b[:10], wantErr: "block 1 (section header) at offset 0: header", wantEOF: true},
		{name: "idb_option_overruns", file: func() []byte {
			n := file(le).idb(1, 0, optIfName("eth0"))
			le.PutUint16(n.b[len(n.b)-4-4-8+2:], 200) // if_name length
			return n.b
		}(), wantErr: "block 2 (interface description) at offset 60: option 2 of length 200 overruns the block"},
	})
}
