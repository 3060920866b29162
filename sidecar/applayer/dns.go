package applayer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"github.com/sidewatch/sidewatch/sidecar/applayer/dns"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// maxPendingQueries bounds the queries of one flow awaiting a response;
// the oldest is counted unanswered when a new one does not fit.
const maxPendingQueries = 8

// dnsConn pairs a flow's queries with its responses by id.
type dnsConn struct {
	pending  [maxPendingQueries]uint16
	npending uint8
}

// dnsStream splits DNS over TCP into its length-prefixed messages.
func (en *Engine) dnsStream(cs *connState, dir int, b []byte) (int, bool) {
	pos := 0
	for len(b)-pos >= 2 {
		n := int(binary.BigEndian.Uint16(b[pos:]))
		if len(b)-pos < 2+n {
			break
		}
		en.dnsMessage(cs, dir, b[pos+2:pos+2+n])
		pos += 2 + n
	}
	return pos, true
}

// dnsMessage logs one message: a request when sent to the server, a
// response when sent to the client (as Suricata's parsers take them).
func (en *Engine) dnsMessage(cs *connState, dir int, b []byte) {
	m := &en.dnsMsg
	if err := m.Parse(b); err != nil {
		en.m.dnsErrors[dnsErrReason(err)].Inc()
		return
	}
	if m.Cut {
		en.m.dnsCut.Inc()
	}
	if dir == toServer {
		if m.Response() {
			en.m.dnsErrors[dnsErrNotRequest].Inc()
			return
		}
		d := &cs.dns
		if d.npending == maxPendingQueries {
			en.m.dnsUnanswered.Inc()
			copy(d.pending[:], d.pending[1:])
			d.npending--
		}
		d.pending[d.npending] = m.ID
		d.npending++
	} else {
		d := &cs.dns
		found := false
		for i := range d.npending {
			if d.pending[i] == m.ID {
				copy(d.pending[i:], d.pending[i+1:d.npending])
				d.npending--
				found = true
				break
			}
		}
		if !found {
			en.m.dnsUnmatched.Inc()
		}
	}
	if len(m.Questions) == 0 {
		// Suricata logs a message only for its questions.
		en.m.dnsErrors[dnsErrNoQuestion].Inc()
		return
	}
	ev := en.header(event.TypeDNS, dir == toClient)
	ev.DNS = en.dnsEvent(m, dir == toClient, cs.txs)
	cs.txs++
	en.emit(ev)
}

// dnsFinish counts the queries left without a response.
func (en *Engine) dnsFinish(cs *connState) {
	en.m.dnsUnanswered.Add(uint64(cs.dns.npending))
}

func dnsErrReason(err error) int {
	switch {
	case errors.Is(err, dns.ErrPointerLoop):
		return dnsErrPointerLoop
	case errors.Is(err, dns.ErrBadPointer):
		return dnsErrBadPointer
	case errors.Is(err, dns.ErrBadLabel):
		return dnsErrBadLabel
	case errors.Is(err, dns.ErrBadRData):
		return dnsErrBadRData
	}
	return dnsErrShort
}

// dnsEvent builds EVE's dns object (version 3) in the arena.
func (en *Engine) dnsEvent(m *dns.Message, response bool, tx uint64) *event.DNS {
	a := &en.a
	d := a.dns.one(a)
	d.Version = 3
	d.Type = "request"
	if response {
		d.Type = "response"
	}
	d.TxID = tx
	d.ID = m.ID
	d.Flags = a.commit(strconv.AppendUint(a.reserve(4), uint64(m.Flags), 16))
	d.QR = m.Flags&dns.FlagQR != 0
	d.AA = m.Flags&dns.FlagAA != 0
	d.TC = m.Flags&dns.FlagTC != 0
	d.RD = m.Flags&dns.FlagRD != 0
	d.RA = m.Flags&dns.FlagRA != 0
	d.Z = m.Flags&dns.FlagZ != 0
	d.Opcode = m.Opcode()
	d.Rcode = rcodeName(m.Rcode())
	en.names = en.names[:0]
	d.Queries = a.queries.many(a, len(m.Questions))
	for i, q := range m.Questions {
		d.Queries[i] = event.DNSQuery{RRName: en.name(m, q.Name), RRType: en.rrType(q.Type), RRNameTruncated: q.Name.Truncated}
	}
	d.Answers = en.dnsRecords(m, m.Answers, false)
	d.Grouped = en.dnsGrouped(d.Answers)
	d.Authorities = en.dnsRecords(m, m.Authorities, false)
	d.Additionals = en.dnsRecords(m, m.Additionals, true)
	return d
}

