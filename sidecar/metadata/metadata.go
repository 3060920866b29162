// Package metadata reads the ECS task metadata endpoint (TMDE v4) and
// enriches events with the task's identity and container names.
//
// A Watcher fetches ${ECS_CONTAINER_METADATA_URI_V4}/task at start, with a
// bounded wait, and again every Refresh, so container ids that appear after
// the sidecar started (app containers start after it) become known. Each
// success replaces an immutable snapshot behind an atomic pointer; Enrich
// reads it without locks or allocations. A failed refresh keeps the last good
// snapshot and is counted.
//
// The ecs.cluster field of events carries the cluster name, the last segment
// of the cluster ARN that Fargate reports: the account and region are in
// ecs.task_arn already, and the name is what dashboards and rules match on.
// Task.Cluster keeps the value as the endpoint gave it.
package metadata

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config selects the endpoint and its timing.
type Config struct {
	URI     string        `name:"metadata-uri" env:"SIDEWATCH_METADATA_URI,ECS_CONTAINER_METADATA_URI_V4" help:"ECS task metadata endpoint v4 base URI (ECS sets ECS_CONTAINER_METADATA_URI_V4); empty disables task metadata."`
	Wait    time.Duration `name:"metadata-wait" env:"SIDEWATCH_METADATA_WAIT" default:"10s" help:"How long to retry the first task metadata fetch before starting without it."`
	Refresh time.Duration `name:"metadata-refresh" env:"SIDEWATCH_METADATA_REFRESH" default:"60s" help:"Interval between task metadata refreshes (keeps container names current)."`
}

// Upper bounds of the durations: a longer wait delays startup past any
// ECS health check grace; a longer refresh leaves new containers unnamed.
const (
	maxWait    = 10 * time.Minute
	maxRefresh = 24 * time.Hour
)

// Validate checks the values a user can set.
func (c Config) Validate() error {
	var errs []error
	if c.URI != "" {
		u, err := url.Parse(c.URI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--metadata-uri (SIDEWATCH_METADATA_URI, ECS_CONTAINER_METADATA_URI_V4) must be an http:// or https:// URL, got %q", c.URI))
		}
	}
	if c.Wait < 0 || c.Wait > maxWait {
		errs = append(errs, fmt.Errorf("--metadata-wait (SIDEWATCH_METADATA_WAIT) must be in [0s, %s], got %s", maxWait, c.Wait))
	}
	if c.Refresh < time.Second || c.Refresh > maxRefresh {
		errs = append(errs, fmt.Errorf("--metadata-refresh (SIDEWATCH_METADATA_REFRESH) must be in [1s, %s], got %s", maxRefresh, c.Refresh))
	}
	return errors.Join(errs...)
}
