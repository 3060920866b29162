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

	"github.com/sidewatch/sidewatch/sidecar/flow"
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

// protoNames maps the names EVE writes for IP protocols (flow.ProtoName)
// back to their numbers; "Any" stands for several and is left out.
var protoNames = func() map[string]int {
	m := make(map[string]int)
	for p := range 256 {
		n := flow.ProtoName(uint8(p))
		if _, err := strconv.Atoi(n); err != nil && n != "Any" {
			m[strings.ToUpper(n)] = p
		}
	}
	return m
}()

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
