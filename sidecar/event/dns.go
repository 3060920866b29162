package event

import "strconv"

// DNS is EVE's dns object, version 3, as Suricata 8 writes it: one event
// per DNS message, type "request" or "response", with the answers both in
// detail (answers) and grouped by type (grouped).
type DNS struct {
	Version     int         `json:"version"`
	Type        string      `json:"type"`
	TxID        uint64      `json:"tx_id"`
	ID          uint16      `json:"id"`
	Flags       string      `json:"flags"`
	QR          bool        `json:"qr,omitempty"`
	AA          bool        `json:"aa,omitempty"`
	TC          bool        `json:"tc,omitempty"`
	RD          bool        `json:"rd,omitempty"`
	RA          bool        `json:"ra,omitempty"`
	Z           bool        `json:"z,omitempty"`
	Opcode      int         `json:"opcode"`
	Rcode       string      `json:"rcode"`
	Queries     []DNSQuery  `json:"queries,omitempty"`
	Answers     []DNSAnswer `json:"answers,omitempty"`
	Grouped     *DNSGrouped `json:"grouped,omitempty"`
	Authorities []DNSAnswer `json:"authorities,omitempty"`
	Additionals []DNSAnswer `json:"additionals,omitempty"`
}

// DNSQuery is one question.
type DNSQuery struct {
	RRName          string `json:"rrname"`
	RRType          string `json:"rrtype"`
	RRNameTruncated bool   `json:"rrname_truncated,omitempty"`
}

// DNSAnswer is one resource record of the answer, authority or additional
// section. RData holds addresses, names, TXT strings and NULL data; SOA,
// SRV, SSHFP and OPT records have their own objects. A TXT record with
// several strings is written as one DNSAnswer per string, as Suricata does.
type DNSAnswer struct {
	RRName          string    `json:"rrname"`
	RRNameTruncated bool      `json:"rrname_truncated,omitempty"`
	RRType          string    `json:"rrtype"`
	TTL             uint32    `json:"ttl"`
	RData           string    `json:"rdata,omitempty"`
	RDataTruncated  bool      `json:"rdata_truncated,omitempty"`
	SOA             *DNSSOA   `json:"soa,omitempty"`
	SSHFP           *DNSSSHFP `json:"sshfp,omitempty"`
	SRV             *DNSSRV   `json:"srv,omitempty"`
	Opt             []DNSOpt  `json:"opt,omitempty"`
}

// DNSSOA is the data of an SOA record.
type DNSSOA struct {
	MName   string `json:"mname"`
	RName   string `json:"rname"`
	Serial  uint32 `json:"serial"`
	Refresh uint32 `json:"refresh"`
	Retry   uint32 `json:"retry"`
	Expire  uint32 `json:"expire"`
	Minimum uint32 `json:"minimum"`
}

// DNSSRV is the data of an SRV record.
type DNSSRV struct {
	Priority uint16 `json:"priority"`
	Weight   uint16 `json:"weight"`
	Port     uint16 `json:"port"`
	Name     string `json:"name"`
}

// DNSSSHFP is the data of an SSHFP record; the fingerprint is hex bytes
// separated by colons.
type DNSSSHFP struct {
	Fingerprint string `json:"fingerprint"`
	Algo        uint8  `json:"algo"`
	Type        uint8  `json:"type"`
}

// DNSOpt is one EDNS option of an OPT record; Data is hex.
type DNSOpt struct {
	Code uint16 `json:"code"`
	Data string `json:"data"`
}

// DNSGrouped is EVE's alternative answer format: the answers' data by
// record type. Suricata writes the types in hash order; sidewatch writes
// them in this (alphabetical) order.
type DNSGrouped struct {
	A     []string   `json:"A,omitempty"`
	AAAA  []string   `json:"AAAA,omitempty"`
	CNAME []string   `json:"CNAME,omitempty"`
	MX    []string   `json:"MX,omitempty"`
	NS    []string   `json:"NS,omitempty"`
	NULL  []string   `json:"NULL,omitempty"`
	PTR   []string   `json:"PTR,omitempty"`
	SOA   []DNSSOA   `json:"SOA,omitempty"`
	SRV   []DNSSRV   `json:"SRV,omitempty"`
	SSHFP []DNSSSHFP `json:"SSHFP,omitempty"`
	TXT   []string   `json:"TXT,omitempty"`
}

