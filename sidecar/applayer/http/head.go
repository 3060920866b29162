package http

import (
	"bytes"
	"strings"
)

// Request is a parsed request head. Its fields alias the head.
type Request struct {
	Method, URI, Protocol []byte
	// Host is the Host header, or the authority of an absolute-form URI.
	Host                    []byte
	UserAgent, Referer, XFF []byte
	// ContentLength is -1 without the header.
	ContentLength int64
	Chunked       bool
}

// Response is a parsed response head. Its fields alias the head.
type Response struct {
	Protocol []byte
	// Status is the status code, 0 when it is not a number (StatusText
	// then holds it).
	Status       int
	StatusText   []byte
	ContentType  []byte // without parameters
	Location     []byte
	ContentRange []byte
	// ContentLength is -1 without the header.
	ContentLength int64
	// TransferCoded is set when Transfer-Encoding is present; Chunked when
	// its last coding is chunked.
	TransferCoded, Chunked bool
}

// ParseRequest reads a request head: "METHOD SP URI SP HTTP/x.y" and
// header lines.
func ParseRequest(head []byte, r *Request) error {
	*r = Request{ContentLength: -1}
	line, rest := cutLine(head)
	method, after, ok := bytes.Cut(line, sp)
	if !ok || !isToken(method) {
		return ErrNotHTTP
	}
	uri, proto, ok := cutLast(after)
	if !ok || !bytes.HasPrefix(proto, httpSlash) {
		return ErrNotHTTP
	}
	r.Method, r.URI, r.Protocol = method, uri, proto
	var err error
	for len(rest) > 0 {
		var name, value []byte
		name, value, rest = nextHeader(rest)
		switch {
		case equalFold(name, "host"):
			if r.Host == nil {
				r.Host = value
			}
		case equalFold(name, "user-agent"):
			r.UserAgent = value
		case equalFold(name, "referer"):
			r.Referer = value
		case equalFold(name, "x-forwarded-for"):
			r.XFF = value
		case equalFold(name, "content-length"):
			if r.ContentLength, err = contentLength(r.ContentLength, value); err != nil {
				return err
			}
		case equalFold(name, "transfer-encoding"):
			r.Chunked = lastCodingChunked(value)
		}
	}
	// An absolute-form target names the host (RFC 9112, 3.2.2).
	if a := authority(uri); a != nil {
		r.Host = a
	}
	return nil
}

// Framing returns how the request's body ends.
func (r *Request) Framing() (Framing, int64) {
	switch {
	case r.Chunked:
		return Chunked, 0
	case r.ContentLength > 0:
		return Length, r.ContentLength
	}
	return NoBody, 0
}

// ParseResponse reads a response head: "HTTP/x.y SP status SP reason" and
// header lines.
func ParseResponse(head []byte, r *Response) error {
	*r = Response{ContentLength: -1}
	line, rest := cutLine(head)
	proto, after, _ := bytes.Cut(line, sp)
	if !bytes.HasPrefix(proto, httpSlash) {
		return ErrNotHTTP
	}
	r.Protocol = proto
	code, _, _ := bytes.Cut(after, sp)
	r.StatusText = code
	if len(code) == 3 && isDigit(code[0]) && isDigit(code[1]) && isDigit(code[2]) {
		r.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	}
	var err error
	for len(rest) > 0 {
		var name, value []byte
		name, value, rest = nextHeader(rest)
		switch {
		case equalFold(name, "content-type"):
			if i := bytes.IndexByte(value, ';'); i >= 0 {
				value = value[:i]
			}
			r.ContentType = value
		case equalFold(name, "location"):
			r.Location = value
		case equalFold(name, "content-range"):
			r.ContentRange = value
		case equalFold(name, "content-length"):
			if r.ContentLength, err = contentLength(r.ContentLength, value); err != nil {
				return err
			}
		case equalFold(name, "transfer-encoding"):
			r.TransferCoded = true
			r.Chunked = lastCodingChunked(value)
		}
	}
	return nil
}

