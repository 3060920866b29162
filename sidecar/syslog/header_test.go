package syslog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

var classifyTests = []struct {
	name string
	line string
	want lineKind
}{
	{"rfc3164_fluent_bit", "<14>Nov 14 22:13:20 abc123 web[1]: hello", line3164},
	{"rfc3164_space_padded_day", "<14>Nov  5 00:00:05 abc123 web[1]: hello", line3164},
	{"rfc3164_zero_padded_day", "<14>Nov 05 00:00:05 abc123 web[1]: hello", line3164},
	{"rfc3164_stamp_only", "<14>Nov 14 22:13:20", line3164},
	{"rfc3164_pri_0", "<0>Jan  1 00:00:00 h a: m", line3164},
	{"rfc3164_pri_191", "<191>Dec 31 23:59:60 h a: m", line3164},
	{"rfc5424_fluent_bit", "<14>1 2023-11-14T22:13:20.123456Z abc123 web 1 - - \xEF\xBB\xBFhello", line5424},
	{"rfc5424_nil_timestamp", "<14>1 - host app - - - msg", line5424},
	{"rfc5424_cut_after_stamp", "<14>1 2023-11-14T22:13:20", line5424},
	{"html", "<html>starts with lt", lineRaw},
	{"systemd_prefix", "<3>something failed", lineRaw},
	{"pri_192", "<192>Nov 14 22:13:20 h a: m", lineRaw},
	{"pri_leading_zero", "<014>Nov 14 22:13:20 h a: m", lineRaw},
	{"pri_four_digits", "<1234>Nov 14 22:13:20 h a: m", lineRaw},
	{"pri_empty", "<>Nov 14 22:13:20 h a: m", lineRaw},
	{"pri_unclosed", "<14Nov 14 22:13:20 h a: m", lineRaw},
	{"bad_month", "<14>Foo 14 22:13:20 h a: m", lineRaw},
	{"lowercase_month", "<14>nov 14 22:13:20 h a: m", lineRaw},
	{"day_zero", "<14>Nov  0 22:13:20 h a: m", lineRaw},
	{"day_32", "<14>Nov 32 22:13:20 h a: m", lineRaw},
	{"hour_24", "<14>Nov 14 24:13:20 h a: m", lineRaw},
	{"minute_60", "<14>Nov 14 22:60:20 h a: m", lineRaw},
	{"no_space_after_stamp", "<14>Nov 14 22:13:20x h a: m", lineRaw},
	{"stamp_cut", "<14>Nov 14 22:13", lineRaw},
	{"rfc5424_version_2", "<14>2 2023-11-14T22:13:20Z h a - - - m", lineRaw},
	{"rfc5424_bad_month", "<14>1 2023-13-14T22:13:20Z h a - - - m", lineRaw},
	{"rfc5424_no_T", "<14>1 2023-11-14 22:13:20Z h a - - - m", lineRaw},
	{"rfc5424_nil_then_text", "<14>1 -x", lineRaw},
	{"lone_lt", "<", lineRaw},
	{"stack_frame", "\tat com.example.App.main(App.java:7)", lineText},
	{"caused_by", "Caused by: java.io.IOException", lineText},
	{"empty", "", lineText},
	{"binary", "\x00\xff\xfe", lineText},
}

func TestClassify(t *testing.T) {
	for _, tt := range classifyTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify([]byte(tt.line)); got != tt.want {
				t.Errorf("classify(%q) = %d, want %d", tt.line, got, tt.want)
			}
		})
	}
}

var now2026 = time.Date(2026, 11, 22, 5, 40, 0, 0, time.UTC)

