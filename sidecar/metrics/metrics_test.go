package metrics

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func newTestRegistry() *Registry {
	r := New()
	r.Counter("syslog", "messages_total", "Messages received.", "transport", "tcp").Add(3)
	r.Counter("syslog", "messages_total", "Messages received.", "transport", "udp").Add(2)
	r.Counter("pipeline", "written_total", "Events written.").Add(5)
	r.Gauge("pipeline", "queue_length", "Events waiting.").Set(7)
	r.GaugeFunc("flow", "active", "Open flows.", func() float64 { return 1.5 })
	r.Counter("syslog", "rejected_total", "Rejected input with a \"quoted\"\nhelp.", "reason", `odd\"label`).Inc()
	return r
}

func TestWritePrometheusParses(t *testing.T) {
	var buf bytes.Buffer
	if err := newTestRegistry().WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Prometheus parser rejects our output: %v\n%s", err, buf.String())
	}
	got := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"sidewatch_syslog_messages_total,transport=tcp":     3,
		"sidewatch_syslog_messages_total,transport=udp":     2,
		"sidewatch_pipeline_written_total":                  5,
		"sidewatch_pipeline_queue_length":                   7,
		"sidewatch_flow_active":                             1.5,
		`sidewatch_syslog_rejected_total,reason=odd\"label`: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed metrics (-want +got):\n%s", diff)
	}
	if n := strings.Count(buf.String(), "# TYPE sidewatch_syslog_messages_total counter"); n != 1 {
		t.Errorf("TYPE line for a labelled family appears %d times, want 1", n)
	}
}

func TestStats(t *testing.T) {
	got := newTestRegistry().Stats()
	want := map[string]any{
		"syslog": map[string]any{
			"messages_total": map[string]any{"tcp": uint64(3), "udp": uint64(2)},
			"rejected_total": map[string]any{`odd\"label`: uint64(1)},
		},
		"pipeline": map[string]any{"written_total": uint64(5), "queue_length": uint64(7)},
		"flow":     map[string]any{"active": 1.5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

func TestDuplicateSeriesPanics(t *testing.T) {
	r := New()
	r.Counter("a", "b_total", "help", "k", "v")
	defer func() {
		if recover() == nil {
			t.Error("registering a series twice did not panic")
		}
	}()
	r.Counter("a", "b_total", "help", "k", "v")
}

func BenchmarkCounterInc(b *testing.B) {
	c := New().Counter("bench", "events_total", "help")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

func TestInfo(t *testing.T) {
	r := New()
	r.Info("build", "info", "The build.", "version", "v1.2.3")
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "# TYPE sidewatch_build_info gauge\nsidewatch_build_info{version=\"v1.2.3\"} 1\n") {
		t.Errorf("Prometheus output %q, want the info gauge with its label", buf.String())
	}
	want := map[string]any{"build": map[string]any{"info": map[string]any{"version": "v1.2.3"}}}
	if diff := cmp.Diff(want, r.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

func TestEVEStats(t *testing.T) {
	r := newTestRegistry()
	drops := &Counter{}
	drops.Add(4)
	r.Suricata("capture.kernel_drops", drops.Load)
	r.Suricata("capture.kernel_packets", func() uint64 { return 100 })
	r.Suricata("flow.end.state.new", func() uint64 { return 2 })
	got := r.EVEStats()
	want := map[string]any{
		"capture": map[string]any{"kernel_drops": uint64(4), "kernel_packets": uint64(100)},
		"flow":    map[string]any{"end": map[string]any{"state": map[string]any{"new": uint64(2)}}},
		OwnGroup:  newTestRegistry().Stats(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EVEStats() (-want +got):\n%s", diff)
	}
	// A Suricata-named value is not a Prometheus series of its own.
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "kernel_drops") {
		t.Errorf("Prometheus output has the Suricata-named value:\n%s", buf.String())
	}
}

func TestSuricataPathCollisionsPanic(t *testing.T) {
	for _, tc := range []struct{ name, first, second string }{
		{"same_path", "decoder.ipv4", "decoder.ipv4"},
		{"inside_a_value", "decoder.ipv4", "decoder.ipv4.x"},
		{"around_a_value", "flow.end.state.new", "flow.end"},
		{"own_group", "", "sidewatch.x"},
		{"uptime", "", "uptime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			if tc.first != "" {
				r.Suricata(tc.first, func() uint64 { return 0 })
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Suricata(%q) after %q did not panic", tc.second, tc.first)
				}
			}()
			r.Suricata(tc.second, func() uint64 { return 0 })
		})
	}
}