// dnsRecords converts a section; a TXT record becomes one entry per
// string. In the additional section, OPT records without options are
// left out, as Suricata does.
func (en *Engine) dnsRecords(m *dns.Message, rrs []dns.RR, additional bool) []event.DNSAnswer {
	n := 0
	for i := range rrs {
		n += recordEntries(&rrs[i], additional)
	}
	if n == 0 {
		return nil
	}
	a := &en.a
	out := a.answers.many(a, n)
	k := 0
	for i := range rrs {
		rr := &rrs[i]
		if recordEntries(rr, additional) == 0 {
			continue
		}
		base := event.DNSAnswer{RRName: en.name(m, rr.Name), RRNameTruncated: rr.Name.Truncated, RRType: en.rrType(rr.Type), TTL: rr.TTL}
		if rr.Type == dns.TypeTXT {
			for off := 0; off < len(rr.Data); off += 1 + int(rr.Data[off]) {
				out[k] = base
				out[k].RData = a.str(rr.Data[off+1 : off+1+int(rr.Data[off])])
				k++
			}
			continue
		}
		out[k] = base
		en.rdata(m, rr, &out[k])
		k++
	}
	return out
}

// name returns a name of the message being logged as a string, sharing
// the string of an equal name met before in the message (names repeat:
// the question in the answers, CNAME targets as owners).
func (en *Engine) name(m *dns.Message, n dns.Name) string {
	b := m.Name(n)
	for _, s := range en.names {
		if s == string(b) {
			return s
		}
	}
	s := en.a.str(b)
	if len(en.names) < cap(en.names) {
		en.names = append(en.names, s)
	}
	return s
}

// recordEntries is the number of entries a record becomes.
func recordEntries(rr *dns.RR, additional bool) int {
	switch {
	case rr.Type == dns.TypeTXT:
		n := 0
		for off := 0; off < len(rr.Data); off += 1 + int(rr.Data[off]) {
			n++
		}
		return n
	case rr.Type == dns.TypeOPT && additional && len(rr.Data) == 0:
		return 0
	}
	return 1
}

// rdata fills an entry's data by record type.
func (en *Engine) rdata(m *dns.Message, rr *dns.RR, out *event.DNSAnswer) {
	a := &en.a
	switch rr.Type {
	case dns.TypeA, dns.TypeAAAA:
		out.RData = en.dnsAddr(rr.Data)
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR, dns.TypeMX:
		out.RData = en.name(m, rr.Target)
		out.RDataTruncated = rr.Target.Truncated
	case dns.TypeNULL:
		out.RData = a.str(rr.Data)
	case dns.TypeSOA:
		out.SOA = en.soa(m, rr)
	case dns.TypeSRV:
		srv := a.srv.one(a)
		*srv = event.DNSSRV{Priority: rr.Priority, Weight: rr.Weight, Port: rr.Port, Name: en.name(m, rr.Target)}
		out.SRV = srv
	case dns.TypeSSHFP:
		out.SSHFP = en.sshfp(rr)
	case dns.TypeOPT:
		n := 0
		for off := 0; off+4 <= len(rr.Data); off += 4 + int(binary.BigEndian.Uint16(rr.Data[off+2:])) {
			n++
		}
		out.Opt = a.opts.many(a, n)
		for i, off := 0, 0; i < n; i++ {
			l := int(binary.BigEndian.Uint16(rr.Data[off+2:]))
			out.Opt[i] = event.DNSOpt{Code: binary.BigEndian.Uint16(rr.Data[off:]), Data: a.commit(appendHex(a.reserve(2*l), rr.Data[off+4:off+4+l], 0))}
			off += 4 + l
		}
	}
}

func (en *Engine) soa(m *dns.Message, rr *dns.RR) *event.DNSSOA {
	soa := en.a.soa.one(&en.a)
	*soa = event.DNSSOA{MName: en.name(m, rr.Target), RName: en.name(m, rr.Target2),
		Serial: rr.SOA[0], Refresh: rr.SOA[1], Retry: rr.SOA[2], Expire: rr.SOA[3], Minimum: rr.SOA[4]}
	return soa
}

func (en *Engine) sshfp(rr *dns.RR) *event.DNSSSHFP {
	a := &en.a
	fp := a.sshfp.one(a)
	*fp = event.DNSSSHFP{Algo: rr.Data[0], Type: rr.Data[1], Fingerprint: a.commit(appendHex(a.reserve(3*len(rr.Data)), rr.Data[2:], ':'))}
	return fp
}

// groupSlice returns an empty slice with room for n values, nil for 0.
func groupSlice[T any](a *arena, s *slab[T], n int) []T {
	if n == 0 {
		return nil
	}
	return s.many(a, n)[:0]
}

// dnsAddr writes an A or AAAA record's address as Suricata does: IPv6 in
// full, eight groups of four hex digits.
func (en *Engine) dnsAddr(b []byte) string {
	a := &en.a
	if len(b) == 4 {
		return a.commit(netip.AddrFrom4([4]byte(b)).AppendTo(a.reserve(15)))
	}
	dst := a.reserve(39)
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&0xf], hexDigits[b[i+1]>>4], hexDigits[b[i+1]&0xf])
	}
	return a.commit(dst)
}

