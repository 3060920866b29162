package forward

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Protocol errors beyond msgpack's own. A message with any error is
// rejected whole: nothing of it is published and it is not acknowledged.
var (
	errMessageShape = errors.New("not a forward message")
	errEntryShape   = errors.New("entry is not [time, record]")
	errOption       = errors.New("bad option")
	errCompression  = errors.New("unsupported compression")
	errGzip         = errors.New("bad gzip payload")
	errTooLarge     = errors.New("message larger than --forward-max-message-size")
)

// Mode is the forward protocol mode of a message.
type Mode uint8

// Modes, told apart by the type of a message's second element.
const (
	ModeMessage    Mode = iota // [tag, time, record, option?]
	ModeForward                // [tag, [[time, record]...], option?]
	ModePacked                 // [tag, bin|str entry stream, option?]
	ModeCompressed             // PackedForward with {"compressed": "gzip"}
	numModes
)

func (m Mode) String() string {
	return [...]string{"message", "forward", "packed_forward", "compressed_packed_forward"}[m]
}

// maxDepth bounds the nesting of a record value written to log.fields;
// deeper values become null and flag the record truncated.
const maxDepth = 32

// limits bound what one message may hold.
type limits struct {
	maxMessage int // a message, and a decompressed payload
	maxLog     int // log.message bytes kept
	maxFields  int // log.fields bytes kept
}

// decoder turns forward messages into log events, a batch at a time. Its
// buffers are reused from one batch and message to the next: the events
// point into them (strings are views of the message bytes, not copies).
// That is safe because the pipeline encodes an event before Publish
// returns (its lifetime rules); the message bytes must stay unchanged
// until the last batch of the message is published.
type decoder struct {
	lim       limits
	transport string

	events []event.Event
	logs   []event.Log
	fields []byte // log.fields of every record, back to back
	zbuf   []byte // a decompressed payload; its capacity is reserved in budget
	zr     *gzip.Reader
	br     bytes.Reader
	budget *budget
	probe  [1]byte // reads past a payload at the limit, without allocating

	// The entry stream of the message started last, read a batch at a
	// time (next): src is where the next entry starts, left how many
	// remain (-1: until the stream ends), bare that entries are a
	// message-mode [time, record] pair without their array.
	src  reader
	left int
	bare bool
	tag  string

	// Results of the last decode.
	mode      Mode
	chunk     []byte // the chunk option's raw msgpack; nil: no ack wanted
	signal    int64  // fluent_signal (0: logs)
	truncated int    // records flagged truncated
}

func newDecoder(lim limits, transport string, b *budget) *decoder {
	return &decoder{lim: lim, transport: transport, budget: b}
}

// view returns b as a string without copying: valid while b is unchanged
// (see decoder).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// decode reads one complete message. On success d.events holds its
// records (Log set), d.chunk the ack to send.
func (d *decoder) decode(msg []byte) error {
	if err := d.start(msg); err != nil {
		return err
	}
	return d.next(-1)
}

// cursor is a position in the entry stream (start, then rewind).
type cursor struct {
	src  reader
	left int
}

func (d *decoder) cursor() cursor  { return cursor{d.src, d.left} }
func (d *decoder) rewind(c cursor) { d.src, d.left, d.truncated = c.src, c.left, 0 }

// more reports whether entries remain to be read by next.
func (d *decoder) more() bool { return d.left > 0 || d.left < 0 && !d.src.done() }

// next decodes up to n entries (n < 0: all that remain) into events, in
// place of the previous batch's: a message of many small entries then
// needs memory for one batch of events, not for one event per entry (an
// event is about 0.5 KiB, an entry can be 3 bytes).
func (d *decoder) next(n int) error {
	d.events, d.logs, d.fields = d.events[:0], d.logs[:0], d.fields[:0]
	for ; n != 0 && d.more(); n-- {
		var err error
		if d.bare {
			err = d.record(&d.src, d.tag)
		} else {
			err = d.entry(&d.src, d.tag)
		}
		if err != nil {
			return err
		}
		if d.left > 0 {
			d.left--
		}
	}
	d.link()
	return nil
}

