package rules

import (
	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Detector is the rules as one of the detection engine's detectors
// (contract C6): the engine hands it every event before the event is
// queued, and raises, deduplicates and routes the alerts (the reserved
// alert path, flow.alerted on the flow's record).
type Detector struct{ engine *Engine }

// NewDetector returns the detector that matches with engine's rules.
func NewDetector(engine *Engine) *Detector { return &Detector{engine: engine} }

// Event raises an alert for each rule ev matches, written in the direction
// of the match with the rule's own gid, sid, rev, msg, category, severity
// and metadata.
func (d *Detector) Event(ev *event.Event, out *detect.Alerts) {
	d.engine.match(ev, func(r *Rule, dr dir) {
		// Built per alert (alerts are rare), rather than kept per rule: 88
		// bytes on each of thousands of rules.
		sig := detect.Signature{GID: r.GID, ID: r.SID, Rev: r.Rev, Msg: r.Msg, Category: r.Category, Severity: r.Severity, Metadata: r.alertMetadata()}
		hdr := alertHeader(ev, dr, eventApp(ev))
		out.Raise(&sig, &hdr)
	})
}
