package forward

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// unbounded is a budget that never refuses, for decoder tests.
func unbounded() *budget { return newBudget(math.MaxInt64) }

func TestBudgetReserveRelease(t *testing.T) {
	type step struct {
		release bool
		n       int
		granted bool // for a reserve
	}
	tests := []struct {
		name  string
		limit int64
		steps []step
		want  int64 // reserved at the end
	}{
		{"within", 100, []step{{n: 60, granted: true}, {n: 40, granted: true}}, 100},
		{"over_refused_whole", 100, []step{{n: 60, granted: true}, {n: 41}}, 60},
		{"released_makes_room", 100, []step{{n: 60, granted: true}, {n: 50}, {release: true, n: 60}, {n: 100, granted: true}}, 100},
		{"zero_always", 0, []step{{n: 0, granted: true}, {n: 1}}, 0},
		{"huge_refused", 100, []step{{n: math.MaxInt, granted: false}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.limit)
			for i, s := range tt.steps {
				if s.release {
					b.release(s.n)
					continue
				}
				if got := b.reserve(s.n); got != s.granted {
					t.Errorf("step %d: reserve(%d) = %v, want %v", i, s.n, got, s.granted)
				}
			}
			if got := b.reserved(); got != tt.want {
				t.Errorf("reserved %d, want %d", got, tt.want)
			}
		})
	}
}

// Concurrent reservations never take more than the limit together, and
// releasing them all returns the budget to 0.
func TestBudgetConcurrent(t *testing.T) {
	const limit, workers, tries = 1000, 8, 10000
	b := newBudget(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range workers {
		wg.Go(func() {
			for i := range tries {
				n := 1 + i%300
				if !b.reserve(n) {
					continue
				}
				if u := b.reserved(); u > limit {
					mu.Lock()
					peak = max(peak, u)
					mu.Unlock()
				}
				b.release(n)
			}
		})
	}
	wg.Wait()
	if peak > limit {
		t.Errorf("reserved reached %d, over the limit %d", peak, limit)
	}
	if got := b.reserved(); got != 0 {
		t.Errorf("reserved %d after every release, want 0", got)
	}
}

// bigMsg is a PackedForward message of one record whose log is size bytes
// of c, acknowledged as chunk.
func bigMsg(chunk string, c byte, size int) []byte {
	entries := (&mp{}).entry(1700000000, 0, "log", strings.Repeat(string(c), size)).b
	return (&mp{}).arr(3).str("t").bin(entries).options(chunk, 1).b
}

// Connections that each send most of a large message hold read buffers
// within the budget: the first ones fit, the next are closed (counted as
// memory_budget) without an ack, the held ones still finish and are
// acknowledged, the refused chunk is taken once room frees (as Fluent Bit
// retries it on a new connection), and every byte returns to the budget
// when the connections close.
func TestReceiverBufferBudget(t *testing.T) {
	const (
		size  = 950_000         // each message's log
		limit = 3<<20 + 512<<10 // three such messages (grown to 1 MiB each to finish), not four
		fit   = 3
		conns = 5 // so two are refused
	)
	cfg := testConfig(t) // 1 MiB messages
	cfg.BufferBudget = limit
	cfg.FrameTimeout = time.Minute
	pipe := &fakePipe{}
	r, reg, stop := startReceiver(t, cfg, pipe)
	defer stop()
	_, unix := r.Addrs()

	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), r.budget.reserved()))
			select {
			case <-done:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()

	clients := make([]*client, conns)
	msgs := make([][]byte, conns)
	for i := range conns {
		msgs[i] = bigMsg(fmt.Sprintf("chunk%d", i), byte('a'+i), size)
		clients[i] = dial(t, "unix", unix)
		// All but its end; a refused connection may be closed mid-write.
		if _, err := clients[i].nc.Write(msgs[i][:len(msgs[i])-1000]); err != nil && i < fit {
			t.Fatal(err)
		}
		if i < fit {
			waitStat(t, fmt.Sprintf("connection %d to grow its buffer", i), func() bool { return r.budget.reserved() >= int64((i+1)*size) })
		} else {
			waitStat(t, fmt.Sprintf("connection %d to be refused", i), func() bool {
				return labelled(reg, "connections_closed_total", "memory_budget") == uint64(i-fit+1)
			})
		}
	}
	if got, want := labelled(reg, "connections_closed_total", "memory_budget"), uint64(conns-fit); got != want {
		t.Errorf("connections_closed_total{memory_budget} = %d, want %d", got, want)
	}
	if got, want := stat(reg, "buffer_bytes"), uint64(r.budget.reserved()); got != want || want < fit*size {
		t.Errorf("buffer_bytes = %v, reserved %d; want them equal and at least %d (the held buffers)", got, want, fit*size)
	}
	for i := fit; i < conns; i++ {
		if !clients[i].closedByServer() {
			t.Errorf("connection %d over the budget is still open", i)
		}
	}
	// The held ones finish their messages and are acknowledged.
	for i := range fit {
		clients[i].write(msgs[i][len(msgs[i])-1000:])
		if ack, err := clients[i].readMsg(5 * time.Second); err != nil || !strings.Contains(string(ack), fmt.Sprintf("chunk%d", i)) {
			t.Errorf("connection %d: ack %q, %v; want its chunk acknowledged", i, ack, err)
		}
		clients[i].nc.Close()
	}
	waitStat(t, "the held connections to close", func() bool { return stat(reg, "connections_open") == uint64(0) })
	// A refused chunk sent again on a new connection fits now.
	retry := dial(t, "unix", unix)
	retry.write(msgs[conns-1])
	if ack, err := retry.readMsg(5 * time.Second); err != nil || !strings.Contains(string(ack), fmt.Sprintf("chunk%d", conns-1)) {
		t.Errorf("retried chunk: ack %q, %v; want it acknowledged", ack, err)
	}
	retry.nc.Close()
	waitStat(t, "every connection to close", func() bool { return stat(reg, "connections_open") == uint64(0) })
	close(done)
	<-sampled
	if p := peak.Load(); p > limit {
		t.Errorf("reserved peaked at %d bytes, over the budget %d", p, limit)
	}
	if got := r.budget.reserved(); got != 0 {
		t.Errorf("reserved %d bytes after every connection closed, want 0", got)
	}
	if got := stat(reg, "buffer_bytes"); got != uint64(0) {
		t.Errorf("buffer_bytes = %v after every connection closed, want 0", got)
	}
	if got, want := len(pipe.written()), fit+1; got != want {
		t.Errorf("%d records written, want %d (the held chunks and the retried one)", got, want)
	}
}

