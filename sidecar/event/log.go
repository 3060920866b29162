package event

import "encoding/json"

// Log is one container log record received from the log_router.
type Log struct {
	Message    string `json:"message"`
	Source     string `json:"source,omitempty"`
	Facility   string `json:"facility,omitempty"`
	Severity   string `json:"severity,omitempty"`
	ProcID     string `json:"procid,omitempty"`
	Format     string `json:"format,omitempty"`
	Transport  string `json:"transport,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	ParseError string `json:"parse_error,omitempty"`
	// Tag is the Fluent Bit tag of a forward record
	// ("<container>-firelens-<task id>").
	Tag string `json:"tag,omitempty"`
	// Fields is a JSON object holding every key of a forward record that
	// has no field of its own (structured app logs, parsed fields), encoded
	// by the producer and written verbatim.
	Fields json.RawMessage `json:"fields,omitempty"`
}

func (l *Log) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"log":{"message":`...)
	dst = appendString(dst, l.Message)
	dst = appendStringField(dst, "source", l.Source)
	dst = appendStringField(dst, "facility", l.Facility)
	dst = appendStringField(dst, "severity", l.Severity)
	dst = appendStringField(dst, "procid", l.ProcID)
	dst = appendStringField(dst, "format", l.Format)
	dst = appendStringField(dst, "transport", l.Transport)
	dst = appendTrueField(dst, "truncated", l.Truncated)
	dst = appendStringField(dst, "parse_error", l.ParseError)
	dst = appendStringField(dst, "tag", l.Tag)
	if len(l.Fields) > 0 {
		dst = append(dst, `,"fields":`...)
		dst = append(dst, l.Fields...)
	}
	return append(dst, '}')
}
