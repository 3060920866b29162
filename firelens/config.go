package firelens

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SectionType is what Fluent Bit makes of a section header.
type SectionType uint8

// Section types, in the order Fluent Bit tries them.
const (
	SectionOther SectionType = iota
	SectionService
	SectionParser
	SectionMultilineParser
	SectionStreamProcessor
	SectionPlugins
	SectionUpstreamServers
	SectionCustom
	SectionInput
	SectionFilter
	SectionOutput
)

// sectionNames lists, per type, the names a header may abbreviate. Fluent
// Bit tries them in this order and takes the first name that the header
// name is a case-insensitive prefix of, so "[IN]" is an input and "[P]" a
// parser.
var sectionNames = [...]struct {
	typ   SectionType
	names []string
}{
	{SectionService, []string{"service"}},
	{SectionParser, []string{"parser"}},
	{SectionMultilineParser, []string{"multiline_parser"}},
	{SectionStreamProcessor, []string{"stream_processor"}},
	{SectionPlugins, []string{"plugins"}},
	{SectionUpstreamServers, []string{"upstream_servers"}},
	{SectionCustom, []string{"custom", "customs"}},
	{SectionInput, []string{"input", "inputs"}},
	{SectionFilter, []string{"filter", "filters"}},
	{SectionOutput, []string{"output", "outputs"}},
}

// ParseSectionType types a header name (the text between "[" and the first
// "]") as Fluent Bit does.
func ParseSectionType(name string) SectionType {
	if name == "" {
		// Fluent Bit then reads past the "]" and never finds a known type.
		return SectionOther
	}
	for _, s := range sectionNames {
		for _, n := range s.names {
			if len(name) <= len(n) && equalFoldASCII(name, n[:len(name)]) {
				return s.typ
			}
		}
	}
	return SectionOther
}

// String returns the canonical header name, e.g. "INPUT".
func (t SectionType) String() string {
	for _, s := range sectionNames {
		if s.typ == t {
			return strings.ToUpper(s.names[0])
		}
	}
	return "OTHER"
}

type lineKind uint8

const (
	kindBlank       lineKind = iota // empty or whitespace only
	kindComment                     // "#" at column 0 or after the indent
	kindInclude                     // "@INCLUDE path"
	kindMeta                        // any other "@" line
	kindHeader                      // "[name]" at column 0
	kindEntry                       // key and value of a section
	kindGroupHeader                 // indented "[name]"
	kindGroupEntry                  // key and value of a group
)

// line is one line of the file. text+eol are the original bytes.
type line struct {
	text string
	eol  string // "\n", "\r\n", or "" for a last line without a newline
	kind lineKind
	typ  SectionType // kindHeader only
	key  string      // kindEntry only: the key, trimmed
}

// Config is a Fluent Bit classic-format file kept line by line, so that
// printing it gives back the input byte for byte except where it was patched.
type Config struct {
	lines  []line
	indent string // the file's indent; "" when no line is indented
	eol    string // line ending for inserted lines
}

// DefaultIndent is used for inserted lines when the file has no indented line.
const DefaultIndent = "    "

