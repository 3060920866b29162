package event

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// TCP is EVE's tcp object of a flow event.
type TCP struct {
	TCPFlags   HexByte `json:"tcp_flags"`
	TCPFlagsTS HexByte `json:"tcp_flags_ts"`
	TCPFlagsTC HexByte `json:"tcp_flags_tc"`
	SYN        bool    `json:"syn,omitempty"`
	FIN        bool    `json:"fin,omitempty"`
	RST        bool    `json:"rst,omitempty"`
	PSH        bool    `json:"psh,omitempty"`
	ACK        bool    `json:"ack,omitempty"`
	URG        bool    `json:"urg,omitempty"`
	ECN        bool    `json:"ecn,omitempty"`
	CWR        bool    `json:"cwr,omitempty"`
	State      string  `json:"state,omitempty"`
}

// HexByte encodes as a two-digit lowercase hex string, as EVE's tcp_flags.
type HexByte uint8

func (t *TCP) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"tcp":{"tcp_flags":`...)
	dst = t.TCPFlags.appendJSON(dst)
	dst = append(dst, `,"tcp_flags_ts":`...)
	dst = t.TCPFlagsTS.appendJSON(dst)
	dst = append(dst, `,"tcp_flags_tc":`...)
	dst = t.TCPFlagsTC.appendJSON(dst)
	dst = appendTrueField(dst, "syn", t.SYN)
	dst = appendTrueField(dst, "fin", t.FIN)
	dst = appendTrueField(dst, "rst", t.RST)
	dst = appendTrueField(dst, "psh", t.PSH)
	dst = appendTrueField(dst, "ack", t.ACK)
	dst = appendTrueField(dst, "urg", t.URG)
	dst = appendTrueField(dst, "ecn", t.ECN)
	dst = appendTrueField(dst, "cwr", t.CWR)
	dst = appendStringField(dst, "state", t.State)
	return append(dst, '}')
}

func (h HexByte) appendJSON(dst []byte) []byte {
	return append(dst, '"', hexDigits[h>>4], hexDigits[h&0xf], '"')
}

// MarshalJSON encodes h as two hex digits.
func (h HexByte) MarshalJSON() ([]byte, error) { return h.appendJSON(nil), nil }

// UnmarshalJSON reads one or two hex digits.
func (h *HexByte) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseUint(s, 16, 8)
	if err != nil {
		return fmt.Errorf("tcp flags %q: %w", s, err)
	}
	*h = HexByte(v)
	return nil
}