func (d *DNS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"dns":{"version":`...)
	dst = strconv.AppendInt(dst, int64(d.Version), 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, d.Type)
	dst = append(dst, `,"tx_id":`...)
	dst = strconv.AppendUint(dst, d.TxID, 10)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendUint(dst, uint64(d.ID), 10)
	dst = append(dst, `,"flags":`...)
	dst = appendString(dst, d.Flags)
	dst = appendTrueField(dst, "qr", d.QR)
	dst = appendTrueField(dst, "aa", d.AA)
	dst = appendTrueField(dst, "tc", d.TC)
	dst = appendTrueField(dst, "rd", d.RD)
	dst = appendTrueField(dst, "ra", d.RA)
	dst = appendTrueField(dst, "z", d.Z)
	dst = append(dst, `,"opcode":`...)
	dst = strconv.AppendInt(dst, int64(d.Opcode), 10)
	dst = append(dst, `,"rcode":`...)
	dst = appendString(dst, d.Rcode)
	dst = appendObjectsField(dst, "queries", d.Queries, (*DNSQuery).appendJSON)
	dst = appendObjectsField(dst, "answers", d.Answers, (*DNSAnswer).appendJSON)
	if d.Grouped != nil {
		dst = d.Grouped.appendJSON(dst)
	}
	dst = appendObjectsField(dst, "authorities", d.Authorities, (*DNSAnswer).appendJSON)
	dst = appendObjectsField(dst, "additionals", d.Additionals, (*DNSAnswer).appendJSON)
	return append(dst, '}')
}

func (q *DNSQuery) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"rrname":`...)
	dst = appendString(dst, q.RRName)
	dst = append(dst, `,"rrtype":`...)
	dst = appendString(dst, q.RRType)
	dst = appendTrueField(dst, "rrname_truncated", q.RRNameTruncated)
	return append(dst, '}')
}

func (o *DNSOpt) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendUint(dst, uint64(o.Code), 10)
	dst = append(dst, `,"data":`...)
	dst = appendString(dst, o.Data)
	return append(dst, '}')
}

func (a *DNSAnswer) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"rrname":`...)
	dst = appendString(dst, a.RRName)
	dst = appendTrueField(dst, "rrname_truncated", a.RRNameTruncated)
	dst = append(dst, `,"rrtype":`...)
	dst = appendString(dst, a.RRType)
	dst = append(dst, `,"ttl":`...)
	dst = strconv.AppendUint(dst, uint64(a.TTL), 10)
	dst = appendStringField(dst, "rdata", a.RData)
	dst = appendTrueField(dst, "rdata_truncated", a.RDataTruncated)
	if a.SOA != nil {
		dst = append(dst, `,"soa":`...)
		dst = a.SOA.appendJSON(dst)
	}
	if a.SSHFP != nil {
		dst = append(dst, `,"sshfp":`...)
		dst = a.SSHFP.appendJSON(dst)
	}
	if a.SRV != nil {
		dst = append(dst, `,"srv":`...)
		dst = a.SRV.appendJSON(dst)
	}
	dst = appendObjectsField(dst, "opt", a.Opt, (*DNSOpt).appendJSON)
	return append(dst, '}')
}

func (s *DNSSOA) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"mname":`...)
	dst = appendString(dst, s.MName)
	dst = append(dst, `,"rname":`...)
	dst = appendString(dst, s.RName)
	for _, f := range [...]struct {
		name string
		v    uint32
	}{{"serial", s.Serial}, {"refresh", s.Refresh}, {"retry", s.Retry}, {"expire", s.Expire}, {"minimum", s.Minimum}} {
		dst = append(dst, ",\""...)
		dst = append(dst, f.name...)
		dst = append(dst, "\":"...)
		dst = strconv.AppendUint(dst, uint64(f.v), 10)
	}
	return append(dst, '}')
}

func (s *DNSSRV) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"priority":`...)
	dst = strconv.AppendUint(dst, uint64(s.Priority), 10)
	dst = append(dst, `,"weight":`...)
	dst = strconv.AppendUint(dst, uint64(s.Weight), 10)
	dst = append(dst, `,"port":`...)
	dst = strconv.AppendUint(dst, uint64(s.Port), 10)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, s.Name)
	return append(dst, '}')
}

func (s *DNSSSHFP) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"fingerprint":`...)
	dst = appendString(dst, s.Fingerprint)
	dst = append(dst, `,"algo":`...)
	dst = strconv.AppendUint(dst, uint64(s.Algo), 10)
	dst = append(dst, `,"type":`...)
	dst = strconv.AppendUint(dst, uint64(s.Type), 10)
	return append(dst, '}')
}

func (g *DNSGrouped) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"grouped":{`...)
	start := len(dst)
	dst = appendStringsField(dst, "A", g.A)
	dst = appendStringsField(dst, "AAAA", g.AAAA)
	dst = appendStringsField(dst, "CNAME", g.CNAME)
	dst = appendStringsField(dst, "MX", g.MX)
	dst = appendStringsField(dst, "NS", g.NS)
	dst = appendStringsField(dst, "NULL", g.NULL)
	dst = appendStringsField(dst, "PTR", g.PTR)
	dst = appendObjectsField(dst, "SOA", g.SOA, (*DNSSOA).appendJSON)
	dst = appendObjectsField(dst, "SRV", g.SRV, (*DNSSRV).appendJSON)
	dst = appendObjectsField(dst, "SSHFP", g.SSHFP, (*DNSSSHFP).appendJSON)
	dst = appendStringsField(dst, "TXT", g.TXT)
	return closeObject(dst, start)
}
