package detect

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

func TestDedupWindowAndSuppressedCount(t *testing.T) {
	e, col, reg := newTestEngine(t, func(c *Config) { c.DedupWindow = time.Minute })
	raise := func(at time.Duration, container string) {
		ev := logEvent(t0.Add(at), container, "${jndi:ldap://x.example/a}")
		e.observe(&ev)
	}
	raise(0, "web")
	raise(10*time.Second, "web")
	raise(20*time.Second, "web")
	raise(30*time.Second, "worker") // another source: its own alert
	raise(61*time.Second, "web")    // a new window: says 2 were suppressed
	raise(62*time.Second, "web")
	if got, want := len(col.alerts), 3; got != want {
		t.Fatalf("got %d alerts, want %d:\n%s", got, want, col.lines())
	}
	if got := metaValue(col.alerts[0], "suppressed"); got != "" {
		t.Errorf("first alert says suppressed %q", got)
	}
	if got := col.alerts[1].ECS.Container.Name; got != "worker" {
		t.Errorf("second alert from %q, want worker", got)
	}
	if got := metaValue(col.alerts[2], "suppressed"); got != "2" {
		t.Errorf("alert after the window: suppressed = %q, want 2", got)
	}
	st := reg.Stats()["detect"].(map[string]any)
	if got := st["suppressed_total"].(map[string]any)["logs"]; got != uint64(3) {
		t.Errorf("suppressed_total{logs} = %v, want 3", got)
	}
	if got := st["alerts_total"].(map[string]any)["logs"]; got != uint64(3) {
		t.Errorf("alerts_total{logs} = %v, want 3", got)
	}
}

func TestDedupOff(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.DedupWindow = 0 })
	for i := range 3 {
		ev := logEvent(t0.Add(time.Duration(i)*time.Second), "web", "${jndi:ldap://x.example/a}")
		e.observe(&ev)
	}
	if len(col.alerts) != 3 {
		t.Errorf("got %d alerts with dedup off, want 3", len(col.alerts))
	}
}

func TestDedupTableBounded(t *testing.T) {
	e, col, reg := newTestEngine(t, func(c *Config) { c.DedupMax = 2 })
	for _, c := range []string{"a", "b", "c", "a"} {
		ev := logEvent(t0, c, "${jndi:ldap://x.example/a}")
		e.observe(&ev)
	}
	// "a" was forgotten to make room for "c", so it alerts again.
	if len(col.alerts) != 4 {
		t.Errorf("got %d alerts, want 4", len(col.alerts))
	}
	if got := reg.Stats()["detect"].(map[string]any)["state_evicted_total"].(map[string]any)["dedup"]; got != uint64(2) {
		t.Errorf("state_evicted_total{dedup} = %v, want 2", got)
	}
}

func TestAlertPathRefusalCounted(t *testing.T) {
	e, col, reg := newTestEngine(t, nil)
	col.refuse = true
	ev := logEvent(t0, "web", "${jndi:ldap://x.example/a}")
	e.observe(&ev)
	if got := reg.Stats()["detect"].(map[string]any)["alerts_dropped_total"]; got != uint64(1) {
		t.Errorf("alerts_dropped_total = %v, want 1", got)
	}
}

// The tap forwards every event unchanged (bar flow.alerted) to the
// pipeline, by the producer's call.
func TestTapForwards(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	var s collector
	tap := e.Tap(&s)
	evs := []event.Event{
		logEvent(t0, "web", "hello"),
		dnsQuery(t0, "example.com", "A"),
		tlsEvent(t0, netip4("203.0.113.1"), "example.com", "", ""),
		httpEvent(t0, task, netip4("203.0.113.1"), "GET", "example.com", "/", "curl/8.5.0", 200),
		{Timestamp: event.At(t0), FlowID: 5, EventType: event.TypeFlow, Flow: &event.Flow{Reason: "timeout"}},
	}
	if err := tap.Publish(context.Background(), evs[0]); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs[1:] {
		if !tap.Offer(ev) {
			t.Fatal("Offer refused")
		}
	}
	if got, want := joinLines(s.events), joinLines(evs); got != want {
		t.Errorf("forwarded:\n%s\nwant:\n%s", got, want)
	}
}

