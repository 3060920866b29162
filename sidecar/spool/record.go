package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// Record is one event line taken from the spool.
type Record struct {
	// Seq orders records across restarts; Ack takes it.
	Seq uint64
	// Time is the event's timestamp (the time it was spooled when the line
	// has none).
	Time time.Time
	// Type is the event_type ("" when the line has none).
	Type string
	// Line is the JSON line without its '\n'. It belongs to the caller.
	Line []byte
}

// On disk a record is:
//
//	uint32 body length | uint32 CRC-32C of body | body
//	body: uint64 seq | int64 unix nanoseconds | uint8 type length | type | line
//
// little-endian. The CRC lets replay stop at a torn or corrupt tail.
const (
	headerLen  = 8
	bodyFixed  = 17
	maxTypeLen = 255
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize is the bytes a record takes on disk.
func recordSize(typ string, line []byte) int64 {
	return int64(headerLen + bodyFixed + len(typ) + len(line))
}

// appendRecord encodes one record.
func appendRecord(dst []byte, seq uint64, t int64, typ string, line []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(bodyFixed+len(typ)+len(line)))
	dst = append(dst, 0, 0, 0, 0) // CRC, below
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t))
	dst = append(dst, byte(len(typ)))
	dst = append(dst, typ...)
	dst = append(dst, line...)
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+headerLen:], castagnoli))
	return dst
}

var errCorrupt = errors.New("corrupt record")

// decodeBody checks and splits a record body. line aliases body.
func decodeBody(crc uint32, body []byte) (seq uint64, t int64, typ string, line []byte, err error) {
	if len(body) < bodyFixed || crc32.Checksum(body, castagnoli) != crc {
		return 0, 0, "", nil, errCorrupt
	}
	seq = binary.LittleEndian.Uint64(body)
	t = int64(binary.LittleEndian.Uint64(body[8:]))
	n := int(body[16])
	if bodyFixed+n > len(body) {
		return 0, 0, "", nil, errCorrupt
	}
	return seq, t, string(body[bodyFixed : bodyFixed+n]), body[bodyFixed+n:], nil
}

// Head reads the timestamp and event_type that sidewatch's encoder writes
// at the start of every line: {"timestamp":"…","flow_id":…,"event_type":"…".
// ok is false when the line does not start that way. A raw `,"event_type":"`
// cannot occur inside a JSON string (its quotes would be escaped), so the
// first one is the top-level key.
func Head(line []byte) (t time.Time, typ string, ok bool) {
	const tsKey = `{"timestamp":"`
	if !bytes.HasPrefix(line, []byte(tsKey)) {
		return time.Time{}, "", false
	}
	rest := line[len(tsKey):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, "", false
	}
	t, ok = parseEVETime(rest[:end])
	if !ok {
		return time.Time{}, "", false
	}
	const typeKey = `,"event_type":"`
	i := bytes.Index(rest[end:], []byte(typeKey))
	if i < 0 {
		return t, "", true
	}
	rest = rest[end+i+len(typeKey):]
	if end = bytes.IndexByte(rest, '"'); end < 0 || end > maxTypeLen || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return t, "", true
	}
	return t, string(rest[:end]), true
}

// parseEVETime parses 2006-01-02T15:04:05.000000-0700 without allocating
// (time.Parse costs about 10 times more, for every spooled event).
func parseEVETime(b []byte) (time.Time, bool) {
	if len(b) != len("2006-01-02T15:04:05.000000-0700") || b[4] != '-' || b[7] != '-' || b[10] != 'T' ||
		b[13] != ':' || b[16] != ':' || b[19] != '.' || (b[26] != '+' && b[26] != '-') {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [8]int
	for i, span := range [8][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 26}, {27, 31}} {
		n, ok := num(b[span[0]:span[1]])
		if !ok {
			return time.Time{}, false
		}
		v[i] = n
	}
	off := (v[7]/100*3600 + v[7]%100*60)
	if b[26] == '-' {
		off = -off
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return time.Time{}, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*1000, time.UTC)
	return t.Add(-time.Duration(off) * time.Second), true
}
