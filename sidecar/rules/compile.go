package rules

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// compiler turns raw rules into Rules, deciding for each whether it fits the
// supported subset.
type compiler struct {
	vars     Vars
	classes  Classes
	datasets *datasets
	lists    Lists
	file     string
	addrs    map[string]addrSet // header fields repeat: parse each once
	ports    map[string]portSet
	strs     map[string]string // metadata keys and values repeat across rules
}

// intern returns one shared copy of s (which may be a view of a rule's text).
func (c *compiler) intern(s string) string {
	if v, ok := c.strs[s]; ok {
		return v
	}
	v := strings.Clone(s)
	c.strs[v] = v
	return v
}

// unsupported is returned by compile for a rule outside the subset.
func unsupported(kw, format string, args ...any) error {
	// A clone: the keyword is a view of the rule's text, which the report
	// would otherwise keep alive.
	return &Unsupported{Keyword: strings.Clone(kw), Reason: fmt.Sprintf(format, args...)}
}

var supportedProtos = map[string]string{
	// proto → (transport, app)
	"ip": "", "ipv4": "", "ipv6": "", "tcp": "TCP", "udp": "UDP", "icmp": "ICMP",
	"dns": "", "tls": "TCP", "http": "TCP", "http1": "TCP", "ssh": "TCP",
}

// compile checks and compiles one raw rule.
func (c *compiler) compile(raw *rawRule) (*Rule, error) {
	r := &Rule{GID: 1, File: c.file, Line: raw.line, Proto: c.intern(raw.proto)}
	// sid first, so that every report names the rule.
	for _, o := range raw.opts {
		if o.name == "sid" {
			n, err := strconv.Atoi(o.value)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("sid %q: want a positive integer", o.value)
			}
			r.SID = n
		}
	}
	if r.SID == 0 {
		return nil, errors.New("no sid")
	}
	switch raw.action {
	case "alert", "drop", "reject", "rejectsrc", "rejectdst", "rejectboth":
		r.Action = "alert"
	case "pass":
		r.Action = "pass"
	case "config":
		return r, unsupported("config", "action config")
	default:
		return r, fmt.Errorf("unknown action %q", raw.action)
	}
	transport, ok := supportedProtos[raw.proto]
	if !ok {
		if knownProtos[raw.proto] {
			return r, unsupported(raw.proto, "protocol %s", raw.proto)
		}
		return r, fmt.Errorf("unknown protocol %q", raw.proto)
	}
	r.transport = transport
	switch raw.proto {
	case "dns", "tls", "ssh":
		r.app = raw.proto
	case "http", "http1":
		r.app = "http"
	}
	var err error
	if r.src, err = c.addr(raw.src); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.dst, err = c.addr(raw.dst); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	if r.sport, err = c.port(raw.srcPorts); err != nil {
		return r, fmt.Errorf("source port: %w", err)
	}
	if r.dport, err = c.port(raw.dstPorts); err != nil {
		return r, fmt.Errorf("destination port: %w", err)
	}
	switch raw.dir {
	case "->":
	case "<>":
		r.bidir = true
	case "<-":
		r.src, r.dst = r.dst, r.src
		r.sport, r.dport = r.dport, r.sport
	case "=>":
		return r, unsupported("=>", "transactional direction =>")
	default:
		return r, fmt.Errorf("bad direction %q: want -> or <>", raw.dir)
	}
	if err := c.options(r, raw.opts); err != nil {
		return r, err
	}
	return r, nil
}

func (c *compiler) addr(s string) (addrSet, error) {
	if a, ok := c.addrs[s]; ok {
		return a, nil
	}
	a, err := c.vars.parseAddrs(s)
	if err == nil {
		c.addrs[s] = a
	}
	return a, err
}

func (c *compiler) port(s string) (portSet, error) {
	if p, ok := c.ports[s]; ok {
		return p, nil
	}
	p, err := c.vars.parsePorts(s)
	if err == nil {
		c.ports[s] = p
	}
	return p, err
}

// optState is what the option walk keeps between keywords.
type optState struct {
	cur     *bufList // the sticky buffer in force, nil: the raw payload
	payload *bufList // contents with no buffer (payload) or awaiting a legacy modifier
	lastIn  *bufList // the list holding the content that modifiers apply to
	lastIdx int
}

