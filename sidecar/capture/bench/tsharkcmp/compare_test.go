package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// line builds one tshark output line from field values by name.
func line(v map[int]string) string {
	f := make([]string, numFields)
	for i, s := range v {
		f[i] = s
	}
	return strings.Join(f, "\t")
}

func tcpFrame(t float64, n int, src, dst string, sport, dport int, flags string) string {
	return line(map[int]string{fTime: fmt.Sprintf("%.6f", t), fLen: fmt.Sprint(n), fCapLen: fmt.Sprint(n),
		fProtocols: "eth:ethertype:ip:tcp", fIPSrc: src, fIPDst: dst, fIPProto: "6", fIPID: "0x0001", fIPMF: "0", fIPFragOff: "0",
		fTCPSport: fmt.Sprint(sport), fTCPDport: fmt.Sprint(dport), fTCPFlags: flags, fCommunityID: "1:cid"})
}

func udpFrame(t float64, n int, src, dst string, sport, dport int, id string, mf string) string {
	return line(map[int]string{fTime: fmt.Sprintf("%.6f", t), fLen: fmt.Sprint(n), fCapLen: fmt.Sprint(n),
		fProtocols: "eth:ethertype:ip:udp:dns", fIPSrc: src, fIPDst: dst, fIPProto: "17", fIPID: id, fIPMF: mf, fIPFragOff: "0",
		fUDPSport: fmt.Sprint(sport), fUDPDport: fmt.Sprint(dport)})
}

func fragRest(t float64, n int, src, dst, id string) string {
	return line(map[int]string{fTime: fmt.Sprintf("%.6f", t), fLen: fmt.Sprint(n), fCapLen: fmt.Sprint(n),
		fProtocols: "eth:ethertype:ip:data", fIPSrc: src, fIPDst: dst, fIPProto: "17", fIPID: id, fIPMF: "0", fIPFragOff: "1480"})
}

