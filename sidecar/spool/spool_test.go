package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// line builds an event line as the pipeline's encoder writes it.
func line(typ string, i int, pad int) string {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"%s","n":%d,"pad":"%s"}`+"\n",
		ts.Format("2006-01-02T15:04:05.000000-0700"), typ, i, bytes.Repeat([]byte("x"), pad))
}

func open(t *testing.T, dir string, max int64) (*Spool, *metrics.Registry) {
	t.Helper()
	reg := metrics.New()
	s, err := Open(dir, max, "test", reg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

func counter(reg *metrics.Registry, name string, label ...string) uint64 {
	v := reg.Stats()["spool"].(map[string]any)[name]
	if m, ok := v.(map[string]any); ok {
		key := "test"
		for _, l := range label {
			key += "." + l
		}
		v = m[key]
	}
	switch n := v.(type) {
	case uint64:
		return n
	case int64:
		return uint64(n)
	case float64:
		return uint64(n)
	}
	return 0
}

// drain reads every record available now.
func drain(t *testing.T, s *Spool) []Record {
	t.Helper()
	var out []Record
	for {
		r, ok, _, err := s.TryRead()
		if err != nil {
			t.Fatalf("TryRead: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func TestAppendReadKeepsOrderAcrossClasses(t *testing.T) {
	s, _ := open(t, t.TempDir(), 8<<20)
	var want []string
	var batch []byte
	types := []string{"flow", "log", "dns", "alert", "stats", "tls", "log"}
	for i := range 70 {
		l := line(types[i%len(types)], i, 10)
		want = append(want, l[:len(l)-1])
		batch = append(batch, l...)
		if i%9 == 8 {
			if err := s.Append(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		if string(r.Line) != want[i] {
			t.Fatalf("record %d = %s, want %s", i, r.Line, want[i])
		}
		if wt := types[i%len(types)]; r.Type != wt {
			t.Errorf("record %d type = %q, want %q", i, r.Type, wt)
		}
		if wantT := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond); !r.Time.Equal(wantT) {
			t.Errorf("record %d time = %v, want %v", i, r.Time, wantT)
		}
		if i > 0 && r.Seq <= got[i-1].Seq {
			t.Errorf("record %d seq %d not after %d", i, r.Seq, got[i-1].Seq)
		}
	}
	if p := s.Pending(); p != 70 {
		t.Errorf("Pending = %d, want 70", p)
	}
	if err := s.Ack(got[len(got)-1].Seq, len(got)); err != nil {
		t.Fatal(err)
	}
	if p, b := s.Pending(), s.Bytes(); p != 0 || b != 0 {
		t.Errorf("after acking everything Pending = %d, Bytes = %d, want 0, 0", p, b)
	}
}

func TestReplayDeliversWhatWasNotAcked(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 4<<20)
	var batch []byte
	for i := range 1000 {
		batch = append(batch, line([]string{"log", "flow"}[i%2], i, 200)...)
	}
	if err := s.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	recs := drain(t, s)
	// Delivered 300; sent (not acknowledged) up to 400; then a crash.
	if err := s.Sending(recs[399].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(recs[299].Seq, 300); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2, reg := open(t, dir, 4<<20)
	got := drain(t, s2)
	if len(got) != 700 {
		t.Fatalf("replay read %d records, want the 700 not acknowledged", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.Line, recs[300+i].Line) || r.Seq != recs[300+i].Seq {
			t.Fatalf("replayed record %d = %d %s, want %d %s", i, r.Seq, r.Line, recs[300+i].Seq, recs[300+i].Line)
		}
	}
	if n := counter(reg, "replayed_total"); n != 700 {
		t.Errorf("replayed_total = %d, want 700", n)
	}
	if n := counter(reg, "possible_duplicates_total"); n != 100 {
		t.Errorf("possible_duplicates_total = %d, want 100 (sent, not acknowledged)", n)
	}
	// New records continue the sequence.
	if err := s2.Append(context.Background(), []byte(line("log", 5000, 1))); err != nil {
		t.Fatal(err)
	}
	if r := drain(t, s2); len(r) != 1 || r[0].Seq <= recs[len(recs)-1].Seq {
		t.Errorf("record after replay = %+v, want one with seq > %d", r, recs[len(recs)-1].Seq)
	}
}

func TestReplayCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 4<<20)
	var batch []byte
	for i := range 10 {
		batch = append(batch, line("log", i, 5)...)
	}
	if err := s.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "keep-*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := appendRecord(nil, 99, 0, "log", []byte(`{"half`))
	f.Write(torn[:len(torn)-3]) // a write cut by a crash
	f.Close()

	s2, reg := open(t, dir, 4<<20)
	if got := drain(t, s2); len(got) != 10 {
		t.Errorf("replay read %d records, want the 10 whole ones", len(got))
	}
	if n := counter(reg, "corrupt_bytes_total"); n != uint64(len(torn)-3) {
		t.Errorf("corrupt_bytes_total = %d, want %d", n, len(torn)-3)
	}
}

