package event

import "strconv"

// DNS is EVE's dns object, version 3.
type DNS struct {
	Version int         `json:"version"`
	Type    string      `json:"type"`
	TxID    int         `json:"tx_id"`
	ID      uint16      `json:"id"`
	Flags   string      `json:"flags"`
	QR      bool        `json:"qr,omitempty"`
	AA      bool        `json:"aa,omitempty"`
	TC      bool        `json:"tc,omitempty"`
	RD      bool        `json:"rd,omitempty"`
	RA      bool        `json:"ra,omitempty"`
	Z       bool        `json:"z,omitempty"`
	Opcode  int         `json:"opcode"`
	Rcode   string      `json:"rcode"`
	Queries []DNSQuery  `json:"queries,omitempty"`
	Answers []DNSAnswer `json:"answers,omitempty"`
}

// DNSQuery is one question.
type DNSQuery struct {
	RRName string `json:"rrname"`
	RRType string `json:"rrtype"`
}

// DNSAnswer is one answer record.
type DNSAnswer struct {
	RRName string `json:"rrname"`
	RRType string `json:"rrtype"`
	TTL    uint32 `json:"ttl"`
	RData  string `json:"rdata,omitempty"`
}

func (d *DNS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"dns":{"version":`...)
	dst = strconv.AppendInt(dst, int64(d.Version), 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, d.Type)
	dst = append(dst, `,"tx_id":`...)
	dst = strconv.AppendInt(dst, int64(d.TxID), 10)
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
	if len(d.Queries) > 0 {
		dst = append(dst, `,"queries":[`...)
		for i, q := range d.Queries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"rrname":`...)
			dst = appendString(dst, q.RRName)
			dst = append(dst, `,"rrtype":`...)
			dst = appendString(dst, q.RRType)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(d.Answers) > 0 {
		dst = append(dst, `,"answers":[`...)
		for i, a := range d.Answers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"rrname":`...)
			dst = appendString(dst, a.RRName)
			dst = append(dst, `,"rrtype":`...)
			dst = appendString(dst, a.RRType)
			dst = append(dst, `,"ttl":`...)
			dst = strconv.AppendUint(dst, uint64(a.TTL), 10)
			dst = appendStringField(dst, "rdata", a.RData)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
