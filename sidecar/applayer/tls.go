package applayer

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/sidewatch/sidewatch/sidecar/applayer/tls"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// tlsConn is a TLS connection's handshake as seen so far.
type tlsConn struct {
	streams [2]tls.Stream
	ev      *event.TLS // built as the hellos and certificate arrive
	version uint16     // negotiated, from the ServerHello
	cert    bool       // the server's certificate was read
	logged  bool
}

// tlsData reads a direction's records: the client's up to its
// ClientHello, the server's up to its certificate (TLS 1.2 and earlier)
// or ServerHello (1.3: the rest is encrypted). The event is written when
// the server's side is done.
func (en *Engine) tlsData(cs *connState, dir int, b []byte) (int, bool) {
	t := &cs.tls
	pos := 0
	for {
		msg, n, err := t.streams[dir].Next(b[pos:], en.tlsScratch)
		pos += n
		if err != nil {
			en.tlsError(err)
			return pos, en.tlsDone(cs, dir)
		}
		switch msg.Kind {
		case tls.KindNone:
			return pos, true
		case tls.KindChangeCipherSpec, tls.KindApplicationData:
			// Encrypted from here on.
			if dir == toClient && t.ev != nil && !t.cert && t.version != 0 && t.version <= tls.VersionTLS12 {
				t.ev.SessionResumed = true
			}
			return pos, en.tlsDone(cs, dir)
		case tls.KindHandshake:
			if done := en.tlsHandshake(cs, dir, &msg); done {
				return pos, en.tlsDone(cs, dir)
			}
		}
	}
}

// tlsHandshake takes one handshake message and reports whether its
// direction is done.
func (en *Engine) tlsHandshake(cs *connState, dir int, msg *tls.Msg) bool {
	t := &cs.tls
	switch {
	case dir == toServer && msg.Type == tls.TypeClientHello:
		if err := en.hello.Parse(msg.Body); err != nil {
			en.m.tlsErrors[errMalformed].Inc()
			return true
		}
		en.clientHello(t)
		return true
	case dir == toClient && msg.Type == tls.TypeServerHello:
		if err := en.serverHi.Parse(msg.Body); err != nil {
			en.m.tlsErrors[errMalformed].Inc()
			return true
		}
		if en.serverHi.RetryRequest {
			return false // the real ServerHello follows the second ClientHello
		}
		en.serverHello(t)
		return t.version >= tls.VersionTLS13 && t.version&0xff00 == 0x0300
	case dir == toClient && msg.Type == tls.TypeCertificate:
		// The list length, the first certificate's length, the certificate.
		if len(msg.Body) < 6 {
			en.m.tlsErrors[errTooLong].Inc()
			return true
		}
		if err := en.cert.Parse(msg.Body[6:]); err != nil {
			en.m.tlsErrors[errMalformed].Inc()
			return true
		}
		en.certificate(t, msg.Body[6:])
		return true
	}
	return false
}

// tlsDone marks a direction finished and writes the event once the
// server's side is done. It returns false (the direction wants no more).
func (en *Engine) tlsDone(cs *connState, dir int) bool {
	if dir == toClient {
		en.tlsLog(cs)
	}
	return false
}

func (en *Engine) tlsError(err error) {
	switch {
	case errors.Is(err, tls.ErrTooLong):
		en.m.tlsErrors[errTooLong].Inc()
	case errors.Is(err, tls.ErrNotTLS):
		en.m.tlsErrors[errNotProto].Inc()
	default:
		en.m.tlsErrors[errMalformed].Inc()
	}
}

// tlsFinish writes the event of a flow that ended before the server's
// side was done (a ClientHello left unanswered).
func (en *Engine) tlsFinish(cs *connState) { en.tlsLog(cs) }

func (en *Engine) tlsLog(cs *connState) {
	t := &cs.tls
	if t.logged || t.ev == nil || !en.cfg.TLS {
		return
	}
	t.logged = true
	ev := en.header(event.TypeTLS, false)
	ev.TLS = t.ev
	en.emit(ev)
}

func (en *Engine) tlsEvent(t *tlsConn) *event.TLS {
	if t.ev == nil {
		t.ev = en.a.tls.one(&en.a)
	}
	return t.ev
}

