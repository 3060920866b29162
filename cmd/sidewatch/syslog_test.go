package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
)

// TestRunReceivesFluentBitSyslog sends what Fluent Bit's syslog output
// writes for awkward records to a running `sidewatch run` and checks that
// each becomes exactly one log event with the exact text.
func TestRunReceivesFluentBitSyslog(t *testing.T) {
	bin := buildSidewatch(t)
	syslogAddr := freeAddr(t)
	cmd := exec.Command(bin, "run", "--no-launcher")
	cmd.Env = append(testRunEnv(freeAddr(t)), "SIDEWATCH_SYSLOG_TCP_ADDR="+syslogAddr, "ECS_CONTAINER_METADATA_URI_V4=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var conn net.Conn
	for deadline := time.Now().Add(10 * time.Second); conn == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		conn, _ = net.Dial("tcp", syslogAddr)
	}
	if conn == nil {
		t.Fatalf("syslog receiver never listened on %s; stderr:\n%s", syslogAddr, stderr.String())
	}

	header := "<14>" + time.Now().UTC().Format(time.Stamp) + " abc123 web[1]: "
	trace := "Exception in thread \"main\" java.lang.IllegalStateException: boom\n" +
		"\tat com.example.App.run(App.java:42)\n" +
		"\tat com.example.App.main(App.java:7)\n" +
		"Caused by: java.io.IOException: disk full\n" +
		"\t... 2 more"
	big := strings.Repeat("0123456789abcdef", 700<<10/16)
	want := []string{trace, big, "héllo ☃ wörld\ttab\tseparated", "<html>starts with lt", "after"}
	var stream strings.Builder
	for _, m := range want {
		if strings.HasPrefix(m, "<") {
			stream.WriteString(m + "\n") // Fluent Bit >= 2.2 sends it without a header
			continue
		}
		stream.WriteString(header + m + "\n")
	}
	if _, err := conn.Write([]byte(stream.String())); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	time.Sleep(300 * time.Millisecond) // let the sidecar read before SIGTERM
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sidewatch run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}

	var got []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout has a non-event line: %v", err)
		}
		if e.EventType != event.TypeLog {
			continue
		}
		got = append(got, e.Log.Message)
		if e.Log.Format != "raw" && (e.ECS.Container.ID != "abc123" || e.ECS.Container.Name != "web") {
			t.Errorf("event container = %+v, want abc123/web", e.ECS.Container)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log messages mismatch (-want +got):\n%s", diff)
	}
}
