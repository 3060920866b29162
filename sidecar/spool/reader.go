package spool

import (
	"encoding/binary"
	"io"
	"os"
)

// reader reads records from a segment file through a buffer, up to end
// (the committed size, which grows while the segment is the open tail).
type reader struct {
	f     *os.File
	off   int64 // file offset of the next record
	end   int64
	buf   []byte // file bytes from bufAt
	bufAt int64
}

func newReader(f *os.File, off, end int64) *reader {
	return &reader{f: f, off: off, end: end}
}

const readChunk = 256 << 10

// window returns n file bytes at off, reading them in if needed.
func (r *reader) window(n int64) ([]byte, error) {
	if r.off+n > r.end {
		return nil, io.ErrUnexpectedEOF
	}
	if r.off >= r.bufAt && r.off+n <= r.bufAt+int64(len(r.buf)) {
		return r.buf[r.off-r.bufAt : r.off-r.bufAt+n], nil
	}
	want := min(max(n, readChunk), r.end-r.off)
	if int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if _, err := r.f.ReadAt(r.buf, r.off); err != nil {
		r.buf = r.buf[:0]
		return nil, err
	}
	r.bufAt = r.off
	return r.buf[:n], nil
}

// next decodes the record at off and moves past it; n is its size on
// disk. io.EOF means off is at end; any other error a torn or corrupt
// record. line aliases the buffer until the next call.
func (r *reader) next() (seq uint64, t int64, typ string, line []byte, n int64, err error) {
	if r.off >= r.end {
		return 0, 0, "", nil, 0, io.EOF
	}
	h, err := r.window(headerLen)
	if err != nil {
		return 0, 0, "", nil, 0, err
	}
	bodyLen := int64(binary.LittleEndian.Uint32(h))
	crc := binary.LittleEndian.Uint32(h[4:])
	if bodyLen < bodyFixed || r.off+headerLen+bodyLen > r.end {
		return 0, 0, "", nil, 0, errCorrupt
	}
	rec, err := r.window(headerLen + bodyLen)
	if err != nil {
		return 0, 0, "", nil, 0, err
	}
	seq, t, typ, line, err = decodeBody(crc, rec[headerLen:])
	if err != nil {
		return 0, 0, "", nil, 0, err
	}
	n = headerLen + bodyLen
	r.off += n
	return seq, t, typ, line, n, nil
}
