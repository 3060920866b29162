package syslog

import (
	"time"

	"github.com/sidewatch/sidewatch/firelens"
)

// lineKind is what the start of a line says about it.
type lineKind uint8

const (
	// lineText has no header and does not start with '<': in TCP line
	// framing it continues the previous record (Fluent Bit does not escape
	// the newlines of a multi-line message).
	lineText lineKind = iota
	// lineRaw starts with '<' but has no valid header: Fluent Bit 2.2 and
	// later send a message that starts with '<' verbatim, without a header.
	lineRaw
	line3164
	line5424
)

// stamp3164Len is len("Nov 14 22:13:20").
const stamp3164Len = 15

// classify validates the header at the start of b, which holds a whole line
// or at least its first few hundred bytes. A header is <PRI> with PRI 0..191
// written without leading zeros, then either an RFC 3164 timestamp
// ("Nov 14 22:13:20" followed by a space or the end) or RFC 5424's version
// 1 and a timestamp or "-". Anything less is not a header, so that a
// message such as "<html>" or "<3>started" is never taken for one.
func classify(b []byte) lineKind {
	if len(b) == 0 || b[0] != '<' {
		return lineText
	}
	_, n, ok := parsePRI(b)
	if !ok {
		return lineRaw
	}
	rest := b[n:]
	if _, ok := parseStamp3164(rest); ok && (len(rest) == stamp3164Len || rest[stamp3164Len] == ' ') {
		return line3164
	}
	if valid5424Start(rest) {
		return line5424
	}
	return lineRaw
}

// parsePRI parses "<PRI>" at the start of b and returns PRI and the length
// of the "<PRI>" prefix.
func parsePRI[T string | []byte](b T) (pri uint8, n int, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, 0, false
	}
	v := 0
	i := 1
	for ; i < len(b) && i <= 4 && isDigit(b[i]); i++ {
		v = v*10 + int(b[i]-'0')
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' {
		return 0, 0, false
	}
	if digits > 1 && b[1] == '0' {
		return 0, 0, false // RFC 5424 6.2.1: no leading zeros
	}
	if v > firelens.MaxPriority {
		return 0, 0, false
	}
	return uint8(v), i + 1, true
}

// stamp3164 is an RFC 3164 TIMESTAMP: no year, no zone (Fluent Bit writes
// UTC), whole seconds.
type stamp3164 struct {
	month                      time.Month
	day, hour, minute, seconds int
}

// monthOf returns the month named by three letters, or 0. A switch on the
// three bytes packed into one word: this runs for every line.
func monthOf(a, b, c byte) time.Month {
	switch uint32(a)<<16 | uint32(b)<<8 | uint32(c) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return time.January
	case 'F'<<16 | 'e'<<8 | 'b':
		return time.February
	case 'M'<<16 | 'a'<<8 | 'r':
		return time.March
	case 'A'<<16 | 'p'<<8 | 'r':
		return time.April
	case 'M'<<16 | 'a'<<8 | 'y':
		return time.May
	case 'J'<<16 | 'u'<<8 | 'n':
		return time.June
	case 'J'<<16 | 'u'<<8 | 'l':
		return time.July
	case 'A'<<16 | 'u'<<8 | 'g':
		return time.August
	case 'S'<<16 | 'e'<<8 | 'p':
		return time.September
	case 'O'<<16 | 'c'<<8 | 't':
		return time.October
	case 'N'<<16 | 'o'<<8 | 'v':
		return time.November
	case 'D'<<16 | 'e'<<8 | 'c':
		return time.December
	}
	return 0
}

// parseStamp3164 parses "Mmm dd hh:mm:ss" at the start of b. The day may
// be space- or zero-padded.
func parseStamp3164[T string | []byte](b T) (stamp3164, bool) {
	var s stamp3164
	if len(b) < stamp3164Len || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return s, false
	}
	s.month = monthOf(b[0], b[1], b[2])
	if s.month == 0 {
		return s, false
	}
	switch {
	case b[4] == ' ' && isDigit(b[5]):
		s.day = int(b[5] - '0')
	case isDigit(b[4]) && isDigit(b[5]):
		s.day = int(b[4]-'0')*10 + int(b[5]-'0')
	default:
		return s, false
	}
	var ok1, ok2, ok3 bool
	s.hour, ok1 = twoDigits(b[7:9])
	s.minute, ok2 = twoDigits(b[10:12])
	s.seconds, ok3 = twoDigits(b[13:15])
	if !ok1 || !ok2 || !ok3 || s.day < 1 || s.day > 31 || s.hour > 23 || s.minute > 59 || s.seconds > 60 {
		return s, false
	}
	return s, true
}

