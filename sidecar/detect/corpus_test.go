package detect

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/applayer"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

var (
	update = flag.Bool("update", false, "rewrite the corpus golden files from the committed captures")
	record = flag.Bool("record", false, "with root: rewrite the committed captures from the live lab runs")
)

// corpusCase is one capture of the corpus, made by real tools in network
// namespaces (lab_linux_test.go, corpus_linux_test.go), with the
// signatures it must raise, no more and no fewer.
type corpusCase struct {
	name string
	want []int
	cfg  func(*Config)
}

// The lab task's own credentials path (given to the stand-in endpoint and
// to the detection, as AWS_CONTAINER_CREDENTIALS_RELATIVE_URI would be).
const labOwnCreds = "/v2/credentials/5f1e9c2a-8d3b-4c7e-9a10-2b6d4e8f0c13"

var corpus = []corpusCase{
	{name: "scan_in_syn", want: []int{9000101}},
	{name: "scan_in_connect", want: []int{9000101}},
	{name: "scan_in_udp", want: []int{9000101}},
	{name: "scan_in_version", want: []int{9000101}},
	{name: "scan_out_syn", want: []int{9000102}},
	{name: "scan_out_connect", want: []int{9000102}},
	{name: "scan_out_udp", want: []int{9000102}},
	{name: "sweep_out", want: []int{9000103}},
	{name: "imds", want: []int{9000401}},
	{name: "credentials", want: []int{9000501, 9000502, 9000503}},
	{name: "dns_rebind", want: []int{9000402}},
	{name: "ssrf_log4shell", want: []int{9000403, 9000705}},
	{name: "iodine", want: []int{9000301, 9000302, 9000303}},
	{name: "mining_pools", want: []int{9000202, 9000203}},
	{name: "intel_names", want: []int{9000602, 9000603, 9000606}, cfg: withIntel},
	{name: "stratum", want: []int{9000201}},
	{name: "intel_ip", want: []int{9000601}, cfg: withIntel},
	{name: "benign", want: []int{}, cfg: withIntel},
}

func withIntel(c *Config) { c.Intel.Files = []string{filepath.Join("testdata", "intel.txt")} }

// labConfig is the detection config of the lab task.
func labConfig(cc corpusCase) Config {
	cfg := DefaultConfig()
	cfg.HomeNet = []string{labTaskAddr, labTaskEth0Addr}
	cfg.Credentials.Path = labOwnCreds
	if cc.cfg != nil {
		cc.cfg(&cfg)
	}
	return cfg
}

const (
	labTaskAddr     = "10.77.0.10"
	labTaskEth0Addr = "169.254.172.2"
)

// chain is the sidecar's network path as run and replay build it: the
// flow table with the engine as inspector, its events through the tap.
type chain struct {
	e     *Engine
	rec   *collector
	table *flow.Table
	reg   *metrics.Registry
}

func newChain(t testing.TB, cfg Config) *chain {
	t.Helper()
	c := &chain{rec: &collector{}, reg: metrics.New()}
	e, err := New(cfg, c.rec, c.reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.e = e
	tap := e.Tap(c.rec)
	// As run and replay wire it: the app layer's events go through the tap.
	c.table = flow.NewTable(flow.DefaultConfig(), tap, c.reg, applayer.New(applayer.DefaultConfig(), tap, c.reg), e)
	return c
}

// replay feeds a capture through a new chain, as sidewatch replay does.
func replay(t testing.TB, cfg Config, path string) *chain {
	t.Helper()
	c := newChain(t, cfg)
	st, err := capture.ReadFile(context.Background(), path, c.table)
	if err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	c.table.Flush(st.Last, flow.ReasonShutdown)
	return c
}

// checkAlertedFlows checks that the flow of every alert that names one
// was reported alerted.
func checkAlertedFlows(t *testing.T, c *chain) {
	t.Helper()
	alerted := map[uint64]bool{}
	for _, ev := range c.rec.events {
		if ev.EventType == event.TypeFlow {
			alerted[ev.FlowID] = ev.Flow.Alerted
		}
	}
	for _, a := range c.rec.alerts {
		if a.FlowID != 0 && !alerted[a.FlowID] {
			t.Errorf("alert %d names flow %d, whose flow event is not alerted", a.Alert.SignatureID, a.FlowID)
		}
	}
}

func casePath(name string) string { return filepath.Join("testdata", name+".pcapng") }

// TestGoldenCorpus replays each committed capture and compares its alerts
// with the golden file (go test -run GoldenCorpus -update rewrites them):
// exactly the expected signatures, valid EVE, flows marked alerted.
func TestGoldenCorpus(t *testing.T) {
	v := eveschema.New(t)
	for _, cc := range corpus {
		t.Run(cc.name, func(t *testing.T) {
			path := casePath(cc.name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("capture missing (make it with go test -run LabCorpus -record as root): %v", err)
			}
			c := replay(t, labConfig(cc), path)
			if got := c.rec.uniqueSIDs(); !slices.Equal(got, sortedCopy(cc.want)) {
				t.Errorf("signatures %v, want %v\n%s", got, cc.want, c.rec.lines())
			}
			got := c.rec.lines()
			v.ValidateLines(t, got)
			checkAlertedFlows(t, c)
			golden := filepath.Join("testdata", cc.name+".alerts.jsonl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("alerts of %s (-golden +got):\n%s", path, diff)
			}
		})
	}
}

func sortedCopy(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// describe summarises alerts for messages.
func describe(alerts []event.Event) string {
	var b bytes.Buffer
	for _, a := range alerts {
		fmt.Fprintf(&b, "%d %s -> %s:%d\n", a.Alert.SignatureID, a.SrcIP, a.DestIP, a.DestPort)
	}
	return b.String()
}
