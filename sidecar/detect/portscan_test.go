package detect

import (
	"fmt"
	"testing"
	"time"
)

// scanSim drives the engine with synthetic flows as a scanner makes them.
type scanSim struct {
	t    *testing.T
	e    *Engine
	now  time.Time
	next uint64
}

func (s *scanSim) flow(client, server string, cport, sport uint16, proto uint8) *flowSim {
	s.next++
	return newFlow(s.next, client, server, cport, sport, proto)
}

// probe sends an attempt and, after 1 ms, the reply: "rst", "synack",
// "udp" or "" (none).
func (s *scanSim) probe(client, server string, port uint16, proto uint8, reply string) {
	f := s.flow(client, server, uint16(40000+s.next%20000), port, proto)
	if proto == protoTCP {
		s.e.inspectPacket(f.send(s.now, true, tcpSYN, ""))
	} else {
		s.e.inspectPacket(f.send(s.now, true, 0, "probe"))
	}
	s.now = s.now.Add(time.Millisecond)
	switch reply {
	case "rst":
		s.e.inspectPacket(f.send(s.now, false, tcpRST|tcpACK, ""))
	case "synack":
		s.e.inspectPacket(f.send(s.now, false, tcpSYN|tcpACK, ""))
		s.e.inspectPacket(f.send(s.now, true, tcpACK, ""))
	case "udp":
		s.e.inspectPacket(f.send(s.now, false, 0, "answer"))
	}
	s.e.Tick(s.now)
}

// wait advances time, ticking every second.
func (s *scanSim) wait(d time.Duration) {
	for end := s.now.Add(d); s.now.Before(end); {
		s.now = s.now.Add(time.Second)
		s.e.Tick(s.now)
	}
}

func TestPortScan(t *testing.T) {
	const (
		outside = "198.51.100.7"
		taskIP  = "10.0.193.10"
	)
	tests := []struct {
		name   string
		home   []string
		run    func(s *scanSim)
		want   []int
		reason string
	}{
		{"inbound_syn_scan_closed_ports", nil, func(s *scanSim) {
			for p := range uint16(20) {
				s.probe(outside, taskIP, 1000+p, protoTCP, "rst")
			}
		}, []int{9000101}, "distinct_ports"},
		{"outbound_syn_scan", []string{taskIP}, func(s *scanSim) {
			for p := range uint16(20) {
				s.probe(taskIP, "10.0.5.5", 20+p, protoTCP, "rst")
			}
		}, []int{9000102}, "distinct_ports"},
		{"loopback_scan_is_outbound", nil, func(s *scanSim) {
			for p := range uint16(20) {
				s.probe("127.0.0.1", "127.0.0.1", 8000+p, protoTCP, "rst")
			}
		}, []int{9000102}, "distinct_ports"},
		{"filtered_ports_unanswered", nil, func(s *scanSim) {
			for p := range uint16(20) {
				s.probe(outside, taskIP, 1000+p, protoTCP, "")
			}
			s.wait(6 * time.Second)
		}, []int{9000101}, "distinct_ports"},
		{"udp_scan", nil, func(s *scanSim) {
			for p := range uint16(16) {
				s.probe(outside, taskIP, 100+p, protoUDP, "")
			}
			s.wait(6 * time.Second)
		}, []int{9000101}, "distinct_ports"},
		{"half_open_ports", nil, func(s *scanSim) {
			for p := range uint16(30) {
				reply := "rst"
				if p%2 == 0 {
					reply = "synack"
				}
				s.probe(outside, taskIP, 1000+p, protoTCP, reply)
			}
		}, []int{9000101}, "distinct_ports"},
		{"sweep_one_port", []string{taskIP}, func(s *scanSim) {
			for h := range 30 {
				s.probe(taskIP, fmt.Sprintf("10.0.7.%d", h+1), 22, protoTCP, "")
			}
			s.wait(6 * time.Second)
		}, []int{9000103}, ""},
		{"many_failed_connections_inbound", nil, func(s *scanSim) {
			for range 120 {
				s.probe(outside, taskIP, 8080, protoTCP, "rst")
			}
		}, []int{9000101}, "failed_connections"},
		{"outbound_retries_to_down_service", []string{taskIP}, func(s *scanSim) {
			for range 300 {
				s.probe(taskIP, "10.0.9.9", 5432, protoTCP, "rst")
			}
		}, nil, ""},
		{"busy_client_one_service", []string{taskIP}, func(s *scanSim) {
			for range 500 {
				s.probe(taskIP, "10.0.9.9", 443, protoTCP, "synack")
			}
		}, nil, ""},
		{"many_hosts_answering", []string{taskIP}, func(s *scanSim) {
			for h := range 60 {
				s.probe(taskIP, fmt.Sprintf("52.94.%d.%d", h/10, h%10+1), 443, protoTCP, "synack")
			}
		}, nil, ""},
		{"dns_queries", []string{taskIP}, func(s *scanSim) {
			for range 200 {
				s.probe(taskIP, "10.0.0.2", 53, protoUDP, "udp")
			}
			s.wait(6 * time.Second)
		}, nil, ""},
		{"load_balancer_health_checks_to_a_down_app", nil, func(s *scanSim) {
			for range 60 { // every 5 s for 5 minutes from two nodes
				s.probe("10.0.1.10", taskIP, 8080, protoTCP, "rst")
				s.probe("10.0.2.10", taskIP, 8080, protoTCP, "rst")
				s.wait(5 * time.Second)
			}
		}, nil, ""},
		{"multicast_not_scanned", []string{taskIP}, func(s *scanSim) {
			for p := range uint16(30) {
				s.probe(taskIP, "224.0.0.251", 5353+p, protoUDP, "")
			}
			s.wait(6 * time.Second)
		}, nil, ""},
		{"spread_over_two_windows", nil, func(s *scanSim) {
			for p := range uint16(10) {
				s.probe(outside, taskIP, 1000+p, protoTCP, "rst")
			}
			s.wait(6 * time.Minute)
			for p := range uint16(10) {
				s.probe(outside, taskIP, 2000+p, protoTCP, "rst")
			}
		}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, func(c *Config) { c.HomeNet = tt.home })
			s := &scanSim{t: t, e: e, now: t0}
			tt.run(s)
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v\n%s", got, tt.want, col.lines())
			}
			if tt.reason != "" && metaValue(col.alerts[0], "reason") != tt.reason {
				t.Errorf("reason = %q, want %q", metaValue(col.alerts[0], "reason"), tt.reason)
			}
		})
	}
}

