package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/flow"
)

const captures = "../../sidecar/capture/testdata"

func replayEnv(stdout, stderr io.Writer) *env {
	return &env{ctx: context.Background(), stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
}

// flowsOnly is the app layer switched off: the replay is then the capture
// package's flow path alone.
func flowsOnly() applayer.Config {
	c := applayer.DefaultConfig()
	c.DNS, c.TLS, c.HTTP, c.SSH = false, false, false, false
	return c
}

// TestReplayMatchesCaptureGolden checks that the command prints exactly
// the events of the capture package's golden replay files (made without
// the app layer).
func TestReplayMatchesCaptureGolden(t *testing.T) {
	for _, name := range []string{"eth.pcap", "eth.pcapng", "lo_sll.pcap", "lo_sll2.pcap", "bulk.pcap"} {
		t.Run(strings.ReplaceAll(name, ".", "_"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := &ReplayCmd{Files: []string{filepath.Join(captures, name)}, Flow: flow.DefaultConfig(), App: flowsOnly(), Detect: detect.DefaultConfig()}
			if err := cmd.Run(replayEnv(&stdout, &stderr)); err != nil {
				t.Fatalf("replay %s: %v\n%s", name, err, stderr.String())
			}
			want, err := os.ReadFile(filepath.Join(captures, name+".golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
				t.Errorf("replay %s (-golden +got):\n%s", name, diff)
			}
		})
	}
}

// TestReplayFlags parses a replay command line with kong, as the CLI does.
func TestReplayFlags(t *testing.T) {
	var c struct {
		Replay ReplayCmd `cmd:""`
	}
	parser, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs(filepath.Join(captures, "eth.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"replay", "--flow-udp-timeout=2m", "--flow-max-flows=10", "--no-app-http", "--app-stream-kib=64", file, file}); err != nil {
		t.Fatal(err)
	}
	want := flow.DefaultConfig()
	want.UDPTimeout = 2 * time.Minute
	want.MaxFlows = 10
	if diff := cmp.Diff(want, c.Replay.Flow); diff != "" {
		t.Errorf("flow config (-want +got):\n%s", diff)
	}
	wantApp := applayer.DefaultConfig()
	wantApp.HTTP, wantApp.StreamKiB = false, 64
	if diff := cmp.Diff(wantApp, c.Replay.App); diff != "" {
		t.Errorf("app layer config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{file, file}, c.Replay.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if _, err := parser.Parse([]string{"replay", filepath.Join(t.TempDir(), "missing.pcap")}); err == nil {
		t.Error("replay of a missing file parsed, want an error")
	}
}

func TestReplayErrors(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(captures, "eth.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, good[:len(good)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("cut_short_still_prints_flows", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := &ReplayCmd{Files: []string{cut}, Flow: flow.DefaultConfig(), App: flowsOnly(), Detect: detect.DefaultConfig()}
		err := cmd.Run(replayEnv(&stdout, &stderr))
		if err == nil || !strings.Contains(err.Error(), cut) {
			t.Errorf("Run = %v, want an error naming %s", err, cut)
		}
		// The capture ends with the ICMP port unreachable that answers its
		// last UDP datagram: the cut loses that frame, not the flow.
		golden, err := os.ReadFile(filepath.Join(captures, "eth.pcap.golden.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Count(golden, []byte("\n"))
		if n := strings.Count(stdout.String(), `"event_type":"flow"`); n != want {
			t.Errorf("%d flow events printed, want the %d flows of the whole capture", n, want)
		}
		if !strings.Contains(stdout.String(), `"dest_port":9,"proto":"UDP","ip_v":4,"community_id":"1:Aerk6ENqdEXAZUV+cZrJ7wHGVus=","flow":{"pkts_toserver":1,"pkts_toclient":0`) {
			t.Errorf("the UDP flow to port 9 should have lost its ICMP answer to the cut:\n%s", stdout.String())
		}
	})
	t.Run("invalid_config", func(t *testing.T) {
		cfg := flow.DefaultConfig()
		cfg.MaxFlows = 0
		cmd := &ReplayCmd{Files: []string{cut}, Flow: cfg, App: applayer.DefaultConfig(), Detect: detect.DefaultConfig()}
		err := cmd.Run(replayEnv(io.Discard, io.Discard))
		if err == nil || !strings.Contains(err.Error(), "--flow-max-flows") {
			t.Errorf("Run = %v, want the --flow-max-flows error", err)
		}
	})
	t.Run("write_error", func(t *testing.T) {
		cmd := &ReplayCmd{Files: []string{filepath.Join(captures, "eth.pcap")}, Flow: flow.DefaultConfig(), App: applayer.DefaultConfig(), Detect: detect.DefaultConfig()}
		err := cmd.Run(replayEnv(failingWriter{}, io.Discard))
		if err == nil || !strings.Contains(err.Error(), "write events") {
			t.Errorf("Run = %v, want a write error", err)
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }
