package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/internal/sinkbench"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

var base = time.Now().Add(-time.Hour).Truncate(time.Second)

func evLine(typ string, i int, msg string) string {
	ts := base.Add(time.Duration(i) * time.Millisecond).UTC()
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"%s","log":{"message":"%d %s"}}`, ts.Format("2006-01-02T15:04:05.000000-0700"), typ, i, msg)
}

// shortLine is a 74-byte event: 10,000 of them with their overhead stay
// under the byte limit, so the count limit is what splits.
func shortLine(i int) string {
	ts := base.Add(time.Duration(i) * time.Millisecond).UTC()
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"log","n":%05d}`, ts.Format("2006-01-02T15:04:05.000000-0700"), i)
}

func rec(i int, line string, t time.Time) spool.Record {
	return spool.Record{Seq: uint64(i + 1), Time: t, Type: "log", Line: []byte(line)}
}

func TestBatchLimits(t *testing.T) {
	newBatch := func() *Batch { return NewBatch(nil, "g", "s", false, time.Second, metrics.New()) }
	t.Run("event_count", func(t *testing.T) {
		b := newBatch()
		for i := range MaxBatchEvents {
			if !b.Add(rec(i, "x", base)) {
				t.Fatalf("event %d refused, want %d to fit", i, MaxBatchEvents)
			}
		}
		if b.Add(rec(MaxBatchEvents, "x", base)) {
			t.Errorf("event %d accepted, want the batch full at %d", MaxBatchEvents+1, MaxBatchEvents)
		}
	})
	t.Run("bytes_with_overhead", func(t *testing.T) {
		b := newBatch()
		// 4 events filling exactly 1,048,576 bytes with their overhead.
		size := MaxBatchBytes/4 - EventOverhead
		for i := range 4 {
			if !b.Add(rec(i, strings.Repeat("a", size), base)) {
				t.Fatalf("event %d of %d bytes refused at %d batch bytes", i, size, b.bytes)
			}
		}
		if b.bytes != MaxBatchBytes {
			t.Fatalf("batch bytes = %d, want exactly %d", b.bytes, MaxBatchBytes)
		}
		if b.Add(rec(5, "", base)) {
			t.Errorf("an empty event (26 bytes) accepted into a full batch")
		}
		b2 := newBatch()
		b2.Add(rec(0, strings.Repeat("a", MaxBatchBytes-2*EventOverhead), base))
		if b2.Add(rec(1, "a", base)) {
			t.Errorf("one byte past the limit accepted")
		}
		if !b2.Add(rec(1, "", base)) {
			t.Errorf("an event ending exactly at the limit refused")
		}
	})
	t.Run("span_24h", func(t *testing.T) {
		b := newBatch()
		now := time.Now()
		b.Add(rec(0, "x", now.Add(-25*time.Hour)))
		if !b.Add(rec(1, "x", now.Add(-25*time.Hour+MaxSpan-time.Millisecond))) {
			t.Errorf("an event 24h-1ms after the first refused")
		}
		if b.Add(rec(2, "x", now.Add(-25*time.Hour+MaxSpan))) {
			t.Errorf("an event 24h after the first accepted")
		}
	})
	t.Run("oversize_event_cut", func(t *testing.T) {
		b := newBatch()
		if !b.Add(rec(0, evLine("log", 0, strings.Repeat("z", 1_500_000)), base)) {
			t.Fatalf("a 1.5 MB event refused by an empty batch")
		}
		if n := len(*b.events[0].Message); n > MaxEventBytes {
			t.Errorf("message is %d bytes, above %d", n, MaxEventBytes)
		}
		if b.m.truncated.Load() != 1 {
			t.Errorf("truncated = %d, want 1", b.m.truncated.Load())
		}
	})
	t.Run("timestamps_outside_window", func(t *testing.T) {
		b := newBatch()
		b.Add(rec(0, "x", time.Now().Add(-30*24*time.Hour)))
		b.Add(rec(1, "x", time.Now().Add(5*time.Hour)))
		for _, e := range b.events {
			if d := time.Since(time.UnixMilli(*e.Timestamp)); d > time.Minute || d < -time.Minute {
				t.Errorf("timestamp %v not replaced by now", time.UnixMilli(*e.Timestamp))
			}
		}
		if b.m.retimed.Load() != 2 {
			t.Errorf("retimed = %d, want 2", b.m.retimed.Load())
		}
	})
}

var moto *mototest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if moto != nil {
		moto.Close()
	}
	os.Exit(code)
}

