package intel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Source is one indicator file, or built-in data.
type Source struct {
	// Path is the file to read; empty when Data is given.
	Path string
	// Data is read instead of a file (built-in lists).
	Data []byte
	// Name labels the source in matches and reports; the file's base name
	// when empty.
	Name string
	// Tag is copied into every match of the source's indicators, so that the
	// caller can tell lists apart (for example "mining" for pool lists).
	Tag string
}

func (s Source) label() string {
	if s.Name != "" {
		return s.Name
	}
	return filepath.Base(s.Path)
}

// Rejection is one rejected line.
type Rejection struct {
	Line   int    // 1-based
	Reason string // one of the Reason constants
	Text   string // the line, cut to 80 bytes
}

// maxExamples bounds the rejections kept per file for the report.
const maxExamples = 10

// FileReport counts what one source held.
type FileReport struct {
	Source     string
	Lines      int
	Loaded     [numKinds]int // indicators added, by kind
	Duplicates int           // indicators already listed (here or in an earlier source)
	Rejected   map[string]int
	Examples   []Rejection // the first rejected lines
}

// RejectedLines returns the number of rejected lines.
func (r *FileReport) RejectedLines() int {
	n := 0
	for _, c := range r.Rejected {
		n += c
	}
	return n
}

// Report describes one load.
type Report struct {
	Files []FileReport
	Took  time.Duration
	Bytes int // memory of the set's tables
}

// Indicators returns the number of indicators loaded of kind k.
func (r *Report) Indicators(k Kind) int {
	n := 0
	for i := range r.Files {
		n += r.Files[i].Loaded[k]
	}
	return n
}

// Rejected returns the rejected lines of every file by reason.
func (r *Report) Rejected() map[string]int {
	out := map[string]int{}
	for i := range r.Files {
		for reason, n := range r.Files[i].Rejected {
			out[reason] += n
		}
	}
	return out
}

// Load reads every source into a new Set. A source that cannot be read
// fails the load; rejected lines do not (they are counted in the report).
func Load(sources []Source) (*Set, Report, error) {
	start := time.Now()
	b := newBuilder()
	rep := Report{Files: make([]FileReport, len(sources))}
	for i, src := range sources {
		fr := &rep.Files[i]
		fr.Source = src.label()
		fr.Rejected = map[string]int{}
		var r io.Reader
		if src.Path == "" {
			r = bytes.NewReader(src.Data)
		} else {
			f, err := os.Open(src.Path)
			if err != nil {
				return nil, rep, fmt.Errorf("intel file: %w", err)
			}
			r = f
			defer f.Close()
		}
		if err := b.read(r, i, src, fr); err != nil {
			return nil, rep, fmt.Errorf("intel file %s: %w", src.label(), err)
		}
	}
	s := b.build(rep.Files)
	rep.Took = time.Since(start)
	rep.Bytes = s.Bytes()
	return s, rep, nil
}

// builder collects keys before the tables are sized.
type builder struct {
	seed       uint64
	keys       [numKinds + 1][]uint64 // index numKinds holds IPv6
	refs       [numKinds + 1][]uint32
	v4Lens     [33]bool
	v6Lens     [129]bool
	meta       []Meta
	metaIndex  map[Meta]uint32
	metaSource []int // source index of each meta
}

const v6Slot = numKinds

func newBuilder() *builder {
	return &builder{seed: newSeed(), metaIndex: map[Meta]uint32{}}
}

func (b *builder) ref(m Meta, source int) uint32 {
	if r, ok := b.metaIndex[m]; ok && b.metaSource[r] == source {
		return r
	}
	r := uint32(len(b.meta))
	b.meta = append(b.meta, m)
	b.metaSource = append(b.metaSource, source)
	b.metaIndex[m] = r
	return r
}