// clientHello records the SNI, ALPNs, offer and client fingerprints.
func (en *Engine) clientHello(t *tlsConn) {
	if t.ev != nil && t.ev.JA3 != nil {
		return // a second ClientHello (after a HelloRetryRequest)
	}
	a, h := &en.a, &en.hello
	ev := en.tlsEvent(t)
	ev.SNI = a.str(h.SNI)
	if ev.Version == "" {
		ev.Version = en.versionName(h.Version())
	}
	ja3 := h.AppendJA3(a.reserve(6*(len(h.Ciphers)+len(h.Extensions)+len(h.Groups)+len(h.PointFormats)) + 8))
	hash := a.hashes.one(a)
	hash.String = a.commit(ja3)
	hash.Hash = a.commit(tls.AppendMD5Hex(a.reserve(32), ja3))
	ev.JA3 = hash
	ev.JA4 = a.commit(en.ja4.Append(a.reserve(36), h))
	ev.ClientALPNs = en.alpns(h.ALPNs)
	ch := a.chs.one(a)
	ch.Version = en.versionName(h.MaxVersion())
	ch.Ciphers = en.nonGREASE(h.Ciphers)
	ch.Exts = en.nonGREASE(h.Extensions)
	ch.SigAlgs = en.nonGREASE(h.SigAlgs)
	ev.ClientHandshake = ch
}

// serverHello records the negotiated version, cipher and JA3S.
func (en *Engine) serverHello(t *tlsConn) {
	a, h := &en.a, &en.serverHi
	ev := en.tlsEvent(t)
	t.version = h.Version()
	ev.Version = en.versionName(t.version)
	ja3s := h.AppendJA3S(a.reserve(6*len(h.Extensions) + 16))
	hash := a.hashes.one(a)
	hash.String = a.commit(ja3s)
	hash.Hash = a.commit(tls.AppendMD5Hex(a.reserve(32), ja3s))
	ev.JA3S = hash
	if len(h.ALPN) > 0 {
		ev.ServerALPNs = a.strs.many(a, 1)
		ev.ServerALPNs[0] = a.str(h.ALPN)
	}
	sh := a.shs.one(a)
	sh.Version = ev.Version
	sh.Cipher = h.Cipher
	sh.Exts = en.nonGREASE(h.Extensions)
	ev.ServerHandshake = sh
}

// certificate records the server certificate's fields (en.cert, parsed
// from der).
func (en *Engine) certificate(t *tlsConn, der []byte) {
	a, c := &en.a, &en.cert
	ev := en.tlsEvent(t)
	t.cert = true
	en.scratch = tls.AppendDN(en.scratch[:0], c.Subject)
	ev.Subject = a.str(en.scratch)
	en.scratch = tls.AppendDN(en.scratch[:0], c.Issuer)
	ev.IssuerDN = a.str(en.scratch)
	ev.Serial = a.commit(tls.AppendSerial(a.reserve(3*len(c.Serial)), c.Serial))
	ev.Fingerprint = a.commit(tls.AppendFingerprint(a.reserve(59), der))
	if c.NotBefore.Valid {
		ev.NotBefore = a.commit(c.NotBefore.Append(a.reserve(19)))
	}
	if c.NotAfter.Valid {
		ev.NotAfter = a.commit(c.NotAfter.Append(a.reserve(19)))
	}
	n := 0
	for it := tls.NewSANs(c.SAN); ; n++ {
		if _, _, ok := it.Next(); !ok {
			break
		}
	}
	if n == 0 {
		return
	}
	sans := a.strs.many(a, n)[:0]
	it := tls.NewSANs(c.SAN)
	for kind, v, ok := it.Next(); ok; kind, v, ok = it.Next() {
		switch kind {
		case tls.SANDNS, tls.SANURI, tls.SANEmail:
			sans = append(sans, a.str(v))
		case tls.SANIP:
			if ip, ok := netip.AddrFromSlice(v); ok {
				sans = append(sans, a.commit(ip.AppendTo(a.reserve(39))))
			}
		}
	}
	if len(sans) > 0 {
		ev.SubjectAltName = sans
	}
}

// versionName is EVE's name of a version, or its number.
func (en *Engine) versionName(v uint16) string {
	if n := tls.VersionName(v); n != "" {
		return n
	}
	return en.a.commit(strconv.AppendUint(en.a.reserve(5), uint64(v), 10))
}

func (en *Engine) alpns(list [][]byte) []string {
	if len(list) == 0 {
		return nil
	}
	out := en.a.strs.many(&en.a, len(list))
	for i, p := range list {
		out[i] = en.a.str(p)
	}
	return out
}

// nonGREASE copies vs without GREASE values, as Suricata logs them.
func (en *Engine) nonGREASE(vs []uint16) []uint16 {
	n := 0
	for _, v := range vs {
		if !tls.IsGREASE(v) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := en.a.u16s.many(&en.a, n)[:0]
	for _, v := range vs {
		if !tls.IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}
