package tls

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrBadCertificate is returned for DER that does not hold the fields of
// an X.509 certificate in order.
var ErrBadCertificate = errors.New("tls: malformed certificate")

// Certificate holds what EVE logs of an X.509 certificate, read without
// allocating. The byte slices alias the DER.
type Certificate struct {
	// Serial is the serialNumber INTEGER's content bytes as encoded.
	Serial []byte
	// Issuer and Subject are the content of the Name SEQUENCEs.
	Issuer, Subject     []byte
	NotBefore, NotAfter CertTime
	// SAN is the content of the subjectAltName GeneralNames, nil without
	// the extension.
	SAN []byte
}

// CertTime is a validity time (UTC). Valid is false for a time that did
// not parse.
type CertTime struct {
	Year, Month, Day, Hour, Min, Sec int
	Valid                            bool
}

// Parse reads der, one certificate.
func (c *Certificate) Parse(der []byte) error {
	*c = Certificate{}
	d := derReader(der)
	cert, ok := d.expect(0x30)
	if !ok {
		return ErrBadCertificate
	}
	d = derReader(cert)
	tbs, ok := d.expect(0x30)
	if !ok {
		return ErrBadCertificate
	}
	t := derReader(tbs)
	if len(t) > 0 && t[0] == 0xa0 { // version, explicit tag 0
		t.read()
	}
	var validity []byte
	if c.Serial, ok = t.expect(0x02); !ok {
		return ErrBadCertificate
	}
	if _, ok = t.expect(0x30); !ok { // signature algorithm
		return ErrBadCertificate
	}
	if c.Issuer, ok = t.expect(0x30); !ok {
		return ErrBadCertificate
	}
	if validity, ok = t.expect(0x30); !ok {
		return ErrBadCertificate
	}
	if c.Subject, ok = t.expect(0x30); !ok {
		return ErrBadCertificate
	}
	v := derReader(validity)
	if tag, b, ok := v.read(); ok {
		c.NotBefore = parseTime(tag, b)
	}
	if tag, b, ok := v.read(); ok {
		c.NotAfter = parseTime(tag, b)
	}
	if _, ok = t.expect(0x30); !ok { // subject public key info
		return ErrBadCertificate
	}
	for len(t) > 0 {
		tag, b, ok := t.read()
		if !ok {
			return ErrBadCertificate
		}
		if tag != 0xa3 { // unique ids
			continue
		}
		ext := derReader(b)
		list, ok := ext.expect(0x30)
		if !ok {
			return ErrBadCertificate
		}
		l := derReader(list)
		for len(l) > 0 {
			e, ok := l.expect(0x30)
			if !ok {
				return ErrBadCertificate
			}
			er := derReader(e)
			oid, ok := er.expect(0x06)
			if !ok {
				return ErrBadCertificate
			}
			if len(er) > 0 && er[0] == 0x01 { // critical
				er.read()
			}
			val, ok := er.expect(0x04)
			if !ok {
				return ErrBadCertificate
			}
			if bytes.Equal(oid, oidSubjectAltName) {
				sr := derReader(val)
				if c.SAN, ok = sr.expect(0x30); !ok {
					return ErrBadCertificate
				}
			}
		}
	}
	return nil
}

var oidSubjectAltName = []byte{0x55, 0x1d, 0x11}

// AppendFingerprint appends EVE's fingerprint of a certificate: the SHA-1
// of its DER as lowercase hex bytes separated by colons.
func AppendFingerprint(dst, der []byte) []byte {
	sum := sha1.Sum(der)
	return appendHexBytes(dst, sum[:], ':', "0123456789abcdef")
}

// AppendSerial appends EVE's serial: the INTEGER's bytes as uppercase hex
// separated by colons.
func AppendSerial(dst, serial []byte) []byte {
	return appendHexBytes(dst, serial, ':', "0123456789ABCDEF")
}

// appendHexBytes appends b in hex, the bytes separated by sep unless it
// is 0.
func appendHexBytes(dst, b []byte, sep byte, digits string) []byte {
	for i, c := range b {
		if i > 0 && sep != 0 {
			dst = append(dst, sep)
		}
		dst = append(dst, digits[c>>4], digits[c&0xf])
	}
	return dst
}

// Append writes t as EVE's notbefore/notafter ("2026-11-22T04:46:04").
func (t CertTime) Append(dst []byte) []byte {
	dst = appendDigits(dst, t.Year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, t.Month, 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, t.Day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, t.Hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, t.Min, 2)
	dst = append(dst, ':')
	return appendDigits(dst, t.Sec, 2)
}

func appendDigits(dst []byte, v, width int) []byte {
	var b [4]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}

// parseTime reads a UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or a
// GeneralizedTime (YYYYMMDDHHMMSS[.fff]Z).
func parseTime(tag byte, b []byte) CertTime {
	var t CertTime
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
	var rest []byte
	var ok bool
	switch {
	case tag == 0x17 && len(b) >= 13:
		if t.Year, ok = num(b[:2]); !ok {
			return CertTime{}
		}
		t.Year += 1900
		if t.Year < 1950 {
			t.Year += 100
		}
		rest = b[2:]
	case tag == 0x18 && len(b) >= 15:
		if t.Year, ok = num(b[:4]); !ok {
			return CertTime{}
		}
		rest = b[4:]
	default:
		return CertTime{}
	}
	fields := [...]*int{&t.Month, &t.Day, &t.Hour, &t.Min, &t.Sec}
	for i, f := range fields {
		if *f, ok = num(rest[2*i : 2*i+2]); !ok {
			return CertTime{}
		}
	}
	if rest[len(rest)-1] != 'Z' || t.Month < 1 || t.Month > 12 || t.Day < 1 || t.Day > 31 || t.Hour > 23 || t.Min > 59 || t.Sec > 60 {
		return CertTime{}
	}
	t.Valid = true
	return t
}