// Connections that finished a large message and wait for the next keep
// its buffer only while at most half the budget is reserved, so that
// idle connections cannot hold the room a busy one needs: three
// connections each send a message and stay open, then a fourth's message
// of the same size fits (with every buffer kept, it would be refused).
func TestIdleConnectionsLeaveRoom(t *testing.T) {
	const (
		size  = 950_000
		limit = 3<<20 + 512<<10 // three grown buffers (1 MiB each), not four
	)
	cfg := testConfig(t)
	cfg.BufferBudget = limit
	pipe := &fakePipe{}
	r, reg, stop := startReceiver(t, cfg, pipe)
	defer stop()
	_, unix := r.Addrs()
	for i := range 4 {
		c := dial(t, "unix", unix)
		defer c.nc.Close()
		c.write(bigMsg(fmt.Sprintf("chunk%d", i), byte('a'+i), size))
		if ack, err := c.readMsg(5 * time.Second); err != nil || !strings.Contains(string(ack), fmt.Sprintf("chunk%d", i)) {
			t.Fatalf("connection %d: ack %q, %v; want its chunk acknowledged (reserved %d of %d)", i, ack, err, r.budget.reserved(), limit)
		}
		// Left open and idle.
	}
	if got := labelled(reg, "connections_closed_total", "memory_budget"); got != 0 {
		t.Errorf("connections_closed_total{memory_budget} = %d, want 0", got)
	}
	if got := r.budget.reserved(); got > limit/2+1<<20 {
		t.Errorf("%d bytes reserved by four idle connections, want at most %d (half the budget and one kept buffer)", got, limit/2+1<<20)
	}
}

// gzipMsg is a CompressedPackedForward message of one record whose log is
// size bytes, acknowledged as chunk.
func gzipMsg(t *testing.T, chunk string, size int) []byte {
	entries := (&mp{}).entry(1700000000, 0, "log", strings.Repeat("z", size)).b
	return (&mp{}).arr(3).str("t").bin(gzipBytes(t, entries)).options(chunk, 1, "compressed", "gzip").b
}

