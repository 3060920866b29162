package pipeline

import (
	"unsafe"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const (
	// blockSlack is room beyond the batch size in a new block, so that the
	// event that completes a batch rarely makes it grow.
	blockSlack = 4 << 10
	// keepFree is how many written blocks are kept for reuse once the
	// queue is empty; more, left after a burst, are given back to the
	// garbage collector then (trim).
	keepFree = 4
)

// line is where one encoded event ends in its block, and its type.
type line struct {
	end uint32
	typ uint8
}

// block is one batch of encoded lines, handed to each sink with one Write.
type block struct {
	buf   []byte
	lines []line
	n     int
	types uint64 // bit i set: an event of type index i is in the block
	next  *block
}

// filter appends the lines of the types in want to dst.
func (b *block) filter(dst []byte, want uint64) ([]byte, int) {
	start, n := 0, 0
	for _, l := range b.lines {
		if want&(1<<l.typ) != 0 {
			dst = append(dst, b.buf[start:l.end]...)
			n++
		}
		start = int(l.end)
	}
	return dst, n
}

// size is the block's memory.
func (b *block) size() int64 { return int64(cap(b.buf)) + int64(cap(b.lines))*8 }

// queue is the list of batches. Every method runs under Pipeline.mu.
type queue struct {
	batch      int
	eve        event.Options
	ecs        ecsCache
	cur        *block // being filled
	head, tail *block // sealed batches, oldest first
	free       *block
	nfree      int
	used       int64 // bytes of the events queued or being written
	events     int
	alloc      int64 // memory of every block alive
}

// append encodes ev at the end of the current batch, sealing the batch
// when it reaches the batch size (and then reports true).
func (q *queue) append(ev *event.Event, typ uint8) bool {
	if q.cur == nil {
		q.cur = q.get()
	}
	b := q.cur
	before, start := b.size(), len(b.buf)
	// The aws_ecs member is mostly the same from one event to the next:
	// encode it once (see event.ECS.AppendMember).
	ecs := ev.ECS
	ev.ECS = event.ECS{}
	b.buf = ev.Append(b.buf, q.eve)
	if ecs != (event.ECS{}) {
		b.buf = append(append(b.buf[:len(b.buf)-1], q.ecs.member(&ecs)...), '}')
	}
	b.buf = append(b.buf, '\n')
	b.lines = append(b.lines, line{end: uint32(len(b.buf)), typ: typ})
	b.n++
	b.types |= 1 << typ
	q.alloc += b.size() - before
	q.used += int64(len(b.buf) - start)
	q.events++
	if len(b.buf) >= q.batch {
		q.seal()
		return true
	}
	return false
}

func (q *queue) seal() {
	b := q.cur
	q.cur = nil
	if q.tail == nil {
		q.head = b
	} else {
		q.tail.next = b
	}
	q.tail = b
}

// take removes the oldest batch, or the partial one when none is sealed,
// for the consumer; nil when the queue is empty. Its bytes stay counted in
// used until release.
func (q *queue) take() *block {
	if b := q.head; b != nil {
		q.head = b.next
		if q.head == nil {
			q.tail = nil
		}
		b.next = nil
		return b
	}
	if b := q.cur; b != nil && b.n > 0 {
		q.cur = nil
		return b
	}
	return nil
}

// release frees a written batch's room and keeps the block for reuse,
// unless it grew for a large event. Blocks are kept while the queue is
// busy, so a sustained load allocates nothing; trim lets a burst's blocks
// go.
func (q *queue) release(b *block) {
	q.used -= int64(len(b.buf))
	q.events -= b.n
	if cap(b.buf) > 2*(q.batch+blockSlack) {
		q.alloc -= b.size()
		return
	}
	b.buf, b.lines, b.n, b.types = b.buf[:0], b.lines[:0], 0, 0
	b.next = q.free
	q.free = b
	q.nfree++
}

// trim drops the free blocks beyond keepFree; the consumer calls it when
// the queue is empty.
func (q *queue) trim() {
	for q.nfree > keepFree {
		b := q.free
		q.free = b.next
		q.nfree--
		q.alloc -= b.size()
	}
}

func (q *queue) get() *block {
	if b := q.free; b != nil {
		q.free = b.next
		b.next = nil
		q.nfree--
		return b
	}
	b := &block{buf: make([]byte, 0, q.batch+blockSlack), lines: make([]line, 0, q.batch/128)}
	q.alloc += b.size()
	return b
}

// maxTypes is how many event types get their own index; later ones share
// the last.
const maxTypes = 64

// typeIndex numbers event types for the batches' type masks and counts
// the events queued by type. Types a sink asks for, and stats, are
// numbered at New; others as they first appear, under Pipeline.mu.
type typeIndex struct {
	names     []event.Type
	published []*metrics.Counter
	reg       *metrics.Registry
}

func (x *typeIndex) init(reg *metrics.Registry) {
	x.reg = reg
	for _, t := range []event.Type{event.TypeFlow, event.TypeFlowUpdate, event.TypeDNS, event.TypeTLS, event.TypeHTTP, event.TypeSSH, event.TypeAlert, event.TypeLog, event.TypeStats} {
		x.of(t)
	}
}

func (x *typeIndex) of(t event.Type) uint8 {
	for i, n := range x.names {
		if n == t {
			return uint8(i)
		}
	}
	if len(x.names) == maxTypes-1 {
		t = "other"
	}
	if len(x.names) == maxTypes {
		return maxTypes - 1
	}
	x.names = append(x.names, t)
	x.published = append(x.published, x.reg.Counter("pipeline", "events_total", "Events accepted into the queue, by event type.", "type", string(t)))
	return uint8(len(x.names) - 1)
}

func (x *typeIndex) bit(t event.Type) uint64 { return 1 << x.of(t) }

// ecsCache holds the last aws_ecs member encoded and the ECS it encodes.
// The key's strings are copies in buf, not the producer's: the pipeline
// keeps nothing an event points to.
type ecsCache struct {
	key event.ECS
	buf []byte
	enc []byte
}

func (c *ecsCache) member(e *event.ECS) []byte {
	if *e == c.key && c.enc != nil {
		return c.enc
	}
	c.buf = c.buf[:0]
	for _, s := range []string{e.Cluster, e.TaskARN, e.Family, e.Revision, e.AvailabilityZone, e.LaunchType, e.Container.ID, e.Container.Name} {
		c.buf = append(c.buf, s...)
	}
	rest := c.buf
	take := func(s string) string {
		v := unsafe.String(unsafe.SliceData(rest), len(s))
		rest = rest[len(s):]
		return v
	}
	c.key = event.ECS{Cluster: take(e.Cluster), TaskARN: take(e.TaskARN), Family: take(e.Family), Revision: take(e.Revision),
		AvailabilityZone: take(e.AvailabilityZone), LaunchType: take(e.LaunchType),
		Container: event.Container{ID: take(e.Container.ID), Name: take(e.Container.Name)}}
	c.enc = e.AppendMember(c.enc[:0])
	return c.enc
}
