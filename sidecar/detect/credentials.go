package detect

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// CredentialsConfig tunes the task credential endpoint detection.
type CredentialsConfig struct {
	Enabled    bool          `name:"detect-credentials" env:"SIDEWATCH_DETECT_CREDENTIALS" default:"true" negatable:"" help:"Alert on requests to the task credential endpoint 169.254.170.2 for another path than the task's own credentials, on its enumeration, and on the task's credentials fetched by command-line tools."`
	Path       string        `name:"detect-credentials-path" env:"SIDEWATCH_DETECT_CREDENTIALS_PATH,AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" placeholder:"PATH" help:"The task's own credentials path (/v2/credentials/<id>). ECS sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in every container of a task with a task role, the sidecar included; without it, other credentials paths cannot be told from the task's own."`
	EnumPaths  int           `name:"detect-credentials-enum-paths" env:"SIDEWATCH_DETECT_CREDENTIALS_ENUM_PATHS" default:"3" help:"Distinct unexpected paths requested from 169.254.170.2 by one source within --detect-credentials-window that make an enumeration."`
	Window     time.Duration `name:"detect-credentials-window" env:"SIDEWATCH_DETECT_CREDENTIALS_WINDOW" default:"5m" help:"Window over which unexpected paths are counted."`
	MaxSources int           `name:"detect-credentials-max-sources" env:"SIDEWATCH_DETECT_CREDENTIALS_MAX_SOURCES" default:"1024" help:"Sources tracked at once for enumeration; the oldest is forgotten when full (counted)."`
}

func defaultCredentialsConfig() CredentialsConfig {
	return CredentialsConfig{Enabled: true, EnumPaths: 3, Window: 5 * time.Minute, MaxSources: 1024}
}

func (c *CredentialsConfig) bounds() []bound {
	return []bound{
		intBound("detect-credentials-enum-paths", c.EnumPaths, 1, maxEnumPaths),
		durationBound("detect-credentials-window", c.Window, time.Second, 24*time.Hour),
		intBound("detect-credentials-max-sources", c.MaxSources, 1, 1<<20),
	}
}

func (c *CredentialsConfig) validate() error {
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		return errors.New("--detect-credentials-path (SIDEWATCH_DETECT_CREDENTIALS_PATH, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) must start with /")
	}
	return nil
}

// maxEnumPaths bounds the paths kept per source.
const maxEnumPaths = 64

// Signatures of the credential endpoint detection.
var (
	sigCredsOther = &Signature{GID: 1, ID: 9000501, Rev: 1, Severity: 1,
		Msg:      "SIDEWATCH credential endpoint asked for credentials other than the task's own",
		Category: "Attempted Information Leak",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552.005",
			"guardduty_finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "sidewatch_detection", "credentials")}
	sigCredsEnum = &Signature{GID: 1, ID: 9000502, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH credential endpoint 169.254.170.2 enumerated",
		Category: "Attempted Information Leak",
		Metadata: meta("mitre_tactic_id", "TA0006,TA0007", "mitre_technique_id", "T1552.005,T1580", "sidewatch_detection", "credentials")}
	sigCredsTool = &Signature{GID: 1, ID: 9000503, Rev: 1, Severity: 2,
		Msg:      "SIDEWATCH task credentials fetched by a command-line tool",
		Category: "Attempted Information Leak",
		Metadata: meta("mitre_tactic_id", "TA0006", "mitre_technique_id", "T1552.005",
			"guardduty_finding_type", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "sidewatch_detection", "credentials")}
)

// toolAgents are user-agent prefixes of command-line HTTP clients; the
// AWS SDKs name themselves (aws-sdk-*, Boto3, Botocore) or send none.
var toolAgents = []string{"curl/", "Wget/", "python-requests/", "HTTPie/", "Python-urllib/", "PowerShell/", "Mozilla/"}

// credentials watches HTTP requests to the task credential endpoint.
type credentials struct {
	cfg     CredentialsConfig
	out     *Alerts
	own     string // the task's own credentials path
	taskID  string // prefix of the task's metadata paths (/v4/<task id>), "" if unknown
	mu      sync.Mutex
	sources map[netip.Addr]*credsSource
	evicted *metrics.Counter
	size    *metrics.Gauge
}

// credsSource is what one source requested within the window.
type credsSource struct {
	start int64
	paths []string // distinct unexpected paths (at most maxEnumPaths)
}

func newCredentials(cfg CredentialsConfig, metadataURI string, m *engineMetrics, out *Alerts) *credentials {
	c := &credentials{cfg: cfg, out: out, own: cfg.Path, sources: map[netip.Addr]*credsSource{},
		evicted: m.evictions("credentials"), size: m.size("credentials")}
	if u, err := url.Parse(metadataURI); err == nil && metadataURI != "" {
		// http://169.254.170.2/v4/<32 hex task id>-<digits>: every container's
		// metadata path starts with the task id.
		if ver, id, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); ok && (ver == "v4" || ver == "v3") {
			if task, _, ok := strings.Cut(id, "-"); ok && task != "" {
				c.taskID = task
			}
		}
	}
	return c
}

// pathKind classifies a request path on the credential endpoint.
type pathKind uint8

