// Package dns parses DNS messages (RFC 1035 and the record types that
// extended it) from untrusted input into a reusable Message, allocating
// nothing once the Message's buffers have grown to the sizes seen.
//
// Names are decoded with compression pointers followed under a bound, so
// that pointer loops and other malformed input end with an error instead
// of a hang; names longer than MaxNameLen are cut and flagged, as Suricata
// does. Record data is checked and split into typed fields for the types
// the app layer logs (A, AAAA, CNAME, NS, PTR, MX, TXT, NULL, SOA, SRV,
// SSHFP, OPT); other types keep their raw data.
package dns

import (
	"encoding/binary"
	"errors"
)

// Record types with typed data.
const (
	TypeA     = 1
	TypeNS    = 2
	TypeCNAME = 5
	TypeSOA   = 6
	TypeNULL  = 10
	TypePTR   = 12
	TypeMX    = 15
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeSRV   = 33
	TypeOPT   = 41
	TypeSSHFP = 44
)

// Limits on what one message may make the parser do.
const (
	// HeaderLen is the fixed header's size.
	HeaderLen = 12
	// MaxNameLen is the longest name kept, in presentation bytes (labels
	// joined by dots), as in Suricata and dnsmasq; longer names are cut
	// and flagged Truncated.
	MaxNameLen = 1025
	// maxHops bounds the labels and pointers followed for one name: a
	// name of at most 255 octets has at most 127 labels, so more hops mean
	// a pointer loop.
	maxHops = 255
	// MaxRecords bounds the questions plus records parsed from one
	// message; the rest are left out and Message.Cut is set.
	MaxRecords = 256
)

// Errors Parse returns. Each names a reason the app layer counts.
var (
	ErrShort       = errors.New("dns: message too short")
	ErrPointerLoop = errors.New("dns: compression pointer loop")
	ErrBadPointer  = errors.New("dns: compression pointer out of the message")
	ErrBadLabel    = errors.New("dns: unsupported label type")
	ErrBadRData    = errors.New("dns: record data does not match its type")
)

// Header is the fixed header. Flags holds QR, opcode, AA, TC, RD, RA, Z
// and the rcode as on the wire.
type Header struct {
	ID      uint16
	Flags   uint16
	QDCount uint16
	ANCount uint16
	NSCount uint16
	ARCount uint16
}

// Header flag bits.
const (
	FlagQR = 0x8000
	FlagAA = 0x0400
	FlagTC = 0x0200
	FlagRD = 0x0100
	FlagRA = 0x0080
	FlagZ  = 0x0040
)

// Response reports whether the QR bit is set.
func (h *Header) Response() bool { return h.Flags&FlagQR != 0 }

// Opcode is the 4-bit opcode.
func (h *Header) Opcode() int { return int(h.Flags>>11) & 0xf }

// Rcode is the 4-bit response code of the header.
func (h *Header) Rcode() int { return int(h.Flags & 0xf) }

// Name is a decoded name: a span of the Message's name buffer.
type Name struct {
	off, len  uint32
	Truncated bool // longer than MaxNameLen and cut
}

// Question is one entry of the question section.
type Question struct {
	Name  Name
	Type  uint16
	Class uint16
}

// RR is one resource record. Data is the raw record data (a slice of the
// parsed message). The typed fields are set by type:
//
//	CNAME, NS, PTR: Target
//	MX: Target (exchange), Priority (preference)
//	SRV: Target, Priority, Weight, Port
//	SOA: Target (mname), Target2 (rname), SOA (serial, refresh, retry, expire, minimum)
//	A, AAAA, TXT, NULL, SSHFP, OPT: Data only
type RR struct {
	Name     Name
	Type     uint16
	Class    uint16
	TTL      uint32
	Data     []byte
	Target   Name
	Target2  Name
	Priority uint16
	Weight   uint16
	Port     uint16
	SOA      [5]uint32
}

// Message is a parsed message. It is reused: each Parse overwrites it,
// and its slices and names alias the input and its own buffers, valid
// until the next Parse.
type Message struct {
	Header
	Questions   []Question
	Answers     []RR
	Authorities []RR
	Additionals []RR
	// Cut is set when the message had more than MaxRecords questions and
	// records; the rest were not parsed.
	Cut bool
	// Len is the number of bytes the header and sections took; what
	// follows (padding, garbage) was ignored.
	Len int

	msg   []byte
	names []byte
}

// Name returns the presentation bytes of n ("" for the root): labels
// joined by dots, as they are on the wire (no escaping).
func (m *Message) Name(n Name) []byte { return m.names[n.off : n.off+n.len] }

