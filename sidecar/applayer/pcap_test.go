package applayer

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/internal/eveschema"
	"github.com/sidewatch/sidewatch/sidecar/capture"
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

var update = flag.Bool("update", false, "rewrite golden files")

// captures are the committed test captures, made by TestLiveTraffic
// (`make pcaps`): real tools in network namespaces.
var captures = []string{"dns.pcap", "http.pcap", "tls.pcap", "ssh.pcap"}

// eventList collects events (from the capture goroutine, when live).
type eventList struct {
	mu  sync.Mutex
	all []event.Event
}

func (l *eventList) Offer(ev event.Event) bool {
	l.mu.Lock()
	l.all = append(l.all, ev)
	l.mu.Unlock()
	return true
}

// replayPcap runs a capture file through the flow table and app layer, as
// sidewatch replay does.
func replayPcap(t *testing.T, path string) []event.Event {
	t.Helper()
	out := &eventList{}
	reg := metrics.New()
	table := flow.NewTable(flow.DefaultConfig(), out, reg, New(DefaultConfig(), out, reg))
	st, err := capture.ReadFile(context.Background(), path, table)
	if err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	table.Flush(st.Last, flow.ReasonShutdown)
	return out.all
}

func encode(evs []event.Event) []byte {
	var b []byte
	for i := range evs {
		b = append(evs[i].AppendJSON(b), '\n')
	}
	return b
}

// TestGoldenReplay replays each committed capture and compares every
// event with its golden file (`make golden` rewrites them); every event
// must validate against Suricata's schema.
func TestGoldenReplay(t *testing.T) {
	for _, name := range captures {
		t.Run(strings.TrimSuffix(name, ".pcap"), func(t *testing.T) {
			got := encode(replayPcap(t, filepath.Join("testdata", name)))
			golden := filepath.Join("testdata", name+".golden.jsonl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("replay of %s (-golden +got):\n%s", name, diff)
			}
			eveschema.New(t).ValidateLines(t, got)
		})
	}
}

// tshark runs tshark over a capture and returns its rows of fields.
func tshark(t *testing.T, pcap, filter string, fields ...string) [][]string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("needs tshark (apt-get install tshark) to compare fields with")
	}
	args := []string{"-n", "-r", filepath.Join("testdata", pcap), "-d", "tcp.port==2222,ssh", "-d", "tcp.port==8443,tls", "-d", "tcp.port==8080,http",
		"-Y", filter, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	var rows [][]string
	for line := range strings.Lines(string(out)) {
		rows = append(rows, strings.Split(strings.TrimRight(line, "\n"), "|"))
	}
	if len(rows) == 0 {
		t.Fatalf("tshark found nothing for %q in %s", filter, pcap)
	}
	return rows
}

func appOnly(t *testing.T, pcap string, typ event.Type) []event.Event {
	var out []event.Event
	for _, ev := range replayPcap(t, filepath.Join("testdata", pcap)) {
		if ev.EventType == typ {
			out = append(out, ev)
		}
	}
	return out
}

