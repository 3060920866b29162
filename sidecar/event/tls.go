package event

import "strconv"

// TLS is EVE's tls object with Suricata's extended fields plus the
// handshake parameters (client_handshake, server_handshake): the server
// certificate's fields (TLS 1.2 and earlier: 1.3 encrypts the
// certificate), the client's SNI and ALPNs, the negotiated version and the
// JA3, JA3S and JA4 fingerprints.
type TLS struct {
	Subject         string              `json:"subject,omitempty"`
	IssuerDN        string              `json:"issuerdn,omitempty"`
	SubjectAltName  []string            `json:"subjectaltname,omitempty"`
	SessionResumed  bool                `json:"session_resumed,omitempty"`
	Serial          string              `json:"serial,omitempty"`
	Fingerprint     string              `json:"fingerprint,omitempty"`
	SNI             string              `json:"sni,omitempty"`
	Version         string              `json:"version,omitempty"`
	NotBefore       string              `json:"notbefore,omitempty"`
	NotAfter        string              `json:"notafter,omitempty"`
	JA3             *TLSHash            `json:"ja3,omitempty"`
	JA3S            *TLSHash            `json:"ja3s,omitempty"`
	JA4             string              `json:"ja4,omitempty"`
	ClientALPNs     []string            `json:"client_alpns,omitempty"`
	ServerALPNs     []string            `json:"server_alpns,omitempty"`
	ClientHandshake *TLSClientHandshake `json:"client_handshake,omitempty"`
	ServerHandshake *TLSServerHandshake `json:"server_handshake,omitempty"`
}

// TLSHash is a JA3 or JA3S fingerprint: the MD5 of String, in hex.
type TLSHash struct {
	Hash   string `json:"hash"`
	String string `json:"string"`
}

// TLSClientHandshake is the ClientHello's offer, GREASE values left out:
// the highest version offered, cipher suites, extension types and
// signature algorithms in the order sent.
type TLSClientHandshake struct {
	Version string   `json:"version"`
	Ciphers []uint16 `json:"ciphers,omitempty"`
	Exts    []uint16 `json:"exts,omitempty"`
	SigAlgs []uint16 `json:"sig_algs,omitempty"`
}

// TLSServerHandshake is the ServerHello's choice: version, cipher suite
// and the extension types sent.
type TLSServerHandshake struct {
	Version string   `json:"version"`
	Cipher  uint16   `json:"cipher"`
	Exts    []uint16 `json:"exts,omitempty"`
}

func (t *TLS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"tls":{`...)
	start := len(dst)
	dst = appendStringField(dst, "subject", t.Subject)
	dst = appendStringField(dst, "issuerdn", t.IssuerDN)
	dst = appendStringsField(dst, "subjectaltname", t.SubjectAltName)
	dst = appendTrueField(dst, "session_resumed", t.SessionResumed)
	dst = appendStringField(dst, "serial", t.Serial)
	dst = appendStringField(dst, "fingerprint", t.Fingerprint)
	dst = appendStringField(dst, "sni", t.SNI)
	dst = appendStringField(dst, "version", t.Version)
	dst = appendStringField(dst, "notbefore", t.NotBefore)
	dst = appendStringField(dst, "notafter", t.NotAfter)
	dst = t.JA3.appendJSON(dst, "ja3")
	dst = t.JA3S.appendJSON(dst, "ja3s")
	dst = appendStringField(dst, "ja4", t.JA4)
	dst = appendStringsField(dst, "client_alpns", t.ClientALPNs)
	dst = appendStringsField(dst, "server_alpns", t.ServerALPNs)
	if c := t.ClientHandshake; c != nil {
		dst = append(dst, `,"client_handshake":{"version":`...)
		dst = appendString(dst, c.Version)
		dst = appendUint16sField(dst, "ciphers", c.Ciphers)
		dst = appendUint16sField(dst, "exts", c.Exts)
		dst = appendUint16sField(dst, "sig_algs", c.SigAlgs)
		dst = append(dst, '}')
	}
	if s := t.ServerHandshake; s != nil {
		dst = append(dst, `,"server_handshake":{"version":`...)
		dst = appendString(dst, s.Version)
		dst = append(dst, `,"cipher":`...)
		dst = strconv.AppendUint(dst, uint64(s.Cipher), 10)
		dst = appendUint16sField(dst, "exts", s.Exts)
		dst = append(dst, '}')
	}
	return closeObject(dst, start)
}

func (h *TLSHash) appendJSON(dst []byte, name string) []byte {
	if h == nil {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, `":{"hash":`...)
	dst = appendString(dst, h.Hash)
	dst = append(dst, `,"string":`...)
	dst = appendString(dst, h.String)
	return append(dst, '}')
}