// start checks a message's shape and options and finds its entries,
// which next then decodes; the message bytes must stay unchanged until
// the last batch's events are written.
func (d *decoder) start(msg []byte) error {
	d.events, d.logs, d.fields = d.events[:0], d.logs[:0], d.fields[:0]
	d.chunk, d.signal, d.truncated = nil, 0, 0
	d.src, d.left, d.bare = reader{}, 0, false
	r := reader{b: msg}
	n, err := r.arrayLen()
	if err != nil || n < 2 || n > 4 {
		return errMessageShape
	}
	tagb, err := r.bytes()
	if err != nil {
		return wrongType(err)
	}
	// The recipe's copy carries "sidewatch.<original tag>"; the event
	// keeps the tag the app's records had.
	tag := strings.TrimPrefix(view(tagb), firelens.CopyTagPrefix)
	d.tag = tag
	k, err := r.peek()
	if err != nil {
		return err
	}
	var packed []byte
	switch k {
	case kindArray:
		d.mode = ModeForward
		entries, err := r.arrayLen()
		if err != nil {
			return err
		}
		d.src, d.left = reader{b: r.b, off: r.off}, entries
		for range entries {
			if err := r.skip(); err != nil {
				return err
			}
		}
	case kindStr, kindBin:
		d.mode = ModePacked
		if packed, err = r.bytes(); err != nil {
			return err
		}
	case kindUint, kindInt, kindFloat, kindExt:
		d.mode = ModeMessage
		if n == 2 {
			return errMessageShape
		}
		d.src, d.left, d.bare = reader{b: r.b, off: r.off}, 1, true
		for range 2 { // time and record
			if err := r.skip(); err != nil {
				return err
			}
		}
		n-- // time and record take two elements
	default:
		return errMessageShape
	}
	compressed := false
	if n == 3 {
		if compressed, err = d.options(&r); err != nil {
			return err
		}
	} else if n == 4 {
		return errMessageShape
	}
	if !r.done() {
		return errMessageShape // bytes after the message's elements
	}
	if packed == nil {
		return nil
	}
	// Fluent Bit always sends the option; a payload starting with the gzip
	// magic cannot be an entry stream (entries are arrays), so it is
	// gzip either way.
	if compressed || (len(packed) >= 2 && packed[0] == 0x1f && packed[1] == 0x8b) {
		d.mode = ModeCompressed
		if packed, err = d.gunzip(packed); err != nil {
			return err
		}
	}
	d.src, d.left = reader{b: packed}, -1
	return nil
}

// wrongType reports a present value of the wrong type as such.
func wrongType(err error) error {
	if errors.Is(err, errShort) {
		return err
	}
	return errWrongType
}

// options reads the option map and reports whether the payload is gzip.
func (d *decoder) options(r *reader) (gz bool, err error) {
	k, err := r.peek()
	if err != nil {
		return false, err
	}
	if k == kindNil { // some clients send nil for no options
		r.off++
		return false, nil
	}
	n, err := r.mapLen()
	if err != nil {
		return false, errOption
	}
	for range n {
		key, err := r.bytes()
		if err != nil {
			return false, errOption
		}
		switch string(key) {
		case "chunk":
			start := r.off
			if _, err := r.bytes(); err != nil {
				return false, errOption
			}
			d.chunk = r.b[start:r.off:r.off]
		case "compressed":
			v, err := r.bytes()
			if err != nil {
				return false, errOption
			}
			switch string(v) {
			case "gzip":
				gz = true
			case "text", "":
			default:
				return false, errCompression
			}
		case "fluent_signal":
			if d.signal, err = r.int(); err != nil {
				return false, errOption
			}
		default: // size (informative), metadata, anything newer
			if err := r.skip(); err != nil {
				return false, err
			}
		}
	}
	return gz, nil
}

// gunzip decompresses a payload (one or more gzip members) into d.zbuf,
// refusing more than maxMessage bytes of output, or a growth of d.zbuf
// that the budget does not grant.
func (d *decoder) gunzip(p []byte) ([]byte, error) {
	d.br.Reset(p)
	var err error
	if d.zr == nil {
		d.zr, err = gzip.NewReader(&d.br)
	} else {
		err = d.zr.Reset(&d.br)
	}
	if err != nil {
		return nil, errGzip
	}
	d.zbuf = d.zbuf[:0]
	for {
		if len(d.zbuf) == cap(d.zbuf) {
			if len(d.zbuf) == d.lim.maxMessage {
				return d.zbuf, d.pastLimit()
			}
			if !d.growZ(4*len(p) + 512) {
				return nil, errBudget
			}
		}
		n, err := d.zr.Read(d.zbuf[len(d.zbuf):cap(d.zbuf)])
		d.zbuf = d.zbuf[:len(d.zbuf)+n]
		if err == io.EOF {
			return d.zbuf, nil
		}
		if err != nil {
			return nil, errGzip
		}
	}
}

