package syslog

import "bytes"

// framing is how a TCP connection delimits messages, decided by its first
// byte: RFC 6587 octet counting ("LEN SP MSG") starts with a digit 1-9,
// anything else is one message per line (what Fluent Bit sends).
type framing uint8

const (
	framingUnknown framing = iota
	framingLines
	framingOctets
)

const (
	// classifyLen is enough of a line to validate its header
	// ("<191>1 2006-01-02T15:04:05" is 26 bytes).
	classifyLen = 32
	// maxOctetDigits bounds LEN; 999999999 is accepted, then truncated.
	maxOctetDigits = 9
	// keepRecordCap is the largest record buffer kept between records; a
	// bigger one, grown for a large message, is released.
	keepRecordCap = 64 << 10
)

// framer cuts one TCP byte stream into records, in bounded memory: the
// record being assembled never exceeds max bytes (the rest is discarded and
// the record flagged truncated) and a frame is never split into two records.
//
// In line framing a record is a header line plus the lines after it that
// have no header and do not start with '<' (Fluent Bit does not escape the
// newlines of a multi-line message). A line that starts with '<' without a
// valid header is a raw message of its own (Fluent Bit >= 2.2 sends such
// messages verbatim). The record is emitted at the next header or raw line,
// on idle (a quiet period, see conn) or at the end of the stream.
//
// emit gets the record's bytes, which are reused after it returns.
type framer struct {
	max  int
	emit func(frame []byte, truncated bool)
	m    *receiverMetrics

	framing framing

	rec   []byte // the record being assembled
	open  bool   // rec holds a record (possibly empty)
	trunc bool   // bytes of the record were discarded

	// Line framing: the first bytes of a line wait in head until the line
	// can be classified; then inLine is set and the rest goes to rec.
	head   []byte
	inLine bool

	// Octet framing: digits of LEN so far, then the bytes still due.
	lenDigits []byte
	remaining int
}

func newFramer(max int, m *receiverMetrics, emit func([]byte, bool)) *framer {
	return &framer{
		max:       max,
		emit:      emit,
		m:         m,
		head:      make([]byte, 0, classifyLen),
		lenDigits: make([]byte, 0, maxOctetDigits),
	}
}

// feed consumes the next bytes of the stream.
func (f *framer) feed(data []byte) {
	for len(data) > 0 {
		switch f.framing {
		case framingUnknown:
			if data[0] >= '1' && data[0] <= '9' {
				f.framing = framingOctets
			} else {
				f.framing = framingLines
			}
		case framingLines:
			f.feedLines(data)
			return
		case framingOctets:
			data = f.feedOctets(data)
		}
	}
}

// waiting reports whether a complete record is held only because more
// continuation lines might follow: the caller calls idle after a quiet
// period.
func (f *framer) waiting() bool {
	return f.framing == framingLines && f.open && !f.inLine && len(f.head) == 0
}

// partial reports whether a frame has started and not completed: a line
// without its newline yet, or an octet-counted frame short of its length.
// A complete record held for continuation lines is not partial.
func (f *framer) partial() bool {
	switch f.framing {
	case framingLines:
		return f.inLine || len(f.head) > 0
	case framingOctets:
		return f.remaining > 0 || len(f.lenDigits) > 0
	}
	return false
}

// idle emits the held record (see waiting).
func (f *framer) idle() {
	if f.waiting() {
		f.flush()
	}
}

// end emits what is left when the stream ends: an unterminated last line
// counts as a line; an incomplete octet-counted frame is emitted truncated.
func (f *framer) end() { f.finish(false) }

// cut emits what is held when the connection is cut short (shutdown
// deadline, eviction, frame timeout): the frame in progress is flagged
// truncated, a complete record held for continuation lines is not.
func (f *framer) cut() { f.finish(true) }

func (f *framer) finish(cutShort bool) {
	truncate := cutShort && f.partial()
	switch f.framing {
	case framingLines:
		if len(f.head) > 0 {
			f.startLine(f.head, true)
			f.head = f.head[:0]
		}
		f.inLine = false
	case framingOctets:
		if f.remaining > 0 {
			f.m.shortFrame.Inc()
			truncate = true
			f.remaining = 0
		} else if len(f.lenDigits) > 0 {
			f.m.shortFrame.Inc()
			f.open = true
			f.appendRec(f.lenDigits)
			f.lenDigits = f.lenDigits[:0]
		}
	}
	if truncate {
		f.trunc = true
	}
	f.flush()
}

