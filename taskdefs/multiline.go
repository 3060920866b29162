package taskdefs

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// The awslogs driver (moby daemon/logger/awslogs) joins lines into one
// CloudWatch event until a line matches awslogs-multiline-pattern, a Go
// regexp searched anywhere in the line; awslogs-datetime-format is turned
// into such a pattern by replacing each strftime sequence from the table
// below (literal text is used as regexp as it is, and an unknown sequence
// becomes nothing). inject reproduces this with Fluent Bit's multiline
// filter and a regex multiline parser that fluent-launch writes.

// awslogsStrftime is the driver's strftime-to-regexp table.
var awslogsStrftime = map[string]string{
	"%a": `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`,
	"%A": `(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)`,
	"%w": `[0-6]`,
	"%d": `(?:0[1-9]|[1,2][0-9]|3[0,1])`,
	"%b": `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`,
	"%B": `(?:January|February|March|April|May|June|July|August|September|October|November|December)`,
	"%m": `(?:0[1-9]|1[0-2])`,
	"%Y": `\d{4}`,
	"%y": `\d{2}`,
	"%H": `(?:[0,1][0-9]|2[0-3])`,
	"%I": `(?:0[0-9]|1[0-2])`,
	"%p": `[A,P]M`,
	"%M": `[0-5][0-9]`,
	"%S": `[0-5][0-9]`,
	"%f": `\d{6}`,
	"%z": `[+-]\d{4}`,
	"%Z": `[A-Z]{1,4}T`,
	"%j": `(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])`,
	"%L": `\.\d{3}`,
}

var strftimeSeqRE = regexp.MustCompile("%.")

// datetimePattern converts awslogs-datetime-format as the driver does, and
// lists the sequences it does not know (which the driver drops silently).
func datetimePattern(format string) (string, []string) {
	var unknown []string
	p := strftimeSeqRE.ReplaceAllStringFunc(format, func(s string) string {
		r, ok := awslogsStrftime[s]
		if !ok {
			unknown = append(unknown, s)
		}
		return r
	})
	return p, unknown
}

// onigmoRegex rewrites a Go (RE2) regexp for Fluent Bit's Onigmo, Ruby
// syntax, keeping what it matches in a single log line (the driver never
// passes a newline inside a line): named groups (?P<n>...) become (?<n>...),
// \pL becomes \p{L}, and the flags s and m, which differ between the two
// but cannot change a match without newlines, are dropped. What has no
// Onigmo equivalent is refused.
func onigmoRegex(re string) (string, error) {
	if _, err := syntax.Parse(re, syntax.Perl); err != nil {
		return "", fmt.Errorf("not a valid Go regexp, so the awslogs driver refuses it too: %w", err)
	}
	var b strings.Builder
	inClass := false
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\' && i+1 < len(re):
			n := re[i+1]
			switch {
			case n == 'Q' || n == 'E':
				return "", errors.New(`\Q...\E quoting has no equivalent in Fluent Bit's regex engine; escape the characters instead`)
			case n == 'C':
				return "", errors.New(`\C (any byte) has no equivalent in Fluent Bit's regex engine`)
			case (n == 'p' || n == 'P') && i+2 < len(re) && re[i+2] != '{':
				b.WriteString(`\` + string(n) + "{" + string(re[i+2]) + "}")
				i += 2
				continue
			}
			b.WriteByte(c)
			b.WriteByte(n)
			i++
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
			continue
		case c == '[':
			inClass = true
			b.WriteByte(c)
			// A "]" first in a class (or after "^") is a literal.
			if i+1 < len(re) && re[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(re) && re[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		case c == '(' && strings.HasPrefix(re[i:], "(?P<"):
			b.WriteString("(?<")
			i += len("(?P<") - 1
			continue
		case c == '(' && i+1 < len(re) && re[i+1] == '?':
			// A flag group: (?flags) or (?flags:...).
			j := i + 2
			for j < len(re) && strings.IndexByte("imsU-", re[j]) >= 0 {
				j++
			}
			if j < len(re) && (re[j] == ')' || re[j] == ':') && j > i+2 {
				flags := re[i+2 : j]
				if strings.Contains(flags, "U") {
					return "", errors.New("the flag U (ungreedy) has no equivalent in Fluent Bit's regex engine")
				}
				kept := strings.Map(func(r rune) rune {
					if r == 's' || r == 'm' {
						return -1
					}
					return r
				}, flags)
				kept = strings.TrimSuffix(kept, "-")
				switch {
				case kept == "" && re[j] == ')':
					// (?s) alone: nothing left to say.
				case kept == "":
					b.WriteString("(?:")
				default:
					b.WriteString("(?" + kept + string(re[j]))
				}
				i = j
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// awslogsMultiline returns the Onigmo start regex for a container's
// awslogs multiline options, "" when it has none, and notes for the
// user.
func awslogsMultiline(opts *Object) (start string, notes []string, err error) {
	pattern := opts.String("awslogs-multiline-pattern")
	format := opts.String("awslogs-datetime-format")
	switch {
	case pattern != "" && format != "":
		return "", nil, errors.New("awslogs-multiline-pattern and awslogs-datetime-format are both set; the awslogs driver refuses that, so this container cannot be running (keep one)")
	case format != "":
		p, unknown := datetimePattern(format)
		if len(unknown) > 0 {
			notes = append(notes, fmt.Sprintf("awslogs-datetime-format %q: %s match nothing, as in the awslogs driver", format, strings.Join(unknown, ", ")))
		}
		pattern = p
	case pattern == "":
		return "", nil, nil
	}
	start, err = onigmoRegex(pattern)
	if err != nil {
		return "", nil, fmt.Errorf("multiline pattern %q: %w", pattern, err)
	}
	return start, notes, nil
}

// multilineParserName is the parser fluent-launch writes for a container.
func multilineParserName(container string) string { return "sidewatch_" + container }