// dnsGrouped builds the answers grouped by type from the detailed
// answers (sharing their strings): the types Suricata groups (A, AAAA,
// CNAME, MX, NS, NULL, PTR, SOA, SRV, SSHFP, TXT).
func (en *Engine) dnsGrouped(answers []event.DNSAnswer) *event.DNSGrouped {
	var counts [dns.TypeSSHFP + 1]int
	total := 0
	for i := range answers {
		if t := typeNumber(answers[i].RRType); groupedType(t) {
			counts[t]++
			total++
		}
	}
	if total == 0 {
		return nil
	}
	a := &en.a
	g := a.grouped.one(a)
	g.A, g.AAAA, g.CNAME = groupSlice(a, &a.strs, counts[dns.TypeA]), groupSlice(a, &a.strs, counts[dns.TypeAAAA]), groupSlice(a, &a.strs, counts[dns.TypeCNAME])
	g.MX, g.NS, g.NULL = groupSlice(a, &a.strs, counts[dns.TypeMX]), groupSlice(a, &a.strs, counts[dns.TypeNS]), groupSlice(a, &a.strs, counts[dns.TypeNULL])
	g.PTR, g.TXT = groupSlice(a, &a.strs, counts[dns.TypePTR]), groupSlice(a, &a.strs, counts[dns.TypeTXT])
	g.SOA = groupSlice(a, &a.soa, counts[dns.TypeSOA])
	g.SRV = groupSlice(a, &a.srv, counts[dns.TypeSRV])
	g.SSHFP = groupSlice(a, &a.sshfp, counts[dns.TypeSSHFP])
	for i := range answers {
		ans := &answers[i]
		switch typeNumber(ans.RRType) {
		case dns.TypeA:
			g.A = append(g.A, ans.RData)
		case dns.TypeAAAA:
			g.AAAA = append(g.AAAA, ans.RData)
		case dns.TypeCNAME:
			g.CNAME = append(g.CNAME, ans.RData)
		case dns.TypeMX:
			g.MX = append(g.MX, ans.RData)
		case dns.TypeNS:
			g.NS = append(g.NS, ans.RData)
		case dns.TypePTR:
			g.PTR = append(g.PTR, ans.RData)
		case dns.TypeNULL:
			g.NULL = append(g.NULL, ans.RData)
		case dns.TypeTXT:
			g.TXT = append(g.TXT, ans.RData)
		case dns.TypeSOA:
			g.SOA = append(g.SOA, *ans.SOA)
		case dns.TypeSRV:
			g.SRV = append(g.SRV, *ans.SRV)
		case dns.TypeSSHFP:
			g.SSHFP = append(g.SSHFP, *ans.SSHFP)
		}
	}
	return g
}

// typeNumber is the record type of one of the names groupedType accepts
// (0 for any other).
func typeNumber(name string) uint16 {
	switch name {
	case "A":
		return dns.TypeA
	case "AAAA":
		return dns.TypeAAAA
	case "CNAME":
		return dns.TypeCNAME
	case "MX":
		return dns.TypeMX
	case "NS":
		return dns.TypeNS
	case "NULL":
		return dns.TypeNULL
	case "PTR":
		return dns.TypePTR
	case "SOA":
		return dns.TypeSOA
	case "SRV":
		return dns.TypeSRV
	case "SSHFP":
		return dns.TypeSSHFP
	case "TXT":
		return dns.TypeTXT
	}
	return 0
}

func groupedType(t uint16) bool {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeNS, dns.TypeNULL, dns.TypePTR, dns.TypeSOA, dns.TypeSRV, dns.TypeSSHFP, dns.TypeTXT:
		return true
	}
	return false
}

// rrType names a record type as Suricata does, or writes its number.
func (en *Engine) rrType(t uint16) string {
	if int(t) < len(rrTypeNames) && rrTypeNames[t] != "" {
		return rrTypeNames[t]
	}
	return en.a.commit(strconv.AppendUint(en.a.reserve(5), uint64(t), 10))
}

// rrTypeNames are Suricata's names for record types (rust/src/dns/dns.rs).
var rrTypeNames = [...]string{
	1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 10: "NULL",
	11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB",
	19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAPPTR", 24: "SIG", 25: "KEY", 26: "PX",
	27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX",
	37: "CERT", 38: "A6", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY",
	46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA",
	55: "HIP", 59: "CDS", 60: "CDNSKEY", 65: "HTTPS", 99: "SPF", 249: "TKEY", 250: "TSIG",
	254: "MAILA", 255: "ANY", 256: "URI",
}

// rcodeName is the header's 4-bit rcode as Suricata writes it.
func rcodeName(rc int) string { return rcodeNames[rc&0xf] }

var rcodeNames = [16]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "11", "12", "13", "14", "15"}

// appendHex appends b as lowercase hex, the bytes separated by sep unless
// it is 0.
func appendHex(dst, b []byte, sep byte) []byte {
	for i, c := range b {
		if i > 0 && sep != 0 {
			dst = append(dst, sep)
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}
