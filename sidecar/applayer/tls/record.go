// Package tls reads the clear-text part of a TLS connection from its
// reassembled byte streams: the record layer, the ClientHello and
// ServerHello (with their JA3, JA3S and JA4 fingerprints) and the server's
// first certificate, from untrusted input and without allocating once its
// buffers are warm.
//
// A Stream walks one direction's records and hands out whole handshake
// messages, even when they span records and TCP segments; it never
// consumes bytes it has not finished with, so the reassembler keeps them.
// Messages it does not need (and the part of a Certificate message after
// the first certificate) are skipped as they pass, without buffering.
package tls

import (
	"encoding/binary"
	"errors"
)

// Record content types.
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23
	recordHeartbeat        = 24
)

// Handshake message types.
const (
	TypeClientHello = 1
	TypeServerHello = 2
	TypeCertificate = 11
)

// RecordHeaderLen is the size of a record header.
const RecordHeaderLen = 5

// Limits.
const (
	// maxRecordLen is the largest record body accepted: 2^14 plus the
	// expansion TLS 1.2 allows for compression and encryption.
	maxRecordLen = 1<<14 + 2048
	// MaxMessageLen is the largest message (or certificate prefix)
	// gathered for parsing; anything longer is skipped.
	MaxMessageLen = 64 << 10
)

// Errors from Next: the stream is not (or no longer) TLS.
var (
	ErrNotTLS       = errors.New("tls: not a TLS record")
	ErrInterleaved  = errors.New("tls: handshake message interrupted by another record type")
	ErrTooLong      = errors.New("tls: handshake message longer than MaxMessageLen")
	ErrShortMessage = errors.New("tls: handshake message shorter than its fields")
)

// Kind says what Next found.
type Kind uint8

// Kinds of Msg.
const (
	KindNone             Kind = iota // more bytes are needed
	KindHandshake                    // Type and Body are set
	KindChangeCipherSpec             // what follows in this direction is encrypted
	KindApplicationData              // encrypted data (the handshake is over, or TLS 1.3)
	KindAlert
)

// Msg is one item of a direction's stream.
type Msg struct {
	Kind Kind
	// Type is the handshake message type.
	Type uint8
	// Body is the message without its 4-byte header; for a Certificate
	// message, only the certificate list length and the first
	// certificate. It aliases the input or the scratch buffer and is
	// valid until the next call.
	Body []byte
	// Len is the body length the header declares.
	Len int
}

// Stream is the record-layer state of one direction. The zero value is
// ready for a stream's first byte.
type Stream struct {
	recLeft int   // bytes left in the current record's body
	recType uint8 // its content type
	skip    int   // handshake bytes still to skip (in handshake records)
}