func (c *compiler) options(r *Rule, opts []rawOption) error {
	st := &optState{payload: &bufList{}}
	classSet, prioSet := false, false
	for _, o := range opts {
		name := o.name
		need := func() error {
			if !o.hasValue {
				return fmt.Errorf("%s needs a value", name)
			}
			return nil
		}
		switch name {
		case "sid":
			continue
		case "msg":
			if err := need(); err != nil {
				return err
			}
			m, err := unquote(o.value)
			if err != nil {
				return fmt.Errorf("msg: %w", err)
			}
			r.Msg = strings.Clone(m) // not a view of the whole rule's text
		case "rev", "gid", "priority":
			if err := need(); err != nil {
				return err
			}
			n, err := strconv.Atoi(o.value)
			if err != nil || n < 0 || (name == "priority" && (n < 1 || n > 255)) {
				return fmt.Errorf("%s %q: want a number", name, o.value)
			}
			switch name {
			case "rev":
				r.Rev = n
			case "gid":
				r.GID = n
			default:
				r.Severity, prioSet = n, true
			}
		case "classtype":
			if err := need(); err != nil {
				return err
			}
			cl, ok := c.classes[o.value]
			if !ok {
				return fmt.Errorf("unknown classtype %q", o.value)
			}
			r.ClassType, r.Category, classSet = cl.Name, cl.Description, true
			if !prioSet {
				r.Severity = cl.Priority
			}
		case "reference":
			if err := need(); err != nil {
				return err
			}
			r.References = append(r.References, strings.Clone(o.value))
		case "metadata":
			if err := need(); err != nil {
				return err
			}
			for _, kv := range strings.Split(o.value, ",") {
				kv = strings.TrimSpace(kv)
				if kv == "" {
					continue
				}
				k, v, _ := strings.Cut(kv, " ")
				r.Metadata = append(r.Metadata, Meta{Key: c.intern(k), Value: c.intern(strings.TrimSpace(v))})
			}
		case "target":
			switch o.value {
			case "src_ip":
				r.Target = "src_ip"
			case "dest_ip":
				r.Target = "dest_ip"
			default:
				return fmt.Errorf("target %q: want src_ip or dest_ip", o.value)
			}
		case "flow":
			if err := need(); err != nil {
				return err
			}
			if err := parseFlow(r, o.value); err != nil {
				return err
			}
		case "threshold", "detection_filter":
			if err := need(); err != nil {
				return err
			}
			if r.threshold != nil {
				return fmt.Errorf("%s: a rule takes one threshold or detection_filter", name)
			}
			t, err := parseThreshold(name, o.value)
			if err != nil {
				return err
			}
			r.threshold = t
		case "pkt_data":
			st.cur = nil
		case "content", "uricontent":
			if err := need(); err != nil {
				return err
			}
			it, err := parseContent(o.value)
			if err != nil {
				return fmt.Errorf("content: %w", err)
			}
			l := st.cur
			if name == "uricontent" {
				l = r.list(bufHTTPURI, false)
			} else if l == nil {
				l = st.payload
			}
			l.items = append(l.items, it)
			st.lastIn, st.lastIdx = l, len(l.items)-1
		case "nocase", "depth", "offset", "distance", "within", "startswith", "endswith", "fast_pattern", "rawbytes":
			if err := c.modifier(st, o); err != nil {
				return err
			}
		case "pcre":
			if err := need(); err != nil {
				return err
			}
			it, legacy, err := parsePCRE(o.value)
			if err != nil {
				return err
			}
			l := st.cur
			if legacy != bufNone {
				l = r.list(legacy, false)
			} else if l == nil {
				l = st.payload
			}
			l.items = append(l.items, it)
			st.lastIn, st.lastIdx = l, len(l.items)-1
		case "isdataat":
			if err := need(); err != nil {
				return err
			}
			it, err := parseIsDataAt(o.value)
			if err != nil {
				return err
			}
			l := st.cur
			if l == nil {
				l = st.payload
			}
			l.items = append(l.items, it)
		case "bsize":
			if err := need(); err != nil {
				return err
			}
			if st.cur == nil {
				return unsupported("bsize", "bsize on the raw payload")
			}
			n, err := parseNumCmp(o.value)
			if err != nil {
				return fmt.Errorf("bsize: %w", err)
			}
			st.cur.bsize = n
		case "itype", "icode":
			if err := need(); err != nil {
				return err
			}
			n, err := parseNumCmp(o.value)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if name == "itype" {
				r.itype = n
			} else {
				r.icode = n
			}
		case "urilen":
			if err := need(); err != nil {
				return err
			}
			v, _, _ := strings.Cut(o.value, ",")
			n, err := parseNumCmp(v)
			if err != nil {
				return fmt.Errorf("urilen: %w", err)
			}
			r.lists = append(r.lists, &bufList{buf: bufHTTPURI, bsize: n})
		case "dotprefix", "to_lowercase":
			// As in Suricata, a transform applies to its whole buffer,
			// wherever it stands after the buffer's keyword.
			if st.cur == nil {
				return fmt.Errorf("%s must follow a sticky buffer", name)
			}
			if name == "dotprefix" {
				st.cur.dotprefix = true
			} else {
				st.cur.lower = true
			}
		case "dataset":
			if err := need(); err != nil {
				return err
			}
			if st.cur == nil {
				return unsupported("dataset", "dataset on the raw payload")
			}
			ds, neg, err := c.datasets.parse(o.value, st.cur.buf)
			if err != nil {
				return err
			}
			st.cur.items = append(st.cur.items, item{kind: itemDataset, set: ds, neg: neg})
		case "flowbits":
			// Setting a bit changes nothing this rule matches; it only feeds
			// rules that test it, and those (isset, isnotset) are outside
			// the subset. So set/unset/toggle are accepted and ignored.
			cmd, _, _ := strings.Cut(o.value, ",")
			switch strings.TrimSpace(cmd) {
			case "set", "unset", "toggle":
			default:
				return unsupported("flowbits", "flowbits:%s", strings.TrimSpace(cmd))
			}
		case "iprep":
			if err := need(); err != nil {
				return err
			}
			ip, err := c.parseIPRep(o.value)
			if err != nil {
				return err
			}
			r.lookups = append(r.lookups, ip)
		default:
			if id, ok := stickyBuffers[name]; ok {
				if o.hasValue {
					return fmt.Errorf("%s takes no value", name)
				}
				st.cur = r.list(id, true)
				continue
			}
			if id, ok := legacyModifiers[name]; ok {
				if err := moveLegacy(r, st, id, name); err != nil {
					return err
				}
				continue
			}
			return unsupported(name, "keyword %s", name)
		}
	}
	if len(st.payload.items) > 0 {
		kw := "content"
		if st.payload.items[0].kind == itemPCRE {
			kw = "pcre"
		} else if st.payload.items[0].kind == itemDataAt {
			kw = "isdataat"
		}
		return unsupported(kw, "%s on the raw payload (no sticky buffer)", kw)
	}
	if !classSet && !prioSet {
		r.Severity = 3
	}
	return c.finish(r)
}