// TestTsharkDNS compares every DNS message with tshark's dissection: id,
// direction, question, rcode, and the A, AAAA, CNAME, MX, TXT, SRV and
// PTR data and TTLs of all sections.
func TestTsharkDNS(t *testing.T) {
	rows := tshark(t, "dns.pcap", "dns", "dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
		"dns.a", "dns.aaaa", "dns.cname", "dns.resp.ttl", "dns.mx.mail_exchange", "dns.txt", "dns.srv.target", "dns.ptr.domain_name")
	var want []string
	for _, r := range rows {
		id, err := strconv.ParseUint(strings.TrimPrefix(r[0], "0x"), 16, 16)
		if err != nil {
			t.Fatalf("dns.id %q: %v", r[0], err)
		}
		r[0] = strconv.FormatUint(id, 10)
		want = append(want, strings.Join(r, "|"))
	}
	var got []string
	for _, ev := range appOnly(t, "dns.pcap", event.TypeDNS) {
		d := ev.DNS
		resp, rcode := "0", ""
		if d.Type == "response" {
			resp, rcode = "1", strconv.Itoa(rcodeNumber(t, d.Rcode))
		}
		var a, aaaa, cname, ttl, mx, txt, srv, ptr []string
		for _, sec := range [][]event.DNSAnswer{d.Answers, d.Authorities, d.Additionals} {
			for i, rr := range sec {
				if rr.RRType == "OPT" {
					continue
				}
				// tshark has a TTL per record; EVE writes a TXT record's
				// strings as entries of their own.
				if rr.RRType != "TXT" || i == 0 || sec[i-1].RRType != "TXT" || sec[i-1].RRName != rr.RRName {
					ttl = append(ttl, strconv.FormatUint(uint64(rr.TTL), 10))
				}
				switch rr.RRType {
				case "A":
					a = append(a, rr.RData)
				case "AAAA":
					aaaa = append(aaaa, netip.MustParseAddr(rr.RData).String()) // tshark writes it short
				case "CNAME":
					cname = append(cname, rr.RData)
				case "MX":
					mx = append(mx, rr.RData)
				case "TXT":
					txt = append(txt, rr.RData)
				case "SRV":
					srv = append(srv, rr.SRV.Name)
				case "PTR":
					ptr = append(ptr, rr.RData)
				}
			}
		}
		got = append(got, strings.Join([]string{strconv.Itoa(int(d.ID)), resp, d.Queries[0].RRName, strconv.Itoa(rrTypeNumber(t, d.Queries[0].RRType)), rcode,
			strings.Join(a, ","), strings.Join(aaaa, ","), strings.Join(cname, ","), strings.Join(ttl, ","), strings.Join(mx, ","), strings.Join(txt, ","),
			strings.Join(srv, ","), strings.Join(ptr, ",")}, "|"))
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dns fields (-tshark +sidewatch):\n%s", diff)
	}
}

func rrTypeNumber(t *testing.T, name string) int {
	for i, n := range rrTypeNames {
		if n == name {
			return i
		}
	}
	n, err := strconv.Atoi(name)
	if err != nil {
		t.Fatalf("rrtype %q", name)
	}
	return n
}

func rcodeNumber(t *testing.T, name string) int {
	i := slices.Index(rcodeNames[:], name)
	if i < 0 {
		t.Fatalf("rcode %q", name)
	}
	return i
}

// TestTsharkTLS compares each connection's SNI, client ALPNs, JA3, JA3S,
// server ALPN, certificate serial and validity with tshark's.
func TestTsharkTLS(t *testing.T) {
	byPort := map[string][]string{}
	for _, r := range tshark(t, "tls.pcap", "tls.handshake.type==1", "tcp.srcport", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str", "tls.handshake.ja3") {
		byPort[r[0]] = append(byPort[r[0]], r[1:]...)
	}
	for _, r := range tshark(t, "tls.pcap", "tls.handshake.type==2", "tcp.dstport", "tls.handshake.ja3s", "tls.handshake.extensions_alpn_str", "x509af.serialNumber", "x509af.utcTime") {
		byPort[r[0]] = append(byPort[r[0]], r[1:]...)
	}
	var want, got []string
	for port, f := range byPort {
		want = append(want, port+"|"+strings.Join(f, "|"))
	}
	for _, ev := range appOnly(t, "tls.pcap", event.TypeTLS) {
		s := ev.TLS
		validity := ""
		if s.NotBefore != "" {
			validity = strings.ReplaceAll(s.NotBefore, "T", " ") + " (UTC)," + strings.ReplaceAll(s.NotAfter, "T", " ") + " (UTC)"
		}
		got = append(got, strings.Join([]string{strconv.Itoa(int(ev.SrcPort)), s.SNI, strings.Join(s.ClientALPNs, ","), s.JA3.Hash,
			s.JA3S.Hash, strings.Join(s.ServerALPNs, ","), strings.ToLower(strings.ReplaceAll(s.Serial, ":", "")), validity}, "|"))
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tls fields (-tshark +sidewatch):\n%s", diff)
	}
}

