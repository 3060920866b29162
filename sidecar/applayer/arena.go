package applayer

import (
	"unicode/utf8"
	"unsafe"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Arena sizes: one allocation serves many events. A slab stays alive
// while any event (queued in the pipeline, or a transaction waiting for
// its response) points into it, so the memory it can pin is bounded by
// the events in flight times these sizes.
const (
	byteSlab   = 16 << 10
	objectSlab = 64 // objects; lists of strings and numbers take more
)

// newArena sizes the slabs of lists, which come many per event.
func newArena() arena {
	var a arena
	a.strs.size = 512
	a.u16s.size = 2048
	a.queries.size = 256
	a.answers.size = 256
	return a
}

// arena allocates the strings and objects of events in slabs, so that
// building an event allocates nothing most of the time. What it hands out
// is never written again: events may be retained by their consumers.
type arena struct {
	bytes []byte
	slabs uint64 // slabs allocated, for the metric

	dns      slab[event.DNS]
	queries  slab[event.DNSQuery]
	answers  slab[event.DNSAnswer]
	soa      slab[event.DNSSOA]
	srv      slab[event.DNSSRV]
	sshfp    slab[event.DNSSSHFP]
	opts     slab[event.DNSOpt]
	grouped  slab[event.DNSGrouped]
	strs     slab[string]
	tls      slab[event.TLS]
	hashes   slab[event.TLSHash]
	chs      slab[event.TLSClientHandshake]
	shs      slab[event.TLSServerHandshake]
	u16s     slab[uint16]
	http     slab[event.HTTP]
	ssh      slab[event.SSH]
	sshPeers slab[event.SSHPeer]
}

// slab hands out values of T from blocks of size values.
type slab[T any] struct {
	buf  []T
	size int
}

// one returns a zero T.
func (s *slab[T]) one(a *arena) *T {
	return &s.many(a, 1)[0]
}

// many returns n zero Ts, capacity n.
func (s *slab[T]) many(a *arena, n int) []T {
	if s.size == 0 {
		s.size = objectSlab
	}
	if n > s.size/2 {
		a.slabs++
		return make([]T, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		a.slabs++
		s.buf = make([]T, 0, s.size)
	}
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l+n : l+n]
}

// reserve makes room for n more bytes in the byte slab and returns its
// free part, to append to; commit then takes what was appended.
func (a *arena) reserve(n int) []byte {
	if cap(a.bytes)-len(a.bytes) < n {
		a.slabs++
		a.bytes = make([]byte, 0, max(byteSlab, n))
	}
	return a.bytes[len(a.bytes):len(a.bytes):cap(a.bytes)]
}

// commit turns b, appended to what reserve returned (within its capacity),
// into a string that keeps its bytes.
func (a *arena) commit(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	free := a.bytes[len(a.bytes):cap(a.bytes)]
	if len(free) > 0 && &free[0] == &b[0] && len(b) <= len(free) {
		a.bytes = a.bytes[:len(a.bytes)+len(b)]
	}
	// Otherwise b outgrew the reservation and lives in its own array,
	// which nothing else will write either.
	return unsafe.String(&b[0], len(b))
}

// str copies b into a string. Bytes that are not UTF-8 are written as
// \xNN, each byte from 0x80 up, as Suricata's JSON builder does.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if utf8.Valid(b) {
		return a.commit(append(a.reserve(len(b)), b...))
	}
	dst := a.reserve(4 * len(b))
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return a.commit(dst)
}

const hexDigits = "0123456789abcdef"
