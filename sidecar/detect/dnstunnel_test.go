package detect

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// encodedLabel is n random bytes encoded as a tunnel client would.
func encodedLabel(r *rand.Rand, n int, enc string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	switch enc {
	case "base64":
		return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
	case "hex":
		return fmt.Sprintf("%x", b)
	}
	return strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "="))
}

// tunnelNames makes n distinct names as iodine and dnscat make them: data
// labels of up to 63 characters under a tunnel domain.
func tunnelNames(n, bytesPerName int, enc, domain string) []string {
	r := rand.New(rand.NewPCG(uint64(n), uint64(bytesPerName)))
	var out []string
	for range n {
		data := encodedLabel(r, bytesPerName, enc)
		var labels []string
		for len(data) > 63 {
			labels, data = append(labels, data[:63]), data[63:]
		}
		labels = append(labels, data)
		out = append(out, strings.Join(labels, ".")+"."+domain)
	}
	return out
}

func feedQueries(e *Engine, start time.Time, step time.Duration, names []string, rrtype string) {
	for i, n := range names {
		ev := dnsQuery(start.Add(time.Duration(i)*step), n, rrtype)
		e.observe(&ev)
	}
}

func TestDNSTunnelFires(t *testing.T) {
	tests := []struct {
		name     string
		names    []string
		rrtype   string
		wantSIDs []int
	}{
		{"iodine_null_base32", tunnelNames(30, 100, "base32", "t1.tunnel.example"), "NULL", []int{9000301, 9000302, 9000303}},
		{"iodine_private_type", tunnelNames(6, 20, "base32", "t.tunnel.example"), "TYPE65399", []int{9000302}},
		{"base64_mixed_case_a", tunnelNames(25, 60, "base64", "x.exfil.example.co.uk"), "A", []int{9000301}},
		{"hex_txt", tunnelNames(25, 16, "hex", "c2.example.net"), "TXT", []int{9000301, 9000303}},
		{"short_txt_names", tunnelNames(25, 4, "hex", "c2.example.net"), "TXT", []int{9000303}},
		{"cname_volume", tunnelNames(25, 5, "base32", "c.example.org"), "CNAME", []int{9000303}},
		{"too_few_names", tunnelNames(19, 60, "base32", "t.tunnel.example"), "A", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			feedQueries(e, t0, 100*time.Millisecond, tt.names, tt.rrtype)
			if got := col.sids(); !sameSIDs(got, tt.wantSIDs) {
				t.Fatalf("alerts %v, want %v\n%s", got, tt.wantSIDs, col.lines())
			}
			for _, a := range col.alerts {
				reg := metaValue(a, "registered_domain")
				if reg == "" || !strings.HasSuffix(tt.names[0], reg) {
					t.Errorf("registered_domain %q for %s", reg, tt.names[0])
				}
			}
		})
	}
}

func TestDNSTunnelWindow(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	names := tunnelNames(30, 60, "base32", "t.tunnel.example")
	feedQueries(e, t0, time.Second, names[:15], "A")
	feedQueries(e, t0.Add(6*time.Minute), time.Second, names[15:], "A")
	if len(col.alerts) != 0 {
		t.Errorf("names spread over two windows alerted: %v", col.sids())
	}
}

func TestDNSTunnelAllowList(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	feedQueries(e, t0, time.Millisecond, tunnelNames(40, 60, "base32", "amazonaws.com"), "TXT")
	if len(col.alerts) != 0 {
		t.Errorf("allowed domain alerted: %v", col.sids())
	}
}

func TestDNSTunnelBounded(t *testing.T) {
	e, _, reg := newTestEngine(t, func(c *Config) { c.DNSTunnel.MaxDomains = 16 })
	for i := range 100 {
		ev := dnsQuery(t0, fmt.Sprintf("x.d%d.example", i), "TXT")
		e.observe(&ev)
	}
	e.tunnel.mu.Lock()
	n := len(e.tunnel.domains)
	e.tunnel.mu.Unlock()
	if n > 16 {
		t.Errorf("%d domains tracked, max 16", n)
	}
	if got := reg.Stats()["detect"].(map[string]any)["state_evicted_total"].(map[string]any)["dns_tunnel"]; got == uint64(0) {
		t.Error("no eviction counted")
	}
}