// TestTsharkHTTP compares each request's method, host, URI, user agent
// and version, and its response's status, content type, location and
// body length, with tshark's, in order on each connection.
func TestTsharkHTTP(t *testing.T) {
	var want []string
	requests := map[string][][]string{} // by client port: pending requests
	for _, r := range tshark(t, "http.pcap", "http.request or (http.response and http.response.code >= 200)", "tcp.srcport", "tcp.dstport",
		"http.request.method", "http.host", "http.request.uri", "http.user_agent", "http.request.version",
		"http.response.code", "http.content_type", "http.location", "http.content_length_header") {
		if r[2] != "" { // requests (pipelined ones aggregated in one row)
			for i, m := range strings.Split(r[2], ",") {
				req := []string{r[0], m}
				for _, f := range r[3:7] {
					req = append(req, strings.Split(f, ",")[i])
				}
				requests[r[0]] = append(requests[r[0]], req)
			}
			continue
		}
		port := r[1]
		req := requests[port][0]
		requests[port] = requests[port][1:]
		ctype, _, _ := strings.Cut(r[8], ";")
		length := r[10]
		if req[1] == "HEAD" || length == "" {
			length = "-"
		}
		want = append(want, strings.Join(append(req, r[7], ctype, r[9], length), "|"))
	}
	var got []string
	for _, ev := range appOnly(t, "http.pcap", event.TypeHTTP) {
		h := ev.HTTP
		host := h.Hostname
		if h.HTTPPort != 0 {
			host += ":" + strconv.Itoa(int(h.HTTPPort))
		}
		length := strconv.FormatInt(h.Length, 10)
		if h.HTTPMethod == "HEAD" || h.HTTPContentType == "text/plain" && h.URL == "/chunked" {
			length = "-" // no Content-Length header to compare with
		}
		got = append(got, strings.Join([]string{strconv.Itoa(int(ev.SrcPort)), h.HTTPMethod, host, h.URL, h.HTTPUserAgent, h.Protocol,
			strconv.Itoa(h.Status), h.HTTPContentType, h.Redirect, length}, "|"))
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("http fields (-tshark +sidewatch):\n%s", diff)
	}
}

// TestTsharkSSH compares the identification strings and HASSH values.
func TestTsharkSSH(t *testing.T) {
	var want []string
	for _, r := range tshark(t, "ssh.pcap", "ssh.protocol or ssh.kex.hassh or ssh.kex.hasshserver", "ssh.protocol", "ssh.kex.hassh", "ssh.kex.hasshserver") {
		for _, f := range r {
			if f != "" {
				want = append(want, f)
			}
		}
	}
	var got []string
	for _, ev := range appOnly(t, "ssh.pcap", event.TypeSSH) {
		for _, p := range []*event.SSHPeer{ev.SSH.Client, ev.SSH.Server} {
			got = append(got, "SSH-"+p.ProtoVersion+"-"+p.SoftwareVersion, p.HASSH.Hash)
		}
	}
	// tshark keeps the banner's comment ("Debian-2"), EVE does not.
	for i, w := range want {
		if strings.HasPrefix(w, "SSH-") {
			want[i], _, _ = strings.Cut(w, " ")
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ssh fields (-tshark +sidewatch):\n%s", diff)
	}
}

// observer records what an Observer is shown.
type observer struct {
	seen []string
}

func (o *observer) Observe(e *flow.Entry, ev *event.Event) {
	o.seen = append(o.seen, string(ev.EventType)+" "+strconv.FormatUint(e.ID(), 10)+" "+e.CommunityID())
	e.Alerted = true
}

// TestObserver checks that an Observer sees every app-layer event, with
// its flow's entry, before the event is offered, and can mark the flow
// (as a detection marks it alerted).
func TestObserver(t *testing.T) {
	out := &eventList{}
	reg := metrics.New()
	obs := &observer{}
	table := flow.NewTable(flow.DefaultConfig(), out, reg, New(DefaultConfig(), out, reg, obs))
	st, err := capture.ReadFile(context.Background(), filepath.Join("testdata", "http.pcap"), table)
	if err != nil {
		t.Fatal(err)
	}
	table.Flush(st.Last, flow.ReasonShutdown)
	var want []string
	alerted := 0
	for _, ev := range out.all {
		switch ev.EventType {
		case event.TypeFlow:
			if ev.Flow.Alerted {
				alerted++
			}
		default:
			want = append(want, string(ev.EventType)+" "+strconv.FormatUint(ev.FlowID, 10)+" "+ev.CommunityID)
		}
	}
	if len(want) == 0 {
		t.Fatal("no app-layer events")
	}
	if diff := cmp.Diff(want, obs.seen); diff != "" {
		t.Errorf("observed (-offered +observed):\n%s", diff)
	}
	if alerted != 4 {
		t.Errorf("%d flows alerted, want the 4 HTTP connections", alerted)
	}
}
