package tls

import (
	"bytes"
	"encoding/binary"
)

// Extension types read from hellos.
const (
	extServerName        = 0
	extSupportedGroups   = 10
	extECPointFormats    = 11
	extSignatureAlgs     = 13
	extALPN              = 16
	extSupportedVersions = 43
)

// Protocol versions.
const (
	VersionSSL3  = 0x0300
	VersionTLS10 = 0x0301
	VersionTLS11 = 0x0302
	VersionTLS12 = 0x0303
	VersionTLS13 = 0x0304
)

// IsGREASE reports whether v is one of the 16 GREASE values of RFC 8701
// (0x0a0a, 0x1a1a, ... 0xfafa), which fingerprints leave out.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ClientHello is a parsed ClientHello. Its slices are reused by the next
// Parse; the byte slices alias the message.
type ClientHello struct {
	LegacyVersion uint16
	SessionID     []byte
	// As sent, GREASE values included.
	Ciphers      []uint16
	Extensions   []uint16
	Groups       []uint16 // supported_groups (JA3's elliptic curves)
	PointFormats []byte
	SigAlgs      []uint16
	Versions     []uint16 // supported_versions
	// SNI is the host_name of server_name, nil without one.
	SNI   []byte
	ALPNs [][]byte
	// HasSNI and HasALPN report the extensions, even when empty.
	HasSNI, HasALPN bool
}

// Parse reads a ClientHello body.
func (h *ClientHello) Parse(b []byte) error {
	h.Ciphers, h.Extensions, h.Groups, h.SigAlgs, h.Versions = h.Ciphers[:0], h.Extensions[:0], h.Groups[:0], h.SigAlgs[:0], h.Versions[:0]
	h.PointFormats, h.SNI, h.ALPNs, h.SessionID = nil, nil, h.ALPNs[:0], nil
	h.HasSNI, h.HasALPN = false, false
	r := reader{b: b}
	h.LegacyVersion = r.u16()
	r.skip(32) // random
	h.SessionID = r.vec8()
	ciphers := r.vec16()
	if len(ciphers)%2 != 0 {
		return ErrShortMessage
	}
	for i := 0; i+1 < len(ciphers); i += 2 {
		h.Ciphers = append(h.Ciphers, binary.BigEndian.Uint16(ciphers[i:]))
	}
	r.vec8() // compression methods
	if r.err {
		return ErrShortMessage
	}
	if r.empty() {
		return nil // no extensions (allowed before TLS 1.3)
	}
	exts := reader{b: r.vec16()}
	if r.err {
		return ErrShortMessage
	}
	for !exts.empty() {
		typ := exts.u16()
		data := reader{b: exts.vec16()}
		if exts.err {
			return ErrShortMessage
		}
		h.Extensions = append(h.Extensions, typ)
		switch typ {
		case extServerName:
			h.HasSNI = true
			list := reader{b: data.vec16()}
			for !list.empty() && !list.err {
				kind := list.u8()
				name := list.vec16()
				if kind == 0 && h.SNI == nil {
					h.SNI = name
				}
			}
		case extALPN:
			h.HasALPN = true
			list := reader{b: data.vec16()}
			for !list.empty() && !list.err {
				if p := list.vec8(); !list.err {
					h.ALPNs = append(h.ALPNs, p)
				}
			}
		case extSupportedGroups:
			h.Groups = data.u16s(h.Groups, data.vec16())
		case extECPointFormats:
			h.PointFormats = data.vec8()
		case extSignatureAlgs:
			h.SigAlgs = data.u16s(h.SigAlgs, data.vec16())
		case extSupportedVersions:
			h.Versions = data.u16s(h.Versions, data.vec8())
		}
	}
	return nil
}

// Version is the version the client prefers: the first non-GREASE
// supported_versions entry Suricata knows, else the legacy version (as
// Suricata's tls.version falls back to before the ServerHello).
func (h *ClientHello) Version() uint16 {
	for _, v := range h.Versions {
		if VersionName(v) != "" && v != 0x0200 {
			return v
		}
	}
	return h.LegacyVersion
}

// MaxVersion is the highest version offered, GREASE left out: the legacy
// version or a supported_versions entry (Suricata's client_handshake
// version).
func (h *ClientHello) MaxVersion() uint16 {
	v := h.LegacyVersion
	for _, x := range h.Versions {
		if !IsGREASE(x) && x > v {
			v = x
		}
	}
	return v
}

