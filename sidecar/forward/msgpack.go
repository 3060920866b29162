package forward

import (
	"encoding/binary"
	"errors"
	"math"
)

// A minimal zero-copy msgpack reader over one complete message in memory.
// Strings and binaries are returned as sub-slices of the input; nothing is
// allocated. It accepts non-minimal headers (Fluent Bit writes array32 and
// map32 for small sizes) and every type of the spec; what a field may hold
// is checked by the caller.

// Decoding errors. Each becomes a reason of protocol_errors_total.
var (
	errShort     = errors.New("truncated msgpack")
	errWrongType = errors.New("wrong msgpack type")
	errNeverUsed = errors.New("reserved msgpack byte 0xc1")
)

// kind is a msgpack family, enough to dispatch on.
type kind uint8

const (
	kindInvalid kind = iota
	kindNil
	kindBool
	kindInt   // negative fixint, int8..int64
	kindUint  // positive fixint, uint8..uint64
	kindFloat // float32, float64
	kindStr
	kindBin
	kindArray
	kindMap
	kindExt
)

// kindOf classifies a first byte.
func kindOf(c byte) kind {
	switch {
	case c <= 0x7f:
		return kindUint
	case c <= 0x8f:
		return kindMap
	case c <= 0x9f:
		return kindArray
	case c <= 0xbf:
		return kindStr
	case c >= 0xe0:
		return kindInt
	}
	switch c {
	case 0xc0:
		return kindNil
	case 0xc2, 0xc3:
		return kindBool
	case 0xc4, 0xc5, 0xc6:
		return kindBin
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return kindExt
	case 0xca, 0xcb:
		return kindFloat
	case 0xcc, 0xcd, 0xce, 0xcf:
		return kindUint
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return kindInt
	case 0xd9, 0xda, 0xdb:
		return kindStr
	case 0xdc, 0xdd:
		return kindArray
	case 0xde, 0xdf:
		return kindMap
	}
	return kindInvalid // 0xc1
}

// reader reads b from off.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) peek() (kind, error) {
	if r.off >= len(r.b) {
		return kindInvalid, errShort
	}
	k := kindOf(r.b[r.off])
	if k == kindInvalid {
		return k, errNeverUsed
	}
	return k, nil
}

// n reads a big-endian unsigned integer of size bytes.
func (r *reader) n(size int) (uint64, error) {
	if len(r.b)-r.off < size {
		return 0, errShort
	}
	p := r.b[r.off : r.off+size]
	r.off += size
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// arrayLen reads an array header.
func (r *reader) arrayLen() (int, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	switch {
	case c >= 0x90 && c <= 0x9f:
		r.off++
		return int(c & 0x0f), nil
	case c == 0xdc:
		r.off++
		n, err := r.n(2)
		return int(n), err
	case c == 0xdd:
		r.off++
		n, err := r.n(4)
		return int(n), err
	}
	return 0, errWrongType
}

// mapLen reads a map header.
func (r *reader) mapLen() (int, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	switch {
	case c >= 0x80 && c <= 0x8f:
		r.off++
		return int(c & 0x0f), nil
	case c == 0xde:
		r.off++
		n, err := r.n(2)
		return int(n), err
	case c == 0xdf:
		r.off++
		n, err := r.n(4)
		return int(n), err
	}
	return 0, errWrongType
}

// bytesHeader reads a str or bin header and returns the payload length.
func (r *reader) bytesHeader() (int, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	var size int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		r.off++
		return int(c & 0x1f), nil
	case c == 0xd9 || c == 0xc4:
		size = 1
	case c == 0xda || c == 0xc5:
		size = 2
	case c == 0xdb || c == 0xc6:
		size = 4
	default:
		return 0, errWrongType
	}
	r.off++
	n, err := r.n(size)
	return int(n), err
}

// bytes reads a str or bin and returns its payload, a sub-slice of the
// input.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.bytesHeader()
	if err != nil {
		return nil, err
	}
	if n > len(r.b)-r.off {
		return nil, errShort
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, nil
}

// eventTime reads a forward-protocol time: integer seconds, a float, or
// EventTime (ext type 0: big-endian u32 seconds, u32 nanoseconds, as
// fixext8 or ext8).
func (r *reader) eventTime() (sec int64, nsec int64, err error) {
	k, err := r.peek()
	if err != nil {
		return 0, 0, err
	}
	c := r.b[r.off]
	switch k {
	case kindUint, kindInt:
		v, err := r.int()
		return v, 0, err
	case kindFloat:
		f, err := r.float()
		if err != nil {
			return 0, 0, err
		}
		if math.IsNaN(f) || f < 0 || f > math.MaxUint32 {
			return 0, 0, errWrongType
		}
		s := math.Floor(f)
		return int64(s), int64((f - s) * 1e9), nil
	case kindExt:
		var typ byte
		switch {
		case c == 0xd7 && len(r.b)-r.off >= 10:
			typ = r.b[r.off+1]
			r.off += 2
		case c == 0xc7 && len(r.b)-r.off >= 11 && r.b[r.off+1] == 8:
			typ = r.b[r.off+2]
			r.off += 3
		case c == 0xd7 || c == 0xc7:
			return 0, 0, errShort
		default:
			return 0, 0, errWrongType
		}
		if typ != 0 {
			return 0, 0, errWrongType
		}
		p := r.b[r.off : r.off+8]
		r.off += 8
		return int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:])), nil
	}
	return 0, 0, errWrongType
}

