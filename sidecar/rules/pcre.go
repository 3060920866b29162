package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Suricata runs PCRE in byte mode; Go's regexp runs RE2 syntax on UTF-8.
// translatePCRE rewrites a pattern into an RE2 pattern with the same meaning
// over the Latin-1 expansion of the buffer (each byte becomes the rune of the
// same value, see latin1), so `.`, `[^a]` and `\xe9` count and match bytes
// as PCRE does. Constructs RE2 cannot run (look-around, back-references,
// possessive quantifiers, recursion, ...) make the rule unsupported: a
// pattern is never approximated.

// pcreLegacyBuffers are the pcre modifiers that name an HTTP buffer.
var pcreLegacyBuffers = map[byte]bufferID{
	'U': bufHTTPURI, 'I': bufHTTPURIRaw, 'M': bufHTTPMethod, 'V': bufHTTPUserAgent,
	'W': bufHTTPHost, 'Z': bufHTTPHostRaw, 'S': bufHTTPStatCode,
}

// parsePCRE parses `[!]"/pattern/flags"`.
func parsePCRE(v string) (item, bufferID, error) {
	it := item{kind: itemPCRE}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "!") {
		it.neg = true
		v = strings.TrimSpace(v[1:])
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return it, bufNone, fmt.Errorf("pcre: want \"/pattern/flags\", got %s", v)
	}
	v = v[1 : len(v)-1]
	if !strings.HasPrefix(v, "/") {
		return it, bufNone, fmt.Errorf("pcre: pattern must start with /")
	}
	end := strings.LastIndexByte(v, '/')
	if end == 0 {
		return it, bufNone, fmt.Errorf("pcre: pattern is not closed by /")
	}
	pat, flags := v[1:end], v[end+1:]
	// The rule language's own escapes: \; and \" stand for ; and ".
	pat = strings.NewReplacer(`\;`, `;`, `\"`, `"`).Replace(pat)
	var f pcreFlags
	legacy := bufNone
	for i := 0; i < len(flags); i++ {
		c := flags[i]
		switch c {
		case 'i':
			f.caseless = true
		case 's':
			f.dotall = true
		case 'm':
			f.multiline = true
		case 'G':
			f.ungreedy = true
		case 'A':
			f.anchored = true
		case 'E':
			f.dollarEnd = true
		case 'R':
			it.relative = true
		case 'O':
			// match-limit override: no meaning for RE2, which has no limit.
		default:
			if id, ok := pcreLegacyBuffers[c]; ok {
				if legacy != bufNone {
					return it, bufNone, fmt.Errorf("pcre: flags %q name two buffers", flags)
				}
				legacy = id
				continue
			}
			if strings.IndexByte("xXJDPCKHYBQ", c) >= 0 {
				return it, bufNone, unsupported("pcre", "pcre flag %c", c)
			}
			return it, bufNone, fmt.Errorf("pcre: unknown flag %q", c)
		}
	}
	re, high, err := translatePCRE(pat, f)
	if err != nil {
		return it, bufNone, err
	}
	if high && f.caseless {
		return it, bufNone, unsupported("pcre", "pcre: case-insensitive pattern with non-ASCII bytes")
	}
	rx, err := regexp.Compile(re)
	if err != nil {
		return it, bufNone, unsupported("pcre", "pcre: Go's regexp cannot run /%s/: %v", pat, err)
	}
	it.re, it.reSource = rx, "/"+pat+"/"+flags
	return it, legacy, nil
}

type pcreFlags struct {
	caseless, dotall, multiline, ungreedy, anchored, dollarEnd bool
}