func eveLine(src string, sport int, dst string, dport int, proto string, pts, ptc, bts, btc int) string {
	return fmt.Sprintf(`{"event_type":"flow","src_ip":%q,"src_port":%d,"dest_ip":%q,"dest_port":%d,"proto":%q,"community_id":"1:cid",`+
		`"flow":{"pkts_toserver":%d,"pkts_toclient":%d,"bytes_toserver":%d,"bytes_toclient":%d,"start":"2024-01-01T00:00:00.000000+0000"}}`,
		src, sport, dst, dport, proto, pts, ptc, bts, btc)
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tshark        []string
		eve           []string
		want          tally
		wantReasonHas string
	}{
		{
			name: "equal_tcp_flow",
			tshark: []string{
				tcpFrame(1, 74, "10.0.0.1", "10.0.0.2", 40000, 80, "0x0002"),
				tcpFrame(1.1, 74, "10.0.0.2", "10.0.0.1", 80, 40000, "0x0012"),
				tcpFrame(1.2, 66, "10.0.0.1", "10.0.0.2", 40000, 80, "0x0010"),
			},
			eve:  []string{eveLine("10.0.0.1", 40000, "10.0.0.2", 80, "TCP", 2, 1, 140, 74)},
			want: tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 3, pktsSW: 3, bytesTShark: 214, bytesSW: 214, cidChecked: 1, cidEqual: 1, sideChecked: 1, sideEqual: 1},
		},
		{
			name: "reverse_direction_bytes_differ",
			tshark: []string{
				tcpFrame(1, 74, "10.0.0.9", "10.0.0.2", 40000, 80, "0x0002"),
				tcpFrame(1.1, 60, "10.0.0.2", "10.0.0.9", 80, 40000, "0x0012"),
			},
			// 10.0.0.9 is the b side of the tuple: toserver is b->a.
			eve:           []string{eveLine("10.0.0.9", 40000, "10.0.0.2", 80, "TCP", 1, 1, 74, 64)},
			want:          tally{flows: 1, both: 1, dirs: 2, pktsEqual: 2, bytesEqual: 1, pktsTShark: 2, pktsSW: 2, bytesTShark: 134, bytesSW: 138, cidChecked: 1, cidEqual: 1, sideChecked: 1, sideEqual: 1},
			wantReasonHas: "bytes a->b tshark 60 sidewatch 64",
		},
		{
			name: "syn_ack_first_makes_receiver_client",
			tshark: []string{
				tcpFrame(1, 60, "10.0.0.2", "10.0.0.1", 80, 40000, "0x0012"),
			},
			eve:           []string{eveLine("10.0.0.2", 80, "10.0.0.1", 40000, "TCP", 1, 0, 60, 0)},
			want:          tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 1, pktsSW: 1, bytesTShark: 60, bytesSW: 60, cidChecked: 1, cidEqual: 1, sideChecked: 1},
			wantReasonHas: "client side tshark a sidewatch b",
		},
		{
			name: "flow_only_in_one_tool",
			tshark: []string{
				tcpFrame(1, 60, "10.0.0.1", "10.0.0.2", 40000, 80, "0x0002"),
			},
			eve:           []string{eveLine("10.0.0.1", 40001, "10.0.0.2", 80, "TCP", 1, 0, 60, 0)},
			want:          tally{flows: 2, onlyTShark: 1, onlySW: 1},
			wantReasonHas: "only in",
		},
		{
			name: "records_of_one_tuple_are_summed",
			tshark: []string{
				udpFrame(1, 80, "10.0.0.1", "10.0.0.2", 5353, 53, "0x0001", "0"),
				udpFrame(200, 80, "10.0.0.1", "10.0.0.2", 5353, 53, "0x0002", "0"),
			},
			eve: []string{
				eveLine("10.0.0.1", 5353, "10.0.0.2", 53, "UDP", 1, 0, 80, 0),
				eveLine("10.0.0.1", 5353, "10.0.0.2", 53, "UDP", 1, 0, 80, 0),
				`{"event_type":"dns","src_ip":"10.0.0.1"}`,
			},
			want: tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 2, pktsSW: 2, bytesTShark: 160, bytesSW: 160},
		},
		{
			name: "fragments_join_their_first",
			tshark: []string{
				udpFrame(1, 1514, "10.0.0.2", "10.0.0.1", 53, 33000, "0x0abc", "1"),
				fragRest(1, 300, "10.0.0.2", "10.0.0.1", "0x0abc"),
				fragRest(1, 300, "10.0.0.2", "10.0.0.1", "0x0def"), // first not seen: no flow
			},
			eve:  []string{eveLine("10.0.0.1", 33000, "10.0.0.2", 53, "UDP", 0, 2, 0, 1814)},
			want: tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 2, pktsSW: 2, bytesTShark: 1814, bytesSW: 1814, sideChecked: 1, sideEqual: 1},
		},
		{
			name: "icmp_error_joins_the_flow_it_quotes",
			tshark: []string{
				udpFrame(1, 80, "10.0.0.1", "10.0.0.2", 5000, 53, "0x0001", "0"),
				line(map[int]string{fTime: "1.1", fLen: "110", fCapLen: "110", fProtocols: "eth:ethertype:ip:icmp:ip:udp",
					fIPSrc: "10.0.0.2,10.0.0.1", fIPDst: "10.0.0.1,10.0.0.2", fIPProto: "1,17", fIPMF: "0,0", fIPFragOff: "0,0",
					fICMPType: "3", fICMPCode: "3", fUDPSport: "5000", fUDPDport: "53"}),
			},
			eve:  []string{eveLine("10.0.0.1", 5000, "10.0.0.2", 53, "UDP", 1, 1, 80, 110)},
			want: tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 2, pktsSW: 2, bytesTShark: 190, bytesSW: 190, sideChecked: 1, sideEqual: 1},
		},
		{
			name: "icmp_echo_pair_is_one_flow",
			tshark: []string{
				line(map[int]string{fTime: "1", fLen: "98", fCapLen: "98", fProtocols: "eth:ethertype:ip:icmp:data",
					fIPSrc: "10.0.0.1", fIPDst: "10.0.0.2", fIPProto: "1", fIPMF: "0", fIPFragOff: "0", fICMPType: "8", fICMPCode: "0"}),
				line(map[int]string{fTime: "1.1", fLen: "98", fCapLen: "98", fProtocols: "eth:ethertype:ip:icmp:data",
					fIPSrc: "10.0.0.2", fIPDst: "10.0.0.1", fIPProto: "1", fIPMF: "0", fIPFragOff: "0", fICMPType: "0", fICMPCode: "0"}),
			},
			eve: []string{`{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"ICMP","icmp_type":8,"icmp_code":0,` +
				`"flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":98,"bytes_toclient":98,"start":"2024-01-01T00:00:00.000000+0000"}}`},
			want: tally{flows: 1, both: 1, exact: 1, dirs: 2, pktsEqual: 2, bytesEqual: 2, pktsTShark: 2, pktsSW: 2, bytesTShark: 196, bytesSW: 196, sideChecked: 1, sideEqual: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _, err := tsharkFlows(strings.NewReader(strings.Join(tc.tshark, "\n") + "\n"))
			if err != nil {
				t.Fatalf("tsharkFlows: %v", err)
			}
			sw, _, err := eveFlows(strings.NewReader(strings.Join(tc.eve, "\n") + "\n"))
			if err != nil {
				t.Fatalf("eveFlows: %v", err)
			}
			got, bad := compare(ts, sw)
			if got != tc.want {
				t.Errorf("tally: got %+v, want %+v", got, tc.want)
			}
			if tc.wantReasonHas == "" && len(bad) > 0 {
				t.Errorf("mismatches: got %v, want none", bad)
			}
			if tc.wantReasonHas != "" {
				found := false
				for _, m := range bad {
					found = found || strings.Contains(m.reason, tc.wantReasonHas)
				}
				if !found {
					t.Errorf("mismatches: got %v, want one with %q", bad, tc.wantReasonHas)
				}
			}
		})
	}
}

