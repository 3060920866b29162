package forward

import "github.com/sidewatch/sidewatch/sidecar/metrics"

// Reasons a connection was closed on a protocol error, in
// protocol_errors_total.
const (
	reasonMalformed    = iota // bad msgpack or not a forward message
	reasonWrongType           // a field of the wrong type
	reasonTooLarge            // size claim or decompressed payload over the limit
	reasonGzip                // broken gzip payload
	reasonCompression         // unknown "compressed" value
	reasonFrameTimeout        // a message not whole within --forward-frame-timeout
	numReasons
)

var reasonNames = [numReasons]string{"malformed", "wrong_type", "too_large", "gzip", "compression", "frame_timeout"}

// Reasons a connection ended, in connections_closed_total: every admitted
// connection is counted there once.
const (
	closedEOF          = iota // the peer closed between messages
	closedIdle                // no message within --forward-idle-timeout
	closedError               // a socket error (a failed ack write, a reset)
	closedShutdown            // the receiver stopped
	closedEvicted             // reset to admit a newcomer at --forward-max-conns
	closedFrameTimeout        // a message not whole within --forward-frame-timeout
	closedProtocol            // a rejected message (protocol_errors_total)
	closedHandshake           // a failed shared-key handshake (handshakes_total)
	closedStalled             // the pipeline stalled (ack_timeouts_total, stall_refused_total)
	closedBudget              // a buffer could not grow within --forward-buffer-budget
	numClosed
)

var closedNames = [numClosed]string{"eof", "idle", "error", "shutdown", "evicted", "frame_timeout", "protocol_error", "handshake", "stalled", "memory_budget"}

// receiverMetrics are the sidewatch_forward_* series. Every message not
// acknowledged, every record not published and every closed connection is
// counted by reason.
type receiverMetrics struct {
	records   [2]*metrics.Counter // by listener: tcp, unix
	bytes     [2]*metrics.Counter
	messages  [numModes]*metrics.Counter
	acks      *metrics.Counter
	truncated *metrics.Counter

	protocolErrors [numReasons]*metrics.Counter
	publishFailed  *metrics.Counter
	ackTimeouts    *metrics.Counter
	stallRefused   *metrics.Counter
	signalDropped  *metrics.Counter

	accepted           *metrics.Counter
	open               *metrics.Gauge
	waited             *metrics.Counter
	authOK, authFailed *metrics.Counter
	authTimeout        *metrics.Counter
	rejectedShutdown   *metrics.Counter
	closed             [numClosed]*metrics.Counter
	acceptErrors       *metrics.Counter
}

func newReceiverMetrics(reg *metrics.Registry, b *budget) *receiverMetrics {
	const sub = "forward"
	m := &receiverMetrics{}
	for i, t := range []string{"tcp", "unix"} {
		m.records[i] = reg.Counter(sub, "records_total", "Records published to the pipeline, by listener.", "transport", t)
		m.bytes[i] = reg.Counter(sub, "received_bytes_total", "Bytes read, by listener.", "transport", t)
	}
	for md := range numModes {
		m.messages[md] = reg.Counter(sub, "messages_total", "Messages accepted whole, by forward protocol mode.", "mode", md.String())
	}
	m.acks = reg.Counter(sub, "acks_total", "Chunks acknowledged after their records were written by every sink.")
	m.truncated = reg.Counter(sub, "truncated_total", "Records published with log.truncated (log or fields cut at their limit, unrepresentable keys or values).")
	for i, r := range reasonNames {
		m.protocolErrors[i] = reg.Counter(sub, "protocol_errors_total", "Messages rejected whole (nothing published, no ack) and their connection closed, by reason.", "reason", r)
	}
	m.publishFailed = reg.Counter(sub, "dropped_total", "Records not published, by reason (their chunk is not acknowledged, so Fluent Bit sends it again).", "reason", "publish_failed")
	m.ackTimeouts = reg.Counter(sub, "ack_timeouts_total", "Messages whose records the pipeline had not written within --forward-ack-timeout: connection closed, not acknowledged (Fluent Bit sends them again; those already queued arrive twice).")
	m.stallRefused = reg.Counter(sub, "stall_refused_total", "Messages refused unread while the pipeline is stalled (connection closed, not acknowledged).")
	m.signalDropped = reg.Counter(sub, "dropped_total", "Records not published, by reason (their chunk is not acknowledged, so Fluent Bit sends it again).", "reason", "not_logs")
	m.accepted = reg.Counter(sub, "connections_total", "Connections accepted and admitted.")
	m.open = reg.Gauge(sub, "connections_open", "Connections open now.")
	m.authOK = reg.Counter(sub, "handshakes_total", "Shared-key handshakes, by result.", "result", "ok")
	m.authFailed = reg.Counter(sub, "handshakes_total", "Shared-key handshakes, by result.", "result", "bad_key")
	m.authTimeout = reg.Counter(sub, "handshakes_total", "Shared-key handshakes, by result.", "result", "failed")
	m.waited = reg.Counter(sub, "connections_waited_total", "New connections that waited for a slot because every connection was busy (none idle or slow to evict).")
	m.rejectedShutdown = reg.Counter(sub, "connections_rejected_total", "Connections closed unread, by reason (shutdown: accepted while the receiver stopped, or still waiting for a slot then).", "reason", "shutdown")
	for i, r := range closedNames {
		m.closed[i] = reg.Counter(sub, "connections_closed_total", "Connections ended, by reason (evicted: reset to admit a newcomer at --forward-max-conns; memory_budget: a message needed more than --forward-buffer-budget left; each connection once).", "reason", r)
	}
	reg.GaugeFunc(sub, "buffer_bytes", "Bytes of --forward-buffer-budget the connections' read and decompression buffers hold now.", func() float64 { return float64(b.reserved()) })
	m.acceptErrors = reg.Counter(sub, "accept_errors_total", "Failed accepts (for example out of file descriptors).")
	return m
}
