package event

import "strconv"

// Alert is EVE's alert object.
type Alert struct {
	Action      string `json:"action"`
	GID         int    `json:"gid"`
	SignatureID int    `json:"signature_id"`
	Rev         int    `json:"rev"`
	Signature   string `json:"signature"`
	Category    string `json:"category"`
	Severity    int    `json:"severity"`
}

func (a *Alert) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"alert":{"action":`...)
	dst = appendString(dst, a.Action)
	dst = append(dst, `,"gid":`...)
	dst = strconv.AppendInt(dst, int64(a.GID), 10)
	dst = append(dst, `,"signature_id":`...)
	dst = strconv.AppendInt(dst, int64(a.SignatureID), 10)
	dst = append(dst, `,"rev":`...)
	dst = strconv.AppendInt(dst, int64(a.Rev), 10)
	dst = append(dst, `,"signature":`...)
	dst = appendString(dst, a.Signature)
	dst = append(dst, `,"category":`...)
	dst = appendString(dst, a.Category)
	dst = append(dst, `,"severity":`...)
	dst = strconv.AppendInt(dst, int64(a.Severity), 10)
	return append(dst, '}')
}
