// Package event defines sidewatch's one output record, a Suricata-EVE-compatible
// JSON line, and its allocation-free encoder.
package event

import (
	"net/netip"
	"time"
)

// Type is the EVE event_type.
type Type string

// Event types. Every event carries exactly the sub-object that its type names
// (Stats for TypeStats, and so on); flow-related types also carry the 5-tuple.
const (
	TypeFlow  Type = "flow"
	TypeDNS   Type = "dns"
	TypeTLS   Type = "tls"
	TypeHTTP  Type = "http"
	TypeAlert Type = "alert"
	TypeLog   Type = "log"
	TypeStats Type = "stats"
)

// Event is one JSON line. Field names follow Suricata EVE where EVE has the
// field; ECS and Log are sidewatch additions. Zero values are omitted.
type Event struct {
	Timestamp   Time       `json:"timestamp"`
	FlowID      uint64     `json:"flow_id,omitempty"`
	InIface     string     `json:"in_iface,omitempty"`
	EventType   Type       `json:"event_type"`
	SrcIP       netip.Addr `json:"src_ip,omitzero"`
	SrcPort     uint16     `json:"src_port,omitempty"`
	DestIP      netip.Addr `json:"dest_ip,omitzero"`
	DestPort    uint16     `json:"dest_port,omitempty"`
	Proto       string     `json:"proto,omitempty"`
	IPVersion   uint8      `json:"ip_v,omitempty"`
	ICMPType    *uint8     `json:"icmp_type,omitempty"`
	ICMPCode    *uint8     `json:"icmp_code,omitempty"`
	PktSrc      string     `json:"pkt_src,omitempty"`
	CommunityID string     `json:"community_id,omitempty"`
	AppProto    string     `json:"app_proto,omitempty"`
	Direction   string     `json:"direction,omitempty"`

	Flow  *Flow  `json:"flow,omitempty"`
	TCP   *TCP   `json:"tcp,omitempty"`
	DNS   *DNS   `json:"dns,omitempty"`
	TLS   *TLS   `json:"tls,omitempty"`
	HTTP  *HTTP  `json:"http,omitempty"`
	Alert *Alert `json:"alert,omitempty"`
	Log   *Log   `json:"log,omitempty"`
	Stats *Stats `json:"stats,omitempty"`

	ECS ECS `json:"ecs,omitzero"`
}

// ECS identifies the task and container an event belongs to. The pipeline
// fills the task fields; producers set Container when they know it.
type ECS struct {
	Cluster          string    `json:"cluster,omitempty"`
	TaskARN          string    `json:"task_arn,omitempty"`
	Family           string    `json:"family,omitempty"`
	Revision         string    `json:"revision,omitempty"`
	AvailabilityZone string    `json:"availability_zone,omitempty"`
	LaunchType       string    `json:"launch_type,omitempty"`
	Container        Container `json:"container,omitzero"`
}

// Container is one container of the task.
type Container struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

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

// DNS is EVE's dns object, version 3.
type DNS struct {
	Version int         `json:"version"`
	Type    string      `json:"type"`
	TxID    int         `json:"tx_id"`
	ID      uint16      `json:"id"`
	Flags   string      `json:"flags"`
	QR      bool        `json:"qr,omitempty"`
	AA      bool        `json:"aa,omitempty"`
	TC      bool        `json:"tc,omitempty"`
	RD      bool        `json:"rd,omitempty"`
	RA      bool        `json:"ra,omitempty"`
	Z       bool        `json:"z,omitempty"`
	Opcode  int         `json:"opcode"`
	Rcode   string      `json:"rcode"`
	Queries []DNSQuery  `json:"queries,omitempty"`
	Answers []DNSAnswer `json:"answers,omitempty"`
}

// DNSQuery is one question.
type DNSQuery struct {
	RRName string `json:"rrname"`
	RRType string `json:"rrtype"`
}

// DNSAnswer is one answer record.
type DNSAnswer struct {
	RRName string `json:"rrname"`
	RRType string `json:"rrtype"`
	TTL    uint32 `json:"ttl"`
	RData  string `json:"rdata,omitempty"`
}

// TLS is EVE's tls object.
type TLS struct {
	SNI         string   `json:"sni,omitempty"`
	Version     string   `json:"version,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	IssuerDN    string   `json:"issuerdn,omitempty"`
	JA3         *TLSHash `json:"ja3,omitempty"`
	JA3S        *TLSHash `json:"ja3s,omitempty"`
	JA4         string   `json:"ja4,omitempty"`
	ClientALPNs []string `json:"client_alpns,omitempty"`
	ServerALPNs []string `json:"server_alpns,omitempty"`
}

// TLSHash is a JA3 or JA3S fingerprint.
type TLSHash struct {
	Hash   string `json:"hash"`
	String string `json:"string"`
}

// HTTP is EVE's http object.
type HTTP struct {
	Hostname        string `json:"hostname,omitempty"`
	URL             string `json:"url,omitempty"`
	HTTPUserAgent   string `json:"http_user_agent,omitempty"`
	HTTPContentType string `json:"http_content_type,omitempty"`
	HTTPMethod      string `json:"http_method,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
	Status          int    `json:"status,omitempty"`
	Length          int64  `json:"length,omitempty"`
}

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

// Log is one container log record received from the log_router.
type Log struct {
	Message    string `json:"message"`
	Source     string `json:"source,omitempty"`
	Facility   string `json:"facility,omitempty"`
	Severity   string `json:"severity,omitempty"`
	ProcID     string `json:"procid,omitempty"`
	Format     string `json:"format,omitempty"`
	Transport  string `json:"transport,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	ParseError string `json:"parse_error,omitempty"`
}

// Stats is the periodic counters snapshot: uptime plus one object per
// subsystem, as nested name → value maps (see metrics.Registry.Stats).
type Stats struct {
	Uptime int64          `json:"uptime"`
	Groups map[string]any `json:"-"`
}

// Time is a time.Time that encodes in EVE's format.
type Time struct{ time.Time }

// EVETimeLayout is Suricata's timestamp layout.
const EVETimeLayout = "2006-01-02T15:04:05.000000-0700"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// HexByte encodes as a two-digit lowercase hex string, as EVE's tcp_flags.
type HexByte uint8