// ServerHello is a parsed ServerHello.
type ServerHello struct {
	LegacyVersion uint16
	SessionID     []byte
	Cipher        uint16
	Extensions    []uint16
	// SelectedVersion is supported_versions' value (TLS 1.3), 0 without.
	SelectedVersion uint16
	ALPN            []byte
	// RetryRequest is set for a HelloRetryRequest (TLS 1.3): a real
	// ServerHello follows the client's second ClientHello.
	RetryRequest bool
}

// helloRetryRandom marks a HelloRetryRequest (RFC 8446, 4.1.3).
var helloRetryRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// Parse reads a ServerHello body.
func (h *ServerHello) Parse(b []byte) error {
	h.Extensions, h.SelectedVersion, h.ALPN = h.Extensions[:0], 0, nil
	r := reader{b: b}
	h.LegacyVersion = r.u16()
	random := r.next(32)
	h.RetryRequest = bytes.Equal(random, helloRetryRandom)
	h.SessionID = r.vec8()
	h.Cipher = r.u16()
	r.u8() // compression method
	if r.err {
		return ErrShortMessage
	}
	if r.empty() {
		return nil
	}
	exts := reader{b: r.vec16()}
	if r.err {
		return ErrShortMessage
	}
	for !exts.empty() {
		typ := exts.u16()
		data := reader{b: exts.vec16()}
		if exts.err {
			return ErrShortMessage
		}
		h.Extensions = append(h.Extensions, typ)
		switch typ {
		case extSupportedVersions:
			h.SelectedVersion = data.u16()
		case extALPN:
			list := reader{b: data.vec16()}
			h.ALPN = list.vec8()
		}
	}
	return nil
}

// Version is the negotiated version: supported_versions' value, else the
// legacy version.
func (h *ServerHello) Version() uint16 {
	if h.SelectedVersion != 0 {
		return h.SelectedVersion
	}
	return h.LegacyVersion
}

// VersionName is a version as EVE's tls.version writes it ("TLS 1.2",
// "TLSv1" for 1.0, "SSLv3"), or "" for a value Suricata has no name for.
func VersionName(v uint16) string {
	switch v {
	case 0x0200:
		return "SSLv2"
	case VersionSSL3:
		return "SSLv3"
	case VersionTLS10:
		return "TLSv1"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	}
	switch {
	case v >= 0x7f10 && v <= 0x7f1c:
		return draftNames[v-0x7f10]
	case v == 0x7f01:
		return "TLS 1.3 draft-<16"
	case v == 0xfb14:
		return "TLS 1.3 draft-20-fb"
	case v == 0xfb15:
		return "TLS 1.3 draft-21-fb"
	case v == 0xfb16:
		return "TLS 1.3 draft-22-fb"
	case v == 0xfb17:
		return "TLS 1.3 draft-23-fb"
	case v == 0xfb1a:
		return "TLS 1.3 draft-26-fb"
	}
	return ""
}

var draftNames = [...]string{
	"TLS 1.3 draft-16", "TLS 1.3 draft-17", "TLS 1.3 draft-18", "TLS 1.3 draft-19", "TLS 1.3 draft-20",
	"TLS 1.3 draft-21", "TLS 1.3 draft-22", "TLS 1.3 draft-23", "TLS 1.3 draft-24", "TLS 1.3 draft-25",
	"TLS 1.3 draft-26", "TLS 1.3 draft-27", "TLS 1.3 draft-28",
}

// reader reads big-endian fields; a read past the end sets err and
// returns zero values, so a parser checks once after a group of reads.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) next(n int) []byte {
	if n > len(r.b) {
		r.err, r.b = true, nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) skip(n int) { r.next(n) }

func (r *reader) u8() uint8 {
	if v := r.next(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.next(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) vec8() []byte { return r.next(int(r.u8())) }

func (r *reader) vec16() []byte { return r.next(int(r.u16())) }

// u16s appends the big-endian values of b to dst.
func (r *reader) u16s(dst []uint16, b []byte) []uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		dst = append(dst, binary.BigEndian.Uint16(b[i:]))
	}
	return dst
}
