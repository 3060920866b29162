package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Alert is EVE's alert object. sidewatch only watches, so Action is always
// "allowed". Severity runs from 1 (high) to 3 (low), as in Suricata.
type Alert struct {
	Action      string        `json:"action"`
	GID         int           `json:"gid"`
	SignatureID int           `json:"signature_id"`
	Rev         int           `json:"rev"`
	Signature   string        `json:"signature"`
	Category    string        `json:"category"`
	Severity    int           `json:"severity"`
	Metadata    AlertMetadata `json:"metadata,omitempty"`
}

// AlertMetadata is alert.metadata: keys with lists of strings, as Suricata
// writes a rule's metadata keyword, in a fixed order. sidewatch puts there
// the MITRE ATT&CK ids, the nearest GuardDuty finding type, the
// detection's evidence and the count of alerts suppressed since the last
// one of the same signature, source and destination.
type AlertMetadata []AlertMeta

// AlertMeta is one metadata key and its values.
type AlertMeta struct {
	Key    string
	Values []string
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
	if len(a.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		dst = a.Metadata.appendJSON(dst)
	}
	return append(dst, '}')
}

func (m AlertMetadata) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, kv := range m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, kv.Key)
		dst = append(dst, ":["...)
		for j, v := range kv.Values {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// MarshalJSON writes the keys in their order.
func (m AlertMetadata) MarshalJSON() ([]byte, error) { return m.appendJSON(nil), nil }

// UnmarshalJSON reads an object of string lists, keeping the key order.
func (m *AlertMetadata) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("alert metadata: want an object")
	}
	var out AlertMetadata
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("alert metadata: %w", err)
		}
		key, _ := tok.(string)
		var vals []string
		if err := d.Decode(&vals); err != nil {
			return fmt.Errorf("alert metadata %q: want a list of strings: %w", key, err)
		}
		out = append(out, AlertMeta{Key: key, Values: vals})
	}
	if _, err := d.Token(); err != nil {
		return fmt.Errorf("alert metadata: %w", err)
	}
	*m = out
	return nil
}
