package intel

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// Kind is the type of an indicator.
type Kind uint8

// Indicator kinds.
const (
	KindIP     Kind = iota + 1 // an IPv4 or IPv6 address or network
	KindDomain                 // a domain name; it also matches its subdomains
	KindJA3                    // a JA3 TLS client fingerprint (MD5, 32 hex digits)
	KindJA4                    // a JA4 TLS client fingerprint (t13d1516h2_8daaf6152771_e5627efa2ab1)
	numKinds
)

// Kinds lists every kind, in order.
var Kinds = [...]Kind{KindIP, KindDomain, KindJA3, KindJA4}

func (k Kind) String() string {
	switch k {
	case KindIP:
		return "ip"
	case KindDomain:
		return "domain"
	case KindJA3:
		return "ja3"
	case KindJA4:
		return "ja4"
	}
	return "unknown"
}

// Reasons a line is rejected. Each has its own counter.
const (
	ReasonNotIndicator    = "not_an_indicator"       // no IP, CIDR, domain, URL, JA3 or JA4 recognised
	ReasonInvalidIP       = "invalid_ip"             // looks like an address but does not parse (1.2.3.256)
	ReasonInvalidCIDR     = "invalid_cidr"           // a malformed network (10.0.0.0/33)
	ReasonZone            = "ip_zone"                // an IPv6 zone (fe80::1%eth0) is local to one host
	ReasonSingleLabel     = "single_label_name"      // "localhost", "com": a listed name must have a dot
	ReasonNameTooLong     = "name_too_long"          // over 253 characters or a label over 63
	ReasonInvalidName     = "invalid_name"           // characters a DNS name cannot hold
	ReasonNonASCII        = "non_ascii_name"         // give internationalised names in their xn-- form
	ReasonUnsupportedType = "unsupported_type"       // a CSV type column names something else (file hashes, e-mail addresses)
	ReasonShortRecord     = "short_csv_record"       // fewer fields than the header's indicator column
	ReasonQuote           = "unterminated_quote"     // a CSV quote that does not close on its line
	ReasonJSON            = "invalid_json"           // a line starting with { that is not a JSON object
	ReasonJSONNoIndicator = "json_without_indicator" // a JSON object with none of the known indicator keys
	ReasonLineTooLong     = "line_too_long"          // over MaxLineBytes
	ReasonLocalName       = "hosts_local_name"       // a hosts-file line for localhost and the like
)

// Reasons lists every rejection reason, for metrics.
var Reasons = []string{ReasonNotIndicator, ReasonInvalidIP, ReasonInvalidCIDR, ReasonZone, ReasonSingleLabel,
	ReasonNameTooLong, ReasonInvalidName, ReasonNonASCII, ReasonUnsupportedType, ReasonShortRecord, ReasonQuote,
	ReasonJSON, ReasonJSONNoIndicator, ReasonLineTooLong, ReasonLocalName}

// MaxLineBytes bounds one line of an indicator file.
const MaxLineBytes = 64 << 10

// indicator is one parsed indicator.
type indicator struct {
	kind   Kind
	prefix netip.Prefix // KindIP: a network, or an address as a /32 or /128
	value  string       // KindDomain, KindJA3, KindJA4: lower case
}

// column kinds of a CSV header: which kind the indicator column holds.
const (
	colAuto Kind = 0        // decided per value (and by the type column if any)
	colURL  Kind = 0x80 | 1 // a URL: its host is the indicator
)

// csvHeader is what a header line says about the records that follow.
type csvHeader struct {
	indicator int  // field index of the indicator
	kind      Kind // colAuto, colURL or a Kind
	typ       int  // field index of a type column (ThreatFox ioc_type), or -1
	desc      int  // field index of a description column, or -1
}

// Known CSV columns, in order of preference, as abuse.ch (Feodo Tracker,
// SSLBL, URLhaus, ThreatFox) and other feeds name them.
var (
	indicatorColumns = []struct {
		name string
		kind Kind
	}{
		{"ioc_value", colAuto}, {"ioc", colAuto}, {"indicator", colAuto}, {"value", colAuto},
		{"dst_ip", KindIP}, {"ip", KindIP}, {"ip_address", KindIP}, {"ipaddress", KindIP}, {"ip address", KindIP},
		{"cidr", KindIP}, {"network", KindIP}, {"netblock", KindIP}, {"prefix", KindIP},
		{"ja3_md5", KindJA3}, {"ja3", KindJA3}, {"ja3_hash", KindJA3},
		{"ja4", KindJA4}, {"ja4_fingerprint", KindJA4}, {"ja4_hash", KindJA4},
		{"domain", KindDomain}, {"hostname", KindDomain}, {"host", KindDomain}, {"fqdn", KindDomain}, {"sni", KindDomain},
		{"url", colURL},
	}
	typeColumns = []string{"ioc_type", "indicator_type", "type"}
	descColumns = []string{"malware_printable", "malware", "malware_family", "threat_type", "threat",
		"listingreason", "listing_reason", "reason", "description", "comment", "tags", "sblid"}
)

