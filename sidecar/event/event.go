// Package event defines sidewatch's one output record, a Suricata-EVE-compatible
// JSON line, and its allocation-free encoder.
package event

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Type is the EVE event_type.
type Type string

// Event types. Every event carries exactly the sub-object that its type names
// (Stats for TypeStats, and so on); flow-related types also carry the 5-tuple.
const (
	TypeFlow       Type = "flow"
	TypeFlowUpdate Type = "flow_update"
	TypeDNS        Type = "dns"
	TypeTLS        Type = "tls"
	TypeHTTP       Type = "http"
	TypeSSH        Type = "ssh"
	TypeAlert      Type = "alert"
	TypeLog        Type = "log"
	TypeStats      Type = "stats"
)

// Event is one JSON line. Field names follow Suricata EVE where EVE has the
// field; ECS (written as aws_ecs), Log and FlowUpdate are sidewatch
// additions. Zero values are omitted, except the ports of TCP, UDP and
// SCTP, which are always written, as Suricata does.
type Event struct {
	Timestamp Time       `json:"timestamp"`
	FlowID    uint64     `json:"flow_id,omitempty"`
	InIface   string     `json:"in_iface,omitempty"`
	EventType Type       `json:"event_type"`
	SrcIP     netip.Addr `json:"src_ip,omitzero"`
	SrcPort   uint16     `json:"src_port,omitempty"`
	DestIP    netip.Addr `json:"dest_ip,omitzero"`
	DestPort  uint16     `json:"dest_port,omitempty"`
	Proto     string     `json:"proto,omitempty"`
	IPVersion uint8      `json:"ip_v,omitempty"`
	ICMPType  *uint8     `json:"icmp_type,omitempty"`
	ICMPCode  *uint8     `json:"icmp_code,omitempty"`
	// The type and code of the first packet back to the client (the
	// echo reply), when there was one.
	ResponseICMPType *uint8 `json:"response_icmp_type,omitempty"`
	ResponseICMPCode *uint8 `json:"response_icmp_code,omitempty"`
	PktSrc           string `json:"pkt_src,omitempty"`
	CommunityID      string `json:"community_id,omitempty"`
	AppProto         string `json:"app_proto,omitempty"`
	Direction        string `json:"direction,omitempty"`
	TxID             TxID   `json:"tx_id,omitzero"`

	Flow       *Flow       `json:"flow,omitempty"`
	FlowUpdate *FlowUpdate `json:"flow_update,omitempty"`
	TCP        *TCP        `json:"tcp,omitempty"`
	DNS        *DNS        `json:"dns,omitempty"`
	TLS        *TLS        `json:"tls,omitempty"`
	HTTP       *HTTP       `json:"http,omitempty"`
	SSH        *SSH        `json:"ssh,omitempty"`
	Alert      *Alert      `json:"alert,omitempty"`
	Log        *Log        `json:"log,omitempty"`
	Stats      *Stats      `json:"stats,omitempty"`

	ECS ECS `json:"aws_ecs,omitzero"`
}

// Options select encodings that consumers may prefer to EVE's defaults.
type Options struct {
	// CompressIPv6 writes IPv6 addresses in their short form (fd99::1)
	// rather than Suricata's expanded one (fd99:0000:...:0001), like
	// Suricata's eve-log ipv6-compress option.
	CompressIPv6 bool
}

// AppendJSON appends e as one JSON object (no trailing newline) to dst with
// the default Options. It allocates nothing when dst has room; the sinks
// reuse one buffer.
func (e *Event) AppendJSON(dst []byte) []byte { return e.Append(dst, Options{}) }

// Append appends e as one JSON object (no trailing newline) to dst.
func (e *Event) Append(dst []byte, o Options) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = e.Timestamp.appendJSON(dst)
	if e.FlowID != 0 {
		dst = append(dst, `,"flow_id":`...)
		dst = strconv.AppendUint(dst, e.FlowID, 10)
	}
	dst = appendStringField(dst, "in_iface", e.InIface)
	dst = append(dst, `,"event_type":`...)
	dst = appendString(dst, string(e.EventType))
	ports := hasPorts(e.Proto)
	if e.SrcIP.IsValid() {
		dst = append(dst, `,"src_ip":`...)
		dst = appendAddr(dst, e.SrcIP, o)
	}
	dst = appendPortField(dst, "src_port", e.SrcPort, ports)
	if e.DestIP.IsValid() {
		dst = append(dst, `,"dest_ip":`...)
		dst = appendAddr(dst, e.DestIP, o)
	}
	dst = appendPortField(dst, "dest_port", e.DestPort, ports)
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
	if e.ResponseICMPType != nil {
		dst = append(dst, `,"response_icmp_type":`...)
		dst = strconv.AppendUint(dst, uint64(*e.ResponseICMPType), 10)
	}
	if e.ResponseICMPCode != nil {
		dst = append(dst, `,"response_icmp_code":`...)
		dst = strconv.AppendUint(dst, uint64(*e.ResponseICMPCode), 10)
	}
	dst = appendStringField(dst, "pkt_src", e.PktSrc)
	dst = appendStringField(dst, "community_id", e.CommunityID)
	dst = appendStringField(dst, "app_proto", e.AppProto)
	dst = appendStringField(dst, "direction", e.Direction)
	if e.TxID.Set {
		dst = append(dst, `,"tx_id":`...)
		dst = strconv.AppendUint(dst, e.TxID.N, 10)
	}
	if e.Flow != nil {
		dst = e.Flow.appendJSON(dst)
	}
	if e.FlowUpdate != nil {
		dst = e.FlowUpdate.appendJSON(dst)
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
	if e.SSH != nil {
		dst = e.SSH.appendJSON(dst)
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
	// aws_ecs stays the last member: see ECS.AppendMember.
	if e.ECS != (ECS{}) {
		dst = e.ECS.appendJSON(dst)
	}
	return append(dst, '}')
}

// hasPorts reports whether EVE always writes the ports of a proto: Suricata
// writes both for TCP, UDP and SCTP, even when one is 0.
func hasPorts(proto string) bool {
	return proto == "TCP" || proto == "UDP" || proto == "SCTP"
}

func appendPortField(dst []byte, name string, v uint16, always bool) []byte {
	if v == 0 && !always {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":"...)
	return strconv.AppendUint(dst, uint64(v), 10)
}

// MarshalJSON makes encoding/json produce the same bytes as AppendJSON.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// TxID is EVE's tx_id: the number of a transaction within its flow, from
// 0 (HTTP request/response pairs). The zero value is absent, so that tx_id
// 0 can be written.
type TxID struct {
	N   uint64
	Set bool
}

// Tx returns the TxID n.
func Tx(n uint64) TxID { return TxID{N: n, Set: true} }

// IsZero reports an absent tx_id (for omitzero).
func (t TxID) IsZero() bool { return !t.Set }

// MarshalJSON writes the number.
func (t TxID) MarshalJSON() ([]byte, error) { return strconv.AppendUint(nil, t.N, 10), nil }

// UnmarshalJSON reads the number.
func (t *TxID) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("tx_id %s: %w", b, err)
	}
	*t = Tx(n)
	return nil
}
