package launcher

import (
	"fmt"
	"strings"
)

// MultilineParsersName is the parsers file fluent-launch writes beside the
// patched config when given --multiline-parser, and passes with -R.
// Fluent Bit refuses [MULTILINE_PARSER] sections in the main config.
const MultilineParsersName = "multiline-parsers.conf"

// MultilineParser is a Fluent Bit regex multiline parser in which a line
// matching Start begins a new event and every other line continues the
// current one: the semantics of the awslogs driver's
// awslogs-multiline-pattern.
type MultilineParser struct {
	Name  string
	Start string // Onigmo (Ruby syntax) regex, matched anywhere in the line
}

// validate refuses what the parsers file cannot carry.
func (p MultilineParser) validate() error {
	if p.Name == "" || strings.ContainsAny(p.Name, " \t\r\n\"") {
		return fmt.Errorf("multiline parser name %q: want one word", p.Name)
	}
	if p.Start == "" || strings.ContainsAny(p.Start, "\r\n") {
		return fmt.Errorf("multiline parser %s: the start regex must be one non-empty line", p.Name)
	}
	if strings.HasSuffix(p.Start, `\`) {
		return fmt.Errorf("multiline parser %s: the start regex ends in a backslash", p.Name)
	}
	return nil
}

// multilineParsersFile renders the parsers. A rule is three quoted tokens
// ("state" "/regex/" "next"); Fluent Bit unescapes only \" inside them,
// so a quote in the regex is written \" (and a regex's own \" becomes \\"
// which reads back as \", the same pattern).
func multilineParsersFile(ps []MultilineParser) []byte {
	var b strings.Builder
	b.WriteString("# Written by fluent-launch (--multiline-parser).\n")
	for _, p := range ps {
		q := strings.ReplaceAll(p.Start, `"`, `\"`)
		fmt.Fprintf(&b, "\n[MULTILINE_PARSER]\n")
		fmt.Fprintf(&b, "    name          %s\n", p.Name)
		fmt.Fprintf(&b, "    type          regex\n")
		fmt.Fprintf(&b, "    flush_timeout 1000\n")
		fmt.Fprintf(&b, "    rule          \"start_state\" \"/%s/\" \"cont\"\n", q)
		// Lines where the start regex matches nowhere continue the event.
		fmt.Fprintf(&b, "    rule          \"cont\" \"/^(?!.*?(?:%s))/\" \"cont\"\n", q)
	}
	return []byte(b.String())
}