var parse3164Tests = []struct {
	name string
	line string
	want firelens.Record
}{
	{"fluent_bit", "<14>Nov 14 22:13:20 abc123 web[1]: hello", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1", Message: "hello", Facility: 1, Severity: 6}},
	{"no_hostname", "<14>Nov 14 22:13:20 web[1]: no container_id", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerName: "web", ProcID: "1", Message: "no container_id", Facility: 1, Severity: 6}},
	{"no_appname", "<14>Nov 14 22:13:20 abc123 no container_name", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", Message: "no container_name", Facility: 1, Severity: 6}},
	{"empty_message", "<14>Nov 14 22:13:20 abc123 web[1]: ", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1", Facility: 1, Severity: 6}},
	{"tag_at_end", "<14>Nov 14 22:13:20 abc123 web[1]:", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1", Facility: 1, Severity: 6}},
	{"tag_without_pid", "<13>Nov 22 05:40:00 ip-10-0-0-1 root: hi there", firelens.Record{
		Time: time.Date(2026, 11, 22, 5, 40, 0, 0, time.UTC), ContainerID: "ip-10-0-0-1", ContainerName: "root", Message: "hi there", Facility: 1, Severity: 5}},
	{"ec2_container_name", "<14>Nov 14 22:13:20 0123abcd /ecs-web-task-7-web-d0c8[1]: x", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "0123abcd", ContainerName: "/ecs-web-task-7-web-d0c8", ProcID: "1", Message: "x", Facility: 1, Severity: 6}},
	{"stamp_only", "<14>Nov 14 22:13:20", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), Facility: 1, Severity: 6}},
	{"lone_word", "<14>Nov 14 22:13:20 cd189a933e5849daa933", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), Message: "cd189a933e5849daa933", Facility: 1, Severity: 6}},
	{"empty_pid", "<14>Nov 14 22:13:20 abc123 web[]: x", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", Message: "web[]: x", Facility: 1, Severity: 6}},
	{"multiline_tabs_unicode", "<11>Nov 14 22:13:20 abc123 web[1]: héllo\tx\n\tat y", firelens.Record{
		Time: time.Date(2026, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1", Message: "héllo\tx\n\tat y", Facility: 1, Severity: 3}},
	{"december_read_in_november", "<14>Dec 24 10:00:00 abc123 web[1]: x", firelens.Record{
		Time: time.Date(2025, 12, 24, 10, 0, 0, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1", Message: "x", Facility: 1, Severity: 6}},
}

func TestParse3164(t *testing.T) {
	for _, tt := range parse3164Tests {
		t.Run(tt.name, func(t *testing.T) {
			if k := classify([]byte(tt.line)); k != line3164 {
				t.Fatalf("classify(%q) = %d, want line3164", tt.line, k)
			}
			want := tt.want
			want.Format = firelens.FormatRFC3164
			got := parse3164(tt.line, now2026)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parse3164(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestStampYear(t *testing.T) {
	tests := []struct {
		name  string
		now   time.Time
		stamp stamp3164
		want  time.Time
	}{
		{"same_day", now2026, stamp3164{time.November, 22, 5, 0, 0}, time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)},
		{"december_in_january", time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC), stamp3164{time.December, 31, 23, 59, 59}, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"clock_skew_under_a_day", now2026, stamp3164{time.November, 23, 5, 0, 0}, time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)},
		{"over_a_day_ahead", now2026, stamp3164{time.November, 23, 5, 40, 1}, time.Date(2025, 11, 23, 5, 40, 1, 0, time.UTC)},
		{"local_clock_is_utc_converted", now2026.In(time.FixedZone("X", 14*3600)), stamp3164{time.November, 22, 5, 0, 0}, time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.stamp.time(tt.now); !got.Equal(tt.want) {
				t.Errorf("%+v.time(%s) = %s, want %s", tt.stamp, tt.now, got, tt.want)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	received := time.Date(2023, 11, 15, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		frame     string
		truncated bool
		want      firelens.Record
	}{
		{"rfc5424_bom_stripped", "<14>1 2023-11-14T22:13:20.123456Z abc123 web 1 - - \xEF\xBB\xBFhello", false, firelens.Record{
			Time: time.Date(2023, 11, 14, 22, 13, 20, 123456000, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1",
			Message: "hello", Facility: 1, Severity: 6, Format: firelens.FormatRFC5424}},
		{"rfc5424_without_bom", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event", false, firelens.Record{
			Time: time.Date(2003, 10, 11, 22, 14, 15, 3000000, time.UTC), ContainerID: "mymachine.example.com", ContainerName: "evntslog",
			Message: "An application event", Facility: 20, Severity: 5, Format: firelens.FormatRFC5424}},
		{"rfc5424_multiline", "<14>1 2023-11-14T22:13:20Z abc123 web 1 - - \xEF\xBB\xBFline1\nline2", false, firelens.Record{
			Time: time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC), ContainerID: "abc123", ContainerName: "web", ProcID: "1",
			Message: "line1\nline2", Facility: 1, Severity: 6, Format: firelens.FormatRFC5424}},
		{"rfc5424_cut_in_header", "<14>1 2023-11-14T22:13:20.123456Z - web ", true, firelens.Record{
			Time: time.Date(2023, 11, 14, 22, 13, 20, 123456000, time.UTC), ContainerName: "web", Message: "<14>1 2023-11-14T22:13:20.123456Z - web ",
			Facility: 1, Severity: 6, Format: firelens.FormatRFC5424, Truncated: true,
			ParseError: "rfc5424: expecting a procid (from 1 to max 128 US-ASCII characters) or a nil value [col 40]"}},
		{"raw_lt", "<html>starts with lt", false, firelens.Record{Time: received, Message: "<html>starts with lt", Format: firelens.FormatRaw}},
		{"no_header", "plain text", false, firelens.Record{Time: received, Message: "plain text", Format: firelens.FormatRaw, ParseError: errNoHeader}},
		{"invalid_utf8", "\xff\xfe garbage", false, firelens.Record{Time: received, Message: "\xff\xfe garbage", Format: firelens.FormatRaw, ParseError: errNoHeader}},
	}
	p := newParser(func() time.Time { return received })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.parse([]byte(tt.frame), tt.truncated)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse(%q) mismatch (-want +got):\n%s", tt.frame, diff)
			}
		})
	}
}

func TestRecordEvent(t *testing.T) {
	r := firelens.Record{Time: now2026, ContainerID: "abc123", ContainerName: "web", ProcID: "1", Message: "m", Facility: 16, Severity: 3, Format: firelens.FormatRFC3164, Truncated: true}
	var le logEvent
	ev := le.set(&r, "tcp")
	got := string(ev.AppendJSON(nil))
	want := `{"timestamp":"2026-11-22T05:40:00.000000+0000","event_type":"log","log":{"message":"m","facility":"local0","severity":"err","procid":"1","format":"rfc3164","transport":"tcp","truncated":true},"aws_ecs":{"container":{"id":"abc123","name":"web"}}}`
	if got != want {
		t.Errorf("recordEvent(%+v) =\n%s\nwant\n%s", r, got, want)
	}
	raw := firelens.Record{Time: now2026, Message: "<x>", Format: firelens.FormatRaw}
	if ev := le.set(&raw, "udp"); ev.Log.Facility != "" || ev.Log.Severity != "" {
		t.Errorf("raw record's event has facility %q severity %q, want none", ev.Log.Facility, ev.Log.Severity)
	}
}

// FuzzParse checks the parse-to-event step on any frame: it never panics,
// always yields a log event that encodes to valid JSON, and keeps the text:
// an RFC 3164 message is the frame's tail, and a raw or unparseable frame
// is the message itself.
func FuzzParse(f *testing.F) {
	for _, tt := range classifyTests {
		f.Add(tt.line)
	}
	for _, tt := range parse3164Tests {
		f.Add(tt.line)
	}
	f.Add("<14>1 2023-11-14T22:13:20.123456Z abc123 web 1 - - \xEF\xBB\xBFhello")
	f.Add("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event")
	p := newParser(func() time.Time { return now2026 })
	var le logEvent
	f.Fuzz(func(t *testing.T, frame string) {
		r := p.parse([]byte(frame), false)
		ev := le.set(&r, "tcp")
		if ev.EventType != event.TypeLog || ev.Log == nil {
			t.Fatalf("parse(%q) gave event type %q, log %v", frame, ev.EventType, ev.Log)
		}
		if b := ev.AppendJSON(nil); !json.Valid(b) {
			t.Fatalf("parse(%q) encodes to invalid JSON %q", frame, b)
		}
		switch {
		case r.Format == firelens.FormatRaw || r.ParseError != "":
			if r.Message != frame {
				t.Fatalf("parse(%q) message = %q, want the frame", frame, r.Message)
			}
		case r.Format == firelens.FormatRFC3164:
			if !strings.HasSuffix(frame, r.Message) {
				t.Fatalf("parse(%q) message = %q, want a suffix of the frame", frame, r.Message)
			}
		}
	})
}
