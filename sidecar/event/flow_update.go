package event

import "strconv"

// FlowUpdate is sidewatch's flow_update object: what a long flow carried
// during one interval, written every --flow-active-timeout while it is
// open and once more as it ends (Final), so that the updates of a flow_id
// add up to its flow record. Total holds the running totals, for a reader
// that wants the flow so far without adding up. It is not EVE's flow
// object, so consumers that sum flow.bytes_* over events never count a
// flow twice.
type FlowUpdate struct {
	PktsToServer  uint64      `json:"pkts_toserver"`
	PktsToClient  uint64      `json:"pkts_toclient"`
	BytesToServer uint64      `json:"bytes_toserver"`
	BytesToClient uint64      `json:"bytes_toclient"`
	Total         FlowCounter `json:"total"`
	Start         Time        `json:"start"` // the flow's first packet
	Since         Time        `json:"since"` // the start of the interval
	End           Time        `json:"end"`   // the flow's latest packet
	Age           int64       `json:"age"`
	State         string      `json:"state,omitempty"`
	Final         bool        `json:"final,omitempty"`
}

// FlowCounter is a flow's packets and bytes each way.
type FlowCounter struct {
	PktsToServer  uint64 `json:"pkts_toserver"`
	PktsToClient  uint64 `json:"pkts_toclient"`
	BytesToServer uint64 `json:"bytes_toserver"`
	BytesToClient uint64 `json:"bytes_toclient"`
}

func (f *FlowUpdate) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"flow_update":`...)
	dst = appendCounters(dst, f.PktsToServer, f.PktsToClient, f.BytesToServer, f.BytesToClient)
	dst = append(dst, `,"total":`...)
	dst = appendCounters(dst, f.Total.PktsToServer, f.Total.PktsToClient, f.Total.BytesToServer, f.Total.BytesToClient)
	dst = append(dst, `},"start":`...)
	dst = f.Start.appendJSON(dst)
	dst = append(dst, `,"since":`...)
	dst = f.Since.appendJSON(dst)
	dst = append(dst, `,"end":`...)
	dst = f.End.appendJSON(dst)
	dst = append(dst, `,"age":`...)
	dst = strconv.AppendInt(dst, f.Age, 10)
	dst = appendStringField(dst, "state", f.State)
	dst = appendTrueField(dst, "final", f.Final)
	return append(dst, '}')
}

// appendCounters opens an object with the four counters, left open.
func appendCounters(dst []byte, pts, ptc, bts, btc uint64) []byte {
	dst = append(dst, `{"pkts_toserver":`...)
	dst = strconv.AppendUint(dst, pts, 10)
	dst = append(dst, `,"pkts_toclient":`...)
	dst = strconv.AppendUint(dst, ptc, 10)
	dst = append(dst, `,"bytes_toserver":`...)
	dst = strconv.AppendUint(dst, bts, 10)
	dst = append(dst, `,"bytes_toclient":`...)
	return strconv.AppendUint(dst, btc, 10)
}
