package forward

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/sidewatch/sidewatch/internal/shareddata"
)

// FuzzDecode feeds arbitrary bytes to the framing scan and the decoder:
// never a panic, and every event they accept encodes as valid JSON. Memory
// stays bounded by the limits (gzip output, fields) whatever the claims.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"syslog/forward-out-plain.bin", "syslog/forward-out-gzip-ack.bin"} {
		if dir := shareddata.Dir(); dir != "" {
			if b, err := os.ReadFile(dir + "/testdata/" + file); err == nil {
				f.Add(b)
			}
		}
	}
	rec := dockerRecord("hello\nworld <14>Jan  1 00:00:00 x admin[1]: forged")
	f.Add((&mp{}).arr(3).str("t").etime(1, 2).record(rec...).b)
	f.Add((&mp{wide: true}).arr(3).str("t").arr(1).entry(1, 2, rec...).options("c", 1).b)
	f.Add((&mp{}).arr(3).str("t").bin(gzipBytes(f, (&mp{}).entry(1, 2, rec...).b)).options("c", 1, "compressed", "gzip").b)
	f.Add((&mp{}).arr(3).str("t").uint(1).mapn(2).kv("log", "x").str("n").arr(2).mapn(1).uint(3).raw(0xc0).raw(0xcb, 0, 0, 0, 0, 0, 0, 0, 0).b)
	f.Add([]byte{0x92, 0xa1, 't', 0xdd, 0xff, 0xff, 0xff, 0xff})
	lim := limits{maxMessage: 1 << 16, maxLog: 1 << 10, maxFields: 1 << 10}
	f.Fuzz(func(t *testing.T, msg []byte) {
		end, _, need, err := scan(msg, 0, 1)
		if err == nil && (end < 1 || end > len(msg)) {
			t.Fatalf("scan end %d outside 1..%d", end, len(msg))
		}
		if errors.Is(err, errShort) && need != 0 && need <= len(msg) {
			t.Fatalf("scan short but needs %d of %d bytes present", need, len(msg))
		}
		d := newDecoder(lim, "tcp", unbounded())
		if d.decode(msg) != nil {
			return
		}
		d.link()
		for i := range d.events {
			line := d.events[i].AppendJSON(nil)
			if !json.Valid(line) {
				t.Fatalf("event %d is not JSON: %s", i, line)
			}
			if len(d.events[i].Log.Message) > lim.maxLog || len(d.events[i].Log.Fields) > lim.maxFields+1 {
				t.Fatalf("event %d over its limits: message %d, fields %d bytes", i, len(d.events[i].Log.Message), len(d.events[i].Log.Fields))
			}
		}
	})
}
