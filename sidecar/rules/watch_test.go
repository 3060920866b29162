package rules

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// writeRules replaces path atomically with text, modified at mtime.
func writeRules(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(filepath.Dir(path)), "tmp.rules")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatcherReloads changes the rules under a running matcher: on a file
// change, then on SIGHUP with the file's size and time unchanged. Every
// event is matched throughout, against the old rules or the new.
func TestWatcherReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "local.rules")
	mtime := time.Now().Add(-time.Hour)
	writeRules(t, path, `alert dns any any -> any any (msg:"one"; dns.query; content:"a.example"; sid:1;)`, mtime)

	reg := metrics.New()
	eng := NewEngine(EngineConfig{MaxThresholds: 16, MaxFlows: 16}, reg)
	var mu sync.Mutex
	var reports []*Report
	w, err := NewWatcher(Config{Files: []string{dir}, Reload: 20 * time.Millisecond}, nil, nil, eng, reg, func(r *Report, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			reports = append(reports, r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// A matcher that never stops during the reloads.
	var matched, events atomic.Int64
	var lastSID atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ev := dnsEvent("request", "a.example")
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := 0
			eng.Event(ev, func(a event.Event) { n++; lastSID.Store(int64(a.Alert.SignatureID)) })
			events.Add(1)
			if n == 1 {
				matched.Add(1)
			}
		}
	}()

	waitFor(t, "the first rule to match", func() bool { return lastSID.Load() == 1 })
	writeRules(t, path, `alert dns any any -> any any (msg:"two"; dns.query; content:"a.example"; sid:22;)`, mtime.Add(time.Minute))
	waitFor(t, "the changed file to be reloaded", func() bool { return lastSID.Load() == 22 })

	// Same size and time: only SIGHUP reloads it.
	writeRules(t, path, `alert dns any any -> any any (msg:"two"; dns.query; content:"a.example"; sid:33;)`, mtime.Add(time.Minute))
	time.Sleep(100 * time.Millisecond)
	if got := lastSID.Load(); got != 22 {
		t.Fatalf("reloaded without a change of size or time: sid %d", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGHUP to reload", func() bool { return lastSID.Load() == 33 })

	// A missing directory keeps the rules in force.
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed reload to be counted", func() bool { return w.failures.Load() > 0 })
	before := matched.Load()
	waitFor(t, "matching to go on", func() bool { return matched.Load() > before+10 })
	close(stop)
	wg.Wait()
	if matched.Load() != events.Load() {
		t.Errorf("%d of %d events matched: every event must match the old or the new rules", matched.Load(), events.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 3 {
		t.Errorf("%d load reports, want at least 3 (start, change, SIGHUP)", len(reports))
	}
}
