package applayer

import (
	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Reasons a DNS message was not logged.
const (
	dnsErrShort = iota
	dnsErrPointerLoop
	dnsErrBadPointer
	dnsErrBadLabel
	dnsErrBadRData
	dnsErrNotRequest
	dnsErrNoQuestion
	dnsErrSnaplen
	numDNSErrs
)

var dnsErrNames = [numDNSErrs]string{"short", "pointer_loop", "bad_pointer", "bad_label", "bad_rdata", "not_request", "no_question", "snaplen"}

// Reasons a TLS, HTTP or SSH direction stopped being parsed early.
const (
	errNotProto  = iota // the bytes were not (or no longer) the protocol
	errTooLong          // a message larger than the parser takes
	errMalformed        // a message whose fields do not parse
	numErrs
)

var errNames = [numErrs]string{"not_protocol", "too_long", "malformed"}

// The event types the app layer writes, indexing engineMetrics.events.
const (
	evDNS = iota
	evTLS
	evHTTP
	evSSH
	numEventTypes
)

var eventTypes = [numEventTypes]event.Type{evDNS: event.TypeDNS, evTLS: event.TypeTLS, evHTTP: event.TypeHTTP, evSSH: event.TypeSSH}

type engineMetrics struct {
	flows     [numProtos]*metrics.Counter
	events    [numEventTypes]*metrics.Counter
	gaps      [numProtos]*metrics.Counter
	dnsErrors [numDNSErrs]*metrics.Counter
	tlsErrors [numErrs]*metrics.Counter
	httpErrs  [numErrs]*metrics.Counter
	sshErrors [numErrs]*metrics.Counter

	dnsUnanswered, dnsUnmatched, dnsCut        *metrics.Counter
	httpNoResponse, httpNoRequest, httpOverrun *metrics.Counter
	slabs                                      *metrics.Counter
	parked                                     *metrics.Counter
	active                                     *metrics.Gauge
}

func newEngineMetrics(reg *metrics.Registry) engineMetrics {
	const sub = "applayer"
	var m engineMetrics
	for p := protoDNS; p < numProtos; p++ {
		m.flows[p] = reg.Counter(sub, "flows_total", "Flows whose application protocol was identified, by app_proto (failed: payload seen, no protocol matched).", "app_proto", protoNames[p])
	}
	for i, t := range eventTypes {
		m.events[i] = reg.Counter(sub, "events_total", "App-layer events offered to the pipeline, by type.", "type", string(t))
	}
	for p := protoNone; p < numProtos; p++ {
		name := protoNames[p]
		if p == protoNone {
			name = "unknown"
		}
		m.gaps[p] = reg.Counter(sub, "gap_stops_total", "Directions whose parsing stopped at bytes lost in capture (see sidewatch_reassembly_lost_bytes_total), by app_proto.", "app_proto", name)
	}
	for i, n := range dnsErrNames {
		m.dnsErrors[i] = reg.Counter(sub, "dns_not_logged_total", "DNS messages not logged, by reason: short, pointer_loop, bad_pointer, bad_label, bad_rdata (malformed), not_request (a response sent to the server), no_question, snaplen (cut by the snap length).", "reason", n)
	}
	const parseErrors = "Directions whose parsing stopped early, by app_proto and reason: not_protocol, too_long (a message above the parser's limit), malformed."
	for i, n := range errNames {
		m.tlsErrors[i] = reg.Counter(sub, "parse_errors_total", parseErrors, "app_proto", "tls", "reason", n)
		m.httpErrs[i] = reg.Counter(sub, "parse_errors_total", parseErrors, "app_proto", "http", "reason", n)
		m.sshErrors[i] = reg.Counter(sub, "parse_errors_total", parseErrors, "app_proto", "ssh", "reason", n)
	}
	m.dnsUnanswered = reg.Counter(sub, "dns_unanswered_total", "DNS queries without a response (same id, same flow) when their flow ended.")
	m.dnsUnmatched = reg.Counter(sub, "dns_unmatched_responses_total", "DNS responses whose id matched no pending query of their flow.")
	m.dnsCut = reg.Counter(sub, "dns_records_cut_total", "DNS messages with more questions and records than are parsed (256); the rest was left out of their event.")
	const unpaired = "HTTP transactions logged without their other half, by reason: no_response (the flow ended first), no_request (a response to a request not seen), pipeline_overrun (more pipelined requests than are held; the oldest was logged without its response)."
	m.httpNoResponse = reg.Counter(sub, "http_unpaired_total", unpaired, "reason", "no_response")
	m.httpNoRequest = reg.Counter(sub, "http_unpaired_total", unpaired, "reason", "no_request")
	m.httpOverrun = reg.Counter(sub, "http_unpaired_total", unpaired, "reason", "pipeline_overrun")
	m.slabs = reg.Counter(sub, "arena_slabs_total", "Memory slabs allocated to build events (each serves many events).")
	m.parked = reg.Counter(sub, "flows_parked_total", "TCP flows whose app-layer state was freed while one direction had matched no protocol and the other had sent nothing; their packets skip the app layer until that direction sends.")
	m.active = reg.Gauge(sub, "flows_active", "Flows holding app-layer state (being identified or parsed).")
	return m
}