// translatePCRE returns the RE2 form of a PCRE pattern and whether it
// matches bytes ≥ 0x80.
func translatePCRE(p string, f pcreFlags) (string, bool, error) {
	var b strings.Builder
	if f.caseless || f.dotall || f.multiline || f.ungreedy {
		b.WriteString("(?")
		for _, x := range []struct {
			on bool
			c  byte
		}{{f.caseless, 'i'}, {f.dotall, 's'}, {f.multiline, 'm'}, {f.ungreedy, 'U'}} {
			if x.on {
				b.WriteByte(x.c)
			}
		}
		b.WriteByte(')')
	}
	if f.anchored {
		b.WriteString(`\A(?:`)
	}
	bad := func(format string, args ...any) (string, bool, error) {
		return "", false, unsupported("pcre", "pcre: "+format, args...)
	}
	high := false
	rune1 := func(v int) {
		if v >= 0x80 {
			high = true
		}
		if v < 0x80 && (v < 0x20 || strings.IndexByte(`\.+*?()|[]{}^$-`, byte(v)) >= 0 || v == 0x7f) {
			fmt.Fprintf(&b, `\x%02x`, v)
			return
		}
		if v >= 0x80 {
			fmt.Fprintf(&b, `\x{%x}`, v)
			return
		}
		b.WriteByte(byte(v))
	}
	inClass := false
	classStart := 0 // index in p just after [ or [^
	afterQuant := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		wasQuant := afterQuant
		afterQuant = false
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return "", false, fmt.Errorf("pcre: pattern ends with a lone backslash")
			}
			i++
			n := p[i]
			switch {
			case strings.IndexByte("dDwWAtnrfa", n) >= 0:
				b.WriteByte('\\')
				b.WriteByte(n)
			case n == 'b' || n == 'B':
				if inClass {
					return bad(`\%c inside a class`, n)
				}
				b.WriteByte('\\')
				b.WriteByte(n)
			case n == 'z':
				b.WriteString(`\z`)
			case n == 'Z':
				if inClass {
					return bad(`\Z inside a class`)
				}
				b.WriteString(`(?:\n?\z)`)
			case n == 's':
				if inClass {
					b.WriteString(`\t\n\v\f\r `)
				} else {
					b.WriteString(`[\t\n\v\f\r ]`)
				}
			case n == 'S':
				if inClass {
					return bad(`\S inside a class`)
				}
				b.WriteString(`[^\t\n\v\f\r ]`)
			case n == 'e':
				b.WriteString(`\x1b`)
			case n == 'x':
				v, adv, err := pcreHex(p[i+1:])
				if err != nil {
					return "", false, err
				}
				if v > 0xff {
					return bad(`\x{%x} is not a byte`, v)
				}
				i += adv
				rune1(v)
			case n == 'c':
				if i+1 == len(p) {
					return "", false, fmt.Errorf(`pcre: \c at the end`)
				}
				i++
				ch := p[i]
				if 'a' <= ch && ch <= 'z' {
					ch -= 'a' - 'A'
				}
				rune1(int(ch ^ 0x40))
			case n == '0' || (inClass && '1' <= n && n <= '7'):
				j := i
				for j < len(p) && j < i+3 && '0' <= p[j] && p[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(p[i:j], 8, 16)
				if v > 0xff {
					return bad(`octal escape \%s is not a byte`, p[i:j])
				}
				i = j - 1
				rune1(int(v))
			case '1' <= n && n <= '9':
				// PCRE: \1-\9 are back-references; \NNN of 10 or more is
				// octal unless the pattern has that many groups (it would
				// need ten, refused below as a back-reference too).
				j := i
				for j < len(p) && j < i+3 && '0' <= p[j] && p[j] <= '9' {
					j++
				}
				dec, _ := strconv.Atoi(p[i:j])
				oct, err := strconv.ParseUint(p[i:j], 8, 16)
				if dec < 10 || err != nil || oct > 0xff || strings.Count(p, "(")-strings.Count(p, "(?") >= dec {
					return bad("back-reference \\%s", p[i:j])
				}
				i = j - 1
				rune1(int(oct))
			case n == 'Q':
				end := strings.Index(p[i+1:], `\E`)
				lit := p[i+1:]
				if end >= 0 {
					lit = p[i+1 : i+1+end]
					i += end + 2
				} else {
					i = len(p)
				}
				for k := 0; k < len(lit); k++ {
					rune1(int(lit[k]))
				}
			case n == 'E':
			case isLetter(n) || '0' <= n && n <= '9':
				return bad(`escape \%c`, n)
			default:
				rune1(int(n))
			}
		case inClass:
			switch {
			case c == ']' && i > classStart:
				inClass = false
				b.WriteByte(']')
			case c == '[' && i+1 < len(p) && p[i+1] == ':':
				end := strings.Index(p[i:], ":]")
				if end < 0 {
					return "", false, fmt.Errorf("pcre: unterminated [: class")
				}
				b.WriteString(p[i : i+end+2])
				i += end + 1
			case c >= 0x80:
				rune1(int(c))
			case c == '[':
				b.WriteString(`\[`)
			default:
				b.WriteByte(c)
			}
		case c == '[':
			inClass = true
			b.WriteByte('[')
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			classStart = i + 1
			if classStart < len(p) && p[classStart] == ']' {
				b.WriteString(`\]`)
				i++
				classStart = i + 1
			}
		case c == '(':
			if i+1 < len(p) && p[i+1] == '?' {
				rest := p[i+2:]
				switch {
				case strings.HasPrefix(rest, ":"), strings.HasPrefix(rest, "P<"):
				case strings.HasPrefix(rest, "<") && !strings.HasPrefix(rest, "<=") && !strings.HasPrefix(rest, "<!"):
				case len(rest) > 0 && strings.IndexByte("imsU-", rest[0]) >= 0:
					k := 0
					for k < len(rest) && strings.IndexByte("imsU-", rest[k]) >= 0 {
						k++
					}
					if k == len(rest) || (rest[k] != ')' && rest[k] != ':') {
						return bad("inline option group (?%s", rest[:min(k+1, len(rest))])
					}
					if strings.ContainsAny(rest[:k], "mi") {
						// $ and non-ASCII bytes are translated under the
						// pattern-wide flags.
						return bad("inline option (?%s)", rest[:k])
					}
				default:
					end := min(len(rest), 2)
					return bad("group (?%s (look-around, atomic, comment, recursion or conditional)", rest[:end])
				}
			}
			if i+1 < len(p) && p[i+1] == '*' {
				return bad("verb (*")
			}
			b.WriteByte('(')
		case c == '*' || c == '+' || c == '?':
			if c == '+' && wasQuant {
				return bad("possessive quantifier")
			}
			if c == '?' && wasQuant {
				b.WriteByte('?') // lazy
				break
			}
			b.WriteByte(c)
			afterQuant = true
		case c == '{':
			end := strings.IndexByte(p[i:], '}')
			body := ""
			if end > 0 {
				body = p[i+1 : i+end]
			}
			if end > 0 && isRepeat(body) {
				if strings.HasPrefix(body, ",") {
					return bad("quantifier {%s}", body)
				}
				b.WriteString(p[i : i+end+1])
				i += end
				afterQuant = true
			} else {
				b.WriteString(`\{`)
			}
		case c == '}':
			b.WriteString(`\}`)
		case c == '$':
			switch {
			case f.dollarEnd && !f.multiline:
				b.WriteString(`\z`)
			case f.multiline:
				b.WriteString(`(?:$)`)
			default:
				b.WriteString(`(?:\n?\z)`)
			}
		case c >= 0x80:
			rune1(int(c))
		default:
			b.WriteByte(c)
		}
	}
	if inClass {
		return "", false, fmt.Errorf("pcre: unterminated [ class")
	}
	if f.anchored {
		b.WriteByte(')')
	}
	return b.String(), high, nil
}

