package event

import (
	"net/netip"
	"strconv"
	"unicode/utf8"
)

func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":"...)
	return appendString(dst, v)
}

func appendStringsField(dst []byte, name string, v []string) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":["...)
	for i, s := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":"...)
	return strconv.AppendUint(dst, v, 10)
}

func appendTrueField(dst []byte, name string, v bool) []byte {
	if !v {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	return append(dst, "\":true"...)
}

// closeObject drops the leading comma of the first member written after
// start (members are written as ",name":...) and closes the object.
func closeObject(dst []byte, start int) []byte {
	if len(dst) > start {
		copy(dst[start:], dst[start+1:])
		dst = dst[:len(dst)-1]
	}
	return append(dst, '}')
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// in encoding/json; unlike it, <, > and & are not escaped (EVE does not).
// Every character that some common reader takes for a line break or a
// control is escaped, so that one event is always one line: the C0
// controls, DEL, the C1 controls (U+0080 to U+009F: U+0085 is a line break
// to Python's splitlines) and U+2028/U+2029 (line and paragraph
// separators to JavaScript and Unicode-aware readers).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Plain ASCII, eight bytes at a time: most of a log line.
		for i+8 <= len(s) && plain8(load8(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = appendEscape(dst, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r <= 0x9f, r == '\u2028', r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, r)
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape writes r (below U+10000) as \uXXXX.
func appendEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendAddr writes an IP address as a JSON string. IPv6 is written as
// Suricata writes it, all eight groups of four hex digits
// (fd99:0000:0000:0000:0000:0000:0000:0001), unless o.CompressIPv6.
func appendAddr(dst []byte, a netip.Addr, o Options) []byte {
	dst = append(dst, '"')
	if a.Is4() || o.CompressIPv6 {
		dst = a.WithZone("").AppendTo(dst)
		return append(dst, '"')
	}
	b := a.As16()
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&0xf], hexDigits[b[i+1]>>4], hexDigits[b[i+1]&0xf])
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// load8 reads s[i:i+8] as a little-endian word (one load once compiled).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// plain8 reports whether none of x's bytes needs escaping or decoding:
// each is printable ASCII other than '"' and '\\' (0x20-0x7e). It may
// report false for a plain word (a borrow or carry between bytes); the
// byte loop then takes that word, so the result is the same.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^ones*'"', x^ones*'\\'
	// Each term sets a byte's high bit where it is below 0x20, a quote, a
	// backslash, or 0x7f and above.
	return ((x-ones*0x20)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash|(x+ones)|x)&highs == 0
}

// AppendJSONString appends s as a JSON string, escaped as every string of
// an event is. Producers that pre-encode a JSON member (log.fields) use it
// so that one escaping rule holds for the whole line.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendObjectsField writes v as an array of objects, each by enc; nothing
// when v is empty.
func appendObjectsField[T any](dst []byte, name string, v []T, enc func(*T, []byte) []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":["...)
	for i := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = enc(&v[i], dst)
	}
	return append(dst, ']')
}

func appendUint16sField(dst []byte, name string, v []uint16) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":["...)
	for i, n := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	return append(dst, ']')
}