// A gzip message decodes under a budget that holds its read buffer and
// its decompressed payload (the smallest budget Validate allows holds the
// largest message and its decompressed form), and closes its connection,
// counted, under one that does not; either way every byte returns to the
// budget.
func TestReceiverBufferBudgetGzip(t *testing.T) {
	const maxMsg = 1 << 20
	tests := []struct {
		name    string
		budget  int64
		logSize int
		acked   bool
	}{
		{"minimum_budget_largest_payload", 2 * maxMsg, maxMsg - 1024, true},
		{"small_payload_small_budget", initialBuf + 64<<10, 10_000, true},
		{"payload_over_budget", initialBuf + 256<<10, 900_000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxMessageSize = maxMsg
			cfg.BufferBudget = tt.budget
			pipe := &fakePipe{}
			r, reg, stop := startReceiver(t, cfg, pipe)
			defer stop()
			_, unix := r.Addrs()
			c := dial(t, "unix", unix)
			c.write(gzipMsg(t, "gz", tt.logSize))
			ack, err := c.readMsg(5 * time.Second)
			if gotAck := err == nil && strings.Contains(string(ack), "gz"); gotAck != tt.acked {
				t.Errorf("acknowledged %v (%q, %v), want %v", gotAck, ack, err, tt.acked)
			}
			if got, want := len(pipe.written()), map[bool]int{true: 1, false: 0}[tt.acked]; got != want {
				t.Errorf("%d records written, want %d", got, want)
			}
			if got, want := labelled(reg, "connections_closed_total", "memory_budget"), map[bool]uint64{true: 0, false: 1}[tt.acked]; got != want {
				t.Errorf("connections_closed_total{memory_budget} = %d, want %d", got, want)
			}
			if got := r.budget.reserved(); got > tt.budget {
				t.Errorf("reserved %d, over the budget %d", got, tt.budget)
			}
			c.nc.Close()
			waitStat(t, "the connection to close", func() bool { return stat(reg, "connections_open") == uint64(0) })
			if got := r.budget.reserved(); got != 0 {
				t.Errorf("reserved %d after the connection closed, want 0", got)
			}
		})
	}
}

// After a message, a decompression buffer grown above keepBuf is dropped
// and its bytes returned to the budget; a smaller one is kept for the
// next message, unless more than half the budget is reserved.
func TestDecoderTrimsLargePayloadBuffer(t *testing.T) {
	tests := []struct {
		name    string
		logSize int
		held    int // reserved by other connections
		kept    bool
	}{
		{"small_kept", 100_000, 0, true},
		{"over_keep_dropped", keepBuf + 1<<20, 0, false},
		{"small_dropped_when_pressed", 100_000, 32 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(64 << 20)
			if !b.reserve(tt.held) {
				t.Fatalf("reserve(%d) refused", tt.held)
			}
			defer b.release(tt.held)
			d := newDecoder(limits{maxMessage: 16 << 20, maxLog: 16 << 20, maxFields: 4 << 10}, "unix", b)
			if err := d.decode(gzipMsg(t, "gz", tt.logSize)); err != nil {
				t.Fatal(err)
			}
			if got := len(d.events); got != 1 {
				t.Fatalf("got %d events, want 1", got)
			}
			if got, want := b.reserved()-int64(tt.held), int64(cap(d.zbuf)); got != want || got < int64(tt.logSize) {
				t.Errorf("reserved %d, zbuf capacity %d; want them equal and at least the payload %d", got, want, tt.logSize)
			}
			d.trim()
			if kept := cap(d.zbuf) > 0; kept != tt.kept {
				t.Errorf("zbuf kept %v (capacity %d), want %v", kept, cap(d.zbuf), tt.kept)
			}
			if got, want := b.reserved()-int64(tt.held), int64(cap(d.zbuf)); got != want {
				t.Errorf("reserved %d after trim, want %d (what is kept)", got, want)
			}
			d.release()
			if got := b.reserved() - int64(tt.held); got != 0 {
				t.Errorf("reserved %d after release, want 0", got)
			}
		})
	}
}
