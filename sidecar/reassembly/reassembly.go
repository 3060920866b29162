// Package reassembly puts each direction of a TCP connection back in byte
// order for the app-layer parsers, within a byte budget per direction and
// one for all connections together.
//
// A Stream hands its consumer (a Receiver) the bytes that follow the last
// ones consumed as soon as they are contiguous: in the common case straight
// from the packet, without copying. Only bytes the consumer could not use
// yet (an incomplete message) and segments that arrived ahead of a hole
// are copied into a buffer from the Pool. Overlapping data keeps the copy
// that arrived first (Suricata's default policy) and counts differing
// bytes. A hole is given up as lost, and the consumer told of the gap,
// when the peer acknowledges bytes that were never captured or when the
// direction's budget fills up behind it. A stream picked up without its
// SYN starts at the first segment seen. A consumer that is done (its
// protocol identified and parsed) finishes the stream, which returns its
// buffer and ignores the rest of the direction.
//
// Every byte not handed over is counted: lost (never captured, or cut by
// the snap length) and skipped (beyond a budget).
package reassembly

import "github.com/sidewatch/sidewatch/sidecar/metrics"

// Config bounds the memory of reassembly (the app layer's --app-stream-kib
// and --app-memory-mib).
type Config struct {
	// StreamBytes is the most one direction holds: bytes received out of
	// order plus bytes its parser has not consumed yet.
	StreamBytes int
	// MemoryBytes is the most all directions hold together, buffers kept
	// for reuse included.
	MemoryBytes int64
}

// DefaultConfig returns the defaults: 32 KiB per direction (a TLS server
// flight up to its first certificate, an HTTP head with large cookies),
// 16 MiB in all.
func DefaultConfig() Config {
	return Config{StreamBytes: 32 << 10, MemoryBytes: 16 << 20}
}

// Receiver consumes one direction's bytes in order.
type Receiver interface {
	// Data hands over the bytes that follow the last ones consumed. The
	// receiver returns how many it consumed: the rest is kept and handed
	// again, followed by what arrives next. more is false once it needs
	// nothing more of this direction. b is valid only during the call.
	Data(b []byte) (n int, more bool)
	// Gap says that n bytes were lost before the next bytes handed over
	// (including bytes handed over before but not consumed). more is false
	// when the receiver cannot continue.
	Gap(n int) (more bool)
}

// Segment is one TCP segment of the direction.
type Segment struct {
	Seq      uint32
	SYN, FIN bool
	// Data is the captured payload.
	Data []byte
	// Missing is the payload bytes the snap length cut off after Data.
	Missing int
}

// Stream states.
const (
	stateNew uint8 = iota
	stateOpen
	stateDone
)

// maxSpans bounds the separate runs of bytes a stream holds; a segment
// that would make more is dropped (and counted).
const maxSpans = 8

type span struct{ start, end uint32 } // offsets from base; end exclusive

// Stream is one direction of one connection. The zero value is a stream
// that has seen nothing; a Stream must not be copied once used.
type Stream struct {
	base   uint32 // sequence number of the first byte not yet consumed
	finSeq uint32 // sequence number of the FIN
	buf    []byte // from the Pool; buf[i] is the byte at base+i
	spans  [maxSpans]span
	nspans uint8
	state  uint8
	fin    bool
}

// Done reports whether the stream was finished: its receiver needs
// nothing more, or the direction was abandoned.
func (s *Stream) Done() bool { return s.state == stateDone }

// Untouched reports whether the stream has seen no segment and was not
// opened: nothing of the direction would be lost by starting it afresh.
func (s *Stream) Untouched() bool { return s.state == stateNew }

// Ended reports whether the direction's FIN was seen and every byte
// before it handed over.
func (s *Stream) Ended() bool {
	return s.fin && s.state == stateOpen && s.nspans == 0 && s.base == s.finSeq
}

// Held is the number of bytes the stream holds in its buffer.
func (s *Stream) Held() int {
	if s.nspans == 0 {
		return 0
	}
	return int(s.spans[s.nspans-1].end)
}

// Finish releases the stream's buffer and makes it ignore the rest of
// the direction.
func (s *Stream) Finish(p *Pool) {
	s.release(p)
	s.nspans = 0
	s.state = stateDone
}

// Open starts a direction that has seen nothing yet at seq, as its SYN
// would have: for a stream created after the SYN went by. A stream that
// is not opened and gets no SYN starts at its first segment, counted as
// picked up midway.
func (s *Stream) Open(seq uint32) {
	if s.state == stateNew {
		s.state, s.base = stateOpen, seq
	}
}