// A flow that raised an alert says alerted: true in its flow event, and
// is forgotten after it.
func TestFlowAlerted(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	var s collector
	tap := e.Tap(&s)
	ev := httpEvent(t0, netip4("198.51.100.7"), task, "GET", "app.example", "/", "${jndi:ldap://198.51.100.7:1389/a}", 404)
	ev.FlowID = 4242
	tap.Offer(ev)
	if len(col.alerts) != 1 || col.alerts[0].FlowID != 4242 {
		t.Fatalf("alerts %s", col.lines())
	}
	update := event.Event{Timestamp: event.At(t0), FlowID: 4242, EventType: event.TypeFlowUpdate, FlowUpdate: &event.FlowUpdate{}}
	final := event.Event{Timestamp: event.At(t0), FlowID: 4242, EventType: event.TypeFlow, Flow: &event.Flow{Reason: "timeout"}}
	other := event.Event{Timestamp: event.At(t0), FlowID: 4343, EventType: event.TypeFlow, Flow: &event.Flow{Reason: "timeout"}}
	again := event.Event{Timestamp: event.At(t0), FlowID: 4242, EventType: event.TypeFlow, Flow: &event.Flow{Reason: "timeout"}}
	for _, f := range []event.Event{update, final, other, again} {
		tap.Offer(f)
	}
	got := []bool{}
	for _, f := range s.events[2:] {
		got = append(got, f.Flow.Alerted)
	}
	if want := []bool{true, false, false}; !equalBools(got, want) {
		t.Errorf("flow.alerted = %v, want %v", got, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAlertedSetBounded(t *testing.T) {
	e, _, reg := newTestEngine(t, func(c *Config) { c.AlertedFlowsMax = 2; c.DedupWindow = 0 })
	for id := uint64(1); id <= 3; id++ {
		ev := httpEvent(t0, netip4("198.51.100.7"), task, "GET", "app.example", "/", "${jndi:ldap://x/a}", 404)
		ev.FlowID = id
		e.observe(&ev)
	}
	e.mu.Lock()
	_, first := e.alerted.ids[1]
	n := len(e.alerted.ids)
	e.mu.Unlock()
	if first || n != 2 {
		t.Errorf("alerted set holds %d flows (flow 1: %v), want 2 without flow 1", n, first)
	}
	if got := reg.Stats()["detect"].(map[string]any)["state_evicted_total"].(map[string]any)["alerted_flows"]; got != uint64(1) {
		t.Errorf("state_evicted_total{alerted_flows} = %v, want 1", got)
	}
}

// detectorFunc adapts a function to Detector.
type detectorFunc func(ev *event.Event, out *Alerts)

func (f detectorFunc) Event(ev *event.Event, out *Alerts) { f(ev, out) }

var sigTestRule = &Signature{GID: 1, ID: 1000001, Rev: 3, Msg: "ET TEST rule", Category: "Misc activity", Severity: 3,
	Metadata: meta("created_at", "2026_01_01")}

func TestAddedDetector(t *testing.T) {
	e, col, reg := newTestEngine(t, nil)
	var seen []event.Type
	e.Add("rules", detectorFunc(func(ev *event.Event, out *Alerts) {
		seen = append(seen, ev.EventType)
		if ev.EventType == event.TypeDNS && ev.DNS.Queries[0].RRName == "bad.example" {
			out.Raise(sigTestRule, ev)
		}
	}))
	for _, ev := range []event.Event{dnsQuery(t0, "bad.example", "A"), {Timestamp: event.At(t0), FlowID: 9, EventType: event.TypeFlow, Flow: &event.Flow{}}, logEvent(t0, "web", "x")} {
		e.observe(&ev)
	}
	if len(seen) != 3 {
		t.Errorf("detector saw %v, want dns, flow, log", seen)
	}
	if got := col.sids(); len(got) != 1 || got[0] != 1000001 {
		t.Fatalf("alerts %v, want [1000001]", got)
	}
	a := col.alerts[0].Alert
	if a.Rev != 3 || a.Signature != "ET TEST rule" || a.Severity != 3 || a.Action != "allowed" || metaValue(col.alerts[0], "created_at") != "2026_01_01" {
		t.Errorf("alert = %+v", a)
	}
	if got := reg.Stats()["detect"].(map[string]any)["alerts_total"].(map[string]any)["rules"]; got != uint64(1) {
		t.Errorf("alerts_total{rules} = %v, want 1", got)
	}
}

func TestOffRaisesNothing(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.Off = true })
	e.Add("rules", detectorFunc(func(ev *event.Event, out *Alerts) { out.Raise(sigTestRule, ev) }))
	for _, ev := range []event.Event{logEvent(t0, "web", "${jndi:ldap://x/a}"), dnsAnswer(t0, "x.example", "A", "169.254.169.254")} {
		e.observe(&ev)
	}
	if len(col.alerts) != 0 {
		t.Errorf("alerts with --no-detect: %v", col.sids())
	}
}

// Detectors run on several goroutines at once (log connections, capture).
func TestConcurrentEvents(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.DedupWindow = 0 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				var ev event.Event
				switch i % 3 {
				case 0:
					ev = logEvent(t0, "web", "${jndi:ldap://x/a}")
				case 1:
					ev = dnsQuery(t0, strings.Repeat("q", g+1)+".example.com", "NULL")
				default:
					ev = httpEvent(t0, task, credsV4, "GET", "169.254.170.2", "/v2/credentials/other", "", 200)
				}
				e.observe(&ev)
			}
		}()
	}
	wg.Wait()
	if len(col.alerts) == 0 {
		t.Error("no alerts")
	}
}