func (f *framer) feedLines(data []byte) {
	for len(data) > 0 {
		if f.inLine {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				f.appendRec(data)
				return
			}
			f.appendRec(data[:i])
			f.inLine = false
			data = data[i+1:]
			continue
		}
		// At the start of a line: collect classifyLen bytes or the whole line.
		want := classifyLen - len(f.head)
		if i := bytes.IndexByte(data[:min(len(data), want+1)], '\n'); i >= 0 {
			line := data[:i]
			if len(f.head) > 0 {
				f.head = append(f.head, line...)
				line = f.head
			}
			f.startLine(line, true)
			f.head = f.head[:0]
			data = data[i+1:]
			continue
		}
		if len(data) < want {
			f.head = append(f.head, data...)
			return
		}
		f.head = append(f.head, data[:want]...)
		data = data[want:]
		f.startLine(f.head, false)
		f.head = f.head[:0]
		f.inLine = true
	}
}

// startLine handles the first bytes of a line (all of it when complete).
func (f *framer) startLine(p []byte, complete bool) {
	kind := classify(p)
	if kind == lineText && f.open {
		f.appendRec([]byte{'\n'})
		f.appendRec(p)
		return
	}
	f.flush()
	if kind == lineText && complete && len(p) == 0 {
		f.m.emptyLines.Inc() // a blank line outside any record carries nothing
		return
	}
	f.open = true
	f.appendRec(p)
}

func (f *framer) feedOctets(data []byte) []byte {
	for len(data) > 0 {
		if f.remaining > 0 {
			k := min(f.remaining, len(data))
			f.appendRec(data[:k])
			f.remaining -= k
			data = data[k:]
			if f.remaining == 0 {
				f.rec = trimLF(f.rec) // as go-syslog's octet-counting parser does
				f.flush()
			}
			continue
		}
		c := data[0]
		switch {
		case len(f.lenDigits) == 0 && (c == '\n' || c == '\r'):
			// Some senders end octet-counted frames with a newline too.
		case isDigit(c) && len(f.lenDigits) < maxOctetDigits && (len(f.lenDigits) > 0 || c != '0'):
			f.lenDigits = append(f.lenDigits, c)
		case c == ' ' && len(f.lenDigits) > 0:
			n := 0
			for _, d := range f.lenDigits {
				n = n*10 + int(d-'0')
			}
			f.lenDigits = f.lenDigits[:0]
			if n > f.max {
				f.m.oversizeOctetCount.Inc()
			}
			f.open = true
			f.remaining = n
		default:
			// Framing is lost: read the rest of the stream as lines, starting
			// with the bytes taken for a length, so that nothing is dropped.
			f.m.invalidOctetCount.Inc()
			f.framing = framingLines
			if len(f.lenDigits) > 0 {
				f.feedLines(f.lenDigits)
				f.lenDigits = f.lenDigits[:0]
			}
			return data
		}
		data = data[1:]
	}
	return nil
}

// appendRec adds p to the record, keeping at most max bytes. The buffer
// grows to at most max, so a connection holds at most one message's worth.
func (f *framer) appendRec(p []byte) {
	if room := f.max - len(f.rec); len(p) > room {
		p = p[:room]
		f.trunc = true
	}
	if len(p) == 0 {
		return
	}
	if need := len(f.rec) + len(p); need > cap(f.rec) {
		grown := make([]byte, len(f.rec), min(max(2*cap(f.rec), need, 512), f.max))
		copy(grown, f.rec)
		f.rec = grown
	}
	f.rec = append(f.rec, p...)
}

func (f *framer) flush() {
	if !f.open {
		return
	}
	f.emit(f.rec, f.trunc)
	f.open, f.trunc = false, false
	if cap(f.rec) > keepRecordCap {
		f.rec = nil
	} else {
		f.rec = f.rec[:0]
	}
}