func TestPortScanEvidence(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	s := &scanSim{t: t, e: e, now: t0}
	for p := range uint16(15) {
		s.probe("198.51.100.7", "10.0.193.10", 20+p, protoTCP, "rst")
	}
	if len(col.alerts) != 1 {
		t.Fatalf("alerts: %v", col.sids())
	}
	a := col.alerts[0]
	if a.SrcIP.String() != "198.51.100.7" || a.DestIP.String() != "10.0.193.10" || a.FlowID == 0 {
		t.Errorf("header = %s", a.AppendJSON(nil))
	}
	if got := metaValues(a, "ports"); len(got) != 15 || got[0] != "20" || got[14] != "34" {
		t.Errorf("ports = %v", got)
	}
	if metaValue(a, "refused") != "15" || metaValue(a, "failed_ports") != "15" {
		t.Errorf("evidence = %v", a.Alert.Metadata)
	}
}

func TestSweepEvidence(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.HomeNet = []string{"10.0.193.0/24"} })
	s := &scanSim{t: t, e: e, now: t0}
	for h := range 25 {
		s.probe("10.0.193.10", fmt.Sprintf("10.0.7.%d", h+1), 22, protoTCP, "rst")
	}
	if len(col.alerts) != 1 {
		t.Fatalf("alerts: %v", col.sids())
	}
	a := col.alerts[0]
	if a.DestIP.IsValid() || a.DestPort != 22 || a.FlowID != 0 {
		t.Errorf("sweep header = %s", a.AppendJSON(nil))
	}
	if got := metaValues(a, "hosts"); len(got) != 16 || got[0] != "10.0.7.1" {
		t.Errorf("hosts = %v", got)
	}
}

func TestPortScanBounded(t *testing.T) {
	e, _, reg := newTestEngine(t, func(c *Config) { c.PortScan.MaxTrackers = 16 })
	s := &scanSim{t: t, e: e, now: t0}
	for i := range 200 {
		s.probe(fmt.Sprintf("198.51.%d.%d", i/250, i%250+1), "10.0.193.10", 22, protoTCP, "")
	}
	e.portScan.mu.Lock()
	nv, nh := len(e.portScan.vertical), len(e.portScan.horizontal)
	e.portScan.mu.Unlock()
	if nv > 16 || nh > 16 {
		t.Errorf("%d/%d trackers, max 16 each", nv, nh)
	}
	if got := reg.Stats()["detect"].(map[string]any)["state_evicted_total"].(map[string]any)["portscan"]; got == uint64(0) {
		t.Error("no eviction counted")
	}
}

func TestPortScanForgetsIdleTrackers(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	s := &scanSim{t: t, e: e, now: t0}
	s.probe("198.51.100.7", "10.0.193.10", 22, protoTCP, "rst")
	s.wait(6 * time.Minute)
	e.portScan.mu.Lock()
	defer e.portScan.mu.Unlock()
	if n := len(e.portScan.vertical) + len(e.portScan.horizontal); n != 0 {
		t.Errorf("%d trackers left after the window", n)
	}
}