func TestEveFlowsCountsInvalidLines(t *testing.T) {
	in := strings.Join([]string{
		eveLine("10.0.0.1", 1, "10.0.0.2", 2, "UDP", 1, 0, 60, 0),
		`{"event_type":"flow","src_ip":`,
		`{"event_type":"flow","src_ip":"not an address","dest_ip":"10.0.0.2","flow":{"start":"2024-01-01T00:00:00.000000+0000"}}`,
		`{"event_type":"stats"}`,
	}, "\n")
	flows, st, err := eveFlows(strings.NewReader(in))
	if err != nil {
		t.Fatalf("eveFlows: %v", err)
	}
	if len(flows) != 1 || st.lines != 4 || st.flowEvents != 2 || st.invalid != 2 {
		t.Errorf("got %d flows, %+v; want 1 flow, 4 lines, 2 flow events (one line is not JSON), 2 invalid", len(flows), st)
	}
}

func TestFrameParse(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name      string
		fields    map[int]string
		wantKind  frameKind
		wantProto int
		wantSrc   netip.Addr
		wantPorts [2]uint16
		wantQuote bool
	}{
		{
			name:     "arp_is_not_decoded",
			fields:   map[int]string{fTime: "1", fLen: "60", fCapLen: "60", fProtocols: "eth:ethertype:arp"},
			wantKind: frameNotDecoded,
		},
		{
			name:     "wifi_is_not_decoded",
			fields:   map[int]string{fTime: "1", fLen: "60", fCapLen: "60", fProtocols: "radiotap:wlan:llc:ip:udp", fIPSrc: "10.0.0.1", fIPDst: "10.0.0.2"},
			wantKind: frameNotDecoded,
		},
		{
			name: "ip_in_ip_is_the_inner_flow",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ip:ip:udp",
				fIPSrc: "192.0.2.1,10.0.0.1", fIPDst: "192.0.2.2,10.0.0.2", fIPProto: "4,17", fIPMF: "0,0", fIPFragOff: "0,0",
				fUDPSport: "1000", fUDPDport: "2000"},
			wantProto: protoUDP, wantSrc: a("10.0.0.1"), wantPorts: [2]uint16{1000, 2000},
		},
		{
			name: "gre_is_the_outer_flow",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ip:gre:ip:udp",
				fIPSrc: "192.0.2.1,10.0.0.1", fIPDst: "192.0.2.2,10.0.0.2", fIPProto: "47,17", fIPMF: "0,0", fIPFragOff: "0,0",
				fUDPSport: "1000", fUDPDport: "2000"},
			wantProto: 47, wantSrc: a("192.0.2.1"),
		},
		{
			name: "vlan_ipv6_with_extension_header",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:vlan:ethertype:ipv6:ipv6.hopopts:tcp",
				fIP6Src: "2001:db8::1", fIP6Dst: "2001:db8::2", fIP6Nxt: "0", fTCPSport: "443", fTCPDport: "50000", fTCPFlags: "0x0010"},
			wantProto: protoTCP, wantSrc: a("2001:db8::1"), wantPorts: [2]uint16{443, 50000},
		},
		{
			name: "ipv6_ah_is_an_extension_header",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ipv6:ah:ospf",
				fIP6Src: "fe80::1", fIP6Dst: "ff02::5", fIP6Nxt: "51"},
			wantProto: 89, wantSrc: a("fe80::1"),
		},
		{
			name: "ipv4_ah_is_the_protocol",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ip:ah:ospf",
				fIPSrc: "10.0.0.1", fIPDst: "224.0.0.5", fIPProto: "51", fIPMF: "0", fIPFragOff: "0"},
			wantProto: 51, wantSrc: a("10.0.0.1"),
		},
		{
			name: "ipv6_fragment_header_in_ipv4_is_the_protocol",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ip:ipv6.fraghdr:data",
				fIPSrc: "10.0.0.1", fIPDst: "10.0.0.2", fIPProto: "44", fIPMF: "0", fIPFragOff: "0", fIP6FragOff: "8", fIP6FragMore: "0"},
			wantProto: 44, wantSrc: a("10.0.0.1"),
		},
		{
			name: "ipv6_fragment_after_the_first",
			fields: map[int]string{fTime: "1", fLen: "100", fCapLen: "100", fProtocols: "eth:ethertype:ipv6:ipv6.fraghdr:data",
				fIP6Src: "2001:db8::1", fIP6Dst: "2001:db8::2", fIP6Nxt: "44", fIP6FragOff: "1448", fIP6FragMore: "0", fIP6FragID: "0x1"},
			wantKind: frameFragRest,
		},
		{
			name: "icmp_error_quotes_udp",
			fields: map[int]string{fTime: "1", fLen: "70", fCapLen: "70", fProtocols: "eth:ethertype:ip:icmp:ip:udp",
				fIPSrc: "10.0.0.2,10.0.0.1", fIPDst: "10.0.0.1,10.0.0.2", fIPProto: "1,17", fIPMF: "0,0", fIPFragOff: "0,0",
				fICMPType: "3", fICMPCode: "3", fUDPSport: "5000", fUDPDport: "53"},
			wantProto: protoICMP, wantSrc: a("10.0.0.2"), wantPorts: [2]uint16{3, 3}, wantQuote: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fr frame
			if !fr.parse(strings.Split(line(tc.fields), "\t")) {
				t.Fatalf("parse: got false, want true")
			}
			if fr.kind != tc.wantKind {
				t.Fatalf("kind: got %d, want %d", fr.kind, tc.wantKind)
			}
			if fr.kind != frameFlow {
				return
			}
			if fr.proto != tc.wantProto || fr.src != tc.wantSrc || [2]uint16{fr.sport, fr.dport} != tc.wantPorts {
				t.Errorf("flow: got %d %s %d>%d, want %d %s %v", fr.proto, fr.src, fr.sport, fr.dport, tc.wantProto, tc.wantSrc, tc.wantPorts)
			}
			if (fr.quoted != nil) != tc.wantQuote {
				t.Errorf("quoted: got %v, want %v", fr.quoted, tc.wantQuote)
			}
		})
	}
}

