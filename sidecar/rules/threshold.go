package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// thresholdSpec is a rule's threshold or detection_filter.
type thresholdSpec struct {
	kind    string // limit, threshold, both, detection_filter
	track   string // by_src, by_dst, by_rule, by_both, by_flow
	count   int
	seconds int
}

func parseThreshold(name, v string) (*thresholdSpec, error) {
	t := &thresholdSpec{}
	if name == "detection_filter" {
		t.kind = name
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), " ")
		val = strings.TrimSpace(val)
		if seen[k] {
			return nil, fmt.Errorf("%s: %s given twice", name, k)
		}
		seen[k] = true
		switch k {
		case "type":
			if name == "detection_filter" {
				return nil, fmt.Errorf("detection_filter takes no type")
			}
			switch val {
			case "limit", "threshold", "both":
				t.kind = val
			case "backoff":
				return nil, unsupported("threshold", "threshold type backoff")
			default:
				return nil, fmt.Errorf("%s: unknown type %q", name, val)
			}
		case "track":
			switch val {
			case "by_src", "by_dst", "by_rule", "by_both", "by_flow":
				t.track = val
			default:
				return nil, fmt.Errorf("%s: unknown track %q", name, val)
			}
		case "count", "seconds":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || (k == "count" && n == 0) {
				return nil, fmt.Errorf("%s: %s %q: want a positive number", name, k, val)
			}
			if k == "count" {
				t.count = n
			} else {
				t.seconds = n
			}
		case "unique_on":
			return nil, unsupported("threshold", "%s unique_on", name)
		default:
			return nil, fmt.Errorf("%s: unknown option %q", name, k)
		}
	}
	if t.kind == "" || t.track == "" || !seen["count"] || !seen["seconds"] {
		return nil, fmt.Errorf("%s %q: want type (threshold only), track, count and seconds", name, v)
	}
	return t, nil
}

// thresholdKey identifies one counter: the rule and what it tracks.
type thresholdKey struct {
	gid, sid int
	a, b     netip.Addr
	flow     uint64
}

type thresholdEntry struct {
	start   time.Time // window start
	count   int
	alerted bool // type both: alerted in this window
}

// thresholds keeps the counters of every threshold and detection_filter,
// bounded: when full, expired entries are dropped, then the table is cleared
// (counted), so memory never grows past max entries.
type thresholds struct {
	mu      sync.Mutex
	max     int
	m       map[thresholdKey]*thresholdEntry
	evicted uint64
}

func newThresholds(max int) *thresholds {
	return &thresholds{max: max, m: map[thresholdKey]*thresholdEntry{}}
}

// allow counts one match at time now and reports whether it may alert.
func (th *thresholds) allow(t *thresholdSpec, key thresholdKey, now time.Time) bool {
	th.mu.Lock()
	defer th.mu.Unlock()
	window := time.Duration(t.seconds) * time.Second
	e := th.m[key]
	if e == nil || now.Sub(e.start) >= window || now.Before(e.start) {
		if e == nil {
			if len(th.m) >= th.max {
				th.sweep(now)
			}
			e = &thresholdEntry{}
			th.m[key] = e
		}
		*e = thresholdEntry{start: now}
	}
	e.count++
	switch t.kind {
	case "limit":
		return e.count <= t.count
	case "threshold":
		if e.count >= t.count {
			e.count = 0
			e.start = now
			return true
		}
		return false
	case "both":
		if e.count >= t.count && !e.alerted {
			e.alerted = true
			return true
		}
		return false
	}
	// detection_filter: every match after the first count in the window.
	return e.count > t.count
}

// sweep drops expired entries; if none expired, it drops everything.
func (th *thresholds) sweep(now time.Time) {
	const longest = 24 * time.Hour
	n := len(th.m)
	for k, e := range th.m {
		if now.Sub(e.start) > longest || now.Before(e.start) {
			delete(th.m, k)
		}
	}
	if len(th.m) >= th.max {
		clear(th.m)
	}
	th.evicted += uint64(n - len(th.m))
}

func (th *thresholds) stats() (entries int, evicted uint64) {
	th.mu.Lock()
	defer th.mu.Unlock()
	return len(th.m), th.evicted
}
