package rules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Built-in detections use gid 1 and sids in [BuiltinSIDMin, BuiltinSIDMax];
// a loaded rule may not, so that an alert's sid always names one signature.
const (
	BuiltinSIDMin = 9000000
	BuiltinSIDMax = 9000999
)

// Options is what loading needs besides the rule text.
type Options struct {
	Vars    Vars    // nil: DefaultVars("")
	Classes Classes // nil: DefaultClasses()
	Lists   Lists   // named intel lists for dataset and iprep; may be nil
	// MaxDatasetEntries bounds one dataset file (default 1,000,000).
	MaxDatasetEntries int
}

// Set is a loaded rule set: the rules in force, their index, and the
// report of what was skipped. It is immutable.
type Set struct {
	Rules  []*Rule
	Report Report
	ix     *index
}

// Report tells what a load found.
type Report struct {
	Files       []string
	Parsed      int // rules read, not counting commented-out ones
	Disabled    int // commented-out rules (`#alert ...`)
	Loaded      int
	Unsupported []*Unsupported
	Errors      []*SyntaxError

	loaded map[string]int
}

// FileCount is a number of rules loaded from one file.
type FileCount struct {
	File  string
	Rules int
}

// LoadedByFile returns the rules loaded from each file, in load order.
func (r *Report) LoadedByFile() []FileCount {
	out := make([]FileCount, 0, len(r.Files))
	for _, f := range r.Files {
		out = append(out, FileCount{f, r.loaded[f]})
	}
	return out
}

// UnsupportedByKeyword counts the skipped rules by their first unsupported keyword.
func (r *Report) UnsupportedByKeyword() map[string]int {
	m := map[string]int{}
	for _, u := range r.Unsupported {
		m[u.Keyword]++
	}
	return m
}

// Load reads rule files and directories (every *.rules file in a directory,
// in name order). It fails only when a path cannot be read; rules that do
// not parse or fall outside the subset are listed in the report and skipped.
func Load(paths []string, opt Options) (*Set, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.rules"))
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		slices.Sort(m)
		files = append(files, m...)
	}
	b := newBuilder(opt)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		err = b.add(f, fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("rules: %s: %w", f, err)
		}
	}
	return b.build(), nil
}

// LoadReader loads the rules of one reader, named name in reports;
// dataset files resolve against dir.
func LoadReader(name, dir string, r io.Reader, opt Options) (*Set, error) {
	b := newBuilder(opt)
	b.datasets.dir = dir
	if err := b.add(name, r); err != nil {
		return nil, fmt.Errorf("rules: %s: %w", name, err)
	}
	return b.build(), nil
}

type builder struct {
	c        *compiler
	datasets *datasets
	rules    []*Rule
	seen     map[[2]int]*Rule
	rep      Report
}

func newBuilder(opt Options) *builder {
	if opt.Vars == nil {
		opt.Vars = DefaultVars("")
	}
	if opt.Classes == nil {
		opt.Classes = DefaultClasses()
	}
	if opt.MaxDatasetEntries <= 0 {
		opt.MaxDatasetEntries = 1_000_000
	}
	ds := &datasets{lists: opt.Lists, sets: map[string]*dataset{}, maxEntries: opt.MaxDatasetEntries}
	return &builder{
		c:        &compiler{vars: opt.Vars, classes: opt.Classes, datasets: ds, lists: opt.Lists, addrs: map[string]addrSet{}, ports: map[string]portSet{}, strs: map[string]string{}},
		datasets: ds,
		seen:     map[[2]int]*Rule{},
	}
}

func (b *builder) add(name string, r io.Reader) error {
	b.rep.Files = append(b.rep.Files, name)
	b.c.file = name
	if b.datasets.dir == "" || len(b.rep.Files) > 1 {
		b.datasets.dir = filepath.Dir(name)
	}
	return splitRules(r, func(lr lineRule) error {
		if lr.disabled {
			b.rep.Disabled++
			return nil
		}
		b.rep.Parsed++
		b.one(name, lr)
		return nil
	})
}

func (b *builder) one(name string, lr lineRule) {
	fail := func(sid int, err error) {
		var u *Unsupported
		if errors.As(err, &u) {
			u.SID, u.File, u.Line = sid, name, lr.line
			b.rep.Unsupported = append(b.rep.Unsupported, u)
			return
		}
		b.rep.Errors = append(b.rep.Errors, &SyntaxError{File: name, Line: lr.line, SID: sid, Err: err})
	}
	raw, err := parseRaw(lr.text, lr.line)
	if err != nil {
		fail(sidOf(lr.text), err)
		return
	}
	r, err := b.c.compile(raw)
	sid := 0
	if r != nil {
		sid = r.SID
	}
	if err != nil {
		fail(sid, err)
		return
	}
	if r.GID == 1 && r.SID >= BuiltinSIDMin && r.SID <= BuiltinSIDMax {
		fail(sid, fmt.Errorf("sid %d is in the range reserved for sidewatch's built-in detections (%d-%d)", r.SID, BuiltinSIDMin, BuiltinSIDMax))
		return
	}
	key := [2]int{r.GID, r.SID}
	if prev := b.seen[key]; prev != nil {
		fail(sid, fmt.Errorf("duplicate gid %d sid %d (first at %s:%d)", r.GID, r.SID, prev.File, prev.Line))
		return
	}
	b.seen[key] = r
	b.rules = append(b.rules, r)
}

// sidOf finds the sid of a rule that did not parse, for the report.
func sidOf(text string) int {
	i := strings.Index(text, "sid:")
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range strings.TrimLeft(text[i+4:], " ") {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 1<<31 {
			return 0
		}
	}
	return n
}

func (b *builder) build() *Set {
	b.rep.Loaded = len(b.rules)
	b.rep.loaded = map[string]int{}
	for _, r := range b.rules {
		b.rep.loaded[r.File]++
	}
	var home *addrSet
	if h, err := b.c.vars.parseAddrs("$HOME_NET"); err == nil {
		home = &h
	}
	return &Set{Rules: b.rules, Report: b.rep, ix: buildIndex(b.rules, home)}
}
