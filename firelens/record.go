package firelens

import (
	"strconv"
	"time"
)

// Record is one container log record as the log_router's syslog output
// delivers it (see SyslogOutput): Fluent Bit puts the record's container_id
// in HOSTNAME, container_name in APP-NAME, pid in PROCID and log in MSG.
// Fields the sender left out are empty.
type Record struct {
	// Time is the header's timestamp, or the receive time when the line
	// has no header. RFC 3164 stamps have whole seconds and no year.
	Time          time.Time
	ContainerID   string // HOSTNAME
	ContainerName string // APP-NAME (RFC 3164: TAG)
	ProcID        string // PROCID (RFC 3164: the TAG's [content])
	Message       string // MSG, without RFC 5424's UTF-8 BOM
	Facility      Facility
	Severity      Severity
	Format        Format
	// Truncated is set when the frame exceeded the receiver's maximum size
	// and its tail was discarded.
	Truncated bool
	// ParseError says why the line could not be parsed; Message then holds
	// the raw text.
	ParseError string
}

// Format is the syslog flavour a record arrived in.
type Format string

// Formats. FormatRaw is a line without a syslog header: Fluent Bit 2.2 and
// later send a message that starts with '<' verbatim, and anything else
// that is not syslog ends up there too. A raw record has no priority.
const (
	FormatRFC3164 Format = "rfc3164"
	FormatRFC5424 Format = "rfc5424"
	FormatRaw     Format = "raw"
)

// HasPriority reports whether the record came with a <PRI> header, so that
// its Facility and Severity mean something.
func (r *Record) HasPriority() bool { return r.Format != FormatRaw && r.Format != "" }

// Facility is the syslog facility, PRI / 8.
type Facility uint8

// Severity is the syslog severity, PRI % 8.
type Severity uint8

// MaxPriority is the largest valid PRI: facility local7, severity debug.
const MaxPriority = 191

// SplitPriority splits a PRI value (0..MaxPriority) into its parts.
func SplitPriority(pri uint8) (Facility, Severity) {
	return Facility(pri >> 3), Severity(pri & 7)
}

var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

var severityNames = [...]string{
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
}

// String returns the keyword of RFC 5424 table 1 as syslog.conf spells it
// ("user", "local0"), or the number when it is out of range.
func (f Facility) String() string {
	if int(f) < len(facilityNames) {
		return facilityNames[f]
	}
	return strconv.Itoa(int(f))
}

// String returns the keyword of RFC 5424 table 2 as syslog.conf spells it
// ("err", "info"), or the number when it is out of range.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return strconv.Itoa(int(s))
}