// FuzzTSharkFlows feeds arbitrary layer lists and field values to the
// tshark parser, and arbitrary lines to the EVE parser and the matcher:
// they must not panic.
func FuzzTSharkFlows(f *testing.F) {
	f.Add("eth:ethertype:ip:tcp", "10.0.0.1", "10.0.0.2", "", "6", "0", "40000", "0x0002", eveLine("10.0.0.1", 40000, "10.0.0.2", 80, "TCP", 1, 0, 74, 0))
	f.Add("eth:ethertype:ipv6:ipv6.fraghdr:ipv6:icmpv6:ip:udp", "::1,::2", "::3", "1", "58", "8,0", "1,2", "1", `{"event_type":"flow","proto":"IPv6-ICMP"}`)
	f.Add("eth:ethertype:ip:icmp:ip:icmp:ip:ip:ip:ip:ip:tcp", "10.0.0.1,10.0.0.2,a", "10.0.0.3", "3,3", "1,4", "0,1,2", ",5", "", "")
	f.Fuzz(func(t *testing.T, protocols, src, dst, icmp, proto, frag, ports, flags, eve string) {
		l := line(map[int]string{fTime: "1", fLen: "60", fCapLen: "60", fProtocols: protocols,
			fIPSrc: src, fIPDst: dst, fIP6Src: src, fIP6Dst: dst, fIPProto: proto, fIP6Nxt: proto,
			fIPMF: frag, fIPFragOff: frag, fIP6FragOff: frag, fIP6FragMore: frag, fIPID: frag, fIP6FragID: frag,
			fTCPSport: ports, fTCPDport: ports, fTCPFlags: flags, fUDPSport: ports, fUDPDport: ports,
			fSCTPSport: ports, fSCTPDport: ports, fICMPType: icmp, fICMPCode: icmp, fICMP6Type: icmp, fICMP6Code: icmp})
		ts, _, _ := tsharkFlows(strings.NewReader(l + "\n" + l + "\n"))
		sw, _, _ := eveFlows(strings.NewReader(eve))
		compare(ts, sw)
	})
}
