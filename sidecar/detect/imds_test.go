package detect

import (
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

func TestIMDSPacket(t *testing.T) {
	tests := []struct {
		name    string
		flow    *flowSim
		want    []int
		packets func(f *flowSim) []*packet
	}{
		{"tcp_syn_to_imds", newFlow(1, "10.0.193.10", "169.254.169.254", 41000, 80, protoTCP), []int{9000401},
			func(f *flowSim) []*packet {
				return []*packet{f.send(t0, true, tcpSYN, ""), f.send(t0, true, tcpSYN, ""), f.send(t0, true, tcpSYN, "")}
			}},
		{"ipv6_imds", newFlow(2, "fd99::1", "fd00:ec2::254", 41000, 80, protoTCP), []int{9000401},
			func(f *flowSim) []*packet { return []*packet{f.send(t0, true, tcpSYN, "")} }},
		{"udp_to_imds", newFlow(3, "10.0.193.10", "169.254.169.254", 41000, 53, protoUDP), []int{9000401},
			func(f *flowSim) []*packet { return []*packet{f.send(t0, true, 0, "x")} }},
		{"credentials_endpoint_is_not_imds", newFlow(4, "169.254.172.2", "169.254.170.2", 41000, 80, protoTCP), nil,
			func(f *flowSim) []*packet { return []*packet{f.send(t0, true, tcpSYN, "")} }},
		{"imds_as_client_midstream", newFlow(5, "169.254.169.254", "10.0.193.10", 80, 41000, protoTCP), nil,
			func(f *flowSim) []*packet { return []*packet{f.send(t0, true, tcpACK, "")} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			for _, p := range tt.packets(tt.flow) {
				e.inspectPacket(p)
			}
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v", got, tt.want)
			}
			if len(tt.want) > 0 {
				a := col.alerts[0]
				if a.FlowID != tt.flow.id || a.DestIP != tt.flow.server || a.CommunityID == "" || a.InIface != "eth1" {
					t.Errorf("alert header = %s", a.AppendJSON(nil))
				}
			}
		})
	}
}

func TestIMDSRebinding(t *testing.T) {
	tests := []struct {
		name string
		ev   event.Event
		want []int
	}{
		{"a_to_imds", dnsAnswer(t0, "rebind.attacker.example", "A", "169.254.169.254"), []int{9000402}},
		{"a_to_credentials", dnsAnswer(t0, "x.attacker.example", "A", "169.254.170.2"), []int{9000402}},
		{"aaaa_to_imds_expanded", dnsAnswer(t0, "x.attacker.example", "AAAA", "fd00:0ec2:0000:0000:0000:0000:0000:0254"), []int{9000402}},
		{"ordinary_answer", dnsAnswer(t0, "example.com", "A", "93.184.216.34"), nil},
		{"cname_rdata_text", dnsAnswer(t0, "example.com", "CNAME", "169.254.169.254.example"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			e.observe(&tt.ev)
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v", got, tt.want)
			}
			if len(tt.want) > 0 && metaValue(col.alerts[0], "rrname") != tt.ev.DNS.Answers[0].RRName {
				t.Errorf("rrname evidence = %q", metaValue(col.alerts[0], "rrname"))
			}
		})
	}
}

func TestIMDSSSRF(t *testing.T) {
	client := netip4("198.51.100.9")
	tests := []struct {
		name      string
		host, url string
		dst       string
		want      []int
	}{
		{"url_param", "app.example", "/fetch?url=http://169.254.169.254/latest/meta-data/iam/security-credentials/", "10.0.193.10", []int{9000403}},
		{"percent_encoded", "app.example", "/fetch?url=http%3A%2F%2F169.254.169.254%2Flatest", "10.0.193.10", []int{9000403}},
		{"decimal_form", "app.example", "/proxy?u=http://2852039166/latest/", "10.0.193.10", []int{9000403}},
		{"hex_form_upper", "app.example", "/proxy?u=http://0xA9FEA9FE/", "10.0.193.10", []int{9000403}},
		{"credentials_in_url", "app.example", "/p?u=http://169.254.170.2/v2/credentials/x", "10.0.193.10", []int{9000403}},
		{"proxy_absolute_form", "169.254.169.254", "http://169.254.169.254/latest/api/token", "10.0.0.50", []int{9000403}},
		{"ordinary", "app.example", "/api/v1/items?page=2&id=169254", "10.0.193.10", nil},
		{"to_imds_itself", "169.254.169.254", "/latest/meta-data/", "169.254.169.254", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			ev := httpEvent(t0, client, netip4(tt.dst), "GET", tt.host, tt.url, "Mozilla/5.0", 200)
			e.observe(&ev)
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIMDSOff(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.IMDS.Enabled = false })
	f := newFlow(1, "10.0.193.10", "169.254.169.254", 41000, 80, protoTCP)
	e.inspectPacket(f.send(t0, true, tcpSYN, ""))
	ev := dnsAnswer(t0.Add(time.Second), "rebind.example", "A", "169.254.169.254")
	e.observe(&ev)
	if len(col.alerts) != 0 {
		t.Errorf("alerts with --no-detect-imds: %v", col.sids())
	}
}
