package event

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as one JSON object (no trailing newline) to dst.
// It allocates nothing when dst has room; the sinks reuse one buffer.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = e.Timestamp.appendJSON(dst)
	if e.FlowID != 0 {
		dst = append(dst, `,"flow_id":`...)
		dst = strconv.AppendUint(dst, e.FlowID, 10)
	}
	dst = appendStringField(dst, "in_iface", e.InIface)
	dst = append(dst, `,"event_type":`...)
	dst = appendString(dst, string(e.EventType))
	if e.SrcIP.IsValid() {
		dst = append(dst, `,"src_ip":"`...)
		dst = e.SrcIP.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = appendUintField(dst, "src_port", uint64(e.SrcPort))
	if e.DestIP.IsValid() {
		dst = append(dst, `,"dest_ip":"`...)
		dst = e.DestIP.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = appendUintField(dst, "dest_port", uint64(e.DestPort))
	dst = appendStringField(dst, "proto", e.Proto)
	dst = appendUintField(dst, "ip_v", uint64(e.IPVersion))
	if e.ICMPType != nil {
		dst = append(dst, `,"icmp_type":`...)
		dst = strconv.AppendUint(dst, uint64(*e.ICMPType), 10)
	}
	if e.ICMPCode != nil {
		dst = append(dst, `,"icmp_code":`...)
		dst = strconv.AppendUint(dst, uint64(*e.ICMPCode), 10)
	}
	dst = appendStringField(dst, "pkt_src", e.PktSrc)
	dst = appendStringField(dst, "community_id", e.CommunityID)
	dst = appendStringField(dst, "app_proto", e.AppProto)
	dst = appendStringField(dst, "direction", e.Direction)
	if e.Flow != nil {
		dst = e.Flow.appendJSON(dst)
	}
	if e.TCP != nil {
		dst = e.TCP.appendJSON(dst)
	}
	if e.DNS != nil {
		dst = e.DNS.appendJSON(dst)
	}
	if e.TLS != nil {
		dst = e.TLS.appendJSON(dst)
	}
	if e.HTTP != nil {
		dst = e.HTTP.appendJSON(dst)
	}
	if e.Alert != nil {
		dst = e.Alert.appendJSON(dst)
	}
	if e.Log != nil {
		dst = e.Log.appendJSON(dst)
	}
	if e.Stats != nil {
		dst = append(dst, `,"stats":`...)
		dst = e.Stats.appendJSON(dst)
	}
	if e.ECS != (ECS{}) {
		dst = e.ECS.appendJSON(dst)
	}
	return append(dst, '}')
}

// MarshalJSON makes encoding/json produce the same bytes as AppendJSON.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

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

func (d *DNS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"dns":{"version":`...)
	dst = strconv.AppendInt(dst, int64(d.Version), 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, d.Type)
	dst = append(dst, `,"tx_id":`...)
	dst = strconv.AppendInt(dst, int64(d.TxID), 10)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendUint(dst, uint64(d.ID), 10)
	dst = append(dst, `,"flags":`...)
	dst = appendString(dst, d.Flags)
	dst = appendTrueField(dst, "qr", d.QR)
	dst = appendTrueField(dst, "aa", d.AA)
	dst = appendTrueField(dst, "tc", d.TC)
	dst = appendTrueField(dst, "rd", d.RD)
	dst = appendTrueField(dst, "ra", d.RA)
	dst = appendTrueField(dst, "z", d.Z)
	dst = append(dst, `,"opcode":`...)
	dst = strconv.AppendInt(dst, int64(d.Opcode), 10)
	dst = append(dst, `,"rcode":`...)
	dst = appendString(dst, d.Rcode)
	if len(d.Queries) > 0 {
		dst = append(dst, `,"queries":[`...)
		for i, q := range d.Queries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"rrname":`...)
			dst = appendString(dst, q.RRName)
			dst = append(dst, `,"rrtype":`...)
			dst = appendString(dst, q.RRType)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(d.Answers) > 0 {
		dst = append(dst, `,"answers":[`...)
		for i, a := range d.Answers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"rrname":`...)
			dst = appendString(dst, a.RRName)
			dst = append(dst, `,"rrtype":`...)
			dst = appendString(dst, a.RRType)
			dst = append(dst, `,"ttl":`...)
			dst = strconv.AppendUint(dst, uint64(a.TTL), 10)
			dst = appendStringField(dst, "rdata", a.RData)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func (t *TLS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"tls":{`...)
	start := len(dst)
	dst = appendStringField(dst, "sni", t.SNI)
	dst = appendStringField(dst, "version", t.Version)
	dst = appendStringField(dst, "subject", t.Subject)
	dst = appendStringField(dst, "issuerdn", t.IssuerDN)
	dst = t.JA3.appendJSON(dst, "ja3")
	dst = t.JA3S.appendJSON(dst, "ja3s")
	dst = appendStringField(dst, "ja4", t.JA4)
	dst = appendStringsField(dst, "client_alpns", t.ClientALPNs)
	dst = appendStringsField(dst, "server_alpns", t.ServerALPNs)
	return closeObject(dst, start)
}

func (h *TLSHash) appendJSON(dst []byte, name string) []byte {
	if h == nil {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, `":{"hash":`...)
	dst = appendString(dst, h.Hash)
	dst = append(dst, `,"string":`...)
	dst = appendString(dst, h.String)
	return append(dst, '}')
}

func (h *HTTP) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"http":{`...)
	start := len(dst)
	dst = appendStringField(dst, "hostname", h.Hostname)
	dst = appendStringField(dst, "url", h.URL)
	dst = appendStringField(dst, "http_user_agent", h.HTTPUserAgent)
	dst = appendStringField(dst, "http_content_type", h.HTTPContentType)
	dst = appendStringField(dst, "http_method", h.HTTPMethod)
	dst = appendStringField(dst, "protocol", h.Protocol)
	dst = appendUintField(dst, "status", uint64(max(h.Status, 0)))
	if h.Length != 0 {
		dst = append(dst, `,"length":`...)
		dst = strconv.AppendInt(dst, h.Length, 10)
	}
	return closeObject(dst, start)
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

func (l *Log) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"log":{"message":`...)
	dst = appendString(dst, l.Message)
	dst = appendStringField(dst, "source", l.Source)
	dst = appendStringField(dst, "facility", l.Facility)
	dst = appendStringField(dst, "severity", l.Severity)
	dst = appendStringField(dst, "procid", l.ProcID)
	dst = appendStringField(dst, "format", l.Format)
	dst = appendStringField(dst, "transport", l.Transport)
	dst = appendTrueField(dst, "truncated", l.Truncated)
	dst = appendStringField(dst, "parse_error", l.ParseError)
	return append(dst, '}')
}

func (c *ECS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"ecs":{`...)
	start := len(dst)
	dst = appendStringField(dst, "cluster", c.Cluster)
	dst = appendStringField(dst, "task_arn", c.TaskARN)
	dst = appendStringField(dst, "family", c.Family)
	dst = appendStringField(dst, "revision", c.Revision)
	dst = appendStringField(dst, "availability_zone", c.AvailabilityZone)
	dst = appendStringField(dst, "launch_type", c.LaunchType)
	if c.Container != (Container{}) {
		dst = append(dst, `,"container":{`...)
		cstart := len(dst)
		dst = appendStringField(dst, "id", c.Container.ID)
		dst = appendStringField(dst, "name", c.Container.Name)
		dst = closeObject(dst, cstart)
	}
	return closeObject(dst, start)
}

// appendJSON writes uptime first, then the groups in key order.
func (s *Stats) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"uptime":`...)
	dst = strconv.AppendInt(dst, s.Uptime, 10)
	for _, k := range sortedKeys(s.Groups) {
		dst = append(dst, ',')
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendAny(dst, s.Groups[k])
	}
	return append(dst, '}')
}

func appendAny(dst []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		dst = append(dst, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendAny(dst, v[k])
		}
		return append(dst, '}')
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float64:
		if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
			return strconv.AppendInt(dst, int64(v), 10)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	default:
		return appendString(dst, fmt.Sprint(v))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalJSON encodes the stats object.
func (s Stats) MarshalJSON() ([]byte, error) { return s.appendJSON(nil), nil }

// UnmarshalJSON reads uptime and keeps every other key as a group.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	up, ok := m["uptime"].(float64)
	if !ok {
		return fmt.Errorf("stats: uptime is missing or not a number")
	}
	s.Uptime = int64(up)
	delete(m, "uptime")
	s.Groups = m
	return nil
}

// appendJSON writes EVETimeLayout by hand: time.AppendFormat costs about
// 200 ns per call, and a flow event has three timestamps.
func (t Time) appendJSON(dst []byte) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, EVETimeLayout)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/1000, 6)
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	dst = append(dst, sign)
	dst = appendDigits(dst, offset/3600, 2)
	dst = appendDigits(dst, offset/60%60, 2)
	return append(dst, '"')
}

// appendDigits writes v zero-padded to width digits.
func appendDigits(dst []byte, v, width int) []byte {
	var b [8]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}

// MarshalJSON encodes t in EVE's layout.
func (t Time) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// UnmarshalJSON accepts EVE's layout and RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, layout := range []string{EVETimeLayout, time.RFC3339Nano} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("time %q: want layout %s", s, EVETimeLayout)
}

const hexDigits = "0123456789abcdef"

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

func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":"...)
	return appendString(dst, v)
}

func appendStringsField(dst []byte, name string, v []string) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":["...)
	for i, s := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":"...)
	return strconv.AppendUint(dst, v, 10)
}

func appendTrueField(dst []byte, name string, v bool) []byte {
	if !v {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	return append(dst, "\":true"...)
}

// closeObject drops the leading comma of the first member written after
// start (members are written as ",name":...) and closes the object.
func closeObject(dst []byte, start int) []byte {
	if len(dst) > start {
		copy(dst[start:], dst[start+1:])
		dst = dst[:len(dst)-1]
	}
	return append(dst, '}')
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// in encoding/json; unlike it, <, > and & are not escaped (EVE does not).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript consumers of JSON lines.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