// Add takes one segment of the direction and hands the receiver whatever
// becomes contiguous.
func (s *Stream) Add(p *Pool, seg Segment, r Receiver) {
	if s.state == stateDone {
		return
	}
	seq := seg.Seq
	if seg.SYN {
		seq++ // data in a SYN (TCP Fast Open) follows it
	}
	if s.state == stateNew {
		s.state = stateOpen
		s.base = seq
		if !seg.SYN {
			p.m.midstream.Inc()
		}
	}
	data, missing := seg.Data, seg.Missing
	if seg.FIN {
		s.fin, s.finSeq = true, seq+uint32(len(data)+missing)
	}
	if len(data)+missing == 0 {
		return
	}
	if missing > 0 {
		p.m.snaplen.Add(uint64(missing))
	}
	if rel := int64(int32(seq - s.base)); rel < 0 {
		// Bytes before base were consumed or given up already.
		k := min(-rel, int64(len(data)))
		p.m.retransmitted.Add(uint64(k))
		data, seq = data[k:], seq+uint32(k)
		if rel+k < 0 {
			missing = max(missing+int(rel+k), 0)
			seq = s.base
		}
	}
	if s.nspans == 0 && seq == s.base {
		// In order with nothing held: straight from the packet.
		if len(data) > 0 {
			n, more := r.Data(data)
			if !more {
				s.Finish(p)
				return
			}
			s.base += uint32(n)
			if n < len(data) && !s.store(p, s.base, data[n:], r) {
				return
			}
		}
		if missing > 0 {
			s.lose(p, s.Held()+missing, r)
		}
		return
	}
	if len(data) > 0 && !s.store(p, seq, data, r) {
		return
	}
	if s.nspans > 0 && s.spans[0].start == 0 {
		s.deliver(p, r)
	}
}

// Acked tells the stream that its peer acknowledged every byte before ack:
// bytes never captured up to there are lost, and the receiver is told.
func (s *Stream) Acked(p *Pool, ack uint32, r Receiver) {
	if s.state != stateOpen {
		return
	}
	if s.fin && int32(ack-s.finSeq) > 0 {
		ack = s.finSeq // the FIN takes one sequence number
	}
	for s.state == stateOpen {
		ahead := int64(int32(ack - s.base))
		switch {
		case ahead <= 0:
			return
		case s.nspans == 0:
			p.m.lost.Add(uint64(ahead))
			s.lose(p, int(ahead), r)
			return
		case s.spans[0].start > 0:
			if !s.skipHole(p, min(uint32(ahead), s.spans[0].start), r) {
				return
			}
		case int64(s.spans[0].end) < ahead:
			// The receiver waits for bytes after those held, and they are lost.
			p.m.lost.Add(uint64(ahead) - uint64(s.spans[0].end))
			s.lose(p, int(ahead), r)
			return
		default:
			return // the receiver holds acknowledged bytes it cannot use yet
		}
	}
}

// store copies data, which starts at sequence number seq at or after base,
// into the buffer, keeping bytes already held there, within the budgets.
// It returns false if the stream is done.
func (s *Stream) store(p *Pool, seq uint32, data []byte, r Receiver) bool {
	limit := int64(p.cfg.StreamBytes)
	var rel int64
	for {
		rel = int64(int32(seq - s.base))
		if rel < 0 {
			// A hole given up below moved base past part of data.
			k := min(-rel, int64(len(data)))
			data, seq, rel = data[k:], seq+uint32(k), 0
			if len(data) == 0 {
				return true
			}
		}
		if rel+int64(len(data)) <= limit {
			break
		}
		if s.nspans == 0 || s.spans[0].start == 0 {
			break
		}
		// The budget is full behind a hole: give the hole up as lost.
		if !s.skipHole(p, s.spans[0].start, r) {
			return false
		}
	}
	if end := rel + int64(len(data)); end > limit {
		if rel >= limit {
			p.m.skipped(skipStream).Add(uint64(len(data)))
			return true
		}
		p.m.skipped(skipStream).Add(uint64(end - limit))
		data = data[:limit-rel]
	}
	if !s.grow(p, int(rel)+len(data)) {
		p.m.skipped(skipMemory).Add(uint64(len(data)))
		if rel <= int64(s.Held()) && (s.nspans == 0 || s.spans[0].start == 0) {
			// The receiver needs these bytes next: they are gone.
			return s.lose(p, int(rel)+len(data), r)
		}
		return true
	}
	s.insert(p, uint32(rel), data)
	return true
}

