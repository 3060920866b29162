package syslog

import (
	"bytes"
	"time"
	"unsafe"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// errNoHeader is the parse error of a line that is neither syslog nor a
// raw '<' message.
const errNoHeader = "no syslog header"

var bom = []byte("\xEF\xBB\xBF")

// parser turns frames into records. It is not safe for concurrent use:
// each connection has its own, as go-syslog's machines keep state.
type parser struct {
	m5424 gosyslog.Machine
	clock func() time.Time
	// at, when set, is the time of the read that delivered the frame: a
	// connection sets it once per read instead of reading the clock per
	// message.
	at time.Time
}

func newParser(now func() time.Time) *parser {
	return &parser{m5424: rfc5424.NewMachine(rfc5424.WithBestEffort()), clock: now}
}

func (p *parser) now() time.Time {
	if !p.at.IsZero() {
		return p.at
	}
	return p.clock()
}

// parse turns one frame (a record: its header line and any continuation
// lines joined with '\n') into a record. It never fails: what cannot be
// parsed is kept as the message with ParseError set.
//
// The record's strings are views of frame, not copies (RFC 5424 fields
// parsed by go-syslog excepted): the record is valid only until frame's
// bytes change. The connection publishes it before reading on, and the
// pipeline encodes it before Publish returns, so the log path copies a
// record's text once, into the queue.
func (p *parser) parse(frame []byte, truncated bool) firelens.Record {
	var r firelens.Record
	switch classify(frame) {
	case line3164:
		r = parse3164(view(frame), p.now())
	case line5424:
		r = p.parse5424(frame)
	case lineRaw:
		r = firelens.Record{Time: p.now(), Message: view(frame), Format: firelens.FormatRaw}
	default:
		r = firelens.Record{Time: p.now(), Message: view(frame), Format: firelens.FormatRaw, ParseError: errNoHeader}
	}
	r.Truncated = truncated
	return r
}

// parse5424 uses go-syslog in best-effort mode. When it reports an error
// the record keeps what was parsed and the whole frame as its message.
func (p *parser) parse5424(frame []byte) firelens.Record {
	r := firelens.Record{Format: firelens.FormatRFC5424}
	msg, err := p.m5424.Parse(frame)
	m, _ := msg.(*rfc5424.SyslogMessage)
	if m == nil {
		// Unreachable after classify, which checked what go-syslog needs to
		// start a message; kept so that no input can be lost.
		r.Time, r.Format, r.Message = p.now(), firelens.FormatRaw, view(frame)
		r.ParseError = "rfc5424: no message"
		if err != nil {
			r.ParseError = "rfc5424: " + err.Error()
		}
		return r
	}
	if m.Priority != nil {
		r.Facility, r.Severity = firelens.SplitPriority(*m.Priority)
	}
	if m.Timestamp != nil {
		r.Time = m.Timestamp.UTC()
	} else {
		r.Time = p.now()
	}
	r.ContainerID = deref(m.Hostname)
	r.ContainerName = deref(m.Appname)
	r.ProcID = deref(m.ProcID)
	if err != nil {
		r.ParseError = "rfc5424: " + err.Error()
		r.Message = view(frame)
		return r
	}
	if m.Message != nil {
		r.Message = *m.Message
		if len(r.Message) >= len(bom) && r.Message[:len(bom)] == string(bom) {
			r.Message = r.Message[len(bom):]
		}
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// view returns b's bytes as a string without copying them. The string is
// valid only while b is not modified: see parse.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// logEvent is a reusable log event: a connection (or the UDP reader) owns
// one, fills it for each record and publishes it. Publish encodes the
// event before it returns and keeps nothing it points to (the pipeline's
// lifetime rules), so one per reader serves every record and the log path
// allocates nothing per record.
type logEvent struct {
	ev  event.Event
	log event.Log
}

// set maps a record to the log event, replacing the previous one, and
// returns it. The pipeline's enricher completes the container (name from
// id or id from name) from task metadata.
func (l *logEvent) set(r *firelens.Record, transport string) *event.Event {
	l.log = event.Log{
		Message:    r.Message,
		ProcID:     r.ProcID,
		Format:     string(r.Format),
		Transport:  transport,
		Truncated:  r.Truncated,
		ParseError: r.ParseError,
	}
	if r.HasPriority() {
		l.log.Facility = r.Facility.String()
		l.log.Severity = r.Severity.String()
	}
	l.ev = event.Event{
		Timestamp: event.At(r.Time),
		EventType: event.TypeLog,
		Log:       &l.log,
		ECS:       event.ECS{Container: event.Container{ID: r.ContainerID, Name: r.ContainerName}},
	}
	return &l.ev
}

// trimLF drops one trailing "\n" (UDP senders such as logger may add one).
func trimLF(b []byte) []byte {
	b, _ = bytes.CutSuffix(b, []byte("\n"))
	return b
}