// ParseError is a line that Fluent Bit itself would reject.
type ParseError struct {
	Line int // 1-based
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// equalFoldASCII compares like C's strcasecmp: only ASCII letters fold,
// unlike strings.EqualFold, which also folds e.g. U+212A KELVIN SIGN to "k".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isBlank is C's isblank: the only characters that indent.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// Parse reads a classic-format config. It recognises lines the way Fluent
// Bit's classic parser does and rejects what that parser rejects and
// patching depends on: a header without "]", inconsistent indentation, an
// entry without a value or outside a section. Everything else, including
// sections Fluent Bit would reject later, is kept as it is.
func Parse(src []byte) (*Config, error) {
	c := &Config{eol: "\n", lines: make([]line, 0, bytes.Count(src, []byte{'\n'})+1)}
	var (
		indentSet  bool
		inSection  bool
		inGroup    bool
		firstLine  = true
		lineNumber int
	)
	fail := func(msg string, yaml bool) (*Config, error) {
		if yaml {
			msg += " (this looks like Fluent Bit YAML; only the classic format is supported)"
		}
		return nil, &ParseError{Line: lineNumber, Msg: msg}
	}
	// One conversion: every line's text shares this string's memory.
	for s := string(src); len(s) > 0; {
		var l line
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l.text, l.eol = s[:i], "\n"
			s = s[i+1:]
			// Fluent Bit strips one "\r" only before a "\n".
			if strings.HasSuffix(l.text, "\r") {
				l.text, l.eol = l.text[:len(l.text)-1], "\r\n"
			}
		} else {
			l.text, s = s, ""
		}
		if firstLine && l.eol == "\r\n" {
			c.eol = "\r\n"
		}
		firstLine = false
		lineNumber++
		t := l.text
		switch {
		case t == "":
			l.kind = kindBlank
		case t[0] == '#':
			l.kind = kindComment
		case len(t) > 9 && equalFoldASCII(t[:9], "@INCLUDE "):
			l.kind = kindInclude
		case t[0] == '@':
			if !strings.Contains(t, " ") {
				return fail(`"@" command without a value`, false)
			}
			l.kind = kindMeta
		case t[0] == '[':
			end := strings.IndexByte(t, ']')
			if end < 0 {
				return fail(`bad section header: no "]"`, false)
			}
			l.kind, l.typ = kindHeader, ParseSectionType(t[1:end])
			inSection, inGroup = true, false
		case !isBlank(t[0]):
			if !inSection {
				return fail("entry outside a section", isYAMLKey(t))
			}
			return fail("entry is not indented", isYAMLKey(t))
		default:
			if !indentSet {
				i := 1
				for i < len(t) && isBlank(t[i]) {
					i++
				}
				c.indent, indentSet = t[:i], true
			}
			level, group, err := checkIndent(t, c.indent)
			if err != "" {
				return fail(err, false)
			}
			if !group {
				inGroup = false
			}
			rest := t[level:]
			switch {
			case rest == "":
				l.kind = kindBlank
			case rest[0] == '#':
				l.kind = kindComment
			default:
				if !inSection {
					return fail("entry outside a section", false)
				}
				if rest[0] == '[' {
					if strings.IndexByte(rest, ']') < 0 {
						return fail(`bad group header: no "]"`, false)
					}
					l.kind, inGroup = kindGroupHeader, true
					break
				}
				sep := strings.IndexByte(rest, ' ')
				if sep < 0 {
					return fail("entry has no value (key and value must be separated by a space)", false)
				}
				if inGroup {
					l.kind = kindGroupEntry
					break
				}
				l.kind, l.key = kindEntry, strings.TrimRight(rest[:sep], " \t\r\v\f")
			}
		}
		c.lines = append(c.lines, l)
	}
	return c, nil
}

// checkIndent mirrors Fluent Bit's check: a line must start with the
// file's indent, optionally followed by exactly as many more blanks (a
// group's content). It returns the indent's length and whether the line is
// at the second level, or the message Fluent Bit would fail with.
func checkIndent(t, indent string) (level int, second bool, err string) {
	n := 0
	for n < len(t) && n < len(indent) && t[n] == indent[n] {
		n++
	}
	if n < len(indent) {
		if n < len(t) && isBlank(t[n]) {
			return 0, false, "invalid indentation: inconsistent use of tabs and spaces"
		}
		return 0, false, "invalid indentation: less than the file's indent " + quoteIndent(indent)
	}
	extra := 0
	for n+extra < len(t) && isBlank(t[n+extra]) {
		extra++
	}
	switch extra {
	case 0:
		return n, false, ""
	case n:
		return 2 * n, true, ""
	}
	return 0, false, "invalid indentation: more than the file's indent " + quoteIndent(indent)
}

func quoteIndent(indent string) string {
	tabs := strings.Count(indent, "\t")
	switch {
	case tabs == 0:
		return fmt.Sprintf("(%d spaces)", len(indent))
	case tabs == len(indent):
		return fmt.Sprintf("(%d tabs)", tabs)
	}
	return fmt.Sprintf("(%q)", indent)
}

