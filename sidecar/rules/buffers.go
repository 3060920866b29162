package rules

import (
	"net/netip"
	"strconv"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// This file is the one place that knows sidewatch's event fields: each
// sticky buffer names the EVE field it inspects.

// dir is a direction of inspection.
type dir uint8

const (
	dirAny      dir = iota
	dirToServer     // client to server: requests, ClientHello, client banner
	dirToClient     // server to client: responses, certificates, server banner
)

// bufferID names one sticky buffer.
type bufferID uint8

const (
	bufNone bufferID = iota
	bufDNSQuery
	bufTLSSNI
	bufTLSCertSubject
	bufTLSCertIssuer
	bufJA3Hash
	bufJA3String
	bufJA3SHash
	bufJA3SString
	bufJA4Hash
	bufHTTPHost
	bufHTTPHostRaw
	bufHTTPURI
	bufHTTPURIRaw
	bufHTTPMethod
	bufHTTPUserAgent
	bufHTTPStatCode
	bufHTTPContentType
	bufHTTPProtocol
	bufHTTPReferer
	bufHTTPLocation
	bufTLSCertSerial
	bufTLSCertFingerprint
	bufSSHHASSH
	bufSSHHASSHServer
	bufSSHSoftware
	bufSSHProto
	bufIPSrc
	bufIPDst
	numBuffers
)

// buffer describes one sticky buffer: the app-layer event it comes from and
// the direction its data travels.
type buffer struct {
	id    bufferID
	name  string // Suricata's name
	app   string // event_type it is read from; "" for any event with addresses
	dir   dir    // dirAny: the value's own direction decides (ssh.software)
	lower bool   // the value is normalized to lower case (content must be lower case or nocase)
	// fixedLen is the length of every value (hashes), or 0.
	fixedLen int
}

var buffers = [numBuffers]buffer{
	bufDNSQuery:           {bufDNSQuery, "dns.query", "dns", dirToServer, false, 0},
	bufTLSSNI:             {bufTLSSNI, "tls.sni", "tls", dirToServer, false, 0},
	bufTLSCertSubject:     {bufTLSCertSubject, "tls.cert_subject", "tls", dirToClient, false, 0},
	bufTLSCertIssuer:      {bufTLSCertIssuer, "tls.cert_issuer", "tls", dirToClient, false, 0},
	bufJA3Hash:            {bufJA3Hash, "ja3.hash", "tls", dirToServer, false, 32},
	bufJA3String:          {bufJA3String, "ja3.string", "tls", dirToServer, false, 0},
	bufJA3SHash:           {bufJA3SHash, "ja3s.hash", "tls", dirToClient, false, 32},
	bufJA3SString:         {bufJA3SString, "ja3s.string", "tls", dirToClient, false, 0},
	bufJA4Hash:            {bufJA4Hash, "ja4.hash", "tls", dirToServer, false, 36},
	bufHTTPHost:           {bufHTTPHost, "http.host", "http", dirToServer, true, 0},
	bufHTTPHostRaw:        {bufHTTPHostRaw, "http.host.raw", "http", dirToServer, false, 0},
	bufHTTPURI:            {bufHTTPURI, "http.uri", "http", dirToServer, false, 0},
	bufHTTPURIRaw:         {bufHTTPURIRaw, "http.uri.raw", "http", dirToServer, false, 0},
	bufHTTPMethod:         {bufHTTPMethod, "http.method", "http", dirToServer, false, 0},
	bufHTTPUserAgent:      {bufHTTPUserAgent, "http.user_agent", "http", dirToServer, false, 0},
	bufHTTPStatCode:       {bufHTTPStatCode, "http.stat_code", "http", dirToClient, false, 0},
	bufHTTPContentType:    {bufHTTPContentType, "http.content_type", "http", dirAny, false, 0},
	bufHTTPProtocol:       {bufHTTPProtocol, "http.protocol", "http", dirAny, false, 0},
	bufHTTPReferer:        {bufHTTPReferer, "http.referer", "http", dirToServer, false, 0},
	bufHTTPLocation:       {bufHTTPLocation, "http.location", "http", dirToClient, false, 0},
	bufTLSCertSerial:      {bufTLSCertSerial, "tls.cert_serial", "tls", dirToClient, false, 0},
	bufTLSCertFingerprint: {bufTLSCertFingerprint, "tls.cert_fingerprint", "tls", dirToClient, false, 0},
	bufSSHHASSH:           {bufSSHHASSH, "ssh.hassh", "ssh", dirToServer, false, 32},
	bufSSHHASSHServer:     {bufSSHHASSHServer, "ssh.hassh.server", "ssh", dirToClient, false, 32},
	bufSSHSoftware:        {bufSSHSoftware, "ssh.software", "ssh", dirAny, false, 0},
	bufSSHProto:           {bufSSHProto, "ssh.proto", "ssh", dirAny, false, 0},
	bufIPSrc:              {bufIPSrc, "ip.src", "", dirAny, false, 0},
	bufIPDst:              {bufIPDst, "ip.dst", "", dirAny, false, 0},
}

// stickyBuffers maps every accepted spelling (current and legacy) to its buffer.
var stickyBuffers = map[string]bufferID{
	"dns.query": bufDNSQuery, "dns_query": bufDNSQuery,
	"tls.sni": bufTLSSNI, "tls_sni": bufTLSSNI,
	"tls.cert_subject": bufTLSCertSubject, "tls_cert_subject": bufTLSCertSubject,
	"tls.cert_issuer": bufTLSCertIssuer, "tls_cert_issuer": bufTLSCertIssuer,
	"ja3.hash": bufJA3Hash, "ja3_hash": bufJA3Hash,
	"ja3.string": bufJA3String, "ja3_string": bufJA3String,
	"ja3s.hash": bufJA3SHash, "ja3s_hash": bufJA3SHash,
	"ja3s.string": bufJA3SString, "ja3s_string": bufJA3SString,
	"ja4.hash":  bufJA4Hash,
	"http.host": bufHTTPHost, "http.host.raw": bufHTTPHostRaw,
	"http.uri": bufHTTPURI, "http.uri.raw": bufHTTPURIRaw,
	"http.method": bufHTTPMethod, "http.user_agent": bufHTTPUserAgent,
	"http.stat_code": bufHTTPStatCode, "http.content_type": bufHTTPContentType,
	"http.protocol": bufHTTPProtocol,
	"http.referer":  bufHTTPReferer, "http.location": bufHTTPLocation,
	"tls.cert_serial": bufTLSCertSerial, "tls_cert_serial": bufTLSCertSerial,
	"tls.cert_fingerprint": bufTLSCertFingerprint, "tls_cert_fingerprint": bufTLSCertFingerprint,
	"ssh.hassh": bufSSHHASSH, "ssh.hassh.server": bufSSHHASSHServer,
	"ssh.software": bufSSHSoftware, "ssh.proto": bufSSHProto, "ssh_proto": bufSSHProto,
	"ip.src": bufIPSrc, "ip.dst": bufIPDst,
}

// legacyModifiers are the content modifiers that move the preceding content
// into a buffer (`content:"x"; http_uri;`).
var legacyModifiers = map[string]bufferID{
	"http_uri": bufHTTPURI, "http_raw_uri": bufHTTPURIRaw,
	"http_host": bufHTTPHost, "http_raw_host": bufHTTPHostRaw,
	"http_method": bufHTTPMethod, "http_user_agent": bufHTTPUserAgent,
	"http_stat_code": bufHTTPStatCode, "http_referer": bufHTTPReferer,
}

// value is one buffer value of an event and the direction it travelled.
type value struct {
	b   []byte
	dir dir
}

// Apps, as indexes: appNone is the buffers of any event (ip.src, ip.dst).
const (
	appNone = iota
	appDNS
	appTLS
	appHTTP
	appSSH
	numApps
)

func appIndex(app string) int {
	switch app {
	case "dns":
		return appDNS
	case "tls":
		return appTLS
	case "http":
		return appHTTP
	case "ssh":
		return appSSH
	}
	return appNone
}

// eventApp is the app-layer protocol an event carries buffers for.
func eventApp(ev *event.Event) string {
	switch {
	case ev.DNS != nil:
		return "dns"
	case ev.TLS != nil:
		return "tls"
	case ev.HTTP != nil:
		return "http"
	case ev.SSH != nil:
		return "ssh"
	}
	return ""
}

// extract appends the values of buffer id in ev to dst, using scratch for
// values that must be built (status code, lowered host). It allocates
// nothing once scratch has grown.
func extract(dst []value, scratch []byte, ev *event.Event, id bufferID) ([]value, []byte) {
	add := func(s string, d dir) {
		if s != "" {
			dst = append(dst, value{b: unsafeBytes(s), dir: d})
		}
	}
	switch id {
	case bufDNSQuery:
		// Requests only, as Suricata's dns.query: a response repeats the
		// question and would alert twice for one lookup.
		if d := ev.DNS; d != nil && d.Type == "request" {
			for i := range d.Queries {
				add(d.Queries[i].RRName, dirToServer)
			}
		}
	case bufTLSSNI, bufTLSCertSubject, bufTLSCertIssuer, bufJA3Hash, bufJA3String, bufJA3SHash, bufJA3SString, bufJA4Hash, bufTLSCertSerial, bufTLSCertFingerprint:
		t := ev.TLS
		if t == nil {
			break
		}
		switch id {
		case bufTLSSNI:
			add(t.SNI, dirToServer)
		case bufTLSCertSubject:
			add(t.Subject, dirToClient)
		case bufTLSCertIssuer:
			add(t.IssuerDN, dirToClient)
		case bufJA3Hash:
			if t.JA3 != nil {
				add(t.JA3.Hash, dirToServer)
			}
		case bufJA3String:
			if t.JA3 != nil {
				add(t.JA3.String, dirToServer)
			}
		case bufJA3SHash:
			if t.JA3S != nil {
				add(t.JA3S.Hash, dirToClient)
			}
		case bufJA3SString:
			if t.JA3S != nil {
				add(t.JA3S.String, dirToClient)
			}
		case bufJA4Hash:
			add(t.JA4, dirToServer)
		case bufTLSCertSerial:
			add(t.Serial, dirToClient)
		case bufTLSCertFingerprint:
			add(t.Fingerprint, dirToClient)
		}
	case bufHTTPHost, bufHTTPHostRaw, bufHTTPURI, bufHTTPURIRaw, bufHTTPMethod, bufHTTPUserAgent, bufHTTPStatCode, bufHTTPContentType, bufHTTPProtocol, bufHTTPReferer, bufHTTPLocation:
		h := ev.HTTP
		if h == nil {
			break
		}
		switch id {
		case bufHTTPHost:
			start := len(scratch)
			for i := 0; i < len(h.Hostname); i++ {
				c := h.Hostname[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				scratch = append(scratch, c)
			}
			if len(scratch) > start {
				dst = append(dst, value{b: scratch[start:len(scratch):len(scratch)], dir: dirToServer})
			}
		case bufHTTPHostRaw:
			add(h.Hostname, dirToServer)
		case bufHTTPURI, bufHTTPURIRaw:
			add(h.URL, dirToServer)
		case bufHTTPMethod:
			add(h.HTTPMethod, dirToServer)
		case bufHTTPUserAgent:
			add(h.HTTPUserAgent, dirToServer)
		case bufHTTPStatCode:
			if h.Status > 0 {
				start := len(scratch)
				scratch = strconv.AppendInt(scratch, int64(h.Status), 10)
				dst = append(dst, value{b: scratch[start:len(scratch):len(scratch)], dir: dirToClient})
			}
		case bufHTTPContentType:
			add(h.HTTPContentType, dirToClient)
		case bufHTTPProtocol:
			add(h.Protocol, dirToServer)
		case bufHTTPReferer:
			add(h.HTTPRefer, dirToServer)
		case bufHTTPLocation:
			add(h.Redirect, dirToClient)
		}
	case bufSSHSoftware, bufSSHProto, bufSSHHASSH, bufSSHHASSHServer:
		sh := ev.SSH
		if sh == nil {
			break
		}
		for _, p := range [2]struct {
			peer *event.SSHPeer
			d    dir
		}{{sh.Client, dirToServer}, {sh.Server, dirToClient}} {
			if p.peer == nil {
				continue
			}
			switch id {
			case bufSSHSoftware:
				add(p.peer.SoftwareVersion, p.d)
			case bufSSHProto:
				add(p.peer.ProtoVersion, p.d)
			case bufSSHHASSH, bufSSHHASSHServer:
				if p.peer.HASSH != nil && (id == bufSSHHASSH) == (p.d == dirToServer) {
					add(p.peer.HASSH.Hash, p.d)
				}
			}
		}
	case bufIPSrc, bufIPDst:
		a := ev.SrcIP
		if id == bufIPDst {
			a = ev.DestIP
		}
		if a.IsValid() {
			start := len(scratch)
			scratch = a.Unmap().AppendTo(scratch)
			dst = append(dst, value{b: scratch[start:len(scratch):len(scratch)], dir: dirAny})
		}
	}
	return dst, scratch
}

// endpoints returns the client and server of ev: EVE writes a DNS response
// from the server's side, every other event from the client's.
func endpoints(ev *event.Event) (client, server netip.Addr, cport, sport uint16) {
	if ev.DNS != nil && ev.DNS.Type == "response" {
		return ev.DestIP, ev.SrcIP, ev.DestPort, ev.SrcPort
	}
	return ev.SrcIP, ev.DestIP, ev.SrcPort, ev.DestPort
}

// flowPackets returns the packets each way of a flow event, or of a
// flow_update event so far (its totals: one interval may be one-sided in a
// two-sided flow), and false for other events.
func flowPackets(ev *event.Event) (toServer, toClient uint64, ok bool) {
	switch {
	case ev.Flow != nil:
		return ev.Flow.PktsToServer, ev.Flow.PktsToClient, true
	case ev.FlowUpdate != nil:
		return ev.FlowUpdate.Total.PktsToServer, ev.FlowUpdate.Total.PktsToClient, true
	}
	return 0, 0, false
}

// established tells whether ev belongs to an established flow, as Suricata's
// flow:established sees it: TCP app-layer data and responses are; a UDP
// request is the flow's first packet, so it is not.
func established(ev *event.Event) bool {
	switch {
	case ev.Flow != nil || ev.FlowUpdate != nil:
		ts, tc, _ := flowPackets(ev)
		return ts > 0 && tc > 0
	case ev.DNS != nil && ev.Proto != "TCP":
		return ev.DNS.Type == "response"
	}
	return true
}