// Next returns the next item found in b, the stream's unconsumed bytes,
// and how many bytes it consumed. With KindNone it consumed what it could
// and needs more bytes appended to b[n:] before the next call. A message
// spanning records is assembled in scratch, which should have a capacity
// of MaxMessageLen+4 bytes (less makes Next allocate).
func (s *Stream) Next(b, scratch []byte) (Msg, int, error) {
	pos := 0
	for {
		if s.recLeft == 0 {
			if len(b)-pos < RecordHeaderLen {
				return Msg{}, pos, nil
			}
			typ, n, err := recordHeader(b[pos:])
			if err != nil {
				return Msg{}, pos, err
			}
			pos += RecordHeaderLen
			s.recType, s.recLeft = typ, n
			switch typ {
			case recordHandshake:
				continue
			case recordChangeCipherSpec:
				if s.skip > 0 {
					return Msg{}, pos, ErrInterleaved
				}
				return Msg{Kind: KindChangeCipherSpec}, pos, nil
			case recordApplicationData:
				return Msg{Kind: KindApplicationData}, pos, nil
			case recordAlert:
				return Msg{Kind: KindAlert}, pos, nil
			}
			continue
		}
		if s.recType != recordHandshake {
			// The body of a record that is not handshake: skip it.
			n := min(s.recLeft, len(b)-pos)
			if n == 0 {
				return Msg{}, pos, nil
			}
			pos += n
			s.recLeft -= n
			continue
		}
		if s.skip > 0 {
			n := min(s.skip, s.recLeft, len(b)-pos)
			if n == 0 {
				return Msg{}, pos, nil
			}
			pos += n
			s.recLeft -= n
			s.skip -= n
			continue
		}
		// A handshake message starts here; its header may span records.
		hdr, ok, err := s.gather(b[pos:], 4, scratch)
		if !ok || err != nil {
			return Msg{}, pos, err
		}
		typ := hdr[0]
		length := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		want := length
		switch typ {
		case TypeClientHello, TypeServerHello:
		case TypeCertificate:
			// The list length, then the first certificate's length.
			p, ok, err := s.gather(b[pos:], 4+min(length, 6), scratch)
			if !ok || err != nil {
				return Msg{}, pos, err
			}
			if length >= 6 {
				want = min(length, 6+(int(p[7])<<16|int(p[8])<<8|int(p[9])))
			}
		default:
			want = 0
		}
		if want > MaxMessageLen {
			want = 0
		}
		m, ok, err := s.gather(b[pos:], 4+want, scratch)
		if !ok || err != nil {
			return Msg{}, pos, err
		}
		pos += s.advance(b[pos:], 4+want)
		s.skip = length - want
		if want == 0 && typ != TypeClientHello && typ != TypeServerHello && typ != TypeCertificate {
			continue
		}
		if want < length && typ != TypeCertificate {
			return Msg{}, pos, ErrTooLong
		}
		return Msg{Kind: KindHandshake, Type: typ, Body: m[4:], Len: length}, pos, nil
	}
}

// recordHeader checks a record header and returns its type and length.
func recordHeader(b []byte) (uint8, int, error) {
	typ := b[0]
	if typ < recordChangeCipherSpec || typ > recordHeartbeat || b[1] != 3 || b[2] > 4 {
		return 0, 0, ErrNotTLS
	}
	n := int(binary.BigEndian.Uint16(b[3:]))
	if n > maxRecordLen {
		return 0, 0, ErrNotTLS
	}
	return typ, n, nil
}

// gather returns the next n handshake bytes starting at b[0] (inside the
// current handshake record), following the record headers in between,
// without consuming them. ok is false when b holds fewer.
func (s *Stream) gather(b []byte, n int, scratch []byte) ([]byte, bool, error) {
	if n <= s.recLeft {
		if len(b) < n {
			return nil, false, nil
		}
		return b[:n], true, nil
	}
	scratch = scratch[:0]
	left, pos := s.recLeft, 0
	for len(scratch) < n {
		if left == 0 {
			if len(b)-pos < RecordHeaderLen {
				return nil, false, nil
			}
			typ, l, err := recordHeader(b[pos:])
			if err != nil {
				return nil, false, err
			}
			if typ != recordHandshake {
				return nil, false, ErrInterleaved
			}
			pos += RecordHeaderLen
			left = l
			continue
		}
		k := min(left, n-len(scratch), len(b)-pos)
		if k == 0 {
			return nil, false, nil
		}
		scratch = append(scratch, b[pos:pos+k]...)
		pos += k
		left -= k
	}
	return scratch, true, nil
}

// advance consumes n handshake bytes that gather found in b and returns
// the stream bytes they took, record headers included.
func (s *Stream) advance(b []byte, n int) int {
	pos := 0
	for n > 0 {
		if s.recLeft == 0 {
			s.recLeft = int(binary.BigEndian.Uint16(b[pos+3:]))
			pos += RecordHeaderLen
			continue
		}
		k := min(s.recLeft, n)
		pos += k
		s.recLeft -= k
		n -= k
	}
	return pos
}
