package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// Check reports why the pipeline cannot make progress, or nil: events have
// waited for StallTimeout while no batch was written (a sink that blocks,
// so the queue fills and stays full), or every sink has been failing for
// StallTimeout. The health listener turns it into a 503.
func (p *Pipeline) Check() error {
	now := p.cfg.Now()
	limit := p.cfg.StallTimeout
	if len(p.sinks) > 0 {
		var names []string
		latest := int64(0)
		for _, s := range p.sinks {
			since := s.failingSince.Load()
			if since == 0 {
				names = nil
				break
			}
			latest = max(latest, since)
			names = append(names, s.Name())
		}
		if names != nil && now.Sub(time.Unix(0, latest)) >= limit {
			return fmt.Errorf("every sink failing for at least %s (%s)", now.Sub(time.Unix(0, latest)).Round(time.Second), strings.Join(names, ", "))
		}
	}
	p.mu.Lock()
	used, events, since := p.q.used, p.q.events, p.busySince
	p.mu.Unlock()
	if since.IsZero() {
		return nil
	}
	if last := time.Unix(0, p.lastDeliver.Load()); last.After(since) {
		since = last
	}
	if stalled := now.Sub(since); stalled >= limit {
		return fmt.Errorf("pipeline stalled: %d events (%d bytes) queued and no batch written for %s", events, used, stalled.Round(time.Second))
	}
	return nil
}