// Framing returns how the response's body ends, given the request's
// method (RFC 9112, 6.3). tunnel is set when the connection stops being
// HTTP after this response (101, or 2xx to CONNECT).
func (r *Response) Framing(method []byte) (f Framing, length int64, tunnel bool) {
	switch {
	case r.Status == 101:
		return NoBody, 0, true
	case string(method) == "CONNECT" && r.Status >= 200 && r.Status < 300:
		return NoBody, 0, true
	case string(method) == "HEAD", r.Status >= 100 && r.Status < 200, r.Status == 204, r.Status == 304:
		return NoBody, 0, false
	case r.TransferCoded && r.Chunked:
		return Chunked, 0, false
	case r.TransferCoded:
		return UntilClose, 0, false
	case r.ContentLength >= 0:
		return Length, r.ContentLength, false
	}
	return UntilClose, 0, false
}

// Interim reports a 1xx response other than 101: the final response to
// the same request follows.
func (r *Response) Interim() bool { return r.Status >= 100 && r.Status < 200 && r.Status != 101 }

var (
	sp        = []byte{' '}
	httpSlash = []byte("HTTP/")
	schemeSep = []byte("://")
)

// cutLine splits the first line (without CR LF) from the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return trimCR(b), nil
	}
	return trimCR(b[:i]), b[i+1:]
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// cutLast splits "URI SP PROTO" at its last space, so that a URI with raw
// spaces stays whole.
func cutLast(b []byte) (before, after []byte, ok bool) {
	i := bytes.LastIndexByte(b, ' ')
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// nextHeader reads one header line ("Name: value", value trimmed of
// spaces and tabs); a line without a colon yields an empty name.
func nextHeader(b []byte) (name, value, rest []byte) {
	line, rest := cutLine(b)
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return nil, nil, rest
	}
	return line[:i], bytes.Trim(line[i+1:], " \t"), rest
}

// equalFold compares a header name with a lowercase ASCII name.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// contentLength parses a Content-Length value; a second header must
// agree with the first (RFC 9112, 6.3: otherwise the framing is unknown).
func contentLength(prev int64, v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, ErrBadLength
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, ErrBadLength
		}
		n = n*10 + int64(c-'0')
	}
	if prev >= 0 && prev != n {
		return 0, ErrBadLength
	}
	return n, nil
}

// lastCodingChunked reports whether the last transfer coding is chunked.
func lastCodingChunked(v []byte) bool {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return equalFold(bytes.Trim(v, " \t"), "chunked")
}

// authority returns the host[:port] of an absolute-form URI, or nil.
func authority(uri []byte) []byte {
	i := bytes.Index(uri, schemeSep)
	if i <= 0 || !isToken(uri[:i]) {
		return nil
	}
	a := uri[i+3:]
	if j := bytes.IndexAny(a, "/?#"); j >= 0 {
		a = a[:j]
	}
	if j := bytes.LastIndexByte(a, '@'); j >= 0 {
		a = a[j+1:]
	}
	return a
}

// SplitHostPort splits a Host value into its host and port (0 when
// absent or not a number); an IPv6 literal keeps its brackets.
func SplitHostPort(h []byte) (host []byte, port uint16) {
	i := bytes.LastIndexByte(h, ':')
	if i < 0 || bytes.IndexByte(h[i+1:], ']') >= 0 || (h[0] != '[' && bytes.IndexByte(h[:i], ':') >= 0) {
		return h, 0
	}
	p := 0
	for _, c := range h[i+1:] {
		if !isDigit(c) || p > 65535 {
			return h[:i], 0
		}
		p = p*10 + int(c-'0')
	}
	if p > 65535 || i+1 == len(h) {
		return h[:i], 0
	}
	return h[:i], uint16(p)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isToken reports a non-empty RFC 9110 token (methods, schemes).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