// AppendDN appends a Name (the content of its SEQUENCE) as Suricata's
// x509-parser writes it: "C=US, O=Let's Encrypt, CN=R3", attributes of
// one RDN joined by " + ".
func AppendDN(dst, name []byte) []byte {
	n := derReader(name)
	for first := true; len(n) > 0; first = false {
		set, ok := n.expect(0x31)
		if !ok {
			return dst
		}
		s := derReader(set)
		for firstAttr := true; len(s) > 0; firstAttr = false {
			attr, ok := s.expect(0x30)
			if !ok {
				return dst
			}
			a := derReader(attr)
			oid, ok := a.expect(0x06)
			if !ok {
				return dst
			}
			tag, val, ok := a.read()
			if !ok {
				return dst
			}
			switch {
			case !firstAttr:
				dst = append(dst, " + "...)
			case !first:
				dst = append(dst, ", "...)
			}
			dst = appendOIDName(dst, oid)
			dst = append(dst, '=')
			dst = appendAttrValue(dst, tag, val)
		}
	}
	return dst
}

// attrNames are x509-parser's abbreviations and OID registry short names
// for the attribute types found in certificates.
var attrNames = [...]struct {
	oid  []byte
	name string
}{
	{[]byte{0x55, 0x04, 0x03}, "CN"},
	{[]byte{0x55, 0x04, 0x06}, "C"},
	{[]byte{0x55, 0x04, 0x07}, "L"},
	{[]byte{0x55, 0x04, 0x08}, "ST"},
	{[]byte{0x55, 0x04, 0x0a}, "O"},
	{[]byte{0x55, 0x04, 0x0b}, "OU"},
	{[]byte{0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19}, "DC"},
	{[]byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}, "Email"},
	{[]byte{0x55, 0x04, 0x04}, "surname"},
	{[]byte{0x55, 0x04, 0x05}, "serialNumber"},
	{[]byte{0x55, 0x04, 0x09}, "street"},
	{[]byte{0x55, 0x04, 0x0c}, "title"},
	{[]byte{0x55, 0x04, 0x0f}, "businessCategory"},
	{[]byte{0x55, 0x04, 0x11}, "postalCode"},
	{[]byte{0x55, 0x04, 0x2a}, "givenName"},
	{[]byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x03}, "jurisdictionCountryName"},
}

// appendOIDName appends the attribute type's name, or its dotted OID.
func appendOIDName(dst, oid []byte) []byte {
	for _, a := range attrNames {
		if bytes.Equal(a.oid, oid) {
			return append(dst, a.name...)
		}
	}
	var v uint64
	first := true
	for _, c := range oid {
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			continue
		}
		if first {
			// The first subidentifier packs the first two arcs.
			arc := min(v/40, 2)
			dst = appendUint(dst, arc)
			dst = append(dst, '.')
			dst = appendUint(dst, v-40*arc)
			first = false
		} else {
			dst = append(dst, '.')
			dst = appendUint(dst, v)
		}
		v = 0
	}
	return dst
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// appendAttrValue appends a directory string; other types as uppercase
// hex, as x509-parser does.
func appendAttrValue(dst []byte, tag byte, v []byte) []byte {
	switch tag {
	case 0x0c, 0x13, 0x16, 0x14, 0x12, 0x1a, 0x1b, 0x19, 0x15, 0x07:
		return append(dst, v...)
	case 0x1e: // BMPString: UTF-16BE
		for i := 0; i+1 < len(v); i += 2 {
			r := rune(v[i])<<8 | rune(v[i+1])
			if utf16.IsSurrogate(r) && i+3 < len(v) {
				r = utf16.DecodeRune(r, rune(v[i+2])<<8|rune(v[i+3]))
				i += 2
			}
			dst = utf8.AppendRune(dst, r)
		}
		return dst
	case 0x1c: // UniversalString: UTF-32BE
		for i := 0; i+3 < len(v); i += 4 {
			dst = utf8.AppendRune(dst, rune(v[i])<<24|rune(v[i+1])<<16|rune(v[i+2])<<8|rune(v[i+3]))
		}
		return dst
	}
	return appendHexBytes(dst, v, 0, "0123456789ABCDEF")
}

// SANs iterates over subjectAltName entries.
type SANs struct{ d derReader }

// NewSANs reads the GeneralNames content of Certificate.SAN.
func NewSANs(san []byte) SANs { return SANs{derReader(san)} }

// SAN kinds (GeneralName context tags).
const (
	SANEmail = 0x81
	SANDNS   = 0x82
	SANURI   = 0x86
	SANIP    = 0x87
)

// Next returns the next entry: its kind (context tag) and value.
func (s *SANs) Next() (kind byte, v []byte, ok bool) {
	return s.d.read()
}

// derReader reads DER TLVs with single-byte tags.
type derReader []byte

// read returns the next TLV's tag and content.
func (d *derReader) read() (byte, []byte, bool) {
	b := *d
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, false
	}
	l, off := int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < 2+n {
			return 0, nil, false
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off += n
	}
	if len(b)-off < l {
		return 0, nil, false
	}
	*d = b[off+l:]
	return b[0], b[off : off+l : off+l], true
}

// expect reads the next TLV, which must have tag.
func (d *derReader) expect(tag byte) ([]byte, bool) {
	t, v, ok := d.read()
	if !ok || t != tag {
		return nil, false
	}
	return v, true
}
