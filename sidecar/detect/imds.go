package detect

import (
	"net/netip"
	"strings"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// IMDSConfig switches the instance metadata detections.
type IMDSConfig struct {
	Enabled bool `name:"detect-imds" env:"SIDEWATCH_DETECT_IMDS" default:"true" negatable:"" help:"Alert on any connection to the EC2 instance metadata service (169.254.169.254, fd00:ec2::254: Fargate has none), DNS answers pointing to it, and HTTP requests carrying its address (SSRF)."`
}

// The link-local addresses of AWS's metadata and credential services.
var (
	imdsV4  = netip.MustParseAddr("169.254.169.254")
	imdsV6  = netip.MustParseAddr("fd00:ec2::254")
	credsV4 = netip.MustParseAddr("169.254.170.2")
	credsV6 = netip.MustParseAddr("fd00:ec2::23")
)

func isIMDS(a netip.Addr) bool { a = a.Unmap(); return a == imdsV4 || a == imdsV6 }

func isCredsEndpoint(a netip.Addr) bool { a = a.Unmap(); return a == credsV4 || a == credsV6 }

// Signatures of the instance metadata detection.
var (
	sigIMDSAccess = &Signature{GID: 1, ID: 9000401, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH instance metadata service (169.254.169.254) contacted from a Fargate task",
		Category: "Attempted Information Leak",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552.005",
			"guardduty_finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "sidewatch_detection", "imds")}
	sigIMDSRebind = &Signature{GID: 1, ID: 9000402, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH DNS answer points to the metadata or credentials endpoint (rebinding)",
		Category: "Attempted Information Leak",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552.005",
			"guardduty_finding_type", "UnauthorizedAccess:Runtime/MetadataDNSRebind", "sidewatch_detection", "imds")}
	sigIMDSSSRF = &Signature{GID: 1, ID: 9000403, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH metadata or credentials endpoint address in an HTTP request (SSRF attempt)",
		Category: "Web Application Attack",
		Metadata: meta("mitre_tactic_id", "TA0001,TA0006", "mitre_technique_id", "T1190,T1552.005", "sidewatch_detection", "imds")}
)

// imds detects reaching for the metadata service. Stateless.
type imds struct {
	out *Alerts
	e   *Engine
}

func newIMDS(e *Engine, out *Alerts) *imds { return &imds{e: e, out: out} }

// packet alerts on a flow's first packet to the metadata service.
func (d *imds) packet(p *packet) {
	if !p.toServer || !isIMDS(p.server) {
		return
	}
	h := d.e.header(p)
	d.out.Raise(sigIMDSAccess, &h)
}

// dns alerts on answers that resolve a name to the metadata or credential
// endpoints.
func (d *imds) dns(ev *event.Event) {
	for _, a := range ev.DNS.Answers {
		if a.RRType != "A" && a.RRType != "AAAA" {
			continue
		}
		ip, err := netip.ParseAddr(a.RData)
		if err != nil || !(isIMDS(ip) || isCredsEndpoint(ip)) {
			continue
		}
		d.out.Raise(sigIMDSRebind, ev, Evidence("rrname", a.RRName), Evidence("rdata", a.RData))
		return
	}
}

// ssrfMarkers are the metadata addresses as they appear in SSRF payloads,
// including the decimal, hexadecimal and octal spellings of
// 169.254.169.254 that URL parsers accept.
var ssrfMarkers = []string{
	"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fd00:ec2::23",
	"2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "0xa9.0xfe.0xa9.0xfe",
	"instance-data.ec2.internal",
}

// http alerts on requests to other hosts (an application or a proxy) that
// carry a metadata address in their URL or Host: server-side request
// forgery aimed at the task's credentials. Requests sent to the endpoints
// themselves are the packet and credentials detections' business.
func (d *imds) http(ev *event.Event) {
	if isIMDS(ev.DestIP) || isCredsEndpoint(ev.DestIP) {
		return
	}
	for _, f := range [...]struct{ name, v string }{{"url", ev.HTTP.URL}, {"hostname", ev.HTTP.Hostname}} {
		if m := findMarker(f.v); m != "" {
			d.out.Raise(sigIMDSSSRF, ev, Evidence("field", f.name), Evidence("marker", m), Evidence(f.name, cutString(f.v, 200)))
			return
		}
	}
}

// findMarker returns the first SSRF marker in s, ignoring case, after
// undoing percent-encoding of digits, dots and colons.
func findMarker(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return ""
	}
	if strings.Contains(s, "%3") || strings.Contains(s, "%2e") || strings.Contains(s, "%2E") {
		s = decodeEscapes(s)
	}
	for _, m := range ssrfMarkers {
		if strings.Contains(s, m) || (strings.ContainsAny(m, "abcdefghijklmnopqrstuvwxyz") && indexFold(s, m) >= 0) {
			return m
		}
	}
	return ""
}

// indexFold is strings.Index ignoring ASCII case, for a lower-case needle,
// without allocating.
func indexFold(s, needle string) int {
	if len(needle) == 0 {
		return 0
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(s); i++ {
		if lowerByte(s[i]) == first && strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
