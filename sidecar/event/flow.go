package event

import "strconv"

// Flow is EVE's flow object.
type Flow struct {
	PktsToServer  uint64 `json:"pkts_toserver"`
	PktsToClient  uint64 `json:"pkts_toclient"`
	BytesToServer uint64 `json:"bytes_toserver"`
	BytesToClient uint64 `json:"bytes_toclient"`
	Start         Time   `json:"start"`
	End           Time   `json:"end,omitzero"`
	Age           int64  `json:"age"`
	State         string `json:"state,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Alerted       bool   `json:"alerted"`
}

func (f *Flow) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"flow":{"pkts_toserver":`...)
	dst = strconv.AppendUint(dst, f.PktsToServer, 10)
	dst = append(dst, `,"pkts_toclient":`...)
	dst = strconv.AppendUint(dst, f.PktsToClient, 10)
	dst = append(dst, `,"bytes_toserver":`...)
	dst = strconv.AppendUint(dst, f.BytesToServer, 10)
	dst = append(dst, `,"bytes_toclient":`...)
	dst = strconv.AppendUint(dst, f.BytesToClient, 10)
	dst = append(dst, `,"start":`...)
	dst = f.Start.appendJSON(dst)
	if !f.End.IsZero() {
		dst = append(dst, `,"end":`...)
		dst = f.End.appendJSON(dst)
	}
	dst = append(dst, `,"age":`...)
	dst = strconv.AppendInt(dst, f.Age, 10)
	dst = appendStringField(dst, "state", f.State)
	dst = appendStringField(dst, "reason", f.Reason)
	dst = append(dst, `,"alerted":`...)
	dst = strconv.AppendBool(dst, f.Alerted)
	return append(dst, '}')
}
