package forward

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tinyEntries is a Forward-mode message of n entries of three bytes each
// ([0, {}]), the most events a message of its size can carry.
func tinyEntries(n int) []byte {
	m := &mp{wide: true}
	m.arr(2).str("web-firelens-1").arr(n)
	for range n {
		m.raw(0x92, 0x00, 0x80)
	}
	return m.b
}

// TestDecodeBatchesBoundMemory: a message of many tiny entries is decoded
// a batch at a time, so its events take one batch's memory, not ~0.5 KiB
// per 3-byte entry (a 64 MiB message would have needed 10 GiB).
func TestDecodeBatchesBoundMemory(t *testing.T) {
	const n = 200_000
	msg := tinyEntries(n)
	d := newDecoder(limits{maxMessage: 16 << 20, maxLog: 64 << 10, maxFields: 4 << 10}, "unix", unbounded())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := d.start(msg); err != nil {
		t.Fatal(err)
	}
	got := 0
	for d.more() {
		if err := d.next(decodeBatch); err != nil {
			t.Fatal(err)
		}
		got += len(d.events)
	}
	runtime.ReadMemStats(&after)
	if got != n {
		t.Errorf("got %d events, want %d", got, n)
	}
	// All of them at once: n × the size of an event and its log.
	if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(16<<20); alloc > limit {
		t.Errorf("decoding %d entries allocated %d bytes, want at most %d (one batch of %d events)", n, alloc, limit, decodeBatch)
	}
}

// TestReceiverManyEntries: a message of several batches is published
// whole, in order, and acknowledged; one whose last batch holds a bad
// entry publishes nothing and closes the connection (Fluent Bit resends
// the whole chunk, so nothing is written twice).
func TestReceiverManyEntries(t *testing.T) {
	const n = 3*decodeBatch + 5
	tests := []struct {
		name    string
		badLast bool
	}{
		{"all_good", false},
		{"bad_last_entry", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxMessageSize = 4 << 20
			pipe := &fakePipe{}
			r, _ := serveReceiver(t, cfg, pipe)
			addr, _ := r.Addrs()
			c := dial(t, "tcp", addr)
			if !c.handshake(readKey(t, cfg)) {
				t.Fatal("handshake refused with the right key")
			}
			m := &mp{wide: true}
			m.arr(3).str("web-firelens-1").arr(n)
			for i := range n {
				if tt.badLast && i == n-1 {
					m.arr(3).uint(1).uint(2).uint(3) // not [time, record]
					continue
				}
				m.entry(1700000000, uint32(i), dockerRecord(fmt.Sprintf("r%06d", i))...)
			}
			msg := m.options("0123456789abcdef", n).b
			if len(msg) > cfg.MaxMessageSize {
				t.Fatalf("test message of %d bytes over the limit", len(msg))
			}
			c.write(msg)
			if tt.badLast {
				if !c.closedByServer() {
					t.Error("connection still open after a message with a bad entry")
				}
				if got := len(pipe.written()); got != 0 {
					t.Errorf("got %d records written, want 0 from a refused message", got)
				}
				return
			}
			if _, err := c.readMsg(5 * time.Second); err != nil {
				t.Fatalf("no ack: %v", err)
			}
			lines := pipe.written()
			if len(lines) != n {
				t.Fatalf("got %d records written, want %d", len(lines), n)
			}
			for i, l := range lines {
				if want := fmt.Sprintf(`"message":"r%06d"`, i); !strings.Contains(l, want) {
					t.Fatalf("record %d = %s, want %s", i, l, want)
				}
			}
		})
	}
}