// insert writes data at rel: bytes in no held span are copied, bytes of a
// held span are compared (first copy wins), and the spans are merged.
func (s *Stream) insert(p *Pool, rel uint32, data []byte) {
	end := rel + uint32(len(data))
	// Compare with the held bytes it overlaps; count differences.
	for i := range s.nspans {
		sp := s.spans[i]
		lo, hi := max(sp.start, rel), min(sp.end, end)
		if lo >= hi {
			continue
		}
		held, again := s.buf[lo:hi], data[lo-rel:hi-rel]
		if string(held) != string(again) {
			p.m.conflicts.Inc()
		}
		p.m.retransmitted.Add(uint64(hi - lo))
	}
	// Copy into the gaps between held spans.
	pos, copied := rel, uint32(0)
	for i := uint8(0); pos < end; i++ {
		if i < s.nspans {
			sp := s.spans[i]
			if sp.end <= pos {
				continue
			}
			if sp.start > pos {
				g := min(end, sp.start)
				copy(s.buf[pos:g], data[pos-rel:g-rel])
				copied += g - pos
			}
			pos = max(pos, sp.end)
			continue
		}
		copy(s.buf[pos:end], data[pos-rel:])
		copied += end - pos
		pos = end
	}
	if copied > 0 && rel > 0 && (s.nspans == 0 || s.spans[0].start > 0) {
		p.m.outOfOrder.Inc()
	}
	s.addSpan(p, span{rel, end})
}

// addSpan merges sp into the sorted, disjoint spans.
func (s *Stream) addSpan(p *Pool, sp span) {
	var out [maxSpans + 1]span
	n := 0
	placed := false
	for i := range s.nspans {
		cur := s.spans[i]
		switch {
		case cur.end < sp.start:
			out[n] = cur
			n++
		case sp.end < cur.start:
			if !placed {
				out[n] = sp
				n++
				placed = true
			}
			out[n] = cur
			n++
		default: // overlapping or adjacent: merge
			sp = span{min(sp.start, cur.start), max(sp.end, cur.end)}
		}
	}
	if !placed {
		out[n] = sp
		n++
	}
	// Keep them sorted: sp may have been placed before merging later spans.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && out[j].start < out[j-1].start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if n > maxSpans {
		// Too many runs: drop the last one (the furthest ahead).
		p.m.skipped(skipSpans).Add(uint64(out[n-1].end - out[n-1].start))
		n = maxSpans
	}
	copy(s.spans[:], out[:n])
	s.nspans = uint8(n)
}

// deliver hands the receiver the run of bytes at the front.
func (s *Stream) deliver(p *Pool, r Receiver) {
	front := s.spans[0].end
	n, more := r.Data(s.buf[:front])
	if !more {
		s.Finish(p)
		return
	}
	if n > 0 {
		s.shift(p, uint32(n))
		return
	}
	if int64(front) >= int64(p.cfg.StreamBytes) {
		// The receiver needs more than the budget holds to go on.
		p.m.skipped(skipStream).Add(uint64(front))
		r.Gap(int(front))
		s.Finish(p)
		p.m.abandoned.Inc()
	}
}

// shift drops the first n held bytes (consumed or lost) and moves base.
func (s *Stream) shift(p *Pool, n uint32) {
	s.base += n
	last := s.Held()
	if uint32(last) <= n {
		s.nspans = 0
		s.release(p)
		return
	}
	copy(s.buf, s.buf[n:last])
	k := uint8(0)
	for i := range s.nspans {
		sp := s.spans[i]
		if sp.end <= n {
			continue
		}
		s.spans[k] = span{sp.start - min(sp.start, n), sp.end - n}
		k++
	}
	s.nspans = k
}

// skipHole gives up the n missing bytes at the front, before the first
// held span, then delivers what follows. It returns false if the stream
// is done.
func (s *Stream) skipHole(p *Pool, n uint32, r Receiver) bool {
	p.m.lost.Add(uint64(n))
	more := r.Gap(int(n))
	if !more {
		s.Finish(p)
		return false
	}
	s.shift(p, n)
	if s.nspans > 0 && s.spans[0].start == 0 {
		s.deliver(p, r)
	}
	return s.state != stateDone
}

// lose drops everything held and the n bytes from base on (held bytes
// included in n), telling the receiver of the gap; the caller counts the
// bytes. It returns false if the stream is done.
func (s *Stream) lose(p *Pool, n int, r Receiver) bool {
	s.nspans = 0
	s.release(p)
	s.base += uint32(n)
	if !r.Gap(n) {
		s.Finish(p)
		return false
	}
	return true
}

// grow makes the buffer hold at least n bytes.
func (s *Stream) grow(p *Pool, n int) bool {
	if n <= len(s.buf) {
		return true
	}
	b := p.get(n)
	if b == nil {
		return false
	}
	copy(b, s.buf[:s.Held()])
	s.release(p)
	s.buf = b
	return true
}

