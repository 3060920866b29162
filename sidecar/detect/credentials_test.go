package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const (
	ownCreds    = "/v2/credentials/96574b15-39b9-41fb-b2ea-2362089cd242"
	metadataURI = "http://169.254.170.2/v4/0123456789abcdef0123456789abcdef-2495160603"
)

func TestCredentialsClassify(t *testing.T) {
	known := newCredentials(CredentialsConfig{Path: ownCreds}, metadataURI, newEngineMetrics(metrics.New()), nil)
	unknown := newCredentials(CredentialsConfig{}, "", newEngineMetrics(metrics.New()), nil)
	tests := []struct {
		name         string
		c            *credentials
		method, path string
		want         pathKind
	}{
		{"own_credentials", known, "GET", ownCreds, pathExpected},
		{"own_credentials_put", known, "PUT", ownCreds, pathUnexpected},
		{"other_credentials", known, "GET", "/v2/credentials/00000000-1111-2222-3333-444444444444", pathOtherCreds},
		{"credentials_listing", known, "GET", "/v2/credentials/", pathOtherCreds},
		{"credentials_v1", known, "GET", "/v1/credentials", pathOtherCreds},
		{"metadata_own_task", known, "GET", "/v4/0123456789abcdef0123456789abcdef-2495160603/task", pathExpected},
		{"metadata_other_container", known, "GET", "/v4/0123456789abcdef0123456789abcdef-1111111111/stats", pathExpected},
		{"metadata_other_task", known, "GET", "/v4/ffffffffffffffffffffffffffffffff-1/task", pathUnexpected},
		{"metadata_v2", known, "GET", "/v2/metadata", pathExpected},
		{"root", known, "GET", "/", pathUnexpected},
		{"imds_path_on_ecs", known, "GET", "/latest/meta-data/", pathUnexpected},
		{"unknown_own_credentials", unknown, "GET", ownCreds, pathUnknownCred},
		{"unknown_any_metadata", unknown, "GET", "/v4/ffffffffffffffffffffffffffffffff-1/task", pathExpected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.classify(tt.method, tt.path); got != tt.want {
				t.Errorf("classify(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func newCredsEngine(t *testing.T, path string) (*Engine, *collector) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Credentials.Path = path
	col := &collector{}
	e, err := New(cfg, col, nil, Options{MetadataURI: metadataURI})
	if err != nil {
		t.Fatal(err)
	}
	return e, col
}

func TestCredentialsAlerts(t *testing.T) {
	src := netip4("169.254.172.2")
	type req struct{ method, url, ua string }
	tests := []struct {
		name string
		own  string
		reqs []req
		want []int
	}{
		{"sdk_fetches_own", ownCreds, []req{{"GET", ownCreds, "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26"}, {"GET", ownCreds, ""}}, nil},
		{"metadata_agent", ownCreds, []req{
			{"GET", "/v4/0123456789abcdef0123456789abcdef-2495160603", "datadog-agent"},
			{"GET", "/v4/0123456789abcdef0123456789abcdef-2495160603/task", "datadog-agent"},
			{"GET", "/v4/0123456789abcdef0123456789abcdef-2495160603/stats", "datadog-agent"},
			{"GET", "/v4/0123456789abcdef0123456789abcdef-2495160603/task/stats", "datadog-agent"},
		}, nil},
		{"other_credentials", ownCreds, []req{{"GET", "/v2/credentials/00000000-1111-2222-3333-444444444444", "python-requests/2.31"}}, []int{9000501}},
		{"curl_own_credentials", ownCreds, []req{{"GET", ownCreds, "curl/8.5.0"}}, []int{9000503}},
		{"curl_credentials_unknown_own", "", []req{{"GET", ownCreds, "curl/8.5.0"}}, []int{9000503}},
		{"enumeration", ownCreds, []req{{"GET", "/", "curl/8.5.0"}, {"GET", "/v1/", "curl/8.5.0"}, {"GET", "/latest/meta-data/", "curl/8.5.0"}, {"GET", "/api/", "curl/8.5.0"}}, []int{9000502}},
		{"enumeration_with_credentials_guesses", ownCreds, []req{{"GET", "/v2/credentials/a", "x"}, {"GET", "/v2/credentials/b", "x"}, {"GET", "/v2/credentials/c", "x"}},
			[]int{9000501, 9000502}},
		{"same_path_repeated", ownCreds, []req{{"GET", "/", "x"}, {"GET", "/", "x"}, {"GET", "/", "x"}}, nil},
		{"query_string_ignored", ownCreds, []req{{"GET", ownCreds + "?x=1", "aws-sdk-java/2.20"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col := newCredsEngine(t, tt.own)
			for i, r := range tt.reqs {
				ev := httpEvent(t0.Add(time.Duration(i)*time.Second), src, credsV4, r.method, "169.254.170.2", r.url, r.ua, 200)
				e.observe(&ev)
			}
			if got := col.sids(); !sameSIDs(got, tt.want) {
				t.Fatalf("alerts %v, want %v\n%s", got, tt.want, col.lines())
			}
			// The credentials id never appears whole.
			checkNoSecret(t, col.lines(), strings.TrimPrefix(ownCreds, "/v2/credentials/"), "00000000-1111-2222-3333-444444444444")
		})
	}
}

func TestCredentialsEnumerationWindow(t *testing.T) {
	e, col := newCredsEngine(t, ownCreds)
	src := netip4("169.254.172.2")
	for i, p := range []string{"/a", "/b", "/c"} {
		ev := httpEvent(t0.Add(time.Duration(i)*4*time.Minute), src, credsV4, "GET", "169.254.170.2", p, "curl/8.5.0", 404)
		e.observe(&ev)
	}
	if len(col.alerts) != 0 {
		t.Errorf("paths spread over 8 minutes alerted: %v", col.sids())
	}
}

func TestRedactCredPath(t *testing.T) {
	if got, want := redactCredPath(ownCreds), "/v2/credentials/96574b15…"; got != want {
		t.Errorf("redactCredPath = %q, want %q", got, want)
	}
	if got := redactCredPath("/v2/credentials/ab"); got != "/v2/credentials/ab" {
		t.Errorf("short id redacted to %q", got)
	}
}
