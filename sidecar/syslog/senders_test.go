package syslog

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Real senders that no one here wrote: util-linux logger and rsyslog's
// omfwd. Each test asserts that every message arrives exactly once, whole.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (Debian package in .ci/apt/syslog.txt)", name)
	}
	return p
}

func testMessages(n int, prefix string) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s message %03d héllo ☃ done", prefix, i))
	}
	return out
}

// sameMessages compares as multisets: order across connections is not
// promised, duplicates and losses are errors.
func sameMessages(t *testing.T, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
}

func TestLogger(t *testing.T) {
	logger := needTool(t, "logger")
	tests := []struct {
		name string
		args []string
	}{
		{"tcp_rfc3164", []string{"--tcp", "--rfc3164"}},
		{"tcp_rfc5424", []string{"--tcp", "--rfc5424"}},
		{"tcp_rfc3164_octet_count", []string{"--tcp", "--rfc3164", "--octet-count"}},
		{"tcp_rfc5424_octet_count", []string{"--tcp", "--rfc5424", "--octet-count"}},
		{"udp_rfc3164", []string{"--udp", "--rfc3164"}},
		{"udp_rfc5424", []string{"--udp", "--rfc5424"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, testConfig(), time.Now)
			tcp, udp := h.r.Addrs()
			addr := tcp
			if slices.Contains(tt.args, "--udp") {
				addr = udp
			}
			host, port, _ := net.SplitHostPort(addr.String())
			want := testMessages(50, tt.name)
			args := append([]string{"-n", host, "-P", port, "-t", "web", "--id=42", "-p", "local3.warning"}, tt.args...)
			cmd := exec.Command(logger, args...)
			cmd.Stdin = strings.NewReader(strings.Join(want, "\n") + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("logger %q: %v\n%s", args, err, out)
			}
			waitFor(t, "every message", func() bool { return h.col.len() >= len(want) })
			if slices.Contains(tt.args, "--tcp") {
				waitFor(t, "the connection to end", func() bool { return h.closed() > 0 })
			}
			sameMessages(t, h.col.messages(), want)
			for _, ev := range h.col.snapshot() {
				if ev.ECS.Container.Name != "web" || ev.Log.ProcID != "42" || ev.Log.Facility != "local3" || ev.Log.Severity != "warning" || ev.Log.ParseError != "" {
					t.Fatalf("event = %s, want app web, procid 42, local3.warning, no parse error", ev.AppendJSON(nil))
				}
				if d := time.Since(ev.Timestamp.Time); d < -time.Minute || d > time.Hour {
					t.Fatalf("event time %s is %s from now", ev.Timestamp.Time, d)
				}
			}
		})
	}
}

// TestRsyslogForward runs rsyslogd with imtcp on a free port and an omfwd
// action to the receiver; logger feeds rsyslog.
func TestRsyslogForward(t *testing.T) {
	rsyslogd := needTool(t, "rsyslogd")
	logger := needTool(t, "logger")
	tests := []struct {
		name     string
		framing  string
		template string
	}{
		{"traditional_framing_rfc3164", "traditional", "RSYSLOG_TraditionalForwardFormat"},
		{"octet_counted_rfc3164", "octet-counted", "RSYSLOG_TraditionalForwardFormat"},
		{"traditional_framing_rfc5424", "traditional", "rfc5424"},
		{"octet_counted_rfc5424", "octet-counted", "rfc5424"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, testConfig(), time.Now)
			tcp, _ := h.r.Addrs()
			_, port, _ := net.SplitHostPort(tcp.String())
			inPort := freePort(t)
			dir := t.TempDir()
			// rfc5424 is RSYSLOG_SyslogProtocol23Format without the space
			// that rsyslog keeps at the start of an RFC 3164 input's msg.
			conf := fmt.Sprintf(`global(workDirectory=%q parser.escapeControlCharactersOnReceive="off")
template(name="rfc5424" type="string" string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% %%MSGID%% %%STRUCTURED-DATA%% %%msg:2:$%%\n")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%d")
action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" TCP_Framing=%q template=%q)
`, dir, inPort, port, tt.framing, tt.template)
			confPath := filepath.Join(dir, "rsyslog.conf")
			if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-done
				}
			})
			waitFor(t, "rsyslogd's imtcp", func() bool {
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(inPort)))
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			want := testMessages(200, tt.name)
			lcmd := exec.Command(logger, "-n", "127.0.0.1", "-P", strconv.Itoa(inPort), "--tcp", "--rfc3164", "-t", "web", "--id=42")
			lcmd.Stdin = strings.NewReader(strings.Join(want, "\n") + "\n")
			if b, err := lcmd.CombinedOutput(); err != nil {
				t.Fatalf("logger: %v\n%s", err, b)
			}
			deadline := time.Now().Add(20 * time.Second)
			for h.col.len() < len(want) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // a duplicate would show up now
			sameMessages(t, h.col.messages(), want)
			for _, ev := range h.col.snapshot() {
				if ev.ECS.Container.Name != "web" || ev.Log.ParseError != "" {
					t.Fatalf("event = %s, want app web and no parse error", ev.AppendJSON(nil))
				}
			}
			if t.Failed() {
				t.Logf("rsyslogd output:\n%s", out.String())
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