// int reads any integer into an int64 (uint64 values above MaxInt64 are
// a wrong type).
func (r *reader) int() (int64, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	switch {
	case c <= 0x7f:
		r.off++
		return int64(c), nil
	case c >= 0xe0:
		r.off++
		return int64(int8(c)), nil
	}
	var size int
	signed := false
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, errWrongType
	}
	signed = c >= 0xd0
	r.off++
	v, err := r.n(size)
	if err != nil {
		return 0, err
	}
	if !signed {
		if v > math.MaxInt64 {
			return 0, errWrongType
		}
		return int64(v), nil
	}
	switch size {
	case 1:
		return int64(int8(v)), nil
	case 2:
		return int64(int16(v)), nil
	case 4:
		return int64(int32(v)), nil
	}
	return int64(v), nil
}

func (r *reader) float() (float64, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	switch r.b[r.off] {
	case 0xca:
		r.off++
		v, err := r.n(4)
		return float64(math.Float32frombits(uint32(v))), err
	case 0xcb:
		r.off++
		v, err := r.n(8)
		return math.Float64frombits(v), err
	}
	return 0, errWrongType
}

// skip moves past one complete object of any depth, iteratively: a
// claimed length is only a count of objects still expected, never an
// allocation, so a huge or never-ending array ends with errShort at the
// end of the input.
func (r *reader) skip() error {
	end, _, _, err := scan(r.b, r.off, 1)
	if err != nil {
		return err
	}
	r.off = end
	return nil
}

// scan walks pending objects starting at off and returns the offset just
// past them. On errShort it returns the offset of the first incomplete
// object, the objects still pending (that one included), and the input
// length that object's header already asks for (0 if the header itself is
// cut), so that a stream reader can resume there once more bytes arrive
// and refuse a size claim beyond its limit at once.
func scan(b []byte, off int, pending uint64) (end int, left uint64, need int, err error) {
	for pending > 0 {
		if off >= len(b) {
			return off, pending, 0, errShort
		}
		start := off
		c := b[off]
		var hdr, payload int // header bytes after c; payload length
		var children uint64
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c <= 0x8f:
			children = 2 * uint64(c&0x0f)
		case c <= 0x9f:
			children = uint64(c & 0x0f)
		case c <= 0xbf:
			payload = int(c & 0x1f)
		case c == 0xc1:
			return off, pending, 0, errNeverUsed
		case c == 0xc4 || c == 0xd9:
			hdr = 1
		case c == 0xc5 || c == 0xda:
			hdr = 2
		case c == 0xc6 || c == 0xdb:
			hdr = 4
		case c == 0xc7:
			hdr = 2 // 1-byte length, type
		case c == 0xc8:
			hdr = 3
		case c == 0xc9:
			hdr = 5
		case c == 0xca:
			payload = 4
		case c == 0xcb:
			payload = 8
		case c == 0xcc || c == 0xd0:
			payload = 1
		case c == 0xcd || c == 0xd1:
			payload = 2
		case c == 0xce || c == 0xd2:
			payload = 4
		case c == 0xcf || c == 0xd3:
			payload = 8
		case c == 0xd4:
			payload = 2
		case c == 0xd5:
			payload = 3
		case c == 0xd6:
			payload = 5
		case c == 0xd7:
			payload = 9
		case c == 0xd8:
			payload = 17
		case c == 0xdc || c == 0xde:
			hdr = 2
		case c == 0xdd || c == 0xdf:
			hdr = 4
		}
		off++
		if hdr > 0 {
			if len(b)-off < hdr {
				return start, pending, 0, errShort
			}
			h := b[off : off+hdr]
			var n uint64
			switch c {
			case 0xc4, 0xd9, 0xc7:
				n = uint64(h[0])
			case 0xc5, 0xda, 0xdc, 0xde, 0xc8:
				n = uint64(binary.BigEndian.Uint16(h))
			default:
				n = uint64(binary.BigEndian.Uint32(h))
			}
			off += hdr
			switch c {
			case 0xdc, 0xdd:
				children = n
			case 0xde, 0xdf:
				children = 2 * n
			default:
				if n > math.MaxInt32 {
					// Beyond any limit a caller sets: ask for it as is.
					return start, pending, math.MaxInt, errShort
				}
				payload = int(n)
			}
		}
		if payload > len(b)-off {
			return start, pending, off + payload, errShort
		}
		off += payload
		pending += children - 1
	}
	return off, 0, 0, nil
}
