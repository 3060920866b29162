package main

import (
	"fmt"
	"sort"
)

// tally is the agreement of the two tools on a set of flows.
type tally struct {
	flows       int // 5-tuples seen by either tool
	both        int // seen by both
	onlyTShark  int
	onlySW      int
	exact       int // both, with packets and bytes equal both ways
	dirs        int // directions compared: 2 per flow seen by both
	pktsEqual   int // directions whose packet counts agree
	bytesEqual  int
	pktsTShark  uint64 // packet totals over the flows seen by both
	pktsSW      uint64
	bytesTShark uint64
	bytesSW     uint64
	cidChecked  int // flows with a Community ID from both
	cidEqual    int
	sideChecked int // flows with one sidewatch record, whose client side is compared
	sideEqual   int
}

func (t *tally) add(o tally) {
	t.flows += o.flows
	t.both += o.both
	t.onlyTShark += o.onlyTShark
	t.onlySW += o.onlySW
	t.exact += o.exact
	t.dirs += o.dirs
	t.pktsEqual += o.pktsEqual
	t.bytesEqual += o.bytesEqual
	t.pktsTShark += o.pktsTShark
	t.pktsSW += o.pktsSW
	t.bytesTShark += o.bytesTShark
	t.bytesSW += o.bytesSW
	t.cidChecked += o.cidChecked
	t.cidEqual += o.cidEqual
	t.sideChecked += o.sideChecked
	t.sideEqual += o.sideEqual
}

// mismatch is one flow the tools disagree on.
type mismatch struct {
	k      key
	reason string
	chains []string
}

// compare matches the flows of both tools by 5-tuple and counts their
// agreement. Flows are compared as totals per tuple: sidewatch may split a
// tuple into several records (idle timeouts, port reuse) where tshark's
// frames carry no such boundary.
func compare(ts, sw map[key]*counts) (tally, []mismatch) {
	var t tally
	var bad []mismatch
	for k, a := range ts {
		t.flows++
		b, ok := sw[k]
		if !ok {
			t.onlyTShark++
			bad = append(bad, mismatch{k: k, reason: fmt.Sprintf("only in tshark (%d+%d pkts)", a.pkts[0], a.pkts[1]), chains: a.chains})
			continue
		}
		t.both++
		t.dirs += 2
		var diffs []string
		for d := range 2 {
			t.pktsTShark += a.pkts[d]
			t.pktsSW += b.pkts[d]
			t.bytesTShark += a.bytes[d]
			t.bytesSW += b.bytes[d]
			if a.pkts[d] == b.pkts[d] {
				t.pktsEqual++
			} else {
				diffs = append(diffs, fmt.Sprintf("pkts %s tshark %d sidewatch %d", dirName(d), a.pkts[d], b.pkts[d]))
			}
			if a.bytes[d] == b.bytes[d] {
				t.bytesEqual++
			} else {
				diffs = append(diffs, fmt.Sprintf("bytes %s tshark %d sidewatch %d", dirName(d), a.bytes[d], b.bytes[d]))
			}
		}
		if len(diffs) == 0 {
			t.exact++
		}
		if a.communityID != "" && b.communityID != "" {
			t.cidChecked++
			if a.communityID == b.communityID {
				t.cidEqual++
			} else {
				diffs = append(diffs, fmt.Sprintf("community_id tshark %s sidewatch %s", a.communityID, b.communityID))
			}
		}
		if b.records == 1 && a.client >= 0 && b.client >= 0 {
			t.sideChecked++
			if a.client == b.client {
				t.sideEqual++
			} else {
				diffs = append(diffs, fmt.Sprintf("client side tshark %s sidewatch %s", sideName(a.client), sideName(b.client)))
			}
		}
		if len(diffs) > 0 {
			bad = append(bad, mismatch{k: k, reason: fmt.Sprint(diffs), chains: a.chains})
		}
	}
	for k, b := range sw {
		if _, ok := ts[k]; !ok {
			t.flows++
			t.onlySW++
			bad = append(bad, mismatch{k: k, reason: fmt.Sprintf("only in sidewatch (%d+%d pkts)", b.pkts[0], b.pkts[1])})
		}
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].k.String() < bad[j].k.String() })
	return t, bad
}

func dirName(d int) string {
	if d == 0 {
		return "a->b"
	}
	return "b->a"
}

func sideName(s int) string {
	if s == 0 {
		return "a"
	}
	return "b"
}
