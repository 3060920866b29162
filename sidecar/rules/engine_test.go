package rules

import "github.com/sidewatch/sidewatch/sidecar/event"

// The rules' own view of their alerts, for tests of matching: in sidewatch
// the detection engine raises them (Detector), deduplicated.

// Event matches ev and calls emit with each alert, as the rules raise them
// before the detection engine deduplicates.
func (e *Engine) Event(ev *event.Event, emit func(event.Event)) {
	app := eventApp(ev)
	e.match(ev, func(r *Rule, d dir) { emit(r.alert(ev, d, app)) })
}

// alert builds the EVE alert of r matching ev in direction d.
func (r *Rule) alert(ev *event.Event, d dir, app string) event.Event {
	a := alertHeader(ev, d, app)
	a.Alert = &event.Alert{
		Action:      "allowed",
		GID:         r.GID,
		SignatureID: r.SID,
		Rev:         r.Rev,
		Signature:   r.Msg,
		Category:    r.Category,
		Severity:    r.Severity,
		Metadata:    r.alertMetadata(),
	}
	return a
}