func TestFullDropsOldestNetworkEventsExactlyCounted(t *testing.T) {
	s, reg := open(t, t.TempDir(), 1<<20)
	const n = 20000
	var batch []byte
	for i := range n {
		batch = append(batch, line("flow", i, 100)...)
		if i%50 == 49 {
			if err := s.Append(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	got := drain(t, s)
	dropped := counter(reg, "dropped_total", ReasonFull)
	if uint64(len(got))+dropped != n {
		t.Fatalf("read %d + dropped %d = %d, want the %d appended", len(got), dropped, uint64(len(got))+dropped, n)
	}
	if dropped == 0 || len(got) == 0 {
		t.Fatalf("read %d, dropped %d: want both > 0 with 3 MB into 1 MiB", len(got), dropped)
	}
	// Oldest first: what is left is the newest, contiguous.
	first := int(dropped)
	for i, r := range got {
		if want := line("flow", first+i, 100); string(r.Line)+"\n" != want {
			t.Fatalf("record %d = %.80s…, want event %d (the oldest were dropped)", i, r.Line, first+i)
		}
	}
	if b := s.Bytes(); b > 1<<20 {
		t.Errorf("Bytes = %d, above the bound %d", b, 1<<20)
	}
}

func TestFullLogEventsWaitThenDropNetworkFirst(t *testing.T) {
	s, reg := open(t, t.TempDir(), 1<<20)
	// Half network events, then logs until full.
	var batch []byte
	for i := range 2500 {
		batch = append(batch, line("flow", i, 100)...)
	}
	if err := s.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	// Logs in batches of 100 until one fills the spool; the last batch is
	// partly spooled when its context ends.
	i := 0
	for ; ; i++ {
		batch = batch[:0]
		for j := range 100 {
			batch = append(batch, line("log", i*100+j, 100)...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.Append(ctx, batch)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 100000 {
			t.Fatal("log appends never waited")
		}
	}
	if counter(reg, "waits_total") == 0 {
		t.Errorf("waits_total = 0 after a log append timed out")
	}
	// Every network event made room before any log waited.
	if d := counter(reg, "dropped_total", ReasonFull); d != 2500 {
		t.Errorf("dropped_total{full} = %d, want all 2500 network events", d)
	}
	// A waiting append completes once the reader acknowledges.
	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), []byte(line("alert", 1, 100))) }()
	select {
	case err := <-done:
		t.Fatalf("alert append returned %v on a full spool, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	got := drain(t, s)
	if len(got) < i*100 || len(got) >= i*100+100 {
		t.Fatalf("read %d log records, want the %d of whole batches and part of the last", len(got), i*100)
	}
	for j, r := range got {
		if want := line("log", j, 100); string(r.Line)+"\n" != want {
			t.Fatalf("log record %d = %.80s, want log %d", j, r.Line, j)
		}
	}
	if err := s.Ack(got[len(got)/2].Seq, len(got)/2+1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("alert append after room was freed: %v", err)
	}
	if r := drain(t, s); len(r) != 1 || r[0].Type != "alert" {
		t.Errorf("after the wait read %+v, want the alert", r)
	}
}

func TestTooLargeAndLockAndValidate(t *testing.T) {
	dir := t.TempDir()
	s, reg := open(t, dir, 1<<20)
	if err := s.Append(context.Background(), []byte(line("log", 1, 2<<20))); err != nil {
		t.Fatal(err)
	}
	if n := counter(reg, "dropped_total", ReasonTooLarge); n != 1 {
		t.Errorf("dropped_total{too_large} = %d, want 1", n)
	}
	if _, err := Open(dir, 1<<20, "second", metrics.New()); err == nil {
		t.Errorf("a second Open of the same directory succeeded, want an error")
	}
	if err := s.Append(context.Background(), []byte("no newline")); err == nil {
		t.Errorf("Append without a final newline succeeded")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Dir: "/x", MaxBytes: 256 << 20}, true},
		{"too_small", Config{Dir: "/x", MaxBytes: 1000}, false},
		{"too_big", Config{Dir: "/x", MaxBytes: 1 << 50}, false},
		{"no_dir", Config{MaxBytes: 256 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestHead(t *testing.T) {
	for _, tc := range []struct {
		name, line, typ, time string
		ok                    bool
	}{
		{"flow", `{"timestamp":"2025-03-01T12:00:00.123456+0000","flow_id":1,"in_iface":"eth1","event_type":"flow","src_ip":"10.0.0.1"}`, "flow", "2025-03-01T12:00:00.123456Z", true},
		{"offset", `{"timestamp":"2025-03-01T12:00:00.000001-0130","event_type":"log"}`, "log", "2025-03-01T13:30:00.000001Z", true},
		{"escaped_iface", `{"timestamp":"2025-03-01T12:00:00.000000+0000","in_iface":"a\",\"event_type\":\"x","event_type":"dns"}`, "dns", "2025-03-01T12:00:00Z", true},
		{"no_type", `{"timestamp":"2025-03-01T12:00:00.000000+0000"}`, "", "2025-03-01T12:00:00Z", true},
		{"not_eve", `{"time":"x"}`, "", "", false},
		{"bad_month", `{"timestamp":"2025-13-01T12:00:00.000000+0000","event_type":"log"}`, "", "", false},
		{"short", `{"timestamp":"2025`, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, typ, ok := Head([]byte(tc.line))
			if ok != tc.ok || typ != tc.typ {
				t.Fatalf("Head = %v %q %v, want %q %v", tm, typ, ok, tc.typ, tc.ok)
			}
			if ok {
				want, _ := time.Parse(time.RFC3339Nano, tc.time)
				if !tm.Equal(want) {
					t.Errorf("time = %v, want %v", tm, want)
				}
			}
		})
	}
}

func FuzzHead(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2025-03-01T12:00:00.123456+0000","event_type":"flow"}`))
	f.Add([]byte(`{"timestamp":"0000-00-00T99:99:99.999999-9999","event_type":"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		Head(b)
	})
}

// FuzzReplay feeds arbitrary bytes as a segment file: Open must cut what
// does not decode and never fail or panic.
func FuzzReplay(f *testing.F) {
	f.Add(appendRecord(appendRecord(nil, 1, 5, "log", []byte("{}")), 2, 6, "flow", []byte("{}")))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(keep, 1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, 1<<20, "fuzz", metrics.New())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		for range 1000 {
			if _, ok, _, err := s.TryRead(); !ok || err != nil {
				break
			}
		}
	})
}

// BenchmarkAppend is the spool's write rate: batches of 500 events of
// about 330 bytes, fsynced per batch.
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir(), 1<<40, "bench", metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var batch []byte
	for i := range 500 {
		batch = append(batch, line("log", i, 200)...)
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay is the replay rate: Open of 64 MiB of spooled events
// and reading them all.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, 1<<40, "bench", metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	var batch []byte
	for i := range 5000 {
		batch = append(batch, line("flow", i, 200)...)
	}
	for s.Bytes() < 64<<20 {
		if err := s.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	size, events := s.Bytes(), s.Pending()
	s.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, 1<<40, "bench", metrics.New())
		if err != nil {
			b.Fatal(err)
		}
		n := int64(0)
		for {
			_, ok, _, err := s.TryRead()
			if err != nil || !ok {
				break
			}
			n++
		}
		s.Close()
		if n != events {
			b.Fatalf("replayed %d, want %d", n, events)
		}
	}
	b.ReportMetric(float64(b.N)*float64(events)/b.Elapsed().Seconds(), "events/s")
}