// list returns the rule's list for buffer id; a sticky buffer named again
// starts a new list (Suricata inspects each occurrence on its own), a legacy
// modifier adds to the existing one.
func (r *Rule) list(id bufferID, fresh bool) *bufList {
	if !fresh {
		for _, l := range r.lists {
			if l.buf == id && !l.dotprefix && !l.lower {
				return l
			}
		}
	}
	l := &bufList{buf: id}
	r.lists = append(r.lists, l)
	return l
}

// moveLegacy moves the last content to the legacy modifier's buffer.
func moveLegacy(r *Rule, st *optState, id bufferID, name string) error {
	if st.lastIn != st.payload || st.lastIdx != len(st.payload.items)-1 || st.payload.items[st.lastIdx].kind != itemContent {
		return fmt.Errorf("%s must follow a content that has no sticky buffer", name)
	}
	it := st.payload.items[st.lastIdx]
	st.payload.items = st.payload.items[:st.lastIdx]
	l := r.list(id, false)
	l.items = append(l.items, it)
	st.lastIn, st.lastIdx = l, len(l.items)-1
	return nil
}

// modifier applies a content modifier to the last content.
func (c *compiler) modifier(st *optState, o rawOption) error {
	if st.lastIn == nil || st.lastIn.items[st.lastIdx].kind != itemContent {
		return fmt.Errorf("%s must follow a content", o.name)
	}
	num := func() (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(o.value))
		if err != nil {
			if o.hasValue && o.value != "" && (o.value[0] == '_' || isLetter(o.value[0])) {
				return 0, unsupported("byte_extract", "%s:%s uses a byte_extract variable", o.name, o.value)
			}
			return 0, fmt.Errorf("%s %q: want a number", o.name, o.value)
		}
		return n, nil
	}
	it := &st.lastIn.items[st.lastIdx]
	switch o.name {
	case "nocase":
		it.nocase = true
	case "rawbytes":
		return unsupported("rawbytes", "keyword rawbytes")
	case "fast_pattern":
		// Accepted in every form: sidewatch indexes by it but matches the
		// same either way.
		it.fast = true
	case "startswith":
		if it.relative || it.depth != 0 || it.offset != 0 {
			return errors.New("startswith cannot be combined with depth, offset, distance or within")
		}
		it.startswith = true
		it.depth = len(it.pat)
	case "endswith":
		it.endswith = true
	case "depth", "offset":
		n, err := num()
		if err != nil {
			return err
		}
		if it.relative {
			return fmt.Errorf("%s cannot be combined with distance or within", o.name)
		}
		if it.startswith {
			return fmt.Errorf("%s cannot be combined with startswith", o.name)
		}
		if o.name == "depth" {
			if n <= 0 {
				return errors.New("depth must be positive")
			}
			if n < len(it.pat) {
				return fmt.Errorf("depth %d is shorter than the content (%d bytes)", n, len(it.pat))
			}
			it.depth = n
		} else {
			if n < 0 {
				return errors.New("offset must not be negative")
			}
			it.offset = n
		}
	case "distance", "within":
		n, err := num()
		if err != nil {
			return err
		}
		if it.depth != 0 && !it.startswith || it.offset != 0 {
			return fmt.Errorf("%s cannot be combined with depth or offset", o.name)
		}
		if it.startswith {
			return fmt.Errorf("%s cannot be combined with startswith", o.name)
		}
		if o.name == "within" {
			if n <= 0 {
				return errors.New("within must be positive")
			}
			if n < len(it.pat) {
				return fmt.Errorf("within %d is shorter than the content (%d bytes)", n, len(it.pat))
			}
			it.within = n
		} else {
			it.distance = n
		}
		it.relative = true
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// finish checks the rule as a whole and fills derived fields.
func (c *compiler) finish(r *Rule) error {
	for _, l := range r.lists {
		b := buffers[l.buf]
		if b.app != "" {
			if r.app != "" && r.app != b.app {
				return unsupported(b.name, "%s in a %s rule", b.name, r.Proto)
			}
			r.app = b.app
		}
		if len(l.items) > 0 && l.items[0].relative {
			// Suricata anchors a first relative content at the buffer start.
			l.items[0].relative = false
			l.items[0].offset = max(l.items[0].distance, 0)
			if l.items[0].within > 0 {
				l.items[0].depth = l.items[0].within
			}
		}
		for i := range l.items {
			it := &l.items[i]
			if it.kind != itemContent {
				continue
			}
			if (b.lower || l.lower) && !it.nocase && !bytes.Equal(it.pat, it.fold) {
				return fmt.Errorf("%s content %q has upper-case letters but the buffer is lower case: add nocase or lower the content", b.name, it.pat)
			}
			if it.endswith && it.depth > 0 && it.relative {
				return errors.New("endswith cannot be combined with within")
			}
		}
	}
	if r.transport != "" && r.app != "" {
		appTransport := supportedProtos[r.app]
		if r.app == "dns" {
			appTransport = r.transport
		}
		if appTransport != r.transport {
			return unsupported(r.Proto, "%s buffers in a %s rule", r.app, r.Proto)
		}
	}
	r.perFlow = len(r.lists) == 0
	return nil
}

func parseFlow(r *Rule, v string) error {
	for _, f := range strings.Split(v, ",") {
		switch f = strings.TrimSpace(f); f {
		case "to_server", "from_client":
			r.flowDir = dirToServer
		case "to_client", "from_server":
			r.flowDir = dirToClient
		case "established":
			r.established = 1
		case "not_established":
			r.established = -1
		case "stateless":
		case "only_stream", "no_stream", "only_frag", "no_frag":
			return unsupported("flow", "flow:%s", f)
		default:
			return fmt.Errorf("flow: unknown option %q", f)
		}
	}
	return nil
}

// parseContent parses `"text|41 42|text"` with an optional leading `!`.
func parseContent(v string) (item, error) {
	it := item{kind: itemContent}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "!") {
		it.neg = true
		v = strings.TrimSpace(v[1:])
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return it, fmt.Errorf("want a double-quoted pattern, got %s", v)
	}
	v = v[1 : len(v)-1]
	var pat []byte
	hex := false
	var hexBuf []byte
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if hex {
			switch {
			case ch == '|':
				if len(hexBuf)%2 != 0 {
					return it, errors.New("odd number of hex digits between | |")
				}
				for j := 0; j < len(hexBuf); j += 2 {
					pat = append(pat, unhex(hexBuf[j])<<4|unhex(hexBuf[j+1]))
				}
				hexBuf = hexBuf[:0]
				hex = false
			case ch == ' ' || ch == '\t':
			case unhex(ch) != 0xff:
				hexBuf = append(hexBuf, ch)
			default:
				return it, fmt.Errorf("bad hex digit %q between | |", ch)
			}
			continue
		}
		switch ch {
		case '|':
			hex = true
		case '\\':
			if i+1 == len(v) {
				return it, errors.New("pattern ends with a lone backslash")
			}
			i++
			switch v[i] {
			case '"', ';', '\\', ':', '|':
				pat = append(pat, v[i])
			default:
				return it, fmt.Errorf("bad escape \\%c (escape only \" ; : \\ |)", v[i])
			}
		case '"', ';':
			return it, fmt.Errorf("unescaped %c in pattern", ch)
		default:
			pat = append(pat, ch)
		}
	}
	if hex {
		return it, errors.New("unterminated | hex section")
	}
	if len(pat) == 0 {
		return it, errors.New("empty pattern")
	}
	it.pat = pat
	it.fold = lower(nil, pat)
	return it, nil
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0xff
}