// pastLimit reads on from a payload that filled maxMessage bytes: any
// byte more is too many.
func (d *decoder) pastLimit() error {
	for {
		n, err := d.zr.Read(d.probe[:])
		switch {
		case n > 0:
			return errTooLarge
		case err == io.EOF:
			return nil
		case err != nil:
			return errGzip
		}
	}
}

// growZ enlarges zbuf (to hint bytes at first, then doubling, at most
// maxMessage), keeping its contents, once the budget grants the
// difference.
func (d *decoder) growZ(hint int) bool {
	size := min(max(2*cap(d.zbuf), hint), d.lim.maxMessage)
	if !d.budget.reserve(size - cap(d.zbuf)) {
		return false
	}
	nb := make([]byte, len(d.zbuf), size)
	copy(nb, d.zbuf)
	d.zbuf = nb
	return true
}

// trim drops zbuf when a message grew it above keepBuf, or at all while
// the budget is pressed, as consume does the read buffer; called once the
// message's events are written.
func (d *decoder) trim() {
	if cap(d.zbuf) > keepBuf || cap(d.zbuf) > 0 && d.budget.pressed() {
		d.release()
	}
}

// release returns zbuf to the budget.
func (d *decoder) release() {
	d.budget.release(cap(d.zbuf))
	d.zbuf = nil
}

// entry reads one [time, record] of Forward or PackedForward mode. The
// time may also be [time, metadata] (Fluent Bit's own event format, sent
// with retain_metadata_in_forward_mode).
func (d *decoder) entry(r *reader, tag string) error {
	n, err := r.arrayLen()
	if err != nil {
		return wrongType(err)
	}
	if n != 2 {
		return errEntryShape
	}
	return d.record(r, tag)
}

// record reads time and record and appends the log event.
func (d *decoder) record(r *reader, tag string) error {
	k, err := r.peek()
	if err != nil {
		return err
	}
	metadata := 0
	if k == kindArray {
		if metadata, err = r.arrayLen(); err != nil || metadata < 1 {
			return errEntryShape
		}
	}
	sec, nsec, err := r.eventTime()
	if err != nil {
		return wrongType(err)
	}
	for range metadata - 1 {
		if err := r.skip(); err != nil {
			return err
		}
	}
	n, err := r.mapLen()
	if err != nil {
		return wrongType(err)
	}
	ev := event.Event{Timestamp: event.At(time.Unix(sec, nsec).UTC()), EventType: event.TypeLog}
	l := event.Log{Format: "forward", Transport: d.transport, Tag: tag}
	fieldsStart := len(d.fields)
	d.fields = append(d.fields, '{')
	for range n {
		kk, err := r.peek()
		if err != nil {
			return err
		}
		if kk != kindStr && kk != kindBin {
			// Not a name: keep the pair out, and say so.
			if err := r.skip(); err != nil {
				return err
			}
			if err := r.skip(); err != nil {
				return err
			}
			l.Truncated = true
			continue
		}
		keyb, err := r.bytes()
		if err != nil {
			return err
		}
		vk, err := r.peek()
		if err != nil {
			return err
		}
		// Known keys; for a repeated key the last one wins, as Fluent
		// Bit's record_modifier appends its keys after the record's own.
		if vk == kindStr || vk == kindBin {
			var dst *string
			switch string(keyb) {
			case "log":
				dst = &l.Message
			case "source":
				dst = &l.Source
			case "container_id":
				dst = &ev.ECS.Container.ID
			case "container_name":
				dst = &ev.ECS.Container.Name
			case "ecs_cluster":
				dst = &ev.ECS.Cluster
			case "ecs_task_arn":
				dst = &ev.ECS.TaskARN
			case "ecs_task_definition":
				v, err := r.bytes()
				if err != nil {
					return err
				}
				s := view(v)
				if i := strings.LastIndexByte(s, ':'); i >= 0 {
					ev.ECS.Family, ev.ECS.Revision = s[:i], s[i+1:]
				} else {
					ev.ECS.Family = s
				}
				continue
			}
			if dst != nil {
				v, err := r.bytes()
				if err != nil {
					return err
				}
				if dst == &l.Message && len(v) > d.lim.maxLog {
					v = cutUTF8(v, d.lim.maxLog)
					l.Truncated = true
				}
				*dst = view(v)
				continue
			}
		}
		// Every other key goes to log.fields.
		mark := len(d.fields)
		if len(d.fields) > fieldsStart+1 {
			d.fields = append(d.fields, ',')
		}
		d.fields = event.AppendJSONString(d.fields, view(keyb))
		d.fields = append(d.fields, ':')
		var cut bool
		if d.fields, cut, err = appendValue(d.fields, r, 0); err != nil {
			return err
		}
		if cut {
			l.Truncated = true
		}
		if len(d.fields)-fieldsStart > d.lim.maxFields {
			d.fields = d.fields[:mark]
			l.Truncated = true
		}
	}
	if len(d.fields) > fieldsStart+1 {
		d.fields = append(d.fields, '}')
		l.Fields = d.fields[fieldsStart:len(d.fields):len(d.fields)]
	} else {
		d.fields = d.fields[:fieldsStart]
	}
	if l.Truncated {
		d.truncated++
	}
	d.logs = append(d.logs, l)
	d.events = append(d.events, ev)
	return nil
}

