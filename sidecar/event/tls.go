package event

// TLS is EVE's tls object.
type TLS struct {
	SNI         string   `json:"sni,omitempty"`
	Version     string   `json:"version,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	IssuerDN    string   `json:"issuerdn,omitempty"`
	JA3         *TLSHash `json:"ja3,omitempty"`
	JA3S        *TLSHash `json:"ja3s,omitempty"`
	JA4         string   `json:"ja4,omitempty"`
	ClientALPNs []string `json:"client_alpns,omitempty"`
	ServerALPNs []string `json:"server_alpns,omitempty"`
}

// TLSHash is a JA3 or JA3S fingerprint.
type TLSHash struct {
	Hash   string `json:"hash"`
	String string `json:"string"`
}

func (t *TLS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"tls":{`...)
	start := len(dst)
	dst = appendStringField(dst, "sni", t.SNI)
	dst = appendStringField(dst, "version", t.Version)
	dst = appendStringField(dst, "subject", t.Subject)
	dst = appendStringField(dst, "issuerdn", t.IssuerDN)
	dst = t.JA3.appendJSON(dst, "ja3")
	dst = t.JA3S.appendJSON(dst, "ja3s")
	dst = appendStringField(dst, "ja4", t.JA4)
	dst = appendStringsField(dst, "client_alpns", t.ClientALPNs)
	dst = appendStringsField(dst, "server_alpns", t.ServerALPNs)
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
