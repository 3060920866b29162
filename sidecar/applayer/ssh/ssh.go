// Package ssh reads the clear-text start of an SSH connection from one
// direction of its reassembled stream: the identification string
// ("SSH-2.0-OpenSSH_9.2p1 Debian-2") and the SSH_MSG_KEXINIT packet, from
// which the HASSH fingerprint (salesforce/hassh) is computed. Everything
// after the key exchange init is encrypted or of no interest, so a
// direction is finished once its KEXINIT has been read. Nothing allocates.
package ssh

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// Limits.
const (
	// MaxBannerLen is the longest identification line accepted (RFC 4253
	// allows 255 bytes; Suricata logs 256 and cuts the rest).
	MaxBannerLen = 8 << 10
	// maxPreBanner bounds the lines a server may send before its
	// identification string.
	maxPreBanner = 8 << 10
	// MaxPacketLen bounds the binary packet read for KEXINIT (RFC 4253
	// requires 35000 bytes to be handled).
	MaxPacketLen = 64 << 10
)

// Errors from Stream.Next.
var (
	ErrNotSSH    = errors.New("ssh: no identification string")
	ErrBadPacket = errors.New("ssh: malformed binary packet")
)

const (
	msgKexInit = 20
	msgNewKeys = 21
)

// Kind says what Stream.Next found.
type Kind uint8

// Kinds of Item.
const (
	KindNone    Kind = iota // more bytes are needed
	KindBanner              // Data is the identification line without CR LF
	KindKexInit             // Data is the KEXINIT payload after its message code
)

// Item is one step of a direction's stream.
type Item struct {
	Kind Kind
	Data []byte
}

// Stream is one direction's position. The zero value expects the
// identification string.
type Stream struct {
	banner  bool // the identification string was read
	skipped int  // bytes of lines before it
	left    int  // bytes left of a packet being skipped
}

// Next returns the next item in b (the direction's unconsumed bytes) and
// how many bytes it consumed. After KindKexInit the direction has nothing
// more of interest.
func (s *Stream) Next(b []byte) (Item, int, error) {
	pos := 0
	for !s.banner {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			if len(b)-pos > MaxBannerLen {
				return Item{}, pos, ErrNotSSH
			}
			return Item{}, pos, nil
		}
		line := b[pos : pos+i]
		pos += i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if bytes.HasPrefix(line, sshDash) {
			s.banner = true
			return Item{Kind: KindBanner, Data: line}, pos, nil
		}
		s.skipped += i + 1
		if s.skipped > maxPreBanner {
			return Item{}, pos, ErrNotSSH
		}
	}
	for {
		if s.left > 0 {
			k := min(s.left, len(b)-pos)
			if k == 0 {
				return Item{}, pos, nil
			}
			pos += k
			s.left -= k
			continue
		}
		if len(b)-pos < 6 {
			return Item{}, pos, nil
		}
		n := int(binary.BigEndian.Uint32(b[pos:]))
		padding := int(b[pos+4])
		if n < 2 || padding+1 >= n || n > MaxPacketLen {
			return Item{}, pos, ErrBadPacket
		}
		code := b[pos+5]
		if code != msgKexInit {
			s.left = 4 + n
			continue
		}
		if len(b)-pos < 4+n {
			return Item{}, pos, nil
		}
		payload := b[pos+6 : pos+4+n-padding]
		pos += 4 + n
		return Item{Kind: KindKexInit, Data: payload}, pos, nil
	}
}

var sshDash = []byte("SSH-")

// ParseBanner splits an identification line ("SSH-protoversion-
// softwareversion SP comments") into its protocol and software versions,
// as Suricata logs them (the comments are dropped).
func ParseBanner(line []byte) (proto, software []byte, ok bool) {
	rest, ok := bytes.CutPrefix(line, sshDash)
	if !ok {
		return nil, nil, false
	}
	proto, software, ok = bytes.Cut(rest, []byte{'-'})
	if !ok || len(proto) == 0 {
		return nil, nil, false
	}
	if i := bytes.IndexAny(software, " \r\n"); i >= 0 {
		software = software[:i]
	}
	return proto, software, true
}

// KexInit is a parsed SSH_MSG_KEXINIT: its name-lists, aliasing the
// payload.
type KexInit struct {
	Kex, HostKey     []byte
	EncC2S, EncS2C   []byte
	MACC2S, MACS2C   []byte
	CompC2S, CompS2C []byte
}

// Parse reads a KEXINIT payload (after the message code): a 16-byte
// cookie, then ten name-lists.
func (k *KexInit) Parse(p []byte) error {
	if len(p) < 16 {
		return ErrBadPacket
	}
	p = p[16:]
	for _, dst := range [...]*[]byte{&k.Kex, &k.HostKey, &k.EncC2S, &k.EncS2C, &k.MACC2S, &k.MACS2C, &k.CompC2S, &k.CompS2C} {
		if len(p) < 4 {
			return ErrBadPacket
		}
		n := int(binary.BigEndian.Uint32(p))
		if n > len(p)-4 {
			return ErrBadPacket
		}
		*dst = p[4 : 4+n : 4+n]
		p = p[4+n:]
	}
	return nil
}

// AppendHASSH appends the HASSH string of the client's KEXINIT
// ("kex;enc;mac;comp", client-to-server lists), or with server set the
// HASSHServer string (server-to-client lists).
func (k *KexInit) AppendHASSH(dst []byte, server bool) []byte {
	enc, mac, comp := k.EncC2S, k.MACC2S, k.CompC2S
	if server {
		enc, mac, comp = k.EncS2C, k.MACS2C, k.CompS2C
	}
	dst = append(dst, k.Kex...)
	dst = append(dst, ';')
	dst = append(dst, enc...)
	dst = append(dst, ';')
	dst = append(dst, mac...)
	dst = append(dst, ';')
	return append(dst, comp...)
}
