package applayer

import (
	"encoding/binary"

	"github.com/sidewatch/sidewatch/sidecar/applayer/dns"
)

// detectWindow is how many bytes of a direction detection may wait for
// before deciding that nothing matches.
const detectWindow = 24

// match is what a probe says of a direction's first bytes.
type match uint8

const (
	noMatch match = iota
	needMore
	matched
)

// httpMethods are the request methods recognised at the start of a
// client's stream (RFC 9110 and WebDAV).
var httpMethods = [...]string{
	"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
	"PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ", "SEARCH ", "REPORT ",
}

// detectStream identifies a TCP stream's protocol from a direction's
// first bytes: the TLS record and handshake headers, an SSH
// identification string, an HTTP/1.x request line or status line, the
// HTTP/2 connection preface, or a DNS-over-TCP message header. decided is
// false when b is too short to tell.
func detectStream(b []byte, dir int) (proto uint8, decided bool) {
	wait := false
	for _, probe := range [...]struct {
		proto uint8
		fn    func([]byte, int) match
	}{
		{protoTLS, probeTLS},
		{protoSSH, probeSSH},
		{protoHTTP2, probeHTTP2},
		{protoHTTP, probeHTTP},
		{protoDNS, probeDNSTCP},
	} {
		switch probe.fn(b, dir) {
		case matched:
			return probe.proto, true
		case needMore:
			wait = true
		}
	}
	if wait && len(b) < detectWindow {
		return protoNone, false
	}
	return protoNone, true
}

// prefix compares b with the start of want: needMore when b is a shorter
// prefix of it.
func prefix(b []byte, want string) match {
	n := min(len(b), len(want))
	if string(b[:n]) != want[:n] {
		return noMatch
	}
	if n < len(want) {
		return needMore
	}
	return matched
}

// probeTLS wants a handshake record (22, version 3.x) whose first message
// is a ClientHello or ServerHello.
func probeTLS(b []byte, _ int) match {
	hdr := [...]byte{22, 3}
	for i := 0; i < len(hdr); i++ {
		if i >= len(b) {
			return needMore
		}
		if b[i] != hdr[i] {
			return noMatch
		}
	}
	if len(b) < 6 {
		return needMore
	}
	if b[2] > 4 || (b[5] != 1 && b[5] != 2) {
		return noMatch
	}
	return matched
}

func probeSSH(b []byte, _ int) match { return prefix(b, "SSH-") }

func probeHTTP2(b []byte, dir int) match {
	if dir != toServer {
		return noMatch
	}
	return prefix(b, "PRI * HTTP/2.0\r\n")
}

func probeHTTP(b []byte, dir int) match {
	if dir == toClient {
		return prefix(b, "HTTP/1.")
	}
	best := noMatch
	for _, m := range httpMethods {
		switch prefix(b, m) {
		case matched:
			return matched
		case needMore:
			best = needMore
		}
	}
	return best
}

// probeDNSTCP wants a 2-byte length then a header of one question: a
// query (no answers) from the client, a response from the server.
func probeDNSTCP(b []byte, dir int) match {
	if len(b) < 2+dns.HeaderLen {
		if len(b) >= 2 && binary.BigEndian.Uint16(b) < dns.HeaderLen+5 {
			return noMatch
		}
		return needMore
	}
	n := binary.BigEndian.Uint16(b)
	h := b[2:]
	flags := binary.BigEndian.Uint16(h[2:])
	qd, an, ns, ar := binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[6:]), binary.BigEndian.Uint16(h[8:]), binary.BigEndian.Uint16(h[10:])
	opcode := flags >> 11 & 0xf
	response := flags&dns.FlagQR != 0
	switch {
	case n < dns.HeaderLen+5, qd != 1, opcode > 5, opcode == 3:
		return noMatch
	case dir == toServer && (response || an != 0 || ns != 0 || ar > 1):
		return noMatch
	case dir == toClient && !response:
		return noMatch
	}
	return matched
}

// detectDNS says whether a UDP datagram is a DNS message: it parses whole,
// with at least one question and nothing after it, and goes the right way
// (a query to the server, a response to the client).
func (en *Engine) detectDNS(b []byte, dir int) bool {
	m := &en.dnsMsg
	if len(b) < dns.HeaderLen || m.Parse(b) != nil || m.Len != len(b) || len(m.Questions) == 0 || m.Opcode() > 6 {
		return false
	}
	return m.Response() == (dir == toClient)
}