// Parse decodes one message (for DNS over TCP, without its length
// prefix).
func (m *Message) Parse(b []byte) error {
	m.msg = b
	m.names = m.names[:0]
	m.Questions = m.Questions[:0]
	m.Answers = m.Answers[:0]
	m.Authorities = m.Authorities[:0]
	m.Additionals = m.Additionals[:0]
	m.Cut = false
	m.Len = 0
	if len(b) < HeaderLen {
		return ErrShort
	}
	m.Header = Header{
		ID:      binary.BigEndian.Uint16(b[0:]),
		Flags:   binary.BigEndian.Uint16(b[2:]),
		QDCount: binary.BigEndian.Uint16(b[4:]),
		ANCount: binary.BigEndian.Uint16(b[6:]),
		NSCount: binary.BigEndian.Uint16(b[8:]),
		ARCount: binary.BigEndian.Uint16(b[10:]),
	}
	off := HeaderLen
	budget := MaxRecords
	for range m.QDCount {
		if budget == 0 {
			m.Cut = true
			m.Len = off
			return nil
		}
		budget--
		name, next, err := m.readName(off)
		if err != nil {
			return err
		}
		if next+4 > len(b) {
			return ErrShort
		}
		m.Questions = append(m.Questions, Question{
			Name:  name,
			Type:  binary.BigEndian.Uint16(b[next:]),
			Class: binary.BigEndian.Uint16(b[next+2:]),
		})
		off = next + 4
	}
	var err error
	for _, sec := range [...]struct {
		n   uint16
		dst *[]RR
	}{{m.ANCount, &m.Answers}, {m.NSCount, &m.Authorities}, {m.ARCount, &m.Additionals}} {
		for range sec.n {
			if budget == 0 {
				m.Cut = true
				m.Len = off
				return nil
			}
			budget--
			*sec.dst = append(*sec.dst, RR{})
			rr := &(*sec.dst)[len(*sec.dst)-1]
			if off, err = m.readRR(off, rr); err != nil {
				return err
			}
		}
	}
	m.Len = off
	return nil
}

func (m *Message) readRR(off int, rr *RR) (int, error) {
	b := m.msg
	name, next, err := m.readName(off)
	if err != nil {
		return 0, err
	}
	if next+10 > len(b) {
		return 0, ErrShort
	}
	rr.Name = name
	rr.Type = binary.BigEndian.Uint16(b[next:])
	rr.Class = binary.BigEndian.Uint16(b[next+2:])
	rr.TTL = binary.BigEndian.Uint32(b[next+4:])
	n := int(binary.BigEndian.Uint16(b[next+8:]))
	start := next + 10
	end := start + n
	if end > len(b) {
		return 0, ErrShort
	}
	rr.Data = b[start:end:end]
	if err := m.readRData(rr, start, end); err != nil {
		return 0, err
	}
	return end, nil
}

// readRData fills rr's typed fields from the data at b[start:end].
func (m *Message) readRData(rr *RR, start, end int) error {
	b := m.msg
	// name reads a name that must start, and (unless compressed) end,
	// within the record data.
	name := func(off int) (Name, int, error) {
		if off >= end {
			return Name{}, 0, ErrBadRData
		}
		n, next, err := m.readName(off)
		if err == nil && next > end {
			err = ErrBadRData
		}
		return n, next, err
	}
	var err error
	switch rr.Type {
	case TypeA:
		if end-start != 4 {
			return ErrBadRData
		}
	case TypeAAAA:
		if end-start != 16 {
			return ErrBadRData
		}
	case TypeCNAME, TypeNS, TypePTR:
		rr.Target, _, err = name(start)
	case TypeMX:
		if end-start < 3 {
			return ErrBadRData
		}
		rr.Priority = binary.BigEndian.Uint16(b[start:])
		rr.Target, _, err = name(start + 2)
	case TypeSRV:
		if end-start < 7 {
			return ErrBadRData
		}
		rr.Priority = binary.BigEndian.Uint16(b[start:])
		rr.Weight = binary.BigEndian.Uint16(b[start+2:])
		rr.Port = binary.BigEndian.Uint16(b[start+4:])
		rr.Target, _, err = name(start + 6)
	case TypeSOA:
		var next int
		if rr.Target, next, err = name(start); err != nil {
			return err
		}
		if rr.Target2, next, err = name(next); err != nil {
			return err
		}
		if end-next != 20 {
			return ErrBadRData
		}
		for i := range rr.SOA {
			rr.SOA[i] = binary.BigEndian.Uint32(b[next+4*i:])
		}
	case TypeTXT:
		for off := start; off < end; off += 1 + int(b[off]) {
			if off+1+int(b[off]) > end {
				return ErrBadRData
			}
		}
	case TypeSSHFP:
		if end-start < 2 {
			return ErrBadRData
		}
	case TypeOPT:
		for off := start; off < end; {
			if off+4 > end {
				return ErrBadRData
			}
			off += 4 + int(binary.BigEndian.Uint16(b[off+2:]))
			if off > end {
				return ErrBadRData
			}
		}
	}
	return err
}

// readName decodes the name at off and returns it with the offset just
// after it in the message (after its first pointer, if compressed).
func (m *Message) readName(off int) (Name, int, error) {
	b := m.msg
	start := len(m.names)
	n := Name{off: uint32(start)}
	next := -1
	for hops := 0; ; hops++ {
		if hops > maxHops {
			return Name{}, 0, ErrPointerLoop
		}
		if off >= len(b) {
			return Name{}, 0, ErrShort
		}
		l := int(b[off])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if next < 0 {
					next = off + 1
				}
				n.len = uint32(len(m.names) - start)
				return n, next, nil
			}
			if off+1+l > len(b) {
				return Name{}, 0, ErrShort
			}
			if !n.Truncated {
				if len(m.names) > start {
					m.names = append(m.names, '.')
				}
				m.names = append(m.names, b[off+1:off+1+l]...)
				if len(m.names)-start > MaxNameLen {
					m.names = m.names[:start+MaxNameLen]
					n.Truncated = true
				}
			}
			off += 1 + l
		case 0xc0:
			if off+2 > len(b) {
				return Name{}, 0, ErrShort
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if next < 0 {
				next = off + 2
			}
			if ptr >= len(b) {
				return Name{}, 0, ErrBadPointer
			}
			if ptr == off {
				return Name{}, 0, ErrPointerLoop
			}
			off = ptr
		default:
			// 0x40 (extended label types) and 0x80 are not in use.
			return Name{}, 0, ErrBadLabel
		}
	}
}