func (s *Stream) release(p *Pool) {
	if s.buf != nil {
		p.put(s.buf)
		s.buf = nil
	}
}

// Pool hands out stream buffers within the global budget, keeps freed ones
// for reuse, and holds the reassembly counters. It is not safe for
// concurrent use: the capture goroutine owns it.
type Pool struct {
	cfg    Config
	held   int64 // bytes of buffers in use or kept for reuse
	inUse  int64
	free   [numClasses][][]byte
	m      poolMetrics
	memory *metrics.Gauge // held, for readers on other goroutines
}

// Buffer size classes: 2 KiB doubling up to the per-direction budget.
const (
	minClassShift = 11
	numClasses    = 14 // up to 16 MiB
)

func classOf(n int) int {
	c := 0
	for size := 1 << minClassShift; size < n; size <<= 1 {
		c++
	}
	return c
}

// NewPool returns a pool for cfg (which must be valid) registering the
// sidewatch_reassembly_* metrics in reg.
func NewPool(cfg Config, reg *metrics.Registry) *Pool {
	if reg == nil {
		reg = metrics.New()
	}
	p := &Pool{cfg: cfg, m: newPoolMetrics(reg)}
	p.memory = reg.Gauge("reassembly", "memory_bytes", "Bytes of reassembly buffers held (in use or kept for reuse), bounded by --app-memory-mib.")
	return p
}

// get returns a buffer of at least n bytes (n at most StreamBytes), or
// nil when the global budget is spent.
func (p *Pool) get(n int) []byte {
	c := classOf(n)
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[c] = l[:len(l)-1]
		p.inUse += int64(len(b))
		return b
	}
	size := int64(1) << (minClassShift + c)
	// Make room by dropping buffers kept for reuse in other classes.
	for o := range p.free {
		for p.held+size > p.cfg.MemoryBytes && len(p.free[o]) > 0 {
			l := p.free[o]
			p.held -= int64(len(l[len(l)-1]))
			l[len(l)-1] = nil
			p.free[o] = l[:len(l)-1]
		}
	}
	if p.held+size > p.cfg.MemoryBytes {
		p.memory.Set(p.held)
		return nil
	}
	p.held += size
	p.inUse += size
	p.memory.Set(p.held)
	return make([]byte, size)
}

func (p *Pool) put(b []byte) {
	c := classOf(len(b))
	p.inUse -= int64(len(b))
	p.free[c] = append(p.free[c], b)
}

// InUse returns the bytes of buffers held by streams.
func (p *Pool) InUse() int64 { return p.inUse }

// Reasons bytes were skipped.
const (
	skipStream = iota // beyond the per-direction budget
	skipMemory        // the global budget was spent
	skipSpans         // too many separate runs out of order
	numSkips
)

type poolMetrics struct {
	midstream, outOfOrder, conflicts, abandoned *metrics.Counter
	retransmitted, lost, snaplen                *metrics.Counter
	skips                                       [numSkips]*metrics.Counter
}

func (m *poolMetrics) skipped(reason int) *metrics.Counter { return m.skips[reason] }

func newPoolMetrics(reg *metrics.Registry) poolMetrics {
	const sub = "reassembly"
	skipped := func(reason string) *metrics.Counter {
		return reg.Counter(sub, "skipped_bytes_total", "Payload bytes captured but not handed to a parser, by reason: stream_budget (beyond --app-stream-kib held in one direction), memory (--app-memory-mib spent), out_of_order (more separate runs than a stream keeps).", "reason", reason)
	}
	return poolMetrics{
		midstream:     reg.Counter(sub, "midstream_total", "Directions picked up without their SYN (started at the first segment seen)."),
		outOfOrder:    reg.Counter(sub, "out_of_order_total", "Segments that arrived ahead of a hole and were held."),
		conflicts:     reg.Counter(sub, "overlap_conflicts_total", "Segments overlapping held bytes with different data (the first copy was kept)."),
		abandoned:     reg.Counter(sub, "abandoned_total", "Directions given up because their parser needed more than the budgets allow."),
		retransmitted: reg.Counter(sub, "retransmitted_bytes_total", "Payload bytes received again (already consumed or held)."),
		lost:          reg.Counter(sub, "lost_bytes_total", "Payload bytes never captured: acknowledged by the peer or skipped over when a hole was given up."),
		snaplen:       reg.Counter(sub, "snaplen_bytes_total", "Payload bytes cut off by the capture's snap length."),
		skips:         [numSkips]*metrics.Counter{skipStream: skipped("stream_budget"), skipMemory: skipped("memory"), skipSpans: skipped("out_of_order")},
	}
}
