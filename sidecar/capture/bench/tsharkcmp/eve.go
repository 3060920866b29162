package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// eveFlow is the part of a flow event the comparison reads.
type eveFlow struct {
	EventType   string `json:"event_type"`
	SrcIP       string `json:"src_ip"`
	DestIP      string `json:"dest_ip"`
	SrcPort     uint16 `json:"src_port"`
	DestPort    uint16 `json:"dest_port"`
	Proto       string `json:"proto"`
	ICMPType    *uint8 `json:"icmp_type"`
	ICMPCode    *uint8 `json:"icmp_code"`
	CommunityID string `json:"community_id"`
	Flow        *struct {
		PktsToServer  uint64 `json:"pkts_toserver"`
		PktsToClient  uint64 `json:"pkts_toclient"`
		BytesToServer uint64 `json:"bytes_toserver"`
		BytesToClient uint64 `json:"bytes_toclient"`
		Start         string `json:"start"`
	} `json:"flow"`
}

// eveStats counts the lines of sidewatch's output.
type eveStats struct {
	lines, flowEvents, invalid int
	firstInvalid               string
}

// eveFlows reads sidewatch's EVE lines and sums its flow events per
// 5-tuple (a tuple can have several records: timeouts, port reuse).
func eveFlows(r io.Reader) (map[key]*counts, eveStats, error) {
	flows := make(map[key]*counts)
	var st eveStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		st.lines++
		var ev eveFlow
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			st.invalid++
			if st.firstInvalid == "" {
				st.firstInvalid = err.Error()
			}
			continue
		}
		if ev.EventType != "flow" {
			continue
		}
		st.flowEvents++
		k, clientIsA, start, err := ev.key()
		if err != nil || ev.Flow == nil {
			st.invalid++
			if st.firstInvalid == "" {
				st.firstInvalid = fmt.Sprintf("flow event without a usable tuple or flow object: %v", err)
			}
			continue
		}
		ts, tc := 0, 1
		client := 0
		if !clientIsA {
			ts, tc, client = 1, 0, 1
		}
		c, ok := flows[k]
		if !ok {
			c = &counts{start: start, client: client, communityID: ev.CommunityID}
			flows[k] = c
		} else if start < c.start {
			c.start = start
		}
		if c.client != client {
			c.client = -1 // records disagree
		}
		if c.communityID != ev.CommunityID {
			c.communityID = "differs between records"
		}
		c.records++
		c.pkts[ts] += ev.Flow.PktsToServer
		c.pkts[tc] += ev.Flow.PktsToClient
		c.bytes[ts] += ev.Flow.BytesToServer
		c.bytes[tc] += ev.Flow.BytesToClient
	}
	if err := sc.Err(); err != nil {
		return flows, st, fmt.Errorf("read sidewatch output: %w", err)
	}
	return flows, st, nil
}

// key returns the flow's tuple, whether the client is its a side, and the
// start time in seconds.
func (ev *eveFlow) key() (key, bool, float64, error) {
	src, err := netip.ParseAddr(ev.SrcIP)
	if err != nil {
		return key{}, false, 0, fmt.Errorf("src_ip: %w", err)
	}
	dst, err := netip.ParseAddr(ev.DestIP)
	if err != nil {
		return key{}, false, 0, fmt.Errorf("dest_ip: %w", err)
	}
	proto := protoNumber(ev.Proto)
	sport, dport := ev.SrcPort, ev.DestPort
	if proto == protoICMP || proto == protoICMPv6 {
		if ev.ICMPType == nil || ev.ICMPCode == nil {
			return key{}, false, 0, fmt.Errorf("ICMP flow without icmp_type/icmp_code")
		}
		sport, dport = uint16(*ev.ICMPType), uint16(*ev.ICMPCode)
	}
	k, fromA := newKey(proto, src, dst, sport, dport)
	var start float64
	if ev.Flow != nil {
		t, err := time.Parse("2006-01-02T15:04:05.999999-0700", ev.Flow.Start)
		if err != nil {
			return key{}, false, 0, fmt.Errorf("flow.start: %w", err)
		}
		start = float64(t.UnixNano()) / 1e9
	}
	return k, fromA, start, nil
}

// protoNames are the names EVE writes for IP protocols (Suricata's
// spelling of the IANA keywords) that the corpus has; any other protocol
// is written as its number or unknown (-1).
var protoNames = map[string]int{
	"HOPOPT": 0, "ICMP": 1, "IGMP": 2, "GGP": 3, "IP-IN-IP": 4, "IPV4": 4, "ST": 5, "TCP": 6, "EGP": 8, "IGP": 9,
	"PUP": 12, "UDP": 17, "XNS-IDP": 22, "RDP": 27, "ISO-TP4": 29, "DCCP": 33, "IDPR": 35, "XTP": 36,
	"IPV6": 41, "IPV6-ROUTE": 43, "IPV6-FRAG": 44, "IDRP": 45, "RSVP": 46, "GRE": 47, "ESP": 50, "AH": 51,
	"MOBILE": 55, "IPV6-ICMP": 58, "IPV6-NONXT": 59, "IPV6-OPTS": 60, "SWIPE": 53, "NARP": 54,
	"ISO-IP": 80, "VINES": 83, "EIGRP": 88, "OSPF": 89, "OSPFIGP": 89, "AX.25": 93, "ETHERIP": 97, "ENCAP": 98,
	"PIM": 103, "IPCOMP": 108, "VRRP": 112, "PGM": 113, "L2TP": 115, "ISIS": 124, "IS-IS": 124,
	"SCTP": 132, "FC": 133, "MOBILITY": 135, "MOBILITY-HEADER": 135, "UDPLITE": 136, "MPLS-IN-IP": 137,
	"MANET": 138, "HIP": 139, "SHIM6": 140, "WESP": 141, "ROHC": 142, "ETHERNET": 143,
}

// protoAny stands for the protocols EVE writes as "Any" (61, 63, 68, 99
// and 114: IANA gives them no keyword), which the name cannot tell apart.
const protoAny = -2

func anyProto(p int) int {
	switch p {
	case 61, 63, 68, 99, 114:
		return protoAny
	}
	return p
}

func protoNumber(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if s == "Any" {
		return protoAny
	}
	if n, ok := protoNames[strings.ToUpper(s)]; ok {
		return n
	}
	return -1
}

// protoLabel names a protocol number for reports.
func protoLabel(p int) string {
	for n, v := range map[string]int{"TCP": protoTCP, "UDP": protoUDP, "ICMP": protoICMP, "ICMPv6": protoICMPv6, "SCTP": protoSCTP} {
		if v == p {
			return n
		}
	}
	return "proto" + strconv.Itoa(p)
}