// Every alert the built-in detections raise is valid EVE (Suricata's
// schema plus sidewatch's overlays).
func TestAlertsValidateAgainstEVESchema(t *testing.T) {
	v := eveschema.New(t)
	e, col, _ := newTestEngine(t, nil)
	for _, ev := range []event.Event{
		logEvent(t0, "web", "AWS_ACCESS_KEY_ID="+testKeyID+" AWS_SECRET_ACCESS_KEY="+testSecret),
		dnsAnswer(t0, "rebind.example", "A", "169.254.169.254"),
		httpEvent(t0, task, credsV4, "GET", "169.254.170.2", "/v2/credentials/not-ours", "curl/8.5.0", 200),
		dnsQuery(t0, "pool.supportxmr.com", "A"),
	} {
		e.observe(&ev)
	}
	f := newFlow(1, "10.0.193.10", "169.254.169.254", 40000, 80, protoTCP)
	e.inspectPacket(f.send(t0, true, tcpSYN, ""))
	if len(col.alerts) < 5 {
		t.Fatalf("only %d alerts", len(col.alerts))
	}
	v.ValidateLines(t, col.lines())
}

// syncingCollector is a pipeline with Sync.
type syncingCollector struct {
	collector
	syncs int
}

func (s *syncingCollector) Sync(context.Context) error {
	s.syncs++
	return nil
}

// The tap passes Sync on (the forward receiver acknowledges with it), and
// has nothing to sync when the pipeline has no Sync.
func TestTapSync(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	var s syncingCollector
	if err := e.Tap(&s).Sync(context.Background()); err != nil || s.syncs != 1 {
		t.Errorf("Sync = %v, pipeline synced %d times, want nil and 1", err, s.syncs)
	}
	if err := e.Tap(&collector{}).Sync(context.Background()); err != nil {
		t.Errorf("Sync without a pipeline Sync = %v", err)
	}
}

func TestAlertedSetOrder(t *testing.T) {
	type op struct {
		take bool
		id   uint64
	}
	tests := []struct {
		name        string
		ops         []op
		want        []uint64 // ids held afterwards
		wantEvicted uint64
	}{
		{"grows_to_max", []op{{id: 1}, {id: 2}, {id: 3}}, []uint64{1, 2, 3}, 0},
		{"oldest_goes_first", []op{{id: 1}, {id: 2}, {id: 3}, {id: 4}, {id: 5}}, []uint64{3, 4, 5}, 2},
		{"taken_is_not_evicted", []op{{id: 1}, {id: 2}, {id: 3}, {take: true, id: 1}, {id: 4}}, []uint64{2, 3, 4}, 0},
		{"taken_and_added_again_survives_its_old_slot", []op{{id: 1}, {id: 2}, {id: 3}, {take: true, id: 1}, {id: 1}}, []uint64{1, 2, 3}, 0},
		{"duplicate_add_is_one", []op{{id: 1}, {id: 1}, {id: 2}, {id: 3}, {id: 4}}, []uint64{2, 3, 4}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newEngineMetrics(metrics.New())
			s := newAlertedSet(3, m)
			for _, o := range tt.ops {
				if o.take {
					s.take(o.id)
				} else {
					s.add(o.id)
				}
			}
			var got []uint64
			for id := range s.ids {
				got = append(got, id)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("held %v, want %v", got, tt.want)
			}
			if ev := s.evicted.Load(); ev != tt.wantEvicted {
				t.Errorf("evicted %d, want %d", ev, tt.wantEvicted)
			}
			if cap(s.ring) > 4 {
				t.Errorf("ring capacity %d, want it grown only as needed (max 3)", cap(s.ring))
			}
		})
	}
}