// lineParser parses the lines of one file in order: a CSV header changes
// how the lines after it are read.
type lineParser struct {
	header *csvHeader
}

// parse reads one line (without its line break) and calls emit for each
// indicator it holds, with the line's description. It returns "" when the
// line was used or is a comment or blank, else the rejection reason.
func (p *lineParser) parse(line string, emit func(indicator, string)) string {
	line = strings.TrimSpace(line)
	if line == "" {
		return ""
	}
	if len(line) > MaxLineBytes {
		return ReasonLineTooLong
	}
	switch line[0] {
	case '#', ';':
		// abuse.ch writes its CSV header as the last comment line.
		if h, ok := parseHeader(strings.TrimLeft(line, "#; ")); ok {
			p.header = h
		}
		return ""
	case '/':
		if strings.HasPrefix(line, "//") {
			return ""
		}
	case '{':
		return parseJSONLine(line, emit)
	}
	if p.header != nil {
		return p.header.parse(line, emit)
	}
	if strings.IndexByte(line, ',') >= 0 {
		if h, ok := parseHeader(line); ok {
			p.header = h
			return ""
		}
		// A headerless CSV: the indicator first, the rest describes it.
		fields, ok := splitCSV(line)
		if !ok {
			return ReasonQuote
		}
		ind, reason := parseIndicator(fields[0], colAuto)
		if reason != "" {
			return reason
		}
		emit(ind, strings.Join(fields[1:], ","))
		return ""
	}
	if before, after, ok := strings.Cut(line, ";"); ok {
		// Spamhaus DROP: "1.10.16.0/20 ; SBL256894".
		ind, reason := parseIndicator(strings.TrimSpace(before), colAuto)
		if reason != "" {
			return reason
		}
		emit(ind, strings.TrimSpace(after))
		return ""
	}
	if i := strings.Index(line, " #"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if i := strings.Index(line, "\t#"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if !strings.ContainsAny(line, " \t") {
		// The common case: one indicator on its own.
		ind, reason := parseIndicator(line, colAuto)
		if reason != "" {
			return reason
		}
		emit(ind, "")
		return ""
	}
	fields := strings.Fields(line)
	if len(fields) > 1 && isSinkhole(fields[0]) {
		return parseHostsLine(fields[1:], emit)
	}
	ind, reason := parseIndicator(fields[0], colAuto)
	if reason != "" {
		return reason
	}
	emit(ind, strings.Join(fields[1:], " "))
	return ""
}

// isSinkhole reports whether s is an address hosts-file blocklists map
// names to.
func isSinkhole(s string) bool {
	switch s {
	case "0.0.0.0", "127.0.0.1", "::", "::1", "0":
		return true
	}
	return false
}

// hostsLocalNames are the names a hosts file maps for the machine itself.
var hostsLocalNames = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

func parseHostsLine(names []string, emit func(indicator, string)) string {
	var inds []indicator
	for _, n := range names {
		if hostsLocalNames[strings.ToLower(n)] {
			continue
		}
		ind, reason := parseIndicator(n, KindDomain)
		if reason != "" {
			return reason
		}
		inds = append(inds, ind)
	}
	if len(inds) == 0 {
		return ReasonLocalName
	}
	for _, ind := range inds {
		emit(ind, "")
	}
	return ""
}

// parseHeader recognises a CSV header: comma-separated column names, one
// of them a known indicator column.
func parseHeader(line string) (*csvHeader, bool) {
	if strings.IndexByte(line, ',') < 0 {
		return nil, false
	}
	fields, ok := splitCSV(line)
	if !ok {
		return nil, false
	}
	col := map[string]int{}
	for i, f := range fields {
		f = strings.ToLower(strings.TrimSpace(f))
		if _, seen := col[f]; !seen {
			col[f] = i
		}
	}
	h := &csvHeader{indicator: -1, typ: -1, desc: -1}
	for _, c := range indicatorColumns {
		if i, ok := col[c.name]; ok {
			h.indicator, h.kind = i, c.kind
			break
		}
	}
	if h.indicator < 0 {
		return nil, false
	}
	for _, name := range typeColumns {
		if i, ok := col[name]; ok && i != h.indicator {
			h.typ = i
			break
		}
	}
	for _, name := range descColumns {
		if i, ok := col[name]; ok && i != h.indicator {
			h.desc = i
			break
		}
	}
	return h, true
}

func (h *csvHeader) parse(line string, emit func(indicator, string)) string {
	fields, ok := splitCSV(line)
	if !ok {
		return ReasonQuote
	}
	if h.indicator >= len(fields) {
		return ReasonShortRecord
	}
	kind := h.kind
	if h.typ >= 0 && h.typ < len(fields) && kind == colAuto {
		var reason string
		if kind, reason = typeKind(fields[h.typ]); reason != "" {
			return reason
		}
	}
	ind, reason := parseIndicator(fields[h.indicator], kind)
	if reason != "" {
		return reason
	}
	desc := ""
	if h.desc >= 0 && h.desc < len(fields) {
		desc = fields[h.desc]
	}
	emit(ind, desc)
	return ""
}

// typeKind maps a type column's value (ThreatFox: ip:port, domain, url,
// md5_hash, ...) to the kind to expect.
func typeKind(t string) (Kind, string) {
	t = strings.ToLower(strings.TrimSpace(t))
	switch {
	case t == "":
		return colAuto, ""
	case t == "url" || t == "uri":
		return colURL, ""
	case strings.HasPrefix(t, "ip") || t == "cidr":
		return KindIP, ""
	case t == "domain" || t == "hostname" || t == "fqdn" || t == "host":
		return KindDomain, ""
	case strings.HasPrefix(t, "ja3"):
		return KindJA3, ""
	case strings.HasPrefix(t, "ja4"):
		return KindJA4, ""
	}
	return 0, ReasonUnsupportedType
}

// splitCSV splits one CSV record (RFC 4180 quoting, no line breaks inside
// fields), trimming the spaces around each field.
func splitCSV(line string) ([]string, bool) {
	var fields []string
	for {
		line = strings.TrimLeft(line, " \t")
		var f string
		if strings.HasPrefix(line, `"`) {
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, false
				}
				b.WriteString(line[i : i+j])
				i += j + 1
				if i < len(line) && line[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			f = b.String()
			line = strings.TrimLeft(line[i:], " \t")
			if line != "" && line[0] != ',' {
				return nil, false
			}
		} else {
			j := strings.IndexByte(line, ',')
			if j < 0 {
				j = len(line)
			}
			f = strings.TrimSpace(line[:j])
			line = line[j:]
		}
		fields = append(fields, f)
		if line == "" {
			return fields, true
		}
		line = line[1:] // the comma
	}
}

// jsonIndicatorKeys are the keys of an indicator in a JSON line (Spamhaus's
// drop_v4.json has {"cidr":...,"sblid":...}).
var jsonIndicatorKeys = []struct {
	name string
	kind Kind
}{
	{"cidr", KindIP}, {"ip", KindIP}, {"domain", KindDomain}, {"hostname", KindDomain}, {"ja3", KindJA3}, {"ja3_md5", KindJA3},
	{"ja4", KindJA4}, {"url", colURL}, {"indicator", colAuto}, {"ioc", colAuto}, {"ioc_value", colAuto}, {"value", colAuto},
}

var jsonDescKeys = []string{"sblid", "malware", "malware_printable", "threat_type", "description", "reason", "tags"}

func parseJSONLine(line string, emit func(indicator, string)) string {
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return ReasonJSON
	}
	if t, _ := obj["type"].(string); t == "metadata" {
		return "" // Spamhaus's trailing summary line
	}
	for _, k := range jsonIndicatorKeys {
		v, ok := obj[k.name].(string)
		if !ok {
			continue
		}
		ind, reason := parseIndicator(v, k.kind)
		if reason != "" {
			return reason
		}
		desc := ""
		for _, d := range jsonDescKeys {
			if s, ok := obj[d].(string); ok && s != "" {
				desc = s
				break
			}
		}
		emit(ind, desc)
		return ""
	}
	return ReasonJSONNoIndicator
}

// parseIndicator reads one indicator. want is the kind the column holds
// (colAuto: any kind, decided by its form).
func parseIndicator(s string, want Kind) (indicator, string) {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"'`))
	if s == "" {
		return indicator{}, ReasonNotIndicator
	}
	if i := strings.Index(s, "://"); i >= 0 || want == colURL {
		if i < 0 {
			return indicator{}, ReasonNotIndicator
		}
		host, ok := urlHost(s[i+3:])
		if !ok {
			return indicator{}, ReasonNotIndicator
		}
		s, want = host, colAuto
	}
	switch want {
	case KindJA3:
		if isJA3(s) {
			return indicator{kind: KindJA3, value: strings.ToLower(s)}, ""
		}
		return indicator{}, ReasonNotIndicator
	case KindJA4:
		if isJA4(s) {
			return indicator{kind: KindJA4, value: strings.ToLower(s)}, ""
		}
		return indicator{}, ReasonNotIndicator
	case KindDomain:
		return parseDomain(s)
	}
	if ind, reason, ok := parseIP(s); ok {
		return ind, reason
	}
	if want == KindIP {
		return indicator{}, ReasonInvalidIP
	}
	switch {
	case isJA3(s):
		return indicator{kind: KindJA3, value: strings.ToLower(s)}, ""
	case isJA4(s):
		return indicator{kind: KindJA4, value: strings.ToLower(s)}, ""
	}
	return parseDomain(s)
}

// parseIP reads an address, a network, or "address:port" (ThreatFox's
// ip:port). ok is false when s does not look like an IP at all.
func parseIP(s string) (ind indicator, reason string, ok bool) {
	if strings.IndexByte(s, '%') >= 0 && strings.IndexByte(s, ':') >= 0 {
		return indicator{}, ReasonZone, true
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if looksNumeric(s[:strings.IndexByte(s, '/')]) {
				return indicator{}, ReasonInvalidCIDR, true
			}
			return indicator{}, "", false
		}
		return indicator{kind: KindIP, prefix: unmapPrefix(p.Masked())}, "", true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return indicator{kind: KindIP, prefix: netip.PrefixFrom(a, a.BitLen())}, "", true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a := ap.Addr().Unmap()
		if a.Zone() != "" {
			return indicator{}, ReasonZone, true
		}
		return indicator{kind: KindIP, prefix: netip.PrefixFrom(a, a.BitLen())}, "", true
	}
	if looksNumeric(s) {
		return indicator{}, ReasonInvalidIP, true
	}
	return indicator{}, "", false
}

