package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Time is a time.Time that encodes in EVE's format.
type Time struct{ time.Time }

// EVETimeLayout is Suricata's timestamp layout.
const EVETimeLayout = "2006-01-02T15:04:05.000000-0700"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// appendJSON writes EVETimeLayout by hand: time.AppendFormat costs about
// 200 ns per call, and a flow event has three timestamps.
func (t Time) appendJSON(dst []byte) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, EVETimeLayout)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/1000, 6)
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	dst = append(dst, sign)
	dst = appendDigits(dst, offset/3600, 2)
	dst = appendDigits(dst, offset/60%60, 2)
	return append(dst, '"')
}

// appendDigits writes v zero-padded to width digits.
func appendDigits(dst []byte, v, width int) []byte {
	var b [8]byte
	i := width
	for ; i >= 2; i -= 2 {
		d := v % 100 * 2
		b[i-2], b[i-1] = digitPairs[d], digitPairs[d+1]
		v /= 100
	}
	if i == 1 {
		b[0] = byte('0' + v%10)
	}
	return append(dst, b[:width]...)
}

// digitPairs holds "00" to "99", two bytes each.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// MarshalJSON encodes t in EVE's layout.
func (t Time) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// UnmarshalJSON accepts EVE's layout and RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, layout := range []string{EVETimeLayout, time.RFC3339Nano} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("time %q: want layout %s", s, EVETimeLayout)
}
