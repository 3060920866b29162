package applayer

import (
	"errors"

	"github.com/sidewatch/sidewatch/sidecar/applayer/http"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// maxPipelined bounds the requests of one connection awaiting their
// responses; beyond it the oldest is logged without its response.
const maxPipelined = 8

// httpConn pairs a connection's requests with its responses, in order.
type httpConn struct {
	streams [2]http.Stream
	// pending are the requests without a response yet, oldest first;
	// ids their tx_id.
	pending  [maxPipelined]*event.HTTP
	ids      [maxPipelined]uint64
	npending uint8
	// cur is the transaction whose response is being read, or nil.
	cur     *event.HTTP
	curID   uint64
	interim bool // cur's last response head was a 1xx
}

// httpData reads one direction's messages.
func (en *Engine) httpData(cs *connState, dir int, b []byte) (int, bool) {
	h := &cs.http
	pos := 0
	for {
		it, n, err := h.streams[dir].Next(b[pos:])
		pos += n
		if err != nil {
			en.httpError(err)
			return pos, false
		}
		switch it.Kind {
		case http.KindNone:
			return pos, true
		case http.KindHead:
			var ok bool
			if dir == toServer {
				ok = en.httpRequest(cs, it.Head)
			} else {
				ok = en.httpResponse(cs, it.Head)
			}
			if !ok {
				return pos, false
			}
			if cs.done[toServer] && dir == toClient {
				// 101 or CONNECT: the connection left HTTP.
				return pos, false
			}
		case http.KindEnd:
			if dir == toClient {
				en.httpResponseEnd(cs, it.BodyLen)
			}
		}
	}
}

func (en *Engine) httpError(err error) {
	switch {
	case errors.Is(err, http.ErrHeadTooLong):
		en.m.httpErrs[errTooLong].Inc()
	case errors.Is(err, http.ErrNotHTTP):
		en.m.httpErrs[errNotProto].Inc()
	default:
		en.m.httpErrs[errMalformed].Inc()
	}
}

// httpRequest records a request head and sets its body's framing.
func (en *Engine) httpRequest(cs *connState, head []byte) bool {
	h, r := &cs.http, &en.req
	if err := http.ParseRequest(head, r); err != nil {
		en.httpError(err)
		return false
	}
	h.streams[toServer].Body(r.Framing())
	a := &en.a
	tx := a.http.one(a)
	host, port := http.SplitHostPort(r.Host)
	tx.Hostname = en.hostname(host)
	tx.HTTPPort = port
	tx.URL = a.str(r.URI)
	tx.HTTPUserAgent = a.str(r.UserAgent)
	tx.XFF = a.str(r.XFF)
	tx.HTTPRefer = a.str(r.Referer)
	tx.HTTPMethod = en.method(r.Method)
	tx.Protocol = en.protocol(r.Protocol)
	if h.npending == maxPipelined {
		en.m.httpOverrun.Inc()
		en.httpLog(h.pending[0], h.ids[0])
		copy(h.pending[:], h.pending[1:])
		copy(h.ids[:], h.ids[1:])
		h.npending--
	}
	h.pending[h.npending], h.ids[h.npending] = tx, cs.txs
	h.npending++
	cs.txs++
	return true
}

// httpResponse records a response head: it answers the oldest pending
// request.
func (en *Engine) httpResponse(cs *connState, head []byte) bool {
	h, r := &cs.http, &en.resp
	if err := http.ParseResponse(head, r); err != nil {
		en.httpError(err)
		return false
	}
	if h.cur == nil {
		if h.npending > 0 {
			h.cur, h.curID = h.pending[0], h.ids[0]
			copy(h.pending[:], h.pending[1:])
			copy(h.ids[:], h.ids[1:])
			h.npending--
			h.pending[h.npending] = nil
		} else {
			en.m.httpNoRequest.Inc()
			h.cur, h.curID = en.a.http.one(&en.a), cs.txs
			cs.txs++
		}
	}
	tx := h.cur
	h.interim = r.Interim()
	if h.interim {
		h.streams[toClient].Body(http.NoBody, 0)
		return true
	}
	a := &en.a
	tx.Status = r.Status
	tx.HTTPContentType = a.str(r.ContentType)
	tx.Redirect = a.str(r.Location)
	if tx.Protocol == "" {
		tx.Protocol = en.protocol(r.Protocol)
	}
	f, n, tunnel := r.Framing(methodBytes(tx.HTTPMethod))
	if tunnel {
		en.httpLog(tx, h.curID)
		h.cur = nil
		h.streams[toClient].Tunnel()
		h.streams[toServer].Tunnel()
		cs.done = [2]bool{true, true}
		return true
	}
	h.streams[toClient].Body(f, n)
	return true
}

// httpResponseEnd completes the transaction whose response body ended.
func (en *Engine) httpResponseEnd(cs *connState, bodyLen int64) {
	h := &cs.http
	if h.cur == nil {
		return
	}
	if h.interim {
		h.interim = false
		return
	}
	h.cur.Length = bodyLen
	en.httpLog(h.cur, h.curID)
	h.cur = nil
}

// httpEnd closes a direction at its FIN, a reset or the flow's end: a
// response read until close ends here.
func (en *Engine) httpEnd(cs *connState, dir int) {
	h := &cs.http
	end, cut := h.streams[dir].Close()
	if dir != toClient || h.cur == nil {
		return
	}
	if end.Kind == http.KindEnd || cut {
		h.cur.Length = end.BodyLen
		en.httpLog(h.cur, h.curID)
		h.cur = nil
	}
}

// httpFinish logs what the flow leaves unanswered.
func (en *Engine) httpFinish(cs *connState) {
	h := &cs.http
	if h.cur != nil {
		en.httpLog(h.cur, h.curID)
		h.cur = nil
	}
	for i := range h.npending {
		en.m.httpNoResponse.Inc()
		en.httpLog(h.pending[i], h.ids[i])
		h.pending[i] = nil
	}
	h.npending = 0
}

func (en *Engine) httpLog(tx *event.HTTP, id uint64) {
	ev := en.header(event.TypeHTTP, false)
	ev.TxID = event.Tx(id)
	ev.HTTP = tx
	en.emit(ev)
}

// hostname normalizes a host as libhtp does for Suricata: lowercase,
// without trailing dots.
func (en *Engine) hostname(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	lower := true
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			lower = false
			break
		}
	}
	if lower {
		return en.a.str(b)
	}
	en.scratch = append(en.scratch[:0], b...)
	for i, c := range en.scratch {
		if c >= 'A' && c <= 'Z' {
			en.scratch[i] = c + 'a' - 'A'
		}
	}
	return en.a.str(en.scratch)
}

// method returns a request method, common ones without copying.
func (en *Engine) method(b []byte) string {
	for _, m := range commonMethods {
		if string(b) == m {
			return m
		}
	}
	return en.a.str(b)
}

var commonMethods = [...]string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT"}

// protocol returns a protocol version, common ones without copying.
func (en *Engine) protocol(b []byte) string {
	switch string(b) {
	case "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/1.0":
		return "HTTP/1.0"
	}
	return en.a.str(b)
}

// methodBytes gives the method back as bytes for the framing rules; only
// HEAD and CONNECT matter there.
func methodBytes(m string) []byte {
	switch m {
	case "HEAD":
		return headMethod
	case "CONNECT":
		return connectMethod
	}
	return nil
}

var (
	headMethod    = []byte("HEAD")
	connectMethod = []byte("CONNECT")
)