// benignNames are real-world-shaped names a task resolves: AWS service
// endpoints and per-resource names, CDNs, package mirrors, telemetry.
func benignNames() []string {
	r := rand.New(rand.NewPCG(7, 7))
	hex := func(n int) string { return encodedLabel(r, n, "hex")[:n] }
	alnum := func(n int) string {
		const a = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = a[r.IntN(len(a))]
		}
		return string(b)
	}
	var out []string
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}
	services := []string{"sts", "ecr", "api.ecr", "logs", "monitoring", "ssm", "secretsmanager", "kms", "sqs", "sns", "dynamodb", "s3", "events", "xray", "ecs", "elasticloadbalancing", "lambda", "states", "firehose", "kinesis"}
	for _, reg := range regions {
		for _, svc := range services {
			out = append(out, svc+"."+reg+".amazonaws.com")
		}
	}
	for i := range 300 { // S3 buckets, virtual-hosted style
		out = append(out, fmt.Sprintf("prod-%s-artifacts-%d-%s.s3.%s.amazonaws.com", alnum(6), 100000000000+i, regions[i%4], regions[i%4]))
		out = append(out, fmt.Sprintf("%s-logs-%s.s3.amazonaws.com", alnum(8), hex(12)))
	}
	for range 200 { // CloudFront distributions, ELBs, API Gateway, Lambda URLs, ECR registries
		out = append(out, "d"+alnum(13)+".cloudfront.net")
		out = append(out, fmt.Sprintf("internal-app-%s-%d.%s.elb.amazonaws.com", alnum(5), 1000000000+r.IntN(1e9), regions[r.IntN(4)]))
		out = append(out, alnum(10)+".execute-api."+regions[r.IntN(4)]+".amazonaws.com")
		out = append(out, alnum(32)+".lambda-url."+regions[r.IntN(4)]+".on.aws")
		out = append(out, fmt.Sprintf("%d.dkr.ecr.%s.amazonaws.com", 100000000000+r.IntN(1e11), regions[r.IntN(4)]))
		out = append(out, "vpce-0"+hex(16)+"-"+alnum(8)+".sts."+regions[r.IntN(4)]+".vpce.amazonaws.com")
	}
	mirrors := []string{"deb.debian.org", "security.debian.org", "archive.ubuntu.com", "security.ubuntu.com", "dl-cdn.alpinelinux.org",
		"registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "proxy.golang.org", "sum.golang.org", "repo1.maven.org",
		"repo.maven.apache.org", "rubygems.org", "index.rubygems.org", "registry-1.docker.io", "auth.docker.io",
		"production.cloudflare.docker.com", "ghcr.io", "pkg-containers.githubusercontent.com", "objects.githubusercontent.com",
		"github.com", "api.github.com", "codeload.github.com", "crates.io", "static.crates.io", "index.crates.io",
		"storage.googleapis.com", "oauth2.googleapis.com", "www.googleapis.com", "login.microsoftonline.com"}
	out = append(out, mirrors...)
	for range 100 { // CDNs and telemetry with per-customer names
		out = append(out, fmt.Sprintf("e%d.dscb.akamaiedge.net", r.IntN(99999)))
		out = append(out, fmt.Sprintf("o%d.ingest.sentry.io", r.IntN(9999999)))
		out = append(out, fmt.Sprintf("%s.gvt1.com", alnum(8)))
		out = append(out, fmt.Sprintf("cust-%s-%d.myapp-saas.example", alnum(6), r.IntN(9999)))
		out = append(out, fmt.Sprintf("%d.%d.%d.%d.zen.spamhaus.org", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)))
		out = append(out, fmt.Sprintf("%s.blob.core.windows.net", alnum(14)))
		out = append(out, fmt.Sprintf("%s.fastly-%s.example-cdn.net", alnum(4), alnum(4)))
	}
	return out
}

