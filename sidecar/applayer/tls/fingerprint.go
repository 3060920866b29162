package tls

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
)

// AppendJA3 appends the hello's JA3 string (salesforce/ja3): the legacy
// version, cipher suites, extension types, supported groups and point
// formats, in decimal in the order sent, GREASE values left out.
func (h *ClientHello) AppendJA3(dst []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(h.LegacyVersion), 10)
	dst = append(dst, ',')
	dst = appendDecimals(dst, h.Ciphers)
	dst = append(dst, ',')
	dst = appendDecimals(dst, h.Extensions)
	dst = append(dst, ',')
	dst = appendDecimals(dst, h.Groups)
	dst = append(dst, ',')
	for i, f := range h.PointFormats {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = strconv.AppendUint(dst, uint64(f), 10)
	}
	return dst
}

// AppendJA3S appends the hello's JA3S string: legacy version, cipher and
// extension types.
func (h *ServerHello) AppendJA3S(dst []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(h.LegacyVersion), 10)
	dst = append(dst, ',')
	dst = strconv.AppendUint(dst, uint64(h.Cipher), 10)
	dst = append(dst, ',')
	return appendDecimals(dst, h.Extensions)
}

// AppendMD5Hex appends the lowercase hex MD5 of s: a JA3, JA3S or HASSH
// hash from its string.
func AppendMD5Hex(dst, s []byte) []byte {
	sum := md5.Sum(s)
	return hex.AppendEncode(dst, sum[:])
}

func appendDecimals(dst []byte, vs []uint16) []byte {
	first := true
	for _, v := range vs {
		if IsGREASE(v) {
			continue
		}
		if !first {
			dst = append(dst, '-')
		}
		first = false
		dst = strconv.AppendUint(dst, uint64(v), 10)
	}
	return dst
}

// JA4 computes the FoxIO JA4 fingerprint of ClientHellos over TCP, as
// specified by FoxIO-LLC/ja4 technical_details/JA4.md at commit
// 820ec301a930ae3d92a80afd8fc4d3f1abb73b9d (2026-01-21). It keeps its
// buffers between calls.
type JA4 struct {
	list []uint16
	buf  []byte
}

// Append appends h's JA4 ("t13d1516h2_8daaf6152771_e5627efa2ab1").
func (j *JA4) Append(dst []byte, h *ClientHello) []byte {
	dst = append(dst, 't')
	dst = append(dst, ja4Version(h)...)
	if h.HasSNI {
		dst = append(dst, 'd')
	} else {
		dst = append(dst, 'i')
	}
	dst = appendCount(dst, h.Ciphers)
	dst = appendCount(dst, h.Extensions)
	dst = appendALPNChars(dst, h)
	dst = append(dst, '_')

	// b: the sorted cipher suites.
	j.list = appendNonGREASE(j.list[:0], h.Ciphers, false)
	slices.Sort(j.list)
	j.buf = appendHexList(j.buf[:0], j.list)
	dst = appendTruncatedSHA256(dst, j.buf, len(j.list) == 0)
	dst = append(dst, '_')

	// c: the sorted extensions without SNI and ALPN, then the signature
	// algorithms in the order sent.
	j.list = appendNonGREASE(j.list[:0], h.Extensions, true)
	slices.Sort(j.list)
	j.buf = appendHexList(j.buf[:0], j.list)
	sigs := len(j.list)
	j.list = appendNonGREASE(j.list[:0], h.SigAlgs, false)
	if len(j.list) > 0 {
		j.buf = append(j.buf, '_')
		j.buf = appendHexList(j.buf, j.list)
	}
	return appendTruncatedSHA256(dst, j.buf, sigs == 0)
}

func ja4Version(h *ClientHello) string {
	v := h.LegacyVersion
	if len(h.Versions) > 0 {
		v = 0
		for _, x := range h.Versions {
			if !IsGREASE(x) && x > v {
				v = x
			}
		}
	}
	switch v {
	case VersionTLS13:
		return "13"
	case VersionTLS12:
		return "12"
	case VersionTLS11:
		return "11"
	case VersionTLS10:
		return "10"
	case VersionSSL3:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// appendCount appends the number of non-GREASE values, two digits,
// capped at 99.
func appendCount(dst []byte, vs []uint16) []byte {
	n := 0
	for _, v := range vs {
		if !IsGREASE(v) {
			n++
		}
	}
	n = min(n, 99)
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

// appendALPNChars appends the first and last characters of the first
// ALPN value, "00" without one, or the first and last hex digits of the
// value when either end is not an ASCII letter or digit.
func appendALPNChars(dst []byte, h *ClientHello) []byte {
	if len(h.ALPNs) == 0 || len(h.ALPNs[0]) == 0 {
		return append(dst, '0', '0')
	}
	a := h.ALPNs[0]
	first, last := a[0], a[len(a)-1]
	if isAlnum(first) && isAlnum(last) {
		return append(dst, first, last)
	}
	return append(dst, hexDigits[first>>4], hexDigits[last&0xf])
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func appendNonGREASE(dst, vs []uint16, dropSNIALPN bool) []uint16 {
	for _, v := range vs {
		if IsGREASE(v) || dropSNIALPN && (v == extServerName || v == extALPN) {
			continue
		}
		dst = append(dst, v)
	}
	return dst
}

// appendHexList appends vs as comma-separated 4-digit lowercase hex.
func appendHexList(dst []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, hexDigits[v>>12], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf])
	}
	return dst
}

// appendTruncatedSHA256 appends the first 12 hex digits of SHA-256(b), or
// twelve zeros when empty is set.
func appendTruncatedSHA256(dst, b []byte, empty bool) []byte {
	if empty {
		return append(dst, "000000000000"...)
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:6])
}

const hexDigits = "0123456789abcdef"