// valid5424Start checks "1 " and the start of the TIMESTAMP:
// "YYYY-MM-DDThh:mm:ss" or the NILVALUE. go-syslog validates the rest.
func valid5424Start(b []byte) bool {
	if len(b) < 3 || b[0] != '1' || b[1] != ' ' {
		return false
	}
	ts := b[2:]
	if ts[0] == '-' {
		return len(ts) == 1 || ts[1] == ' '
	}
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(ts) < len(layout) {
		return false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == 'd' {
			if !isDigit(ts[i]) {
				return false
			}
		} else if ts[i] != layout[i] {
			return false
		}
	}
	month, _ := twoDigits(ts[5:7])
	day, _ := twoDigits(ts[8:10])
	hour, _ := twoDigits(ts[11:13])
	minute, _ := twoDigits(ts[14:16])
	sec, _ := twoDigits(ts[17:19])
	return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && sec <= 60
}

// time returns the stamp in the year that puts it closest to now without
// being more than a day ahead: RFC 3164 has no year, so a December line
// read in January belongs to the previous year. The machine's clock is
// taken per message because a receiver outlives New Year.
func (s stamp3164) time(now time.Time) time.Time {
	now = now.UTC()
	t := time.Date(now.Year(), s.month, s.day, s.hour, s.minute, s.seconds, 0, time.UTC)
	if t.Sub(now) > 24*time.Hour {
		t = time.Date(now.Year()-1, s.month, s.day, s.hour, s.minute, s.seconds, 0, time.UTC)
	}
	return t
}

// parse3164 parses a line that classify called line3164. It takes a string
// so that every field is a substring of the one copy made of the frame.
//
// After the timestamp, Fluent Bit writes "HOST " only when the record has
// the hostname key and "APP[PROCID]: " only when it has the app-name key,
// so the fields are told apart by shape: a token that ends in ':' (with an
// optional "[PROCID]" before it) is the tag, and the token before it, if
// any, the hostname.
//
// go-syslog's RFC 3164 machine is not used here: v4.6.0 turns Fluent Bit's
// empty message ("... web[1]: ") into the message "1]: ", and this path
// allocates nothing beyond the frame's string.
func parse3164(s string, now time.Time) firelens.Record {
	pri, n, _ := parsePRI(s)
	stamp, _ := parseStamp3164(s[n:])
	r := firelens.Record{Time: stamp.time(now), Format: firelens.FormatRFC3164}
	r.Facility, r.Severity = firelens.SplitPriority(pri)
	rest := s[n+stamp3164Len:]
	if rest == "" {
		return r
	}
	rest = rest[1:] // the space after the timestamp
	tok, after, hasSpace := cut(rest)
	if app, pid, ok := parseTag(tok); ok {
		r.ContainerName, r.ProcID, r.Message = app, pid, after
		return r
	}
	if !hasSpace {
		r.Message = rest // a lone word: a message, as go-syslog reads it
		return r
	}
	r.ContainerID = tok
	rest = after
	tok, after, _ = cut(rest)
	if app, pid, ok := parseTag(tok); ok {
		r.ContainerName, r.ProcID, r.Message = app, pid, after
		return r
	}
	r.Message = rest
	return r
}

// cut splits s at its first space.
func cut(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// parseTag parses "APP:" or "APP[PROCID]:"; APP and PROCID are printable
// ASCII without brackets or colons, as container names and pids are.
func parseTag(tok string) (app, pid string, ok bool) {
	if len(tok) < 2 || tok[len(tok)-1] != ':' {
		return "", "", false
	}
	tok = tok[:len(tok)-1]
	if tok[len(tok)-1] == ']' {
		open := -1
		for i := 0; i < len(tok); i++ {
			if tok[i] == '[' {
				open = i
				break
			}
		}
		if open < 1 || open == len(tok)-2 {
			return "", "", false
		}
		app, pid = tok[:open], tok[open+1:len(tok)-1]
		if !tagText(pid) {
			return "", "", false
		}
	} else {
		app = tok
	}
	if !tagText(app) {
		return "", "", false
	}
	return app, pid, true
}

func tagText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '[' || c == ']' || c == ':' {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func twoDigits[T string | []byte](b T) (int, bool) {
	if len(b) != 2 || !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}
