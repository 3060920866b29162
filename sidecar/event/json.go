package event

import (
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
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript consumers of JSON lines.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as every string of
// an event is. Producers that pre-encode a JSON member (log.fields) use it
// so that one escaping rule holds for the whole line.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }
