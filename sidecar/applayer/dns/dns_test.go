package dns

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func mustName(t testing.TB, s string) dnsmessage.Name {
	t.Helper()
	n, err := dnsmessage.NewName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// build makes a message with dnsmessage (which compresses names).
func build(t testing.TB, h dnsmessage.Header, q []dnsmessage.Question, answers ...dnsmessage.Resource) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	for _, qq := range q {
		if err := b.Question(qq); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.StartAnswers(); err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		var err error
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			err = b.AResource(a.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(a.Header, *body)
		case *dnsmessage.CNAMEResource:
			err = b.CNAMEResource(a.Header, *body)
		case *dnsmessage.MXResource:
			err = b.MXResource(a.Header, *body)
		case *dnsmessage.NSResource:
			err = b.NSResource(a.Header, *body)
		case *dnsmessage.PTRResource:
			err = b.PTRResource(a.Header, *body)
		case *dnsmessage.TXTResource:
			err = b.TXTResource(a.Header, *body)
		case *dnsmessage.SRVResource:
			err = b.SRVResource(a.Header, *body)
		case *dnsmessage.SOAResource:
			err = b.SOAResource(a.Header, *body)
		default:
			t.Fatalf("unsupported body %T", body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func rh(t testing.TB, name string, typ dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: mustName(t, name), Type: typ, Class: dnsmessage.ClassINET, TTL: ttl}
}

// summary renders what Parse found, one line per entry, for comparison.
func summary(m *Message) string {
	var s strings.Builder
	for _, q := range m.Questions {
		s.WriteString("Q " + string(m.Name(q.Name)) + " " + strconv.Itoa(int(q.Type)) + "\n")
	}
	for _, sec := range [][]RR{m.Answers, m.Authorities, m.Additionals} {
		for _, rr := range sec {
			s.WriteString("R " + string(m.Name(rr.Name)) + " " + strconv.Itoa(int(rr.Type)) + " ttl=" + strconv.Itoa(int(rr.TTL)))
			switch rr.Type {
			case TypeCNAME, TypeNS, TypePTR:
				s.WriteString(" " + string(m.Name(rr.Target)))
			case TypeMX:
				s.WriteString(" " + strconv.Itoa(int(rr.Priority)) + " " + string(m.Name(rr.Target)))
			case TypeSRV:
				s.WriteString(" " + strconv.Itoa(int(rr.Priority)) + " " + strconv.Itoa(int(rr.Weight)) + " " + strconv.Itoa(int(rr.Port)) + " " + string(m.Name(rr.Target)))
			case TypeSOA:
				s.WriteString(" " + string(m.Name(rr.Target)) + " " + string(m.Name(rr.Target2)))
				for _, v := range rr.SOA {
					s.WriteString(" " + strconv.Itoa(int(v)))
				}
			default:
				s.WriteString(" len=" + strconv.Itoa(len(rr.Data)))
			}
			s.WriteString("\n")
		}
	}
	return s.String()
}

func TestParse(t *testing.T) {
	q := []dnsmessage.Question{{Name: mustName(t, "www.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"query", build(t, dnsmessage.Header{ID: 7, RecursionDesired: true}, q),
			"Q www.example.com 1\n"},
		{"root_query", build(t, dnsmessage.Header{ID: 7}, []dnsmessage.Question{{Name: mustName(t, "."), Type: dnsmessage.TypeNS, Class: dnsmessage.ClassINET}}),
			"Q  2\n"},
		{"compressed_answers", build(t, dnsmessage.Header{ID: 7, Response: true}, q,
			dnsmessage.Resource{Header: rh(t, "www.example.com.", dnsmessage.TypeCNAME, 300), Body: &dnsmessage.CNAMEResource{CNAME: mustName(t, "web.example.com.")}},
			dnsmessage.Resource{Header: rh(t, "web.example.com.", dnsmessage.TypeA, 60), Body: &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}},
			dnsmessage.Resource{Header: rh(t, "web.example.com.", dnsmessage.TypeAAAA, 60), Body: &dnsmessage.AAAAResource{AAAA: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}}},
			dnsmessage.Resource{Header: rh(t, "example.com.", dnsmessage.TypeMX, 3600), Body: &dnsmessage.MXResource{Pref: 10, MX: mustName(t, "mail.example.com.")}},
			dnsmessage.Resource{Header: rh(t, "example.com.", dnsmessage.TypeNS, 3600), Body: &dnsmessage.NSResource{NS: mustName(t, "ns1.example.net.")}},
			dnsmessage.Resource{Header: rh(t, "1.2.0.192.in-addr.arpa.", dnsmessage.TypePTR, 5), Body: &dnsmessage.PTRResource{PTR: mustName(t, "web.example.com.")}},
			dnsmessage.Resource{Header: rh(t, "example.com.", dnsmessage.TypeTXT, 5), Body: &dnsmessage.TXTResource{TXT: []string{"v=spf1 -all", "second"}}},
			dnsmessage.Resource{Header: rh(t, "_sip._tcp.example.com.", dnsmessage.TypeSRV, 5), Body: &dnsmessage.SRVResource{Priority: 1, Weight: 2, Port: 5060, Target: mustName(t, "sip.example.com.")}},
			dnsmessage.Resource{Header: rh(t, "example.com.", dnsmessage.TypeSOA, 900), Body: &dnsmessage.SOAResource{NS: mustName(t, "ns1.example.net."), MBox: mustName(t, "hostmaster.example.com."), Serial: 2026112201, Refresh: 7200, Retry: 900, Expire: 1209600, MinTTL: 300}},
		), "Q www.example.com 1\n" +
			"R www.example.com 5 ttl=300 web.example.com\n" +
			"R web.example.com 1 ttl=60 len=4\n" +
			"R web.example.com 28 ttl=60 len=16\n" +
			"R example.com 15 ttl=3600 10 mail.example.com\n" +
			"R example.com 2 ttl=3600 ns1.example.net\n" +
			"R 1.2.0.192.in-addr.arpa 12 ttl=5 web.example.com\n" +
			"R example.com 16 ttl=5 len=19\n" +
			"R _sip._tcp.example.com 33 ttl=5 1 2 5060 sip.example.com\n" +
			"R example.com 6 ttl=900 ns1.example.net hostmaster.example.com 2026112201 7200 900 1209600 300\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(tt.msg); err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if got := summary(&m); got != tt.want {
				t.Errorf("Parse found:\n%s\nwant:\n%s", got, tt.want)
			}
			if m.Len != len(tt.msg) {
				t.Errorf("Len = %d, want %d", m.Len, len(tt.msg))
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	msg := build(t, dnsmessage.Header{ID: 0xb184, Response: true, OpCode: 2, Authoritative: true, Truncated: true, RecursionDesired: true, RecursionAvailable: true, RCode: dnsmessage.RCodeNameError}, nil)
	var m Message
	if err := m.Parse(msg); err != nil {
		t.Fatal(err)
	}
	if m.ID != 0xb184 || m.Flags != 0x8000|2<<11|FlagAA|FlagTC|FlagRD|FlagRA|3 {
		t.Errorf("ID %#x flags %#x, want 0xb184 %#x", m.ID, m.Flags, 0x8000|2<<11|FlagAA|FlagTC|FlagRD|FlagRA|3)
	}
	if !m.Response() || m.Opcode() != 2 || m.Rcode() != 3 {
		t.Errorf("Response %v Opcode %d Rcode %d, want true 2 3", m.Response(), m.Opcode(), m.Rcode())
	}
}

// raw assembles a message from a header and hand-made section bytes.
func raw(qd, an uint16, body ...[]byte) []byte {
	b := []byte{0, 1, 0x81, 0x80, byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), 0, 0, 0, 0}
	for _, x := range body {
		b = append(b, x...)
	}
	return b
}

func TestParseErrors(t *testing.T) {
	question := []byte{3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header_only_short", []byte{0, 1, 2}, ErrShort},
		{"question_missing", raw(1, 0), ErrShort},
		{"label_past_end", raw(1, 0, []byte{10, 'a', 'b'}), ErrShort},
		{"question_type_missing", raw(1, 0, []byte{1, 'a', 0, 0}), ErrShort},
		// A pointer to itself, in the question.
		{"self_pointer", raw(1, 0, []byte{0xc0, 12, 0, 1, 0, 1}), ErrPointerLoop},
		// Two pointers to each other: 12 -> 14 -> 12.
		{"pointer_cycle", raw(1, 0, []byte{0xc0, 14, 0xc0, 12, 0, 1, 0, 1}), ErrPointerLoop},
		// A label, then a pointer back to the label: a.a.a.a... forever.
		{"label_pointer_cycle", raw(1, 0, []byte{1, 'a', 0xc0, 12, 0, 1, 0, 1}), ErrPointerLoop},
		{"pointer_past_end", raw(1, 0, []byte{0xc0, 0xff, 0, 1, 0, 1}), ErrBadPointer},
		{"extended_label", raw(1, 0, []byte{0x41, 0, 0, 1, 0, 1}), ErrBadLabel},
		{"answer_short", raw(1, 1, question, []byte{0xc0, 12, 0, 1, 0, 1, 0, 0}), ErrShort},
		{"rdata_past_end", raw(1, 1, question, []byte{0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2}), ErrShort},
		{"a_wrong_length", raw(1, 1, question, []byte{0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3}), ErrBadRData},
		{"aaaa_wrong_length", raw(1, 1, question, []byte{0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4}), ErrBadRData},
		{"cname_outside_rdata", raw(1, 1, question, []byte{0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 3, 'a'}, []byte{'b', 'c', 0}), ErrBadRData},
		{"txt_string_past_rdata", raw(1, 1, question, []byte{0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 2, 5, 'a'}), ErrBadRData},
		{"soa_short_numbers", raw(1, 1, question, []byte{0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 8, 0xc0, 12, 0xc0, 12, 0, 0, 0, 1}), ErrBadRData},
		{"opt_option_past_rdata", raw(0, 1, []byte{0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2}), ErrBadRData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(tt.msg); !errors.Is(err, tt.want) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseLongNameTruncated(t *testing.T) {
	// 17 labels of 63 bytes: 1087 presentation bytes.
	var q []byte
	for range 17 {
		q = append(q, 63)
		q = append(q, bytes.Repeat([]byte{'x'}, 63)...)
	}
	q = append(q, 0, 0, 16, 0, 1)
	var m Message
	if err := m.Parse(raw(1, 0, q)); err != nil {
		t.Fatal(err)
	}
	n := m.Questions[0].Name
	if !n.Truncated || len(m.Name(n)) != MaxNameLen {
		t.Errorf("name of %d bytes, Truncated %v; want %d, true", len(m.Name(n)), n.Truncated, MaxNameLen)
	}
	if m.Questions[0].Type != TypeTXT {
		t.Errorf("Type = %d after a long name, want %d", m.Questions[0].Type, TypeTXT)
	}
}

func TestParseTooManyRecords(t *testing.T) {
	question := []byte{1, 'a', 0, 0, 1, 0, 1}
	answer := []byte{0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1}
	body := [][]byte{question}
	for range 300 {
		body = append(body, answer)
	}
	var m Message
	if err := m.Parse(raw(1, 300, body...)); err != nil {
		t.Fatal(err)
	}
	if !m.Cut || len(m.Questions)+len(m.Answers) != MaxRecords {
		t.Errorf("Cut %v with %d records, want true with %d", m.Cut, len(m.Questions)+len(m.Answers), MaxRecords)
	}
}

func TestParseReuseAllocatesNothing(t *testing.T) {
	q := []dnsmessage.Question{{Name: mustName(t, "www.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
	msg := build(t, dnsmessage.Header{ID: 7, Response: true}, q,
		dnsmessage.Resource{Header: rh(t, "www.example.com.", dnsmessage.TypeCNAME, 300), Body: &dnsmessage.CNAMEResource{CNAME: mustName(t, "web.example.com.")}},
		dnsmessage.Resource{Header: rh(t, "web.example.com.", dnsmessage.TypeA, 60), Body: &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}})
	var m Message
	if err := m.Parse(msg); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { m.Parse(msg) }); n != 0 {
		t.Errorf("Parse allocates %.1f times per message once warm, want 0", n)
	}
}

func BenchmarkParseResponse(b *testing.B) {
	q := []dnsmessage.Question{{Name: mustName(b, "sts.us-east-1.amazonaws.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
	msg := build(b, dnsmessage.Header{ID: 7, Response: true, RecursionDesired: true, RecursionAvailable: true}, q,
		dnsmessage.Resource{Header: rh(b, "sts.us-east-1.amazonaws.com.", dnsmessage.TypeCNAME, 60), Body: &dnsmessage.CNAMEResource{CNAME: mustName(b, "sts.us-east-1.api.aws.")}},
		dnsmessage.Resource{Header: rh(b, "sts.us-east-1.api.aws.", dnsmessage.TypeA, 60), Body: &dnsmessage.AResource{A: [4]byte{52, 94, 236, 248}}},
		dnsmessage.Resource{Header: rh(b, "sts.us-east-1.api.aws.", dnsmessage.TypeA, 60), Body: &dnsmessage.AResource{A: [4]byte{52, 94, 236, 249}}})
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := m.Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse checks that no input panics, hangs or yields a name or record
// outside the message, and that dnsmessage agrees on well-formed input.
func FuzzParse(f *testing.F) {
	q := []dnsmessage.Question{{Name: mustName(f, "www.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
	f.Add(build(f, dnsmessage.Header{ID: 7}, q))
	f.Add(build(f, dnsmessage.Header{ID: 7, Response: true}, q,
		dnsmessage.Resource{Header: rh(f, "www.example.com.", dnsmessage.TypeCNAME, 300), Body: &dnsmessage.CNAMEResource{CNAME: mustName(f, "web.example.com.")}},
		dnsmessage.Resource{Header: rh(f, "example.com.", dnsmessage.TypeSOA, 900), Body: &dnsmessage.SOAResource{NS: mustName(f, "ns1.example.net."), MBox: mustName(f, "hostmaster.example.com."), Serial: 1}},
		dnsmessage.Resource{Header: rh(f, "_sip._tcp.example.com.", dnsmessage.TypeSRV, 5), Body: &dnsmessage.SRVResource{Priority: 1, Weight: 2, Port: 5060, Target: mustName(f, "sip.example.com.")}},
		dnsmessage.Resource{Header: rh(f, "example.com.", dnsmessage.TypeTXT, 5), Body: &dnsmessage.TXTResource{TXT: []string{"a", "b"}}}))
	f.Add(raw(1, 0, []byte{1, 'a', 0xc0, 12, 0, 1, 0, 1}))
	f.Add(raw(1, 0, []byte{0xc0, 14, 0xc0, 12, 0, 1, 0, 1}))
	var m Message
	f.Fuzz(func(t *testing.T, b []byte) {
		err := m.Parse(b)
		if err != nil {
			return
		}
		if m.Len > len(b) {
			t.Fatalf("Len %d > message length %d", m.Len, len(b))
		}
		if n := len(m.Questions) + len(m.Answers) + len(m.Authorities) + len(m.Additionals); n > MaxRecords {
			t.Fatalf("%d records, more than MaxRecords", n)
		}
		for _, q := range m.Questions {
			if len(m.Name(q.Name)) > MaxNameLen {
				t.Fatalf("name of %d bytes", len(m.Name(q.Name)))
			}
		}
		// dnsmessage is stricter (it rejects names over 255 octets, some
		// record data we accept): when it parses the questions, they must
		// agree with ours.
		var p dnsmessage.Parser
		h, err := p.Start(b)
		if err != nil {
			return
		}
		if h.ID != m.ID {
			t.Fatalf("ID %d, dnsmessage %d", m.ID, h.ID)
		}
		for i := range m.Questions {
			dq, err := p.Question()
			if err != nil {
				return
			}
			want := strings.TrimSuffix(dq.Name.String(), ".")
			if got := string(m.Name(m.Questions[i].Name)); got != want && !strings.ContainsAny(got, ".\\") {
				t.Fatalf("question %d: %q, dnsmessage %q", i, got, want)
			}
		}
	})
}