// link points each event at its Log; called once the message is decoded,
// since appending may have moved the logs.
func (d *decoder) link() {
	for i := range d.events {
		d.events[i].Log = &d.logs[i]
	}
}

// cutUTF8 cuts b to at most n bytes without splitting a character.
func cutUTF8(b []byte, n int) []byte {
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			break
		}
		if !utf8.RuneStart(b[len(b)-1]) {
			b = b[:len(b)-1]
			continue
		}
		b = b[:len(b)-1] // a start byte whose continuation was cut
		break
	}
	return b
}

// appendValue writes one msgpack value as JSON. Strings and binaries
// become JSON strings (invalid UTF-8 as U+FFFD), EventTime a number of
// seconds, other extensions and values nested deeper than maxDepth null
// (cut reports them).
func appendValue(dst []byte, r *reader, depth int) (_ []byte, cut bool, err error) {
	k, err := r.peek()
	if err != nil {
		return dst, false, err
	}
	if depth >= maxDepth && (k == kindArray || k == kindMap) {
		return append(dst, "null"...), true, r.skip()
	}
	switch k {
	case kindNil:
		r.off++
		return append(dst, "null"...), false, nil
	case kindBool:
		v := r.b[r.off] == 0xc3
		r.off++
		return strconv.AppendBool(dst, v), false, nil
	case kindInt, kindUint:
		if r.b[r.off] == 0xcf {
			r.off++
			v, err := r.n(8)
			return strconv.AppendUint(dst, v, 10), false, err
		}
		v, err := r.int()
		return strconv.AppendInt(dst, v, 10), false, err
	case kindFloat:
		v, err := r.float()
		if err != nil {
			return dst, false, err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(dst, "null"...), true, nil
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64), false, nil
	case kindStr, kindBin:
		v, err := r.bytes()
		if err != nil {
			return dst, false, err
		}
		return event.AppendJSONString(dst, view(v)), false, nil
	case kindExt:
		start := r.off
		sec, nsec, err := r.eventTime()
		if err == nil && nsec < 1e9 {
			dst = strconv.AppendInt(dst, sec, 10)
			if nsec != 0 {
				dst = append(dst, '.')
				dst = appendNanos(dst, nsec)
			}
			return dst, false, nil
		}
		r.off = start
		return append(dst, "null"...), true, r.skip()
	case kindArray:
		n, err := r.arrayLen()
		if err != nil {
			return dst, false, err
		}
		dst = append(dst, '[')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			var c bool
			if dst, c, err = appendValue(dst, r, depth+1); err != nil {
				return dst, false, err
			}
			cut = cut || c
		}
		return append(dst, ']'), cut, nil
	case kindMap:
		n, err := r.mapLen()
		if err != nil {
			return dst, false, err
		}
		dst = append(dst, '{')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			kk, err := r.peek()
			if err != nil {
				return dst, false, err
			}
			if kk == kindStr || kk == kindBin {
				kb, err := r.bytes()
				if err != nil {
					return dst, false, err
				}
				dst = event.AppendJSONString(dst, view(kb))
			} else {
				// JSON names are strings: write the key's JSON as one.
				var kbuf [64]byte
				kj, c, err := appendValue(kbuf[:0], r, maxDepth)
				if err != nil {
					return dst, false, err
				}
				cut = cut || c
				dst = event.AppendJSONString(dst, view(kj))
			}
			dst = append(dst, ':')
			var c bool
			if dst, c, err = appendValue(dst, r, depth+1); err != nil {
				return dst, false, err
			}
			cut = cut || c
		}
		return append(dst, '}'), cut, nil
	}
	return dst, false, errNeverUsed
}

// appendNanos writes nsec (0 < nsec < 1e9) as nine digits.
func appendNanos(dst []byte, nsec int64) []byte {
	var b [9]byte
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + nsec%10)
		nsec /= 10
	}
	return append(dst, b[:]...)
}
