package rules

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// rawRule is one rule as written: its header tokens and its options in order,
// before any keyword is interpreted.
type rawRule struct {
	action, proto string
	src, srcPorts string
	dir           string
	dst, dstPorts string
	opts          []rawOption
	line          int // first line of the rule in its file
	text          string
}

// rawOption is one `name` or `name:value` option; value keeps its escapes.
type rawOption struct {
	name     string
	value    string
	hasValue bool
}

// maxRuleLen bounds one rule (with its continuation lines); Suricata's own
// limit is 8 KiB per line, and ET's longest rules are a few KiB.
const maxRuleLen = 64 << 10

// lineRule is one rule's text and where it starts, as split from a file.
type lineRule struct {
	text     string
	line     int
	disabled bool // a commented-out rule (`#alert ...`), counted but not loaded
}

var actions = map[string]bool{
	"alert": true, "pass": true, "drop": true, "reject": true,
	"rejectsrc": true, "rejectdst": true, "rejectboth": true, "config": true,
}

// splitRules reads rule text: one rule per line, a trailing backslash
// continues a rule on the next line, blank lines and # comments are skipped
// (a comment that is itself a rule is reported as disabled).
func splitRules(r io.Reader, fn func(lineRule) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxRuleLen)
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if cur.Len() == 0 {
			trimmed := strings.TrimLeft(line, " \t")
			if trimmed == "" {
				continue
			}
			if trimmed[0] == '#' {
				body := strings.TrimLeft(trimmed[1:], " \t#")
				if w, _, _ := strings.Cut(body, " "); actions[w] && strings.Contains(body, "(") {
					if err := fn(lineRule{text: body, line: n, disabled: true}); err != nil {
						return err
					}
				}
				continue
			}
			start = n
			line = trimmed
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(line[:len(line)-1])
			if cur.Len() > maxRuleLen {
				return fmt.Errorf("line %d: rule longer than %d bytes", start, maxRuleLen)
			}
			continue
		}
		cur.WriteString(line)
		text := cur.String()
		cur.Reset()
		if err := fn(lineRule{text: text, line: start}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: line longer than %d bytes", n+1, maxRuleLen)
		}
		return err
	}
	if cur.Len() > 0 {
		return fmt.Errorf("line %d: rule continues past the end of the file", start)
	}
	return nil
}

// parseRaw splits one rule into header tokens and options.
func parseRaw(text string, line int) (*rawRule, error) {
	open := strings.IndexByte(text, '(')
	if open < 0 {
		return nil, errors.New("no option list: want `action proto src sport -> dst dport (options)`")
	}
	if !strings.HasSuffix(text, ")") {
		return nil, errors.New("option list does not end with `)`")
	}
	hdr, err := headerTokens(text[:open])
	if err != nil {
		return nil, err
	}
	if len(hdr) != 7 {
		return nil, fmt.Errorf("header has %d fields, want 7 (action proto src sport direction dst dport)", len(hdr))
	}
	r := &rawRule{action: hdr[0], proto: hdr[1], src: hdr[2], srcPorts: hdr[3], dir: hdr[4], dst: hdr[5], dstPorts: hdr[6], line: line, text: text}
	r.opts, err = parseOptions(text[open+1 : len(text)-1])
	if err != nil {
		return nil, err
	}
	return r, nil
}

// headerTokens splits the header on blanks, keeping [a, b] lists whole.
func headerTokens(s string) ([]string, error) {
	var toks []string
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth < 0 {
				return nil, errors.New("header: unbalanced `]`")
			}
		case (c == ' ' || c == '\t') && depth == 0:
			if start >= 0 {
				toks = append(toks, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if depth != 0 {
		return nil, errors.New("header: unbalanced `[`")
	}
	if start >= 0 {
		toks = append(toks, s[start:])
	}
	return toks, nil
}

// parseOptions splits `name:value; name;` pairs. A value ends at the first
// `;` not escaped by a backslash (quotes do not protect it, as in Suricata).
func parseOptions(s string) ([]rawOption, error) {
	var opts []rawOption
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			return opts, nil
		}
		j := i
		for j < len(s) && s[j] != ':' && s[j] != ';' {
			j++
		}
		name := strings.TrimSpace(s[i:j])
		if name == "" {
			return nil, fmt.Errorf("empty option at offset %d", i)
		}
		if j == len(s) {
			return nil, fmt.Errorf("option %q is not terminated by `;`", name)
		}
		if s[j] == ';' {
			opts = append(opts, rawOption{name: name})
			i = j + 1
			continue
		}
		k := j + 1
		for k < len(s) && s[k] != ';' {
			if s[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(s) {
			return nil, fmt.Errorf("option %q is not terminated by `;`", name)
		}
		opts = append(opts, rawOption{name: name, value: strings.TrimSpace(s[j+1 : k]), hasValue: true})
		i = k + 1
	}
}

// unquote strips the double quotes around a value and resolves the escapes
// Suricata allows in strings (\" \; \\ \: and, outside content, any \c).
func unquote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("want a double-quoted string, got %s", v)
	}
	v = v[1 : len(v)-1]
	if !strings.ContainsAny(v, `\"`) {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' {
			return "", errors.New(`unescaped ` + "`\"`" + ` inside a string`)
		}
		if c == '\\' {
			if i+1 == len(v) {
				return "", errors.New("string ends with a lone backslash")
			}
			i++
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}
