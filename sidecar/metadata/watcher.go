package metadata

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const (
	// requestTimeout bounds one fetch. The endpoint is link-local and
	// answers in milliseconds; a hung request must not stall refreshes.
	requestTimeout = 5 * time.Second
	// firstRetry and the doubling after it pace retries while no snapshot
	// exists; they are capped at maxRetry (Start) or cfg.Refresh (Run).
	firstRetry = 100 * time.Millisecond
	maxRetry   = 2 * time.Second
	// minKickGap is the shortest interval between refreshes triggered by
	// events naming an unknown container.
	minKickGap = 5 * time.Second
	// defaultRefresh matches Config's kong default.
	defaultRefresh = 60 * time.Second
)

// Watcher keeps a current snapshot of the task metadata. Start, Run, Task,
// Enrich and Err may be called from different goroutines.
type Watcher struct {
	cfg    Config
	client *http.Client
	url    string

	snap    atomic.Pointer[snapshot]
	lastErr atomic.Pointer[error]
	// kick asks Run for an early refresh when Enrich meets an unknown
	// container; a buffer of one coalesces bursts.
	kick   chan struct{}
	minGap time.Duration
	// maxBody bounds a response (maxTaskBody; tests lower it).
	maxBody int

	lastSuccess atomic.Int64 // unix nanoseconds

	fetches      *metrics.Counter
	errRequest   *metrics.Counter
	errStatus    *metrics.Counter
	errBody      *metrics.Counter
	errParse     *metrics.Counter
	enrichMiss   *metrics.Counter
	earlyRefresh *metrics.Counter
}

// snapshot is one successful fetch, prepared for lock-free lookups. It is
// never modified after it is stored.
type snapshot struct {
	task *Task
	ecs  event.ECS // the task-level fields; Container is empty
	// nameByID maps a DockerID to the task-definition container name.
	nameByID map[string]string
	// byName maps every name a producer may know a container by (its
	// task-definition name, its runtime name, and that with the leading '/'
	// Docker's fluentd driver adds) to the container.
	byName map[string]idName
}

type idName struct{ id, name string }

func newSnapshot(t *Task) *snapshot {
	s := &snapshot{
		task: t,
		ecs: event.ECS{
			Cluster:          t.ClusterName(),
			TaskARN:          t.TaskARN,
			Family:           t.Family,
			Revision:         t.Revision,
			AvailabilityZone: t.AvailabilityZone,
			LaunchType:       t.LaunchType,
		},
		nameByID: make(map[string]string, len(t.Containers)),
		byName:   make(map[string]idName, 3*len(t.Containers)),
	}
	for _, c := range t.Containers {
		if c.DockerID != "" && c.Name != "" {
			s.nameByID[c.DockerID] = c.Name
		}
		if c.Name != "" {
			s.byName[c.Name] = idName{c.DockerID, c.Name}
		}
	}
	// Runtime names only where they do not shadow a task-definition name.
	for _, c := range t.Containers {
		if c.Name == "" || c.DockerName == "" {
			continue
		}
		for _, alias := range []string{c.DockerName, "/" + strings.TrimPrefix(c.DockerName, "/")} {
			if _, ok := s.byName[alias]; !ok {
				s.byName[alias] = idName{c.DockerID, c.Name}
			}
		}
	}
	return s
}

// NewWatcher returns a Watcher for cfg, registering its metrics in reg.
// client may be nil. If it is, or if its Transport is nil, requests go
// through a transport that ignores HTTP_PROXY and HTTPS_PROXY: the endpoint
// is link-local, and http.DefaultTransport would send it to a task-wide
// proxy (Go exempts only loopback addresses).
func NewWatcher(cfg Config, client *http.Client, reg *metrics.Registry) *Watcher {
	if cfg.Refresh <= 0 {
		cfg.Refresh = defaultRefresh // a Config built in code, not validated
	}
	switch {
	case client == nil:
		client = &http.Client{Transport: directTransport()}
	case client.Transport == nil:
		c := *client
		c.Transport = directTransport()
		client = &c
	}
	w := &Watcher{
		cfg:     cfg,
		client:  client,
		kick:    make(chan struct{}, 1),
		minGap:  minKickGap,
		maxBody: maxTaskBody,
	}
	if cfg.URI != "" {
		w.url = strings.TrimRight(cfg.URI, "/") + "/task"
	}
	const sub = "metadata"
	const errHelp = "Failed task metadata fetches, by reason."
	w.fetches = reg.Counter(sub, "fetches_total", "Successful task metadata fetches.")
	w.errRequest = reg.Counter(sub, "fetch_errors_total", errHelp, "reason", "request")
	w.errStatus = reg.Counter(sub, "fetch_errors_total", errHelp, "reason", "status")
	w.errBody = reg.Counter(sub, "fetch_errors_total", errHelp, "reason", "body")
	w.errParse = reg.Counter(sub, "fetch_errors_total", errHelp, "reason", "parse")
	w.enrichMiss = reg.Counter(sub, "enrich_misses_total", "Events whose container id or name was not in the task metadata.")
	w.earlyRefresh = reg.Counter(sub, "early_refreshes_total", "Refreshes triggered by events naming an unknown container.")
	reg.GaugeFunc(sub, "last_success_timestamp_seconds", "Unix time of the last successful task metadata fetch (0: none yet).", func() float64 {
		return float64(w.lastSuccess.Load()) / 1e9
	})
	reg.GaugeFunc(sub, "containers", "Containers in the current task metadata snapshot.", func() float64 {
		if s := w.snap.Load(); s != nil {
			return float64(len(s.task.Containers))
		}
		return 0
	})
	return w
}

