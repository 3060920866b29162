package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// The shared-key handshake of the forward protocol (v1 spec, "Handshake
// Messages"): the server sends HELO with a nonce, the client answers PING
// with sha512_hex(salt + client_hostname + nonce + shared_key), the server
// checks it and answers PONG with sha512_hex(salt + server_hostname +
// nonce + shared_key), which Fluent Bit 5.x checks in turn. User
// authentication (username/password) is not used: the key is the secret.

// serverHostname is sent in PONG.
const serverHostname = "sidewatch"

// maxHandshakeMessage bounds a PING (Fluent Bit's is about 200 bytes).
const maxHandshakeMessage = 4096

var errBadKey = errors.New("shared key mismatch")

// helo holds one connection's handshake secrets.
type helo struct {
	nonce [16]byte
	salt  [16]byte // user-auth salt: sent because Fluent Bit's in_forward does; unused
}

func newHelo() (*helo, error) {
	h := &helo{}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(h.salt[:]); err != nil {
		return nil, err
	}
	return h, nil
}

// message is ["HELO", {"nonce": nonce, "auth": salt}], as Fluent Bit's
// in_forward writes it (both as 16-byte str).
func (h *helo) message() []byte {
	b := make([]byte, 0, 64)
	b = append(b, 0x92, 0xa4, 'H', 'E', 'L', 'O', 0x82, 0xa5, 'n', 'o', 'n', 'c', 'e', 0xb0)
	b = append(b, h.nonce[:]...)
	b = append(b, 0xa4, 'a', 'u', 't', 'h', 0xb0)
	return append(b, h.salt[:]...)
}

// digest is sha512_hex(salt + hostname + nonce + key).
func digest(salt, hostname, nonce []byte, key string) []byte {
	s := sha512.New()
	s.Write(salt)
	s.Write(hostname)
	s.Write(nonce)
	s.Write([]byte(key))
	sum := s.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// checkPing verifies a PING and returns the PONG to send. A PING with the
// wrong digest gets a refusing PONG and errBadKey; a malformed one only an
// error.
func (h *helo) checkPing(msg []byte, key string) (pong []byte, err error) {
	r := reader{b: msg}
	n, err := r.arrayLen()
	if err != nil || n < 4 {
		return nil, errMessageShape
	}
	var f [4][]byte
	for i := range f {
		if f[i], err = r.bytes(); err != nil {
			return nil, wrongType(err)
		}
	}
	if string(f[0]) != "PING" {
		return nil, errMessageShape
	}
	for range n - 4 {
		if err := r.skip(); err != nil {
			return nil, err
		}
	}
	if !r.done() {
		return nil, errMessageShape
	}
	hostname, salt, got := f[1], f[2], f[3]
	want := digest(salt, hostname, h.nonce[:], key)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return pongMessage(false, "shared_key mismatch", nil), errBadKey
	}
	return pongMessage(true, "", digest(salt, []byte(serverHostname), h.nonce[:], key)), nil
}

// pongMessage is ["PONG", ok, reason, server_hostname, digest].
func pongMessage(ok bool, reason string, dig []byte) []byte {
	b := make([]byte, 0, 160)
	b = append(b, 0x95, 0xa4, 'P', 'O', 'N', 'G')
	host := serverHostname
	if ok {
		b = append(b, 0xc3)
	} else {
		b = append(b, 0xc2)
		host = ""
	}
	b = appendStr(b, reason)
	b = appendStr(b, host)
	return appendStr(b, string(dig))
}

// appendStr writes a msgpack str (strings here are under 256 bytes).
func appendStr(b []byte, s string) []byte {
	if len(s) < 32 {
		b = append(b, 0xa0|byte(len(s)))
	} else {
		b = append(b, 0xd9, byte(len(s)))
	}
	return append(b, s...)
}
