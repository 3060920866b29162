// Package metrics holds the sidecar's counters and gauges and renders them
// both as Prometheus text (for /metrics) and as the stats event's groups.
//
// The stats event has two parts (see EVEStats): the quantities Suricata
// also counts, under Suricata's own names ("capture.kernel_drops",
// "decoder.ipv4", "flow.total"...), so that the consumers of Suricata's
// stats read them unchanged; and every sidewatch series, under its own
// names, in the group "sidewatch".
//
// It is a deliberately small replacement for prometheus/client_golang: the
// sidecar needs only label-fixed counters and gauges, increments must be one
// atomic add on per-packet paths, and the image has a 20 MB budget that the
// client and its protobuf dependencies would eat into. Tests check the output
// with Prometheus's own text parser.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Namespace prefixes every metric name.
const Namespace = "sidewatch"

// Counter is a monotonically increasing value.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down.
type Gauge struct{ v atomic.Int64 }

// Set stores n.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Load returns the current value.
func (g *Gauge) Load() int64 { return g.v.Load() }

type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindInfo // a constant 1 whose labels are the information (build version)
)

// series is one metric name with one fixed label set.
type series struct {
	subsystem, name, help string
	kind                  kind
	labels                [][2]string
	value                 func() float64
}

func (s *series) fullName() string { return Namespace + "_" + s.subsystem + "_" + s.name }

// Registry owns every series. The zero value is not usable; use New.
type Registry struct {
	mu       sync.Mutex
	series   []*series
	seen     map[string]bool
	suricata map[string]func() uint64 // dotted Suricata stats name -> value
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{seen: map[string]bool{}, suricata: map[string]func() uint64{}}
}

// Counter registers and returns a counter named
// sidewatch_<subsystem>_<name> with the given label pairs
// ("reason", "oversize", ...). Registering the same series twice panics: it
// is a programming error found by any test that builds the component.
func (r *Registry) Counter(subsystem, name, help string, labels ...string) *Counter {
	c := &Counter{}
	r.add(&series{subsystem: subsystem, name: name, help: help, kind: kindCounter, labels: pairs(labels),
		value: func() float64 { return float64(c.Load()) }})
	return c
}

// Gauge registers and returns a gauge.
func (r *Registry) Gauge(subsystem, name, help string, labels ...string) *Gauge {
	g := &Gauge{}
	r.add(&series{subsystem: subsystem, name: name, help: help, kind: kindGauge, labels: pairs(labels),
		value: func() float64 { return float64(g.Load()) }})
	return g
}

// GaugeFunc registers a gauge whose value is read from fn at scrape time.
func (r *Registry) GaugeFunc(subsystem, name, help string, fn func() float64, labels ...string) {
	r.add(&series{subsystem: subsystem, name: name, help: help, kind: kindGauge, labels: pairs(labels), value: fn})
}

// CounterFunc registers a counter whose value is read from fn at scrape time
// (for counters kept elsewhere, such as the kernel's packet drop count).
func (r *Registry) CounterFunc(subsystem, name, help string, fn func() float64, labels ...string) {
	r.add(&series{subsystem: subsystem, name: name, help: help, kind: kindCounter, labels: pairs(labels), value: fn})
}

// Info registers a series that carries information in its labels, such as
// the build version: Prometheus gets the usual name{labels} 1, the stats
// event an object of the labels ({"version":"v0.1.0"}), so that a new value
// is a new value, not a new field name.
func (r *Registry) Info(subsystem, name, help string, labels ...string) {
	r.add(&series{subsystem: subsystem, name: name, help: help, kind: kindInfo, labels: pairs(labels),
		value: func() float64 { return 1 }})
}

// Suricata declares that the value fn reads is the quantity Suricata's
// stats event calls path (dot-separated: "capture.kernel_packets",
// "decoder.ipv4"), so that EVEStats writes it there for Suricata's
// consumers. It is not a Prometheus series of its own; fn is called from any
// goroutine. Declaring a path twice, or a path inside another, panics.
func (r *Registry) Suricata(path string, fn func() uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.suricata {
		if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(path, p+".") {
			panic("metrics: Suricata stats path " + path + " collides with " + p)
		}
	}
	if path == "" || path == "uptime" || strings.HasPrefix(path, OwnGroup+".") || path == OwnGroup {
		panic("metrics: reserved Suricata stats path " + path)
	}
	r.suricata[path] = fn
}

// OwnGroup is the stats event's group holding sidewatch's own series.
const OwnGroup = "sidewatch"

// EVEStats returns the groups of the stats event: every value declared
// with Suricata, nested by the dots of its path, and Stats under OwnGroup.
func (r *Registry) EVEStats() map[string]any {
	out := map[string]any{OwnGroup: r.Stats()}
	r.mu.Lock()
	paths := make([]string, 0, len(r.suricata))
	for p := range r.suricata {
		paths = append(paths, p)
	}
	fns := make([]func() uint64, len(paths))
	slices.Sort(paths)
	for i, p := range paths {
		fns[i] = r.suricata[p]
	}
	r.mu.Unlock()
	for i, p := range paths {
		m := out
		parts := strings.Split(p, ".")
		for _, part := range parts[:len(parts)-1] {
			next, _ := m[part].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[part] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = fns[i]()
	}
	return out
}

func pairs(kv []string) [][2]string {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("metrics: odd label list %q", kv))
	}
	var out [][2]string
	for i := 0; i < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

func (r *Registry) add(s *series) {
	key := s.fullName() + labelString(s.labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		panic("metrics: duplicate series " + key)
	}
	r.seen[key] = true
	r.series = append(r.series, s)
}

func labelString(labels [][2]string) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l[0])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(l[1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func (r *Registry) sorted() []*series {
	r.mu.Lock()
	out := slices.Clone(r.series)
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b *series) int { return strings.Compare(a.fullName(), b.fullName()) })
	return out
}

// WritePrometheus writes every series in the Prometheus text format 0.0.4.
func (r *Registry) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	last := ""
	for _, s := range r.sorted() {
		name := s.fullName()
		if name != last {
			typ := "counter"
			if s.kind != kindCounter {
				typ = "gauge"
			}
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, strings.ReplaceAll(s.help, "\n", " "), name, typ)
			last = name
		}
		bw.WriteString(name)
		bw.WriteString(labelString(s.labels))
		bw.WriteByte(' ')
		bw.WriteString(formatValue(s.value()))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Stats returns every series as nested groups for the stats event:
// stats[subsystem][name] is the value, or, for labelled series, a map from
// the label values (joined with ".") to the value; an Info series is the
// map of its labels. Integral values are uint64 or int64, others float64.
func (r *Registry) Stats() map[string]any {
	out := map[string]any{}
	for _, s := range r.sorted() {
		group, _ := out[s.subsystem].(map[string]any)
		if group == nil {
			group = map[string]any{}
			out[s.subsystem] = group
		}
		if s.kind == kindInfo {
			info := map[string]any{}
			for _, l := range s.labels {
				info[l[0]] = l[1]
			}
			group[s.name] = info
			continue
		}
		v := statValue(s.value())
		if len(s.labels) == 0 {
			group[s.name] = v
			continue
		}
		vals := make([]string, len(s.labels))
		for i, l := range s.labels {
			vals[i] = l[1]
		}
		m, _ := group[s.name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			group[s.name] = m
		}
		m[strings.Join(vals, ".")] = v
	}
	return out
}

func statValue(v float64) any {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		if v >= 0 {
			return uint64(v)
		}
		return int64(v)
	}
	return v
}
