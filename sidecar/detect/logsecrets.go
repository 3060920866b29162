package detect

import (
	"strconv"
	"strings"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// LogsConfig switches the container-log detections.
type LogsConfig struct {
	Secrets  bool `name:"detect-log-secrets" env:"SIDEWATCH_DETECT_LOG_SECRETS" default:"true" negatable:"" help:"Alert on credentials written to container logs: AWS access keys with their secret, PEM private keys, API tokens (the alert shows a redacted form)."`
	Exploits bool `name:"detect-log-exploits" env:"SIDEWATCH_DETECT_LOG_EXPLOITS" default:"true" negatable:"" help:"Alert on JNDI lookup strings (Log4Shell, with the usual obfuscations) in container logs and HTTP requests."`
	MaxBytes int  `name:"detect-log-max-bytes" env:"SIDEWATCH_DETECT_LOG_MAX_BYTES" default:"65536" help:"Bytes of each log record searched (the start of the record)."`
}

func (c *LogsConfig) bounds() []bound {
	return []bound{intBound("detect-log-max-bytes", c.MaxBytes, 64, 1<<20)}
}

// Signatures of the log detections.
var (
	sigAWSKey = &Signature{GID: 1, ID: 9000701, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH AWS access key and secret written to a container log",
		Category: "Potential Corporate Privacy Violation",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552", "sidewatch_detection", "logs")}
	sigPrivateKey = &Signature{GID: 1, ID: 9000702, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH private key written to a container log",
		Category: "Potential Corporate Privacy Violation",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552.004", "sidewatch_detection", "logs")}
	sigToken = &Signature{GID: 1, ID: 9000703, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH API token written to a container log",
		Category: "Potential Corporate Privacy Violation",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552", "sidewatch_detection", "logs")}
	sigJNDILog = &Signature{GID: 1, ID: 9000704, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH JNDI lookup string (Log4Shell) in a container log",
		Category: "Attempted Administrator Privilege Gain",
		Metadata: meta("mitre_tactic_id", "TA0001", "mitre_technique_id", "T1190", "cve", "CVE-2021-44228", "sidewatch_detection", "logs")}
	sigJNDIHTTP = &Signature{GID: 1, ID: 9000705, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH JNDI lookup string (Log4Shell) in an HTTP request",
		Category: "Attempted Administrator Privilege Gain",
		Metadata: meta("mitre_tactic_id", "TA0001", "mitre_technique_id", "T1190", "cve", "CVE-2021-44228", "sidewatch_detection", "logs")}
)

// logSecrets looks for credentials and exploit strings in log records. It
// keeps no state, so it needs no lock.
type logSecrets struct {
	cfg LogsConfig
	out *Alerts
}

func newLogSecrets(cfg LogsConfig, out *Alerts) *logSecrets {
	return &logSecrets{cfg: cfg, out: out}
}

// log inspects a log record.
func (l *logSecrets) log(ev *event.Event) {
	msg := ev.Log.Message
	if len(msg) > l.cfg.MaxBytes {
		msg = msg[:l.cfg.MaxBytes]
	}
	if l.cfg.Secrets {
		if f, ok := findSecret(msg); ok {
			l.out.Raise(f.sig, ev, f.evidence()...)
		}
	}
	if l.cfg.Exploits {
		if lookup, obfuscated, ok := findJNDI(msg); ok {
			l.out.Raise(sigJNDILog, ev, jndiEvidence(lookup, obfuscated)...)
		}
	}
}

// http inspects an HTTP request's URL and user agent for JNDI lookups.
func (l *logSecrets) http(ev *event.Event) {
	if !l.cfg.Exploits {
		return
	}
	for _, field := range [...]struct{ name, v string }{{"url", ev.HTTP.URL}, {"http_user_agent", ev.HTTP.HTTPUserAgent}} {
		if lookup, obfuscated, ok := findJNDI(field.v); ok {
			l.out.Raise(sigJNDIHTTP, ev, append(jndiEvidence(lookup, obfuscated), Evidence("field", field.name))...)
			return
		}
	}
}

func jndiEvidence(lookup string, obfuscated bool) []event.AlertMeta {
	return []event.AlertMeta{Evidence("jndi_lookup", cutString(lookup, 200)), Evidence("obfuscated", strconv.FormatBool(obfuscated))}
}

func cutString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// secretFinding is one credential found in a record, with only a redacted
// form of it kept.
type secretFinding struct {
	sig      *Signature
	kind     string // aws_access_key, rsa_private_key, github_token, ...
	redacted string // what the alert may show
	secret   int    // length of the secret part, 0 if none
	offset   int    // byte offset in the record
}

func (f secretFinding) evidence() []event.AlertMeta {
	ev := []event.AlertMeta{Evidence("secret_type", f.kind), Evidence("redacted", f.redacted), Evidence("offset", strconv.Itoa(f.offset))}
	if f.secret > 0 {
		ev = append(ev, Evidence("secret_length", strconv.Itoa(f.secret)))
	}
	return ev
}

// findSecret returns the first credential in s. It never returns any
// part of a secret: only kind, length, position and a redacted form
// (the non-secret key id or token prefix, and the last 4 characters of a
// key id). It makes a few SIMD-accelerated passes over s, one per anchor
// byte ('A', '_', '-', '.'), and looks closer only where one occurs.
func findSecret(s string) (secretFinding, bool) {
	if f, ok := findAWSKey(s); ok {
		return f, true
	}
	if i := strings.Index(s, "PRIVATE KEY"); i >= 0 {
		if b := strings.LastIndex(s[:i], "-----BEGIN "); b >= 0 && i-b <= 40 {
			kind := s[b+len("-----BEGIN ") : i+len("PRIVATE KEY")]
			if strings.Trim(kind, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ") == "" {
				return secretFinding{sig: sigPrivateKey, kind: "private_key", redacted: "-----BEGIN " + kind + "-----", offset: b}, true
			}
		}
	}
	return findToken(s)
}

// AWS access key ids: AKIA (long-term) or ASIA (temporary) and 16 upper
// case letters or digits; the secret is 40 base64 characters.
const (
	awsKeyIDLen  = 20
	awsSecretLen = 40
	// awsNearby is how far from the key id the secret may be.
	awsNearby = 256
)

func findAWSKey(s string) (secretFinding, bool) {
	for from := 0; ; {
		i := strings.IndexByte(s[from:], 'A')
		if i < 0 {
			return secretFinding{}, false
		}
		i += from
		from = i + 1
		if i+4 > len(s) || !(s[i+1] == 'K' || s[i+1] == 'S') || s[i+2] != 'I' || s[i+3] != 'A' || !isKeyID(s, i) {
			continue
		}
		lo, hi := max(0, i-awsNearby), min(len(s), i+awsKeyIDLen+awsNearby)
		if _, ok := findAWSSecret(s[lo:hi]); !ok {
			continue
		}
		id := s[i : i+awsKeyIDLen]
		return secretFinding{sig: sigAWSKey, kind: "aws_access_key", redacted: id[:4] + strings.Repeat("*", 12) + id[16:],
			secret: awsSecretLen, offset: i}, true
	}
}

func isKeyIDChar(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '/' || c == '+'
}

// isKeyID reports whether an access key id starts at s[i], standing alone.
func isKeyID(s string, i int) bool {
	if i+awsKeyIDLen > len(s) || (i > 0 && isKeyIDChar(s[i-1])) || (i+awsKeyIDLen < len(s) && isKeyIDChar(s[i+awsKeyIDLen])) {
		return false
	}
	for j := i + 4; j < i+awsKeyIDLen; j++ {
		if !isKeyIDChar(s[j]) {
			return false
		}
	}
	return true
}

// findAWSSecret finds a standalone run of exactly 40 base64 characters
// mixing upper case, lower case and digits, as AWS secret keys do (a hex
// digest or a word run does not).
func findAWSSecret(s string) (int, bool) {
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isBase64Char(s[i]) {
			run++
			continue
		}
		if run == awsSecretLen && mixedClasses(s[i-run:i]) {
			return i - run, true
		}
		run = 0
	}
	return 0, false
}

func mixedClasses(s string) bool {
	var upper, lowerCase, digit bool
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lowerCase = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	return upper && lowerCase && digit
}

// tokenFormat is a token with a fixed prefix that no ordinary text has.
// Each prefix holds an anchor byte ('_', '-', '.' or, for AIza, 'z') at
// a fixed position, found by one pass over the text per anchor.
type tokenFormat struct {
	prefix   string
	kind     string
	min, max int  // length of the part after the prefix
	extra    bool // '-', '_' and '.' allowed after the prefix
}

var tokenFormats = []tokenFormat{
	{"ghp_", "github_token", 36, 36, false},
	{"gho_", "github_token", 36, 36, false},
	{"ghu_", "github_token", 36, 36, false},
	{"ghs_", "github_token", 36, 36, false},
	{"ghr_", "github_token", 36, 36, false},
	{"github_pat_", "github_token", 82, 82, true},
	{"glpat-", "gitlab_token", 20, 20, true},
	{"xoxb-", "slack_token", 24, 255, true},
	{"xoxp-", "slack_token", 24, 255, true},
	{"xoxa-", "slack_token", 24, 255, true},
	{"xoxr-", "slack_token", 24, 255, true},
	{"xapp-", "slack_token", 24, 255, true},
	{"sk_live_", "stripe_key", 24, 247, false},
	{"rk_live_", "stripe_key", 24, 247, false},
	{"AIza", "google_api_key", 35, 35, true},
	{"npm_", "npm_token", 36, 36, false},
	{"sk-proj-", "openai_key", 40, 255, true},
	{"sk-ant-", "anthropic_key", 40, 255, true},
	{"SG.", "sendgrid_key", 66, 66, true}, // SG.<22>.<43>
}

// tokenAnchor is one anchor byte with its formats and, as a quick filter,
// the set of the two bytes that precede it in one of them.
type tokenAnchor struct {
	b       byte
	formats []anchoredFormat
	pairs   [1 << 16 / 64]uint64
}

type anchoredFormat struct {
	*tokenFormat
	at int // index of the anchor in the prefix (always >= 2)
}

var tokenAnchors = func() []*tokenAnchor {
	var out []*tokenAnchor
	for _, b := range []byte{'_', '-', '.', 'z'} {
		a := &tokenAnchor{b: b}
		for i := range tokenFormats {
			f := &tokenFormats[i]
			at := strings.IndexAny(f.prefix, "_-.")
			if at < 0 {
				at = strings.IndexByte(f.prefix, 'z')
			}
			if f.prefix[at] != b {
				continue
			}
			a.formats = append(a.formats, anchoredFormat{f, at})
			pair := uint16(f.prefix[at-2])<<8 | uint16(f.prefix[at-1])
			a.pairs[pair/64] |= 1 << (pair % 64)
		}
		out = append(out, a)
	}
	return out
}()

// anchorIndex maps each anchor byte to its tokenAnchors index + 1.
var anchorIndex = func() (t [256]uint8) {
	for i, a := range tokenAnchors {
		t[a.b] = uint8(i + 1)
	}
	return t
}()

// findToken finds a token by its prefix: the prefix must start a word and
// be followed by at least min token characters (and at most max) that mix
// letters and digits. One pass over s looks up each byte in a table of
// anchors, and the two bytes before an anchor in its set of pairs.
func findToken(s string) (secretFinding, bool) {
	for k := 2; k < len(s); k++ {
		ai := anchorIndex[s[k]]
		if ai == 0 {
			continue
		}
		a := tokenAnchors[ai-1]
		if pair := uint16(s[k-2])<<8 | uint16(s[k-1]); a.pairs[pair/64]&(1<<(pair%64)) == 0 {
			continue
		}
		for _, f := range a.formats {
			if i := k - f.at; i >= 0 && strings.HasPrefix(s[i:], f.prefix) {
				if n, ok := f.match(s, i); ok {
					return secretFinding{sig: sigToken, kind: f.kind, redacted: f.prefix + strings.Repeat("*", 8), secret: n, offset: i}, true
				}
			}
		}
	}
	return secretFinding{}, false
}

// match checks the token that starts at s[i] with f's prefix and returns
// the length of its secret part.
func (f *tokenFormat) match(s string, i int) (int, bool) {
	if i > 0 && isTokenChar(s[i-1], true) {
		return 0, false
	}
	j := i + len(f.prefix)
	for j < len(s) && isTokenChar(s[j], f.extra) && j-i-len(f.prefix) <= f.max {
		j++
	}
	n := j - i - len(f.prefix)
	return n, n >= f.min && n <= f.max && hasLetterAndDigit(s[i+len(f.prefix):j])
}

func isTokenChar(c byte, extra bool) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || extra && (c == '-' || c == '_' || c == '.')
}

func hasLetterAndDigit(s string) bool {
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter = letter || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		digit = digit || c >= '0' && c <= '9'
	}
	return letter && digit
}

// JNDI lookups. Log4j evaluates ${...} lookups recursively, so attackers
// hide "jndi" inside nested ones: ${${lower:j}ndi:...}, ${${::-j}ndi:...},
// ${${env:X:-j}ndi:...}, ${${date:'j'}ndi:...}; and in URLs they arrive
// percent-encoded (%24%7Bjndi:). findJNDI evaluates the nesting the way
// Log4j would for these forms, in one pass over the text.
const (
	jndiMaxDepth = 16   // deeper openings are read as text
	jndiMaxLen   = 1024 // bytes kept of one lookup's body
	jndiDecodes  = 2    // rounds of percent/escape decoding
)

// findJNDI returns the first lookup in s that evaluates to a JNDI lookup
// (its deobfuscated body), and whether it was obfuscated.
func findJNDI(s string) (lookup string, obfuscated, ok bool) {
	return findJNDIDecoded(s, jndiDecodes)
}

func findJNDIDecoded(s string, decodes int) (string, bool, bool) {
	if strings.Contains(s, "${") {
		if v, obf, ok := evalLookups(s); ok {
			return v, obf, true
		}
	}
	if decodes > 0 && hasEncodedBrace(s) {
		if v, _, ok := findJNDIDecoded(decodeEscapes(s), decodes-1); ok {
			return v, true, true
		}
	}
	return "", false, false
}

// evalLookups walks s once with a stack of open lookups. The bodies of the
// open lookups are kept one after the other in buf; when a lookup closes,
// its body is checked for a jndi: prefix and replaced in its parent's by
// the value Log4j would substitute.
func evalLookups(s string) (string, bool, bool) {
	type level struct{ body, raw int } // offset in buf; index in s after "${"
	var stack [jndiMaxDepth]level
	depth := 0
	var arr [256]byte
	buf := arr[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$' && i+1 < len(s) && s[i+1] == '{' && depth < jndiMaxDepth:
			stack[depth] = level{body: len(buf), raw: i + 2}
			depth++
			i++
		case c == '}' && depth > 0:
			depth--
			l := stack[depth]
			body := buf[l.body:]
			if len(body) >= 5 && strings.EqualFold(string(body[:5]), "jndi:") {
				return string(body), !hasJNDIPrefix(s[l.raw:]), true
			}
			v := resolveInner(string(body))
			buf = append(buf[:l.body], v...)
		case depth > 0 && len(buf)-stack[depth-1].body < jndiMaxLen:
			buf = append(buf, c)
		}
	}
	return "", false, false
}

func hasJNDIPrefix(s string) bool { return len(s) >= 5 && strings.EqualFold(s[:5], "jndi:") }

// hasEncodedBrace reports whether s holds an encoded "$" or "{": %24,
// %7B, \u0024, \u007B, \x24, \x7B.
func hasEncodedBrace(s string) bool {
	for from := 0; ; {
		k := strings.IndexByte(s[from:], '%')
		if k < 0 {
			break
		}
		k += from
		from = k + 1
		if k+2 < len(s) && (s[k+1:k+3] == "24" || s[k+1] == '7' && (s[k+2] == 'b' || s[k+2] == 'B')) {
			return true
		}
	}
	for from := 0; ; {
		k := strings.IndexByte(s[from:], '\\')
		if k < 0 {
			return false
		}
		k += from
		from = k + 1
		rest := s[k+1:]
		if strings.HasPrefix(rest, "u0024") || strings.HasPrefix(rest, "x24") ||
			len(rest) >= 5 && rest[:4] == "u007" && (rest[4] == 'b' || rest[4] == 'B') ||
			len(rest) >= 3 && rest[:2] == "x7" && (rest[2] == 'b' || rest[2] == 'B') {
			return true
		}
	}
}

// resolveInner gives the value Log4j would substitute for a nested
// lookup's body: lower:X and upper:X give X in that case, date:'X' gives
// X, prefix:key:-default and :-default give the default, and anything else
// (an unknown variable) gives "" (so "jndi" split across it still shows).
func resolveInner(body string) string {
	if i := strings.Index(body, ":-"); i >= 0 {
		return body[i+2:]
	}
	prefix, rest, ok := strings.Cut(body, ":")
	if !ok {
		return ""
	}
	switch strings.ToLower(prefix) {
	case "lower":
		return strings.ToLower(rest)
	case "upper":
		return strings.ToUpper(rest)
	case "date":
		return strings.Trim(rest, "'")
	}
	return ""
}

// decodeEscapes undoes percent-encoding and \uXXXX / \xXX escapes of
// ASCII characters.
func decodeEscapes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == '\\' && i+5 < len(s) && s[i+1] == 'u' && s[i+2] == '0' && s[i+3] == '0' && isHex(s[i+4]) && isHex(s[i+5]):
			b.WriteByte(unhex(s[i+4])<<4 | unhex(s[i+5]))
			i += 5
		case c == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]):
			b.WriteByte(unhex(s[i+2])<<4 | unhex(s[i+3]))
			i += 3
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
