package rules

import (
	"fmt"
	"regexp"
	"slices"
	"sync/atomic"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Rule is one loaded rule: what it says (sid, msg, class) and what it
// matches, compiled.
type Rule struct {
	SID, GID, Rev int
	Msg           string
	ClassType     string
	Category      string // the classtype's description, EVE's alert.category
	Severity      int    // priority keyword, else the classtype's priority, else 3
	Action        string // alert or pass (drop and reject alert: sidewatch only watches)
	Proto         string
	References    []string
	Metadata      []Meta
	Target        string // src_ip or dest_ip when the rule says which side is the target
	File          string
	Line          int

	src, dst     addrSet
	sport, dport portSet
	bidir        bool
	flowDir      dir
	established  int8 // 1 established, -1 not_established, 0 either
	transport    string
	app          string // event_type the rule reads buffers from, "" for IP-only
	lists        []*bufList
	lookups      []iprep
	itype, icode *numCmp // ICMP type and code of the packet in the match's direction
	threshold    *thresholdSpec
	perFlow      bool // IP-only and protocol-only rules alert once per flow
	// alertMeta is Metadata as EVE's alert.metadata, built at the rule's
	// first alert: most rules never alert, and ET's carry about eight
	// metadata pairs each (kept for all, it would cost 9 MiB on ET Open).
	alertMeta atomic.Pointer[event.AlertMetadata]
}

// alertMetadata returns the rule's metadata as EVE's alert.metadata: its
// values grouped by key, in rule order
// ({"created_at":["2026_01_01"],"tag":["a","b"]}). Shared by the rule's
// alerts: it must not be modified.
func (r *Rule) alertMetadata() event.AlertMetadata {
	if p := r.alertMeta.Load(); p != nil {
		return *p
	}
	var md event.AlertMetadata
	for _, m := range r.Metadata {
		i := slices.IndexFunc(md, func(a event.AlertMeta) bool { return a.Key == m.Key })
		if i < 0 {
			md = append(md, event.AlertMeta{Key: m.Key})
			i = len(md) - 1
		}
		md[i].Values = append(md[i].Values, m.Value)
	}
	r.alertMeta.Store(&md) // a racing first alert builds the same value
	return md
}

// Meta is one metadata key and value, in rule order.
type Meta struct{ Key, Value string }

// bufList is the part of a rule that inspects one sticky buffer: its
// transforms, then its content, pcre, isdataat and dataset checks in order.
type bufList struct {
	buf       bufferID
	dotprefix bool
	lower     bool // to_lowercase transform
	items     []item
	bsize     *numCmp
}

type itemKind uint8

const (
	itemContent itemKind = iota
	itemPCRE
	itemDataAt
	itemDataset
)

// item is one check on a buffer.
type item struct {
	kind itemKind
	neg  bool

	// content
	pat        []byte // as written
	fold       []byte // lower-cased pat, for nocase and the literal index
	nocase     bool
	offset     int
	depth      int // 0: none; else the window ends at offset+depth
	distance   int
	within     int // 0: none
	relative   bool
	startswith bool
	endswith   bool
	fast       bool // fast_pattern given

	// pcre
	re       *regexp.Regexp
	reSource string

	// isdataat
	dataat int

	// dataset
	set *dataset
}

// numCmp is a number comparison: bsize, urilen.
type numCmp struct {
	op     byte // '=', '<', '>', 'r' (range, exclusive), 'R' (range, inclusive)
	lo, hi int
}

func (n *numCmp) ok(v int) bool {
	switch n.op {
	case '<':
		return v < n.lo
	case '>':
		return v > n.lo
	case 'l':
		return v <= n.lo
	case 'g':
		return v >= n.lo
	case 'r':
		return v > n.lo && v < n.hi
	case 'R':
		return v >= n.lo && v <= n.hi
	}
	return v == n.lo
}

// Unsupported is a rule outside sidewatch's subset: it is skipped, never
// half-applied.
type Unsupported struct {
	SID     int
	Keyword string // the first keyword (or protocol) outside the subset
	Reason  string
	File    string
	Line    int
}

func (u *Unsupported) Error() string {
	return fmt.Sprintf("%s:%d: sid %d unsupported: %s", u.File, u.Line, u.SID, u.Reason)
}

// SyntaxError is a rule that Suricata itself would reject.
type SyntaxError struct {
	File string
	Line int
	SID  int
	Err  error
}

func (e *SyntaxError) Error() string {
	if e.SID != 0 {
		return fmt.Sprintf("%s:%d: sid %d: %v", e.File, e.Line, e.SID, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }
