package capture

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// tickCounter is a flow inspector that counts the table's clock ticks: one
// per Expire, i.e. the replay's work per gap in packet time.
type tickCounter struct{ ticks int }

func (c *tickCounter) Inspect(*flow.Entry, *flow.Packet) {}
func (c *tickCounter) Expire(*flow.Entry)                {}
func (c *tickCounter) Tick(time.Time)                    { c.ticks++ }

type frameAt struct {
	at   time.Time
	data []byte
}

// writeCapture writes frames as a pcap file of the given link type.
func writeCapture(t *testing.T, link layers.LinkType, frames []frameAt) string {
	t.Helper()
	var file bytes.Buffer
	w := pcapgo.NewWriterNanos(&file)
	if err := w.WriteFileHeader(262144, link); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data)}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadFileLongGaps: packets a day apart (issue 10, row 12) cost the
// same few clock steps each, and every flow still ends exactly as the
// one-second clock would end it: at the first whole second past its
// timeout.
func TestReadFileLongGaps(t *testing.T) {
	const n = 500
	start := time.Date(2026, 11, 22, 6, 0, 0, 250e6, time.UTC)
	frames := make([]frameAt, n)
	for i := range frames {
		frames[i] = frameAt{start.Add(time.Duration(i) * 24 * time.Hour), udpFrame(t, "10.0.0.1", "10.0.0.2", uint16(5000+i), 53)}
	}
	path := writeCapture(t, layers.LinkTypeEthernet, frames)
	out := &eventList{}
	ticks := &tickCounter{}
	table := flow.NewTable(flow.DefaultConfig(), out, nil, ticks)
	if _, err := ReadFile(context.Background(), path, table); err != nil {
		t.Fatal(err)
	}
	if len(out.events) != n-1 {
		t.Fatalf("got %d flow events, want %d (every flow but the last timed out)", len(out.events), n-1)
	}
	for i, ev := range out.events {
		// Packet at hh:00:00.25, UDP timeout 60s: ended at hh:01:01.
		want := start.Add(time.Duration(i)*24*time.Hour + 61*time.Second).Truncate(time.Second)
		if ev.Flow.Reason != flow.ReasonTimeout || !ev.Timestamp.Equal(want) {
			t.Fatalf("event %d: reason %q at %v, want timeout at %v", i, ev.Flow.Reason, ev.Timestamp.Time, want)
		}
	}
	// Stepping a day one second at a time took 86,400 ticks a packet;
	// bounded steps plus the deadlines take under 70.
	if max := n * (int(stepGap/time.Second) + 4); ticks.ticks > max {
		t.Errorf("got %d clock ticks for %d packets a day apart, want at most %d", ticks.ticks, n, max)
	}
}

// TestReadFileUnsupportedLinkType: a capture of a link type the decoder
// does not follow is an error naming it, not an empty replay.
func TestReadFileUnsupportedLinkType(t *testing.T) {
	path := writeCapture(t, layers.LinkType(147), []frameAt{{time.Unix(1_700_000_000, 0), []byte("user-defined link layer")}})
	_, err := ReadFile(context.Background(), path, flow.NewTable(flow.DefaultConfig(), &eventList{}, nil))
	if err == nil || !strings.Contains(err.Error(), "link type 147") || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming the file and link type 147", err)
	}
}

// TestReadFileFIFO: a FIFO is read like a file once its writer comes, and
// a cancellation (SIGTERM) ends both the wait for a writer and a read that
// waits on a stalled one.
func TestReadFileFIFO(t *testing.T) {
	capture, err := os.ReadFile(filepath.Join("testdata", "eth.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := replayCapture(t, "eth.pcap")
	tests := []struct {
		name   string
		write  []byte // nil: no writer ever
		stall  bool   // the writer keeps the FIFO open after writing
		cancel bool
	}{
		{"writer_writes_file", capture, false, false},
		{"no_writer_cancelled", nil, false, true},
		{"stalled_writer_cancelled", capture[:len(capture)/2], true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			done := make(chan struct{})
			defer close(done)
			if tt.write != nil {
				go func() {
					w, err := os.OpenFile(path, os.O_WRONLY, 0)
					if err != nil {
						return
					}
					defer w.Close()
					w.Write(tt.write)
					if tt.stall {
						<-done
					}
				}()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			out := &eventList{}
			table := flow.NewTable(flow.DefaultConfig(), out, nil)
			res := make(chan error, 1)
			go func() {
				_, err := ReadFile(ctx, path, table)
				res <- err
			}()
			select {
			case err = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile still running 10s on: the cancellation did not end it")
			}
			if tt.cancel {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want context.Canceled", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			table.Flush(time.Unix(1<<32, 0), flow.ReasonShutdown)
			if got := len(out.events); got != len(want) {
				t.Errorf("got %d events from the FIFO, want %d (as from the file)", got, len(want))
			}
		})
	}
}
