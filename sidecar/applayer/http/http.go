// Package http reads HTTP/1.x messages from one direction of a
// reassembled TCP stream: it finds each message head, hands it out for
// parsing, and then skips the body as it passes (by Content-Length, by
// chunks, or until the connection closes) without buffering it, so that
// every request and response of a keep-alive or pipelined connection is
// seen at a cost that does not depend on body sizes. Nothing allocates.
package http

import (
	"bytes"
	"errors"
)

// MaxHeadLen bounds a message head (start line and headers).
const MaxHeadLen = 64 << 10

// maxChunkLine bounds a chunk-size line (with extensions) and a trailer
// line.
const maxChunkLine = 4 << 10

// Errors from Stream.Next and the head parsers.
var (
	ErrNotHTTP     = errors.New("http: not an HTTP/1.x message")
	ErrHeadTooLong = errors.New("http: message head longer than MaxHeadLen")
	ErrBadChunk    = errors.New("http: malformed chunked body")
	ErrBadLength   = errors.New("http: malformed or conflicting Content-Length")
)

// Kind says what Stream.Next found.
type Kind uint8

// Kinds of Item.
const (
	KindNone Kind = iota // more bytes are needed
	KindHead             // Head is a complete message head; call Stream.Body next
	KindEnd              // the message's body ended; BodyLen is its length
)

// Item is one step of a direction's stream.
type Item struct {
	Kind Kind
	// Head is the start line and headers, CRLFs included, up to and
	// without the empty line. It aliases the input: valid until the
	// bytes are handed back to the reassembler.
	Head []byte
	// BodyLen is the body's length (decoded from chunks).
	BodyLen int64
}

// Framing is how a message's body ends.
type Framing uint8

// Body framings.
const (
	NoBody     Framing = iota
	Length             // Content-Length bytes
	Chunked            // chunked transfer coding
	UntilClose         // until the connection closes (responses only)
)

// Stream is one direction's position: between messages, in a head, or
// in a body. The zero value expects a message head.
type Stream struct {
	state   state
	framing Framing
	left    int64 // body or chunk bytes left to skip
	bodyLen int64
	scanned int // head bytes already searched for the empty line
}

type state uint8

const (
	stHead state = iota
	stBody
	stChunkSize
	stChunkData
	stChunkCRLF
	stTrailer
	stTunnel // an upgraded or CONNECT connection: nothing more to parse
)

// Next returns the next item in b (the direction's unconsumed bytes) and
// how many bytes it consumed.
func (s *Stream) Next(b []byte) (Item, int, error) {
	pos := 0
	for {
		switch s.state {
		case stTunnel:
			return Item{}, len(b), nil
		case stHead:
			// Empty lines between messages are allowed (RFC 9112, 2.2).
			for s.scanned == 0 && pos < len(b) && (b[pos] == '\r' || b[pos] == '\n') {
				pos++
			}
			rest := b[pos:]
			end, n := headEnd(rest, s.scanned)
			if end < 0 {
				if len(rest) > MaxHeadLen {
					return Item{}, pos, ErrHeadTooLong
				}
				s.scanned = max(len(rest)-3, 0)
				return Item{}, pos, nil
			}
			if end > MaxHeadLen {
				return Item{}, pos, ErrHeadTooLong
			}
			s.scanned = 0
			s.state = stBody
			s.framing = NoBody
			s.bodyLen = 0
			s.left = 0
			return Item{Kind: KindHead, Head: rest[:end]}, pos + n, nil
		case stBody:
			switch s.framing {
			case NoBody:
				s.state = stHead
				return Item{Kind: KindEnd}, pos, nil
			case Length:
				k := int(min(s.left, int64(len(b)-pos)))
				pos += k
				s.left -= int64(k)
				s.bodyLen += int64(k)
				if s.left > 0 {
					return Item{}, pos, nil
				}
				s.state = stHead
				return Item{Kind: KindEnd, BodyLen: s.bodyLen}, pos, nil
			case UntilClose:
				s.bodyLen += int64(len(b) - pos)
				return Item{}, len(b), nil
			case Chunked:
				s.state = stChunkSize
			}
		case stChunkSize:
			line, n := lineEnd(b[pos:])
			if n == 0 {
				if len(b)-pos > maxChunkLine {
					return Item{}, pos, ErrBadChunk
				}
				return Item{}, pos, nil
			}
			size, ok := chunkSize(line)
			if !ok {
				return Item{}, pos, ErrBadChunk
			}
			pos += n
			if size == 0 {
				s.state = stTrailer
				continue
			}
			s.left = size
			s.state = stChunkData
		case stChunkData:
			k := int(min(s.left, int64(len(b)-pos)))
			pos += k
			s.left -= int64(k)
			s.bodyLen += int64(k)
			if s.left > 0 {
				return Item{}, pos, nil
			}
			s.state = stChunkCRLF
		case stChunkCRLF:
			line, n := lineEnd(b[pos:])
			if n == 0 {
				if len(b)-pos >= 2 {
					return Item{}, pos, ErrBadChunk
				}
				return Item{}, pos, nil
			}
			if len(line) != 0 {
				return Item{}, pos, ErrBadChunk
			}
			pos += n
			s.state = stChunkSize
		case stTrailer:
			line, n := lineEnd(b[pos:])
			if n == 0 {
				if len(b)-pos > maxChunkLine {
					return Item{}, pos, ErrBadChunk
				}
				return Item{}, pos, nil
			}
			pos += n
			if len(line) == 0 {
				s.state = stHead
				return Item{Kind: KindEnd, BodyLen: s.bodyLen}, pos, nil
			}
		}
	}
}