const (
	pathExpected    pathKind = iota // the task's own credentials or metadata
	pathOtherCreds                  // a credentials path that is not the task's own
	pathUnexpected                  // anything else
	pathUnknownCred                 // a credentials path when the task's own is unknown
)

func (c *credentials) classify(method, path string) pathKind {
	lower := strings.ToLower(path)
	if strings.HasPrefix(lower, "/v1/credentials") || strings.HasPrefix(lower, "/v2/credentials") {
		switch {
		case c.own == "":
			if method != "" && method != "GET" {
				return pathUnexpected
			}
			return pathUnknownCred
		case path == c.own && (method == "" || method == "GET"):
			return pathExpected
		case path == c.own:
			return pathUnexpected
		}
		return pathOtherCreds
	}
	if method != "" && method != "GET" && method != "HEAD" {
		return pathUnexpected
	}
	for _, v := range [...]string{"/v4/", "/v3/"} {
		if strings.HasPrefix(path, v) {
			if c.taskID == "" || strings.HasPrefix(path[len(v):], c.taskID) {
				return pathExpected
			}
			return pathUnexpected
		}
	}
	if lower == "/v2/metadata" || lower == "/v2/stats" || strings.HasPrefix(lower, "/v2/metadata/") || strings.HasPrefix(lower, "/v2/stats/") {
		return pathExpected
	}
	return pathUnexpected
}

func (c *credentials) http(ev *event.Event) {
	if !isCredsEndpoint(ev.DestIP) && !(ev.HTTP.Hostname == "169.254.170.2" && !ev.DestIP.IsValid()) {
		return
	}
	path := ev.HTTP.URL
	if u, err := url.ParseRequestURI(path); err == nil && u.Path != "" {
		path = u.Path
	} else if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	kind := c.classify(ev.HTTP.HTTPMethod, path)
	ua := ev.HTTP.HTTPUserAgent
	evidence := []event.AlertMeta{Evidence("http_method", ev.HTTP.HTTPMethod), Evidence("path", redactCredPath(path))}
	if ua != "" {
		evidence = append(evidence, Evidence("http_user_agent", cutString(ua, 120)))
	}
	if ev.HTTP.Status != 0 {
		evidence = append(evidence, Evidence("status", strconv.Itoa(ev.HTTP.Status)))
	}
	switch kind {
	case pathOtherCreds:
		c.out.Raise(sigCredsOther, ev, evidence...)
	case pathExpected, pathUnknownCred:
		if isCredPath(path) && isToolAgent(ua) {
			c.out.Raise(sigCredsTool, ev, evidence...)
		}
	}
	if kind == pathExpected || kind == pathUnknownCred {
		return
	}
	if paths, ok := c.countUnexpected(ev.SrcIP, ev.Timestamp.UnixNano(), path); ok {
		shown := make([]string, len(paths))
		for i, p := range paths {
			shown[i] = redactCredPath(p)
		}
		c.out.Raise(sigCredsEnum, ev, append(evidence, Evidence("paths", shown...), Evidence("distinct_paths", strconv.Itoa(len(paths))))...)
	}
}

// countUnexpected records an unexpected path from src and returns the
// distinct paths when they reach the threshold (once per window).
func (c *credentials) countUnexpected(src netip.Addr, ts int64, path string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sources[src]
	if s == nil {
		if len(c.sources) >= c.cfg.MaxSources {
			c.evictOldest()
		}
		s = &credsSource{start: ts}
		c.sources[src] = s
		c.size.Set(int64(len(c.sources)))
	}
	if ts-s.start > int64(c.cfg.Window) {
		s.start, s.paths = ts, s.paths[:0]
	}
	for _, p := range s.paths {
		if p == path {
			return nil, false
		}
	}
	if len(s.paths) >= maxEnumPaths {
		return nil, false
	}
	s.paths = append(s.paths, strings.Clone(path))
	if len(s.paths) != c.cfg.EnumPaths {
		return nil, false
	}
	return append([]string(nil), s.paths...), true
}

func (c *credentials) evictOldest() {
	var oldest netip.Addr
	var at int64
	for a, s := range c.sources {
		if !oldest.IsValid() || s.start < at {
			oldest, at = a, s.start
		}
	}
	delete(c.sources, oldest)
	c.evicted.Inc()
}

func isCredPath(path string) bool {
	l := strings.ToLower(path)
	return strings.HasPrefix(l, "/v1/credentials") || strings.HasPrefix(l, "/v2/credentials")
}

func isToolAgent(ua string) bool {
	for _, t := range toolAgents {
		if strings.HasPrefix(ua, t) {
			return true
		}
	}
	return false
}

// redactCredPath keeps the first 8 characters of a credentials id: enough
// to tell ids apart, not enough to use one.
func redactCredPath(path string) string {
	for _, p := range [...]string{"/v2/credentials/", "/v1/credentials/"} {
		if len(path) > len(p)+8 && strings.EqualFold(path[:len(p)], p) {
			return path[:len(p)+8] + "…"
		}
	}
	return cutString(path, 200)
}

// String names the kind, for tests.
func (k pathKind) String() string {
	return [...]string{"expected", "other_credentials", "unexpected", "unknown_credentials"}[k]
}
