package forward

import "sync/atomic"

// budget is the bytes that the read and decompression buffers of all
// connections may hold together (--forward-buffer-budget). A buffer grows
// only once its growth is reserved, so that many connections with large
// messages cannot together hold more than the budget.
type budget struct {
	limit int64
	used  atomic.Int64
}

func newBudget(limit int64) *budget { return &budget{limit: limit} }

// reserve takes n bytes, or takes nothing and reports false when fewer
// remain. Never above the limit, not even for a moment: the gauge shows
// used.
func (b *budget) reserve(n int) bool {
	for {
		u := b.used.Load()
		if int64(n) > b.limit-u {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			return true
		}
	}
}

// pressed reports whether more than half the budget is reserved: then a
// connection gives back the buffers it grew for a message once the
// message is done, instead of keeping them for the next one, so that idle
// connections cannot hold the room a busy one needs.
func (b *budget) pressed() bool { return 2*b.used.Load() > b.limit }

// release returns n reserved bytes.
func (b *budget) release(n int) { b.used.Add(-int64(n)) }

// reserved returns the bytes reserved now.
func (b *budget) reserved() int64 { return b.used.Load() }
