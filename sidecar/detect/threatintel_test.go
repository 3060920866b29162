package detect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/intel"
)

const testIntel = `# test intel list
203.0.113.66
198.51.100.0/24 ; SBL-TEST
c2.bad.example
b386946a5a44d1ddcc843bc75336dfce
t13d1516h2_8daaf6152771_e5627efa2ab1
supportxmr.com
`

func newIntelEngine(t *testing.T, list string, mutate func(*Config)) (*Engine, *collector, []intel.Report) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "intel.txt")
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Intel.Files = []string{path}
	if mutate != nil {
		mutate(&cfg)
	}
	col := &collector{}
	var reports []intel.Report
	e, err := New(cfg, col, nil, Options{OnIntelLoad: func(r intel.Report, err error) {
		if err != nil {
			t.Errorf("intel load: %v", err)
		}
		reports = append(reports, r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e, col, reports
}

func TestThreatIntel(t *testing.T) {
	tests := []struct {
		name      string
		ev        *event.Event
		pkt       func() *packet
		want      []int
		indicator string
	}{
		{"dns_listed_subdomain", ptr(dnsQuery(t0, "x.C2.bad.example.", "A")), nil, []int{9000602}, "C2.bad.example"},
		{"dns_response_left_to_the_request", ptr(dnsAnswer(t0, "x.c2.bad.example", "A", "192.0.2.7")), nil, nil, ""},
		{"dns_parent_not_listed", ptr(dnsQuery(t0, "bad.example", "A")), nil, nil, ""},
		{"sni", ptr(tlsEvent(t0, netip4("192.0.2.1"), "c2.bad.example", "", "")), nil, []int{9000603}, "c2.bad.example"},
		{"ja3", ptr(tlsEvent(t0, netip4("192.0.2.1"), "www.example.com", "B386946A5A44D1DDCC843BC75336DFCE", "")), nil, []int{9000604}, "B386946A5A44D1DDCC843BC75336DFCE"},
		{"ja4", ptr(tlsEvent(t0, netip4("192.0.2.1"), "www.example.com", "", "t13d1516h2_8daaf6152771_e5627efa2ab1")), nil, []int{9000605}, "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		{"http_host_with_port", ptr(httpEvent(t0, task, netip4("192.0.2.1"), "GET", "c2.bad.example:8080", "/gate.php", "x", 200)), nil, []int{9000606}, "c2.bad.example"},
		{"packet_to_listed_ip", nil, func() *packet {
			return newFlow(1, "10.0.193.10", "203.0.113.66", 40000, 443, protoTCP).send(t0, true, tcpSYN, "")
		},
			[]int{9000601}, "203.0.113.66/32"},
		{"packet_from_listed_cidr", nil, func() *packet {
			return newFlow(2, "198.51.100.77", "10.0.193.10", 40000, 22, protoTCP).send(t0, true, tcpSYN, "")
		},
			[]int{9000601}, "198.51.100.0/24"},
		{"packet_clean", nil, func() *packet {
			return newFlow(3, "10.0.193.10", "192.0.2.1", 40000, 443, protoTCP).send(t0, true, tcpSYN, "")
		}, nil, ""},
		// A pool listed in both lists is reported as mining (the pool lists
		// come first).
		{"pool_in_intel_list_is_mining", ptr(dnsQuery(t0, "pool.supportxmr.com", "A")), nil, []int{9000202}, "supportxmr.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newIntelEngine(t, testIntel, nil)
			if tt.ev != nil {
				e.observe(tt.ev)
			} else {
				e.inspectPacket(tt.pkt())
			}
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v\n%s", got, tt.want, col.lines())
			}
			if len(tt.want) > 0 {
				if got := metaValue(col.alerts[0], "intel_indicator"); got != tt.indicator {
					t.Errorf("intel_indicator = %q, want %q", got, tt.indicator)
				}
			}
		})
	}
}

func ptr(ev event.Event) *event.Event { return &ev }

func TestThreatIntelEvidence(t *testing.T) {
	e, col, reports := newIntelEngine(t, testIntel, nil)
	e.inspectPacket(newFlow(2, "10.0.193.10", "198.51.100.5", 40000, 443, protoTCP).send(t0, true, tcpSYN, ""))
	a := col.alerts[0]
	if metaValue(a, "intel_list") != "intel.txt" || metaValue(a, "intel_description") != "SBL-TEST" || metaValue(a, "matched") != "dest_ip" {
		t.Errorf("evidence = %v", a.Alert.Metadata)
	}
	if len(reports) != 1 || reports[0].Indicators(intel.KindIP) != 2 || reports[0].Indicators(intel.KindDomain) < 40 {
		t.Errorf("load reports = %+v", reports)
	}
}

func TestThreatIntelReload(t *testing.T) {
	e, col, _ := newIntelEngine(t, "203.0.113.66\n", func(c *Config) { c.Intel.Reload = time.Hour })
	path := e.cfg.Intel.Files[0]
	tmp := path + ".new"
	os.WriteFile(tmp, []byte("192.0.2.99\n"), 0o600)
	os.Rename(tmp, path)
	e.intel.Check()
	e.inspectPacket(newFlow(1, "10.0.193.10", "192.0.2.99", 40000, 443, protoTCP).send(t0, true, tcpSYN, ""))
	e.inspectPacket(newFlow(2, "10.0.193.10", "203.0.113.66", 40000, 443, protoTCP).send(t0, true, tcpSYN, ""))
	if got := col.sids(); len(got) != 1 || metaValue(col.alerts[0], "intel_indicator") != "192.0.2.99/32" {
		t.Errorf("after reload: %s", col.lines())
	}
}

func TestIntelFileMissing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Intel.Files = []string{filepath.Join(t.TempDir(), "missing.txt")}
	if _, err := New(cfg, &collector{}, nil, Options{}); err == nil {
		t.Error("New with a missing intel file succeeded")
	}
}

// Run reloads a changed intel file within --detect-intel-reload.
func TestRunReloadsIntel(t *testing.T) {
	e, col, _ := newIntelEngine(t, "203.0.113.66\n", func(c *Config) { c.Intel.Reload = time.Second })
	path := e.cfg.Intel.Files[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	tmp := path + ".new"
	os.WriteFile(tmp, []byte("192.0.2.99\n"), 0o600)
	os.Rename(tmp, path)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, ok := e.Intel().LookupAddr(netip4("192.0.2.99")); ok {
			e.inspectPacket(newFlow(1, "10.0.193.10", "192.0.2.99", 40000, 443, protoTCP).send(t0, true, tcpSYN, ""))
			if len(col.alerts) != 1 {
				t.Errorf("after reload: %v", col.sids())
			}
			return
		}
	}
	t.Fatal("not reloaded within 5 s")
}