// isYAMLKey reports whether an unindented line looks like a YAML mapping
// key such as "service:" or "pipeline:", or a document marker.
func isYAMLKey(t string) bool {
	t = strings.TrimRight(t, " \t\r")
	if t == "---" {
		return true
	}
	name, ok := strings.CutSuffix(t, ":")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// Bytes prints the config.
func (c *Config) Bytes() []byte {
	n := 0
	for _, l := range c.lines {
		n += len(l.text) + len(l.eol)
	}
	b := make([]byte, 0, n)
	for _, l := range c.lines {
		b = append(b, l.text...)
		b = append(b, l.eol...)
	}
	return b
}

// Indent is the file's indent, or DefaultIndent when no line is indented.
func (c *Config) Indent() string {
	if c.indent == "" {
		return DefaultIndent
	}
	return c.indent
}

// Setting is one -i, -f, -o or -s option of fluent-launch: Key set to Value
// in every section of type Section.
type Setting struct {
	Section SectionType
	Key     string
	Value   string
}

// ErrSettingSection is returned for a Setting whose section type cannot be
// patched.
var ErrSettingSection = errors.New("section must be INPUT, FILTER, OUTPUT or SERVICE")

// Validate checks that the setting prints as one entry line that parses
// back to the same key and value.
func (s Setting) Validate() error {
	switch s.Section {
	case SectionInput, SectionFilter, SectionOutput, SectionService:
	default:
		return ErrSettingSection
	}
	switch {
	case s.Key == "":
		return errors.New("key is empty")
	case strings.ContainsAny(s.Key, " \t\r\n\v\f"):
		return fmt.Errorf("key %q contains whitespace", s.Key)
	case strings.ContainsAny(s.Key[:1], "[@#"):
		return fmt.Errorf("key %q starts with %q", s.Key, s.Key[:1])
	case strings.TrimSpace(s.Value) == "":
		return fmt.Errorf("value for key %q is empty", s.Key)
	case strings.ContainsAny(s.Value, "\r\n"):
		return fmt.Errorf("value for key %q contains a line break", s.Key)
	}
	return nil
}

// Set applies s to every section of its type: all entries whose key equals
// s.Key case-insensitively (as Fluent Bit compares keys) are replaced by
// one entry at the first one's position, keeping its indentation; a section
// without the key gets it after its last entry, with the file's indent.
// For SectionService, a file without a [SERVICE] section gets one at its
// end, after any @INCLUDE, so it is parsed last and wins.
func (c *Config) Set(s Setting) error {
	if err := s.Validate(); err != nil {
		return err
	}
	entry := s.Key + " " + s.Value
	out := make([]line, 0, len(c.lines)+8)
	var (
		target  bool // inside a section of type s.Section
		found   bool // the key was seen in the current target section
		exists  bool // a target section exists
		groups  bool // the current section has a group
		lastPos int  // index in out of the target section's last entry or header
	)
	added := c.Indent() + entry
	endSection := func() {
		if target && !found {
			out = c.insertAfter(out, lastPos, line{text: added, kind: kindEntry, key: s.Key})
		}
	}
	for _, l := range c.lines {
		switch l.kind {
		case kindHeader:
			endSection()
			target, found, groups = l.typ == s.Section, false, false
			exists = exists || target
			lastPos = len(out)
		case kindGroupHeader:
			groups = true
		case kindEntry:
			if !target {
				break
			}
			if equalFoldASCII(l.key, s.Key) {
				if found {
					// Drop a later duplicate. Inside a section with groups, a
					// first-level line also ends a group; a line holding just
					// the indent keeps that meaning.
					if groups && l.text[:len(l.text)-len(strings.TrimLeft(l.text, " \t"))] == c.indent {
						out = append(out, line{text: c.indent, eol: l.eol, kind: kindBlank})
					}
					continue
				}
				found = true
				l.text = l.text[:len(l.text)-len(strings.TrimLeft(l.text, " \t"))] + entry
				l.key = s.Key
			}
			lastPos = len(out)
		}
		out = append(out, l)
	}
	endSection()
	c.lines = out
	if !exists && s.Section == SectionService {
		c.appendService(s.Key, entry)
	}
	return nil
}

// insertAfter inserts l after out[i]. A new last line takes over the file's
// missing final newline.
func (c *Config) insertAfter(out []line, i int, l line) []line {
	l.eol = c.eol
	if out[i].eol == "" {
		l.eol, out[i].eol = "", c.eol
	}
	return slices.Insert(out, i+1, l)
}

// appendService adds a [SERVICE] section holding entry at the end of the
// file, separated from what precedes it by one blank line.
func (c *Config) appendService(key, entry string) {
	if n := len(c.lines); n > 0 {
		last := &c.lines[n-1]
		if last.eol == "" {
			last.eol = c.eol
		}
		if last.kind != kindBlank || strings.TrimSpace(last.text) != "" {
			c.lines = append(c.lines, line{eol: c.eol, kind: kindBlank})
		}
	}
	c.lines = append(c.lines,
		line{text: "[SERVICE]", eol: c.eol, kind: kindHeader, typ: SectionService},
		line{text: c.Indent() + entry, eol: c.eol, kind: kindEntry, key: key},
	)
}

// Includes returns the path of every @INCLUDE line, in file order, exactly
// as written (Fluent Bit does not trim it).
func (c *Config) Includes() []string {
	var paths []string
	for _, l := range c.lines {
		if l.kind == kindInclude {
			paths = append(paths, l.text[len("@INCLUDE "):])
		}
	}
	return paths
}

// RewriteIncludes replaces the path of every @INCLUDE line with
// rewrite(path), keeping the directive as written.
func (c *Config) RewriteIncludes(rewrite func(path string) string) {
	for i := range c.lines {
		l := &c.lines[i]
		if l.kind == kindInclude {
			l.text = l.text[:len("@INCLUDE ")] + rewrite(l.text[len("@INCLUDE "):])
		}
	}
}

// IncludeDir returns a rewrite function for RewriteIncludes that makes a
// relative path absolute against dir, the directory of the config Fluent
// Bit was given, the way Fluent Bit resolves it. Globs are kept; the path is
// not cleaned, because ".." after a symbolic link means something else to
// the kernel than to a lexical clean.
func IncludeDir(dir string) func(string) string {
	return func(p string) string {
		if strings.HasPrefix(p, "/") {
			return p
		}
		return strings.TrimSuffix(dir, "/") + "/" + p
	}
}

// Patch parses src, applies the settings in order, then rewrites every
// @INCLUDE path with rewriteInclude unless it is nil.
func Patch(src []byte, settings []Setting, rewriteInclude func(string) string) ([]byte, error) {
	c, err := Parse(src)
	if err != nil {
		return nil, err
	}
	for _, s := range settings {
		if err := c.Set(s); err != nil {
			return nil, err
		}
	}
	if rewriteInclude != nil {
		c.RewriteIncludes(rewriteInclude)
	}
	return c.Bytes(), nil
}

// IncludeError is an @INCLUDE line that could not be inlined.
type IncludeError struct {
	Line int // 1-based, in the including file
	Path string
	Err  error
}

func (e *IncludeError) Error() string {
	return fmt.Sprintf("line %d: @INCLUDE %s: %v", e.Line, e.Path, e.Err)
}

func (e *IncludeError) Unwrap() error { return e.Err }

// InlineIncludes replaces every @INCLUDE line with the configs that load
// returns for its path (as written), in order, re-indented to this file's
// indent, after a comment naming the directive. load resolves paths and
// globs, reads, parses and recursively inlines; InlineIncludes only
// splices. An include followed by more entries of the section it sits in
// is refused when the included files define sections: Fluent Bit keeps
// those entries in the including file's section, and a flat file cannot.
func (c *Config) InlineIncludes(load func(path string) ([]*Config, error)) error {
	indent := c.Indent()
	out := make([]line, 0, len(c.lines))
	inlined := false
	for i, l := range c.lines {
		if l.kind != kindInclude {
			out = append(out, l)
			continue
		}
		path := l.text[len("@INCLUDE "):]
		incs, err := load(path)
		if err != nil {
			return &IncludeError{Line: i + 1, Path: path, Err: err}
		}
		if c.entriesFollow(i) && hasHeader(incs) {
			return &IncludeError{Line: i + 1, Path: path, Err: errors.New("cannot inline an include that is followed by more entries of its section")}
		}
		out = append(out, line{text: "# " + l.text + " (inlined by fluent-launch)", eol: c.eol, kind: kindComment})
		for _, inc := range incs {
			for _, il := range inc.lines {
				il.eol = c.eol
				if il.text != "" && isBlank(il.text[0]) {
					// Whitespace-only lines too: the first of them may be
					// what sets the indent.
					level, _, _ := checkIndent(il.text, inc.indent)
					il.text = strings.Repeat(indent, level/len(inc.indent)) + il.text[level:]
				}
				out = append(out, il)
			}
		}
		inlined = true
	}
	if !inlined {
		return nil
	}
	// Parse the result again: it derives the indent, line kinds and
	// groups for the whole file, and proves the splice is well-formed.
	var b []byte
	for _, l := range out {
		b = append(b, l.text...)
		b = append(b, l.eol...)
	}
	re, err := Parse(b)
	if err != nil {
		return fmt.Errorf("inlined config: %w", err)
	}
	*c = *re
	return nil
}

// entriesFollow reports whether line i is followed by entries before the
// next section header.
func (c *Config) entriesFollow(i int) bool {
	for _, l := range c.lines[i+1:] {
		switch l.kind {
		case kindHeader:
			return false
		case kindEntry, kindGroupHeader, kindGroupEntry:
			return true
		}
	}
	return false
}

func hasHeader(cs []*Config) bool {
	for _, c := range cs {
		for _, l := range c.lines {
			if l.kind == kindHeader {
				return true
			}
		}
	}
	return false
}