func startMoto(t testing.TB) aws.Config {
	t.Helper()
	if moto == nil {
		s, err := mototest.Start()
		if err != nil {
			t.Skip(err)
		}
		moto = s
	}
	mototest.SetEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func readStream(t *testing.T, c *cwl.Client, group, stream string) []string {
	t.Helper()
	var out []string
	var token *string
	for {
		resp, err := c.GetLogEvents(context.Background(), &cwl.GetLogEventsInput{LogGroupName: &group, LogStreamName: &stream, StartFromHead: aws.Bool(true), NextToken: token})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		for _, e := range resp.Events {
			out = append(out, *e.Message)
		}
		if len(resp.Events) == 0 || (token != nil && *resp.NextForwardToken == *token) {
			return out
		}
		token = resp.NextForwardToken
	}
}

func TestMotoDeliversWithinLimits(t *testing.T) {
	cfg := startMoto(t)
	client := cwl.NewFromConfig(cfg, func(o *cwl.Options) { o.BaseEndpoint = &moto.URL })
	for _, tc := range []struct {
		name     string
		n        int
		size     int
		requests uint64
	}{
		{"10000_events", MaxBatchEvents, 0, 1},
		{"10001_events", MaxBatchEvents + 1, 0, 2},
		{"300KB_event", 1, 300_000, 1},
		{"1.5MB_event", 1, 1_500_000, 1},
		{"1MiB_at_the_limit", 4, MaxBatchBytes/4 - EventOverhead - len(evLine("log", 0, "")), 1},
		{"1MiB_one_past", 4, MaxBatchBytes/4 - EventOverhead - len(evLine("log", 0, "")) + 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := "g-" + strings.ReplaceAll(tc.name, ".", "_")
			reg := metrics.New()
			c := Config{LogGroup: group, CreateGroup: true, EndpointURL: moto.URL, BatchDelay: time.Hour}
			s, err := Open(c, cfg, awscfg.Task{ID: "task1"}, spool.Config{Dir: t.TempDir(), MaxBytes: 64 << 20}, delivery.DefaultOptions(), slog.New(slog.NewTextHandler(os.Stderr, nil)), reg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var want []string
			var batch []byte
			for i := range tc.n {
				l := evLine("log", i, strings.Repeat("m", tc.size))
				if tc.size == 0 {
					l = shortLine(i)
				}
				want = append(want, l)
				batch = append(batch, l...)
				batch = append(batch, '\n')
			}
			if err := s.Write(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := readStream(t, client, group, "sidewatch/task1")
			if len(got) != len(want) {
				t.Fatalf("stream has %d events, want %d", len(got), len(want))
			}
			for i := range got {
				if tc.size >= MaxEventBytes-100 {
					var m map[string]any
					if err := json.Unmarshal([]byte(got[i]), &m); err != nil || m["truncated"] != true || len(got[i]) > MaxEventBytes {
						t.Fatalf("oversize event arrived as %d bytes, JSON error %v, truncated %v", len(got[i]), err, m["truncated"])
					}
					continue
				}
				if got[i] != want[i] {
					t.Fatalf("event %d = %.60s…, want %.60s…", i, got[i], want[i])
				}
			}
			if r := reg.Stats()["sink"].(map[string]any)["requests_total"].(map[string]any)[Name]; r != tc.requests {
				t.Errorf("requests = %v, want %d", r, tc.requests)
			}
		})
	}
}

// BenchmarkMoto: events/s through the spool into moto's PutLogEvents.
func BenchmarkMoto(b *testing.B) {
	cfg := startMoto(b)
	c := Config{LogGroup: "bench", CreateGroup: true, EndpointURL: moto.URL, BatchDelay: time.Second}
	s, err := Open(c, cfg, awscfg.Task{ID: fmt.Sprint("bench", b.N)}, spool.Config{Dir: b.TempDir(), MaxBytes: 1 << 30}, delivery.DefaultOptions(), nil, metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sinkbench.Run(b, s)
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name, group, stream string
		wantErr             string // "" for valid
	}{
		{"every_allowed_character", "/aws/ecs/My_App-1.0#x", "task/abc", ""},
		{"group_of_512", strings.Repeat("g", 512), "", ""},
		{"group_of_513", strings.Repeat("g", 513), "", "--cloudwatch-log-group"},
		{"group_with_space", "my group", "", "--cloudwatch-log-group"},
		{"group_with_colon", "a:b", "", "--cloudwatch-log-group"},
		{"group_not_ascii", "gr\u00fcn", "", "--cloudwatch-log-group"},
		{"stream_with_colon", "g", "a:b", "--cloudwatch-log-stream"},
		{"stream_with_star", "g", "a*", "--cloudwatch-log-stream"},
		{"stream_of_513", "g", strings.Repeat("s", 513), "--cloudwatch-log-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{LogGroup: tt.group, LogStream: tt.stream, BatchDelay: time.Second}
			err := c.Validate(true)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