// read parses one source line by line.
func (b *builder) read(r io.Reader, source int, src Source, fr *FileReport) error {
	br := bufio.NewReaderSize(r, MaxLineBytes+4096)
	var p lineParser
	label := src.label()
	emit := func(ind indicator, desc string) {
		b.add(ind, b.ref(Meta{List: label, Description: desc, Tag: src.Tag}, source))
	}
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			fr.Lines++
			if fr.Lines == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			}
			var reason string
			if len(line) > MaxLineBytes {
				reason = ReasonLineTooLong
			} else {
				reason = p.parse(string(line), emit)
			}
			if reason != "" {
				fr.Rejected[reason]++
				if len(fr.Examples) < maxExamples {
					fr.Examples = append(fr.Examples, Rejection{Line: fr.Lines, Reason: reason, Text: cut(line, 80)})
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line without its line break. A line longer
// than MaxLineBytes is returned cut to MaxLineBytes+1 bytes (the rest is
// skipped), so that the caller sees it is too long.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := slices.Clone(line[:min(len(line), MaxLineBytes+1)])
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return long, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, err
}

func cut(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

func (b *builder) add(ind indicator, ref uint32) {
	switch ind.kind {
	case KindIP:
		a, bits := ind.prefix.Addr(), uint8(ind.prefix.Bits())
		if a.Is4() {
			x := a.As4()
			v := uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])
			b.keys[KindIP] = append(b.keys[KindIP], v4Key(v, bits))
			b.refs[KindIP] = append(b.refs[KindIP], ref)
			b.v4Lens[bits] = true
			return
		}
		hi, lo := halves(a)
		b.keys[v6Slot] = append(b.keys[v6Slot], v6Key(b.seed, hi, lo, bits))
		b.refs[v6Slot] = append(b.refs[v6Slot], ref)
		b.v6Lens[bits] = true
	case KindDomain:
		b.keys[KindDomain] = append(b.keys[KindDomain], domainKey(b.seed, ind.value))
		b.refs[KindDomain] = append(b.refs[KindDomain], ref)
	case KindJA3, KindJA4:
		b.keys[ind.kind] = append(b.keys[ind.kind], fingerprintKey(b.seed, ind.value))
		b.refs[ind.kind] = append(b.refs[ind.kind], ref)
	}
}

// build sizes the tables and counts, per file, what was loaded and what
// duplicated an earlier indicator.
func (b *builder) build(files []FileReport) *Set {
	s := &Set{seed: b.seed, meta: b.meta}
	tables := [numKinds + 1]*table{KindIP: &s.v4, KindDomain: &s.domains, KindJA3: &s.ja3, KindJA4: &s.ja4, v6Slot: &s.v6}
	for slot, t := range tables {
		if t == nil {
			continue
		}
		kind := Kind(slot)
		if Kind(slot) == v6Slot {
			kind = KindIP
		}
		refs := b.refs[slot]
		for _, r := range refs {
			files[b.metaSource[r]].Loaded[kind]++
		}
		dups := 0
		keys := b.keys[slot]
		var more map[uint64][]uint32
		*t = newTable(keys, refs, func(i int, first uint32) {
			dups++
			f := &files[b.metaSource[refs[i]]]
			f.Loaded[kind]--
			f.Duplicates++
			// Another list holding the same indicator: remember it, so that
			// InList answers for every list, not only the first.
			list := b.meta[refs[i]].List
			if b.meta[first].List == list || slices.ContainsFunc(more[keys[i]], func(r uint32) bool { return b.meta[r].List == list }) {
				return
			}
			if more == nil {
				more = map[uint64][]uint32{}
			}
			more[keys[i]] = append(more[keys[i]], refs[i])
		})
		t.more = more
		s.counts[kind] += len(refs) - dups
		b.keys[slot], b.refs[slot] = nil, nil
	}
	for bits := 32; bits >= 0; bits-- {
		if b.v4Lens[bits] {
			s.v4Lens = append(s.v4Lens, uint8(bits))
		}
	}
	for bits := 128; bits >= 0; bits-- {
		if b.v6Lens[bits] {
			s.v6Lens = append(s.v6Lens, uint8(bits))
		}
	}
	return s
}