// parseIsDataAt parses `[!]N[,relative]`.
func parseIsDataAt(v string) (item, error) {
	it := item{kind: itemDataAt}
	n, rest, _ := strings.Cut(v, ",")
	n = strings.TrimSpace(n)
	if strings.HasPrefix(n, "!") {
		it.neg = true
		n = n[1:]
	}
	d, err := strconv.Atoi(n)
	if err != nil || d < 0 {
		if n != "" && (n[0] == '_' || isLetter(n[0])) {
			return it, unsupported("byte_extract", "isdataat:%s uses a byte_extract variable", v)
		}
		return it, fmt.Errorf("isdataat %q: want [!]N[,relative]", v)
	}
	it.dataat = d
	for _, f := range strings.Split(rest, ",") {
		switch strings.TrimSpace(f) {
		case "relative":
			it.relative = true
		case "":
		case "rawbytes":
			return it, unsupported("rawbytes", "isdataat with rawbytes")
		default:
			return it, fmt.Errorf("isdataat %q: unknown option %q", v, f)
		}
	}
	return it, nil
}

// parseNumCmp parses N, <N, >N, <=N, >=N, N<>M and N-M.
func parseNumCmp(v string) (*numCmp, error) {
	v = strings.ReplaceAll(v, " ", "")
	num := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: want N, <N, >N, <=N, >=N or N<>M", v)
		}
		return n, nil
	}
	c := &numCmp{op: '='}
	var err error
	switch {
	case strings.HasPrefix(v, "<="):
		c.op = 'l'
		c.lo, err = num(v[2:])
	case strings.HasPrefix(v, ">="):
		c.op = 'g'
		c.lo, err = num(v[2:])
	case strings.HasPrefix(v, "<"):
		c.op = '<'
		c.lo, err = num(v[1:])
	case strings.HasPrefix(v, ">"):
		c.op = '>'
		c.lo, err = num(v[1:])
	case strings.Contains(v, "<>"):
		a, b, _ := strings.Cut(v, "<>")
		c.op = 'r'
		if c.lo, err = num(a); err == nil {
			c.hi, err = num(b)
		}
		if err == nil && c.hi <= c.lo {
			err = fmt.Errorf("%q: range is empty", v)
		}
	default:
		c.lo, err = num(v)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// knownProtos are Suricata protocols outside sidewatch's subset: rules on
// them are unsupported rather than malformed.
var knownProtos = map[string]bool{
	"tcp-pkt": true, "tcp-stream": true, "udp-pkt": true, "icmpv4": true, "icmpv6": true, "sctp": true, "pkthdr": true,
	"http2": true, "ftp": true, "ftp-data": true, "smtp": true, "smb": true, "dcerpc": true, "imap": true, "pop3": true,
	"dnp3": true, "modbus": true, "enip": true, "nfs": true, "ntp": true, "tftp": true, "ikev2": true, "ike": true,
	"krb5": true, "dhcp": true, "snmp": true, "sip": true, "rfb": true, "mqtt": true, "rdp": true, "pgsql": true,
	"quic": true, "telnet": true, "websocket": true, "ldap": true, "doh2": true, "bittorrent-dht": true, "irc": true, "jabber": true,
	"nntp": true, "msn": true, "template": true, "failed": true,
}