// The benign corpus raises nothing with the defaults, nor, for the names
// the public suffix list splits (S3, CloudFront, ELB, API Gateway, Lambda
// URLs), with an empty allow list.
func TestDNSTunnelBenignCorpus(t *testing.T) {
	names := benignNames()
	for _, tt := range []struct {
		name  string
		allow []string
		skip  func(string) bool
	}{
		{"defaults", nil, func(string) bool { return false }},
		{"no_allow_list", []string{}, func(n string) bool {
			// Without the allow list, AWS endpoint names whose registered
			// domain is amazonaws.com itself (VPC endpoints, services in
			// regions the list does not split) are many long names of one
			// domain; those are what the allow list is for.
			reg, _ := publicsuffix.EffectiveTLDPlusOne(n)
			return reg == "amazonaws.com"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, func(c *Config) {
				if tt.allow != nil {
					c.DNSTunnel.Allow = tt.allow
				}
			})
			var used []string
			for _, n := range names {
				if !tt.skip(n) {
					used = append(used, n)
				}
			}
			for _, typ := range []string{"A", "AAAA", "HTTPS"} {
				feedQueries(e, t0, 10*time.Millisecond, used, typ)
			}
			txt := []string{"_dmarc.example.com", "google._domainkey.example.com", "example.com", "_acme-challenge.www.example.com", "_amazonses.example.com"}
			feedQueries(e, t0, time.Millisecond, txt, "TXT")
			feedQueries(e, t0, time.Millisecond, []string{"_xmpp-client._tcp.example.com", "_sip._udp.example.com"}, "SRV")
			if len(col.alerts) != 0 {
				t.Errorf("%d benign names raised %v:\n%s", len(used), col.sids(), col.lines())
			}
		})
	}
}

func TestShannon(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
	}{{"", 0}, {"aaaa", 0}, {"ab", 1}, {"abcd", 2}, {"a.b.c.d", 2}} {
		if got := shannon(tt.in); got != tt.want {
			t.Errorf("shannon(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRRTypes(t *testing.T) {
	for _, tt := range []struct {
		in          string
		rare, typed bool
	}{{"NULL", true, true}, {"TYPE65399", true, true}, {"65399", true, true}, {"TXT", false, true}, {"A", false, false}, {"HTTPS", false, false}, {"TYPE16", false, true}, {"TYPE99999", false, false}} {
		if rareType(tt.in) != tt.rare || typedQuery(tt.in) != tt.typed {
			t.Errorf("%s: rare %v typed %v, want %v %v", tt.in, rareType(tt.in), typedQuery(tt.in), tt.rare, tt.typed)
		}
	}
}

// Responses repeat the request's question: counting both must not double.
func TestDNSTunnelCountsNamesOnce(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	for _, n := range tunnelNames(4, 20, "base32", "t.tunnel.example") {
		req := dnsQuery(t0, n, "NULL")
		resp := req
		resp.DNS = &event.DNS{Version: 3, Type: "response", Queries: req.DNS.Queries}
		e.observe(&req)
		e.observe(&resp)
	}
	if len(col.alerts) != 0 {
		t.Errorf("4 names queried twice each alerted: %v", col.sids())
	}
}

// TestDNSTunnelShortNamesAllocateNothing: an ordinary A query too short
// to be a long name skips the public suffix lookup, which allocates.
func TestDNSTunnelShortNamesAllocateNothing(t *testing.T) {
	e, _, _ := newTestEngine(t, nil)
	tests := []struct {
		name string
		qry  string
		want float64
	}{
		{"short_a_query", "api.github.com", 0},
		{"short_under_the_min_length", "a1b2c3d4.example.org", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := dnsQuery(time.Unix(1_700_000_000, 0), tt.qry, "A")
			got := testing.AllocsPerRun(100, func() { e.tunnel.query(&ev, tt.qry, "A") })
			if got != tt.want {
				t.Errorf("got %v allocations per query of %s, want %v", got, tt.qry, tt.want)
			}
		})
	}
}
