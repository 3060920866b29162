package intel

import (
	"os"
	"slices"
	"sync/atomic"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Store holds the current Set and reloads it when a source file changes.
// Set may be called from any goroutine, Check from one at a time (its
// owner polls with it).
type Store struct {
	sources []Source
	onLoad  func(Report, error)

	cur     atomic.Pointer[Set]
	stamps  []os.FileInfo // of each source, when last read; nil for Data sources
	lastErr string

	m storeMetrics
}

type storeMetrics struct {
	indicators map[Kind]*metrics.Gauge
	rejected   map[string]*metrics.Gauge
	duplicates *metrics.Gauge
	bytes      *metrics.Gauge
	loadMillis *metrics.Gauge
	reloadOK   *metrics.Counter
	reloadErr  *metrics.Counter
}

// NewStore loads sources once; an unreadable file is an error. onLoad, if
// not nil, is called with the report of every load that succeeds and with
// every failed reload (once per distinct error). reg may be nil.
func NewStore(sources []Source, reg *metrics.Registry, onLoad func(Report, error)) (*Store, error) {
	if reg == nil {
		reg = metrics.New()
	}
	if onLoad == nil {
		onLoad = func(Report, error) {}
	}
	st := &Store{sources: sources, onLoad: onLoad, m: newStoreMetrics(reg)}
	stamps := st.stat()
	set, rep, err := Load(sources)
	if err != nil {
		return nil, err
	}
	st.swap(set, rep, stamps)
	return st, nil
}

func newStoreMetrics(reg *metrics.Registry) storeMetrics {
	const sub = "intel"
	m := storeMetrics{
		indicators: map[Kind]*metrics.Gauge{},
		rejected:   map[string]*metrics.Gauge{},
		duplicates: reg.Gauge(sub, "duplicate_indicators", "Indicators listed more than once in the loaded set (kept once)."),
		bytes:      reg.Gauge(sub, "memory_bytes", "Memory held by the loaded set's lookup tables."),
		loadMillis: reg.Gauge(sub, "load_milliseconds", "Time the last successful load took."),
		reloadOK:   reg.Counter(sub, "reloads_total", "Loads of the indicator files, by result (the first load included).", "result", "ok"),
		reloadErr:  reg.Counter(sub, "reloads_total", "Loads of the indicator files, by result (the first load included).", "result", "error"),
	}
	for _, k := range Kinds {
		m.indicators[k] = reg.Gauge(sub, "indicators", "Indicators in the loaded set, by kind.", "kind", k.String())
	}
	for _, r := range Reasons {
		m.rejected[r] = reg.Gauge(sub, "rejected_lines", "Lines of the loaded files that held no usable indicator, by reason.", "reason", r)
	}
	return m
}

// Set returns the current set.
func (st *Store) Set() *Set { return st.cur.Load() }

// Lists returns the names of the store's lists, one per source label in
// source order (sources with the same label make one list). They are the
// configured sources', so a list exists even while its file holds nothing.
func (st *Store) Lists() []string {
	var out []string
	for _, s := range st.sources {
		if l := s.label(); !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (st *Store) swap(set *Set, rep Report, stamps []os.FileInfo) {
	st.cur.Store(set)
	st.stamps = stamps
	st.lastErr = ""
	for _, k := range Kinds {
		st.m.indicators[k].Set(int64(set.Len(k)))
	}
	rej := rep.Rejected()
	for r, g := range st.m.rejected {
		g.Set(int64(rej[r]))
	}
	dups := 0
	for i := range rep.Files {
		dups += rep.Files[i].Duplicates
	}
	st.m.duplicates.Set(int64(dups))
	st.m.bytes.Set(int64(rep.Bytes))
	st.m.loadMillis.Set(rep.Took.Milliseconds())
	st.m.reloadOK.Inc()
	st.onLoad(rep, nil)
}

// stat returns each file source's current FileInfo (nil when it cannot be
// read: the load reports why).
func (st *Store) stat() []os.FileInfo {
	out := make([]os.FileInfo, len(st.sources))
	for i, s := range st.sources {
		if s.Path != "" {
			out[i], _ = os.Stat(s.Path)
		}
	}
	return out
}

// changed reports whether any file differs from when it was last read: a
// new inode (replaced by rename, a symlink swapped), size or mtime.
func changed(old, cur []os.FileInfo) bool {
	for i := range cur {
		a, b := old[i], cur[i]
		switch {
		case a == nil && b == nil:
		case a == nil || b == nil:
			return true
		case !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()):
			return true
		}
	}
	return false
}

// Check reloads the set if a file changed since it was last read. A
// failed reload keeps the current set and is retried at the next Check.
func (st *Store) Check() {
	cur := st.stat()
	if !changed(st.stamps, cur) {
		return
	}
	set, rep, err := Load(st.sources)
	if err != nil {
		st.m.reloadErr.Inc()
		if msg := err.Error(); msg != st.lastErr {
			st.lastErr = msg
			st.onLoad(rep, err)
		}
		return
	}
	st.swap(set, rep, cur)
}