// Body sets how the body of the message whose head Next just returned
// ends; length is its Content-Length for Length.
func (s *Stream) Body(f Framing, length int64) {
	s.framing, s.left = f, length
	if f == Length && length == 0 {
		s.framing = NoBody
	}
}

// Tunnel stops parsing: the connection now carries another protocol
// (101 Switching Protocols, CONNECT).
func (s *Stream) Tunnel() { s.state = stTunnel }

// Close ends the stream at the connection's end: a body read until close
// ends here. It reports whether a message was cut short (a head or body
// incomplete), and the body length of the last message.
func (s *Stream) Close() (end Item, cut bool) {
	switch {
	case s.state == stBody && s.framing == UntilClose:
		s.state = stHead
		return Item{Kind: KindEnd, BodyLen: s.bodyLen}, false
	case s.state == stHead && s.scanned == 0, s.state == stTunnel:
		return Item{}, false
	}
	return Item{BodyLen: s.bodyLen}, true
}

// Gap tells the stream that n bytes were lost (not captured). Inside a
// body being skipped nothing is lost; anywhere else the stream can no
// longer find message boundaries and Gap returns false.
func (s *Stream) Gap(n int64) bool {
	switch {
	case s.state == stBody && s.framing == Length && n <= s.left:
		s.left -= n
		s.bodyLen += n
		return true
	case s.state == stChunkData && n <= s.left:
		s.left -= n
		s.bodyLen += n
		return true
	case s.state == stBody && s.framing == UntilClose, s.state == stTunnel:
		s.bodyLen += n
		return true
	}
	return false
}

// headEnd finds the empty line ending a head in b, searching from from:
// it returns the head's length without the final empty line and the bytes
// to consume, or -1.
func headEnd(b []byte, from int) (int, int) {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, 0
		}
		i += j
		// i is a line feed: is the next line empty?
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 1, i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 1, i + 3
		}
	}
	return -1, 0
}

// lineEnd returns the line at the start of b without its CRLF (or LF) and
// the bytes it takes, or n == 0 when b holds no line end.
func lineEnd(b []byte) (line []byte, n int) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, 0
	}
	line = b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, i + 1
}

// chunkSize parses a chunk-size line: hex digits, optional extensions.
func chunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		case c == ';' || c == ' ' || c == '\t':
			return n, digits > 0
		default:
			return 0, false
		}
		if digits == 15 {
			return 0, false // would overflow int64
		}
		n = n<<4 | int64(d)
		digits++
	}
	return n, digits > 0
}
