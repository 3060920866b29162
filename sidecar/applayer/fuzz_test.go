package applayer

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzEngine drives the whole app layer with arbitrary segments: each
// record of the input is a direction, flags, a sequence offset and a
// payload, on one TCP flow, and the same payloads as UDP datagrams on
// another. Nothing may panic, the state must be freed at expiry, and the
// reassembly budget must hold.
func FuzzEngine(f *testing.F) {
	seed := func(parts ...[]byte) []byte {
		var b []byte
		off := uint16(0)
		for i, p := range parts {
			b = append(b, byte(i%2), 0x18)
			b = binary.BigEndian.AppendUint16(b, off)
			b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
			b = append(b, p...)
			if i%2 == 1 {
				off += uint16(len(p))
			}
		}
		return b
	}
	f.Add(seed([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")))
	f.Add(seed([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), []byte("\x16\x03\x03\x00\x04\x02\x00\x00\x00")))
	f.Add(seed([]byte("SSH-2.0-x\r\n"), []byte("SSH-2.0-y\r\n")))
	q, r := dnsExchange(f, 1, "a.example.")
	f.Add(seed(q, r))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := DefaultConfig()
		cfg.StreamKiB, cfg.MemoryMiB = 2, 1
		en := New(cfg, nopEmitter{}, nil)
		tcp := newConn(t, en, "10.0.1.5:40000", "10.0.0.9:443", 1)
		udp := &testFlow{id: 2, client: netip.MustParseAddrPort("10.0.1.5:40001"), server: netip.MustParseAddrPort("10.0.0.2:53"), proto: ipUDP}
		tcp.handshake()
		base := [2]uint32{tcp.seq[0], tcp.seq[1]}
		for len(b) >= 6 {
			dir := int(b[0] & 1)
			flags := b[1]
			off := binary.BigEndian.Uint16(b[2:])
			n := min(int(binary.BigEndian.Uint16(b[4:])), len(b)-6)
			payload := b[6 : 6+n]
			b = b[6+n:]
			tcp.seq[1-dir] = base[1-dir] + uint32(off)
			tcp.packet(dir, flags, base[dir]+uint32(off), payload)
			datagram(en, udp, dir, t0, payload)
			if en.pool.InUse() > int64(cfg.MemoryMiB)<<20 {
				t.Fatalf("reassembly holds %d bytes, budget %d", en.pool.InUse(), cfg.MemoryMiB<<20)
			}
		}
		tcp.expire()
		en.expire(udp, &udp.state, &udp.app)
		if en.used != 0 || en.pool.InUse() != 0 {
			t.Fatalf("after expiry: %d states, %d reassembly bytes in use", en.used, en.pool.InUse())
		}
	})
}
