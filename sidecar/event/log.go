package event

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
	return append(dst, '}')
}