// looksNumeric reports whether s is made of digits and dots only, with at
// least one dot, or is bracketed or holds colons and hex digits: an
// address that did not parse rather than a name.
func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return dot
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// urlHost returns the host of what follows "scheme://".
func urlHost(rest string) (string, bool) {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", false
		}
		return rest[1:end], true
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest, rest != ""
}

// parseDomain validates and normalises a domain name: lower case, no
// trailing dot, and a leading "*." or "." dropped (a listed domain matches
// its subdomains anyway).
func parseDomain(s string) (indicator, string) {
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimPrefix(s, "*.")
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return indicator{}, ReasonNotIndicator
	}
	if len(s) > 253 {
		return indicator{}, ReasonNameTooLong
	}
	labels, label, digitsOnly := 1, 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return indicator{}, ReasonInvalidName
			}
			labels, label, digitsOnly = labels+1, 0, true
			continue
		case c >= 0x80:
			return indicator{}, ReasonNonASCII
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			digitsOnly = false
		default:
			return indicator{}, ReasonInvalidName
		}
		if label++; label > 63 {
			return indicator{}, ReasonNameTooLong
		}
	}
	if label == 0 {
		return indicator{}, ReasonInvalidName
	}
	if labels < 2 {
		return indicator{}, ReasonSingleLabel
	}
	if digitsOnly {
		// A numeric top-level label: a mistyped address, not a name.
		return indicator{}, ReasonInvalidIP
	}
	return indicator{kind: KindDomain, value: strings.ToLower(s)}, ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isJA3(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isJA4 checks the JA4 (TLS client) form: a_b_c where a is 10 characters
// (protocol t/q/d, 2-character version, d/i, two 2-digit counts, 2 ALPN
// characters) and b and c are 12 hex digits.
func isJA4(s string) bool {
	if len(s) != 36 || s[10] != '_' || s[23] != '_' {
		return false
	}
	switch s[0] | 0x20 {
	case 't', 'q', 'd':
	default:
		return false
	}
	if c := s[3] | 0x20; c != 'd' && c != 'i' {
		return false
	}
	for i := 4; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	for _, i := range []int{1, 2, 8, 9} {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	for i := 11; i < len(s); i++ {
		if i != 23 && !isHex(s[i]) {
			return false
		}
	}
	return true
}