func directTransport() *http.Transport {
	// One request a minute needs no keep-alive, and without it no
	// connection goroutines outlive Run.
	return &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		DisableKeepAlives: true,
	}
}

// Start fetches the task metadata, retrying with backoff until it succeeds,
// cfg.Wait passes or ctx ends. When it gives up it returns an error saying
// why, with the last fetch error; the caller logs it and starts anyway, and
// Run keeps trying. With no URI configured it returns nil at once.
func (w *Watcher) Start(ctx context.Context) error {
	if w.url == "" {
		return nil
	}
	if w.cfg.Wait <= 0 {
		if err := w.refresh(ctx); err != nil {
			return fmt.Errorf("no task metadata (--metadata-wait is 0, one attempt): %w", err)
		}
		return nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, w.cfg.Wait)
	defer cancel()
	delay := firstRetry
	var cause error // the last failure not caused by the wait ending
	for attempt := 1; ; attempt++ {
		err := w.refresh(waitCtx)
		if err == nil {
			return nil
		}
		if cause == nil || waitCtx.Err() == nil {
			cause = err
		}
		sleep(waitCtx, delay)
		if ctx.Err() != nil {
			return fmt.Errorf("no task metadata, stopped after %d attempts (%w): %w", attempt, ctx.Err(), cause)
		}
		if waitCtx.Err() != nil {
			return fmt.Errorf("no task metadata within %s (--metadata-wait), %d attempts: %w", w.cfg.Wait, attempt, cause)
		}
		delay = min(2*delay, maxRetry)
	}
}

// Run refreshes the snapshot every cfg.Refresh until ctx is done, and sooner
// (backing off from 100ms up to cfg.Refresh) while there is none yet. A
// failed refresh keeps the last good snapshot. It returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if w.url == "" {
		<-ctx.Done()
		return nil
	}
	retry := firstRetry
	next := func() time.Duration {
		if w.snap.Load() != nil {
			retry = firstRetry
			return w.cfg.Refresh
		}
		d := min(retry, w.cfg.Refresh)
		retry = min(2*retry, w.cfg.Refresh)
		return d
	}
	var first time.Duration // no snapshot yet: fetch at once
	if w.snap.Load() != nil {
		first = w.cfg.Refresh
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	defer w.client.CloseIdleConnections()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-w.kick:
			if time.Since(last) < w.minGap {
				continue
			}
			w.earlyRefresh.Inc()
		}
		last = time.Now()
		_ = w.refresh(ctx) // counted, and kept for Err
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(next())
	}
}

// Task returns the current snapshot, nil before the first successful fetch.
// The result is shared: callers must not modify it.
func (w *Watcher) Task() *Task {
	if s := w.snap.Load(); s != nil {
		return s.task
	}
	return nil
}

// Err returns the error of the latest fetch, nil if it succeeded or none
// was made.
func (w *Watcher) Err() error {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Enrich fills the empty task-level fields of e and completes its container:
// the name from the id, or the id from the name. When the id is known, the
// task-definition name replaces whatever name the producer had (such as
// Docker's "/ecs-…" runtime name). It allocates nothing; an unknown id or
// name is counted and triggers an early refresh.
func (w *Watcher) Enrich(e *event.ECS) {
	s := w.snap.Load()
	if s == nil {
		return
	}
	setEmpty(&e.Cluster, s.ecs.Cluster)
	setEmpty(&e.TaskARN, s.ecs.TaskARN)
	setEmpty(&e.Family, s.ecs.Family)
	setEmpty(&e.Revision, s.ecs.Revision)
	setEmpty(&e.AvailabilityZone, s.ecs.AvailabilityZone)
	setEmpty(&e.LaunchType, s.ecs.LaunchType)

	c := &e.Container
	switch {
	case c.ID != "":
		if name, ok := s.nameByID[c.ID]; ok {
			c.Name = name
			return
		}
		if c.Name != "" {
			// The runtime may not have reported this id yet: still
			// canonicalise the name, but keep the producer's id.
			if k, ok := s.byName[c.Name]; ok {
				c.Name = k.name
			}
		}
		w.miss()
	case c.Name != "":
		k, ok := s.byName[c.Name]
		if !ok {
			w.miss()
			return
		}
		c.Name = k.name
		c.ID = k.id
		if k.id == "" {
			w.miss()
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func setEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func (w *Watcher) miss() {
	w.enrichMiss.Inc()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// refresh fetches the task and, on success, replaces the snapshot.
func (w *Watcher) refresh(ctx context.Context) error {
	t, err := w.fetch(ctx)
	if err != nil {
		w.lastErr.Store(&err)
		return err
	}
	w.snap.Store(newSnapshot(t))
	w.lastErr.Store(nil)
	w.lastSuccess.Store(time.Now().UnixNano())
	w.fetches.Inc()
	return nil
}

func (w *Watcher) fetch(ctx context.Context) (*Task, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	if err != nil {
		w.errRequest.Inc()
		return nil, fmt.Errorf("task metadata request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		w.errRequest.Inc()
		return nil, err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.errStatus.Inc()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("GET %s: %s: %q", w.url, resp.Status, strings.TrimSpace(string(snippet)))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(w.maxBody)+1))
	if err != nil {
		w.errBody.Inc()
		return nil, fmt.Errorf("GET %s: read body: %w", w.url, err)
	}
	if len(body) > w.maxBody {
		w.errBody.Inc()
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", w.url, w.maxBody)
	}
	t, err := ParseTask(body)
	if err != nil {
		w.errParse.Inc()
		return nil, fmt.Errorf("GET %s: %w", w.url, err)
	}
	return t, nil
}
