package ssh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func nameList(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// kexInit builds a KEXINIT binary packet with the given name-lists (kex,
// host key, enc c2s, enc s2c, mac c2s, mac s2c, comp c2s, comp s2c).
func kexInit(lists ...string) []byte {
	payload := append([]byte{msgKexInit}, make([]byte, 16)...)
	for _, l := range lists {
		payload = append(payload, nameList(l)...)
	}
	payload = append(payload, nameList("")...)
	payload = append(payload, nameList("")...)
	payload = append(payload, 0, 0, 0, 0, 0)
	return packet(payload)
}

func packet(payload []byte) []byte {
	padding := 8 - (len(payload)+5)%8
	if padding < 4 {
		padding += 8
	}
	p := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+padding))
	p = append(p, byte(padding))
	p = append(p, payload...)
	return append(p, make([]byte, padding)...)
}

var lists = []string{
	"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
	"ssh-ed25519,rsa-sha2-512",
	"chacha20-poly1305@openssh.com,aes128-ctr",
	"aes256-gcm@openssh.com,aes128-ctr",
	"umac-64-etm@openssh.com,hmac-sha2-256",
	"hmac-sha2-512",
	"none,zlib@openssh.com",
	"none",
}

// walk feeds b in chunks of size, keeping unconsumed bytes.
func walk(t *testing.T, b []byte, size int) ([]string, error) {
	t.Helper()
	var s Stream
	var held []byte
	var out []string
	for len(b) > 0 {
		n := min(size, len(b))
		held = append(held, b[:n]...)
		b = b[n:]
		for {
			it, used, err := s.Next(held)
			if used < 0 || used > len(held) {
				t.Fatalf("consumed %d of %d", used, len(held))
			}
			held = held[used:]
			if err != nil {
				return out, err
			}
			if it.Kind == KindNone {
				break
			}
			switch it.Kind {
			case KindBanner:
				out = append(out, "banner "+string(it.Data))
			case KindKexInit:
				var k KexInit
				if err := k.Parse(it.Data); err != nil {
					return out, err
				}
				out = append(out, "hassh "+string(k.AppendHASSH(nil, false)), "hasshserver "+string(k.AppendHASSH(nil, true)))
			}
		}
	}
	return out, nil
}

func TestStream(t *testing.T) {
	ignore := packet([]byte{2, 0, 0, 0, 0}) // SSH_MSG_IGNORE
	conv := "Welcome\r\nnot yet\n" + "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n" + string(ignore) + string(kexInit(lists...)) + string(packet([]byte{30, 1, 2, 3}))
	want := []string{
		"banner SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		"hassh " + lists[0] + ";" + lists[2] + ";" + lists[4] + ";" + lists[6],
		"hasshserver " + lists[0] + ";" + lists[3] + ";" + lists[5] + ";" + lists[7],
	}
	for _, size := range []int{1, 5, 64, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got, err := walk(t, []byte(conv), size)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name, input string
		want        error
	}{
		{"http", "GET / HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 2000), ErrNotSSH},
		{"endless_line", strings.Repeat("a", MaxBannerLen+1), ErrNotSSH},
		{"packet_too_long", "SSH-2.0-x\r\n\x7f\xff\xff\xff\x04\x14", ErrBadPacket},
		{"padding_longer_than_packet", "SSH-2.0-x\r\n\x00\x00\x00\x08\x09\x14", ErrBadPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := walk(t, []byte(tt.input), 1<<20); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var k KexInit
	short := append(append(make([]byte, 16), nameList("a")...), nameList("b")...)
	if err := k.Parse(short); !errors.Is(err, ErrBadPacket) {
		t.Errorf("KEXINIT with two lists: %v, want ErrBadPacket", err)
	}
}

func TestParseBanner(t *testing.T) {
	tests := []struct {
		line, proto, software string
		ok                    bool
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "2.0", "OpenSSH_9.2p1", true},
		{"SSH-1.99-Cisco-1.25", "1.99", "Cisco-1.25", true},
		{"SSH-2.0-", "2.0", "", true},
		{"SSH-2.0", "", "", false},
		{"SSH--x", "", "", false},
		{"HTTP/1.1 200 OK", "", "", false},
	}
	for _, tt := range tests {
		proto, software, ok := ParseBanner([]byte(tt.line))
		if string(proto) != tt.proto || string(software) != tt.software || ok != tt.ok {
			t.Errorf("ParseBanner(%q) = %q %q %v, want %q %q %v", tt.line, proto, software, ok, tt.proto, tt.software, tt.ok)
		}
	}
}

func FuzzStream(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"+string(kexInit(lists...))), uint8(9))
	f.Add([]byte("junk\nSSH-1.99-x y\n\x00\x00\x00\x0c\x04\x14abcdefg"), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		size := int(chunk) + 1
		var s Stream
		var held []byte
		for len(b) > 0 {
			n := min(size, len(b))
			held = append(held, b[:n]...)
			b = b[n:]
			for {
				it, used, err := s.Next(held)
				if used < 0 || used > len(held) {
					t.Fatalf("consumed %d of %d", used, len(held))
				}
				held = held[used:]
				if err != nil || it.Kind == KindNone {
					break
				}
				switch it.Kind {
				case KindBanner:
					ParseBanner(it.Data)
				case KindKexInit:
					var k KexInit
					if k.Parse(it.Data) == nil {
						k.AppendHASSH(nil, true)
					}
				}
			}
		}
	})
}