// isRepeat reports whether s is the inside of a {n}, {n,} or {n,m} quantifier.
func isRepeat(s string) bool {
	if s == "" {
		return false
	}
	a, bb, comma := strings.Cut(s, ",")
	digits := func(x string) bool {
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return false
			}
		}
		return true
	}
	if !comma {
		return digits(a)
	}
	return digits(a) && digits(bb)
}

// pcreHex parses the digits after \x: up to two hex digits, or {hhh}.
func pcreHex(s string) (v, advance int, err error) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, 0, fmt.Errorf(`pcre: unterminated \x{`)
		}
		n, err := strconv.ParseUint(s[1:end], 16, 32)
		if err != nil {
			return 0, 0, fmt.Errorf(`pcre: bad \x{%s}`, s[1:end])
		}
		return int(n), end + 1, nil
	}
	k := 0
	for k < len(s) && k < 2 && unhex(s[k]) != 0xff {
		v = v<<4 | int(unhex(s[k]))
		k++
	}
	return v, k, nil
}

// latin1 appends the Latin-1 expansion of b (each byte as the UTF-8 form of
// the rune of the same value) to dst.
func latin1(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x80 {
			dst = append(dst, c)
		} else {
			dst = append(dst, 0xc0|c>>6, 0x80|c&0x3f)
		}
	}
	return dst
}

// latin1Offset maps an offset in the Latin-1 expansion back to the buffer.
func latin1Offset(exp []byte, off int) int {
	n := 0
	for i := 0; i < off; i++ {
		if exp[i]&0xc0 != 0x80 {
			n++
		}
	}
	return n
}
