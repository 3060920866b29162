package syslog

import (
	"sync/atomic"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// receiverMetrics are the sidewatch_syslog_* series. Every record that is
// not published, and every refused connection or broken frame, is counted.
type receiverMetrics struct {
	records     map[firelens.Format]*metrics.Counter
	truncated   *metrics.Counter
	parseErrors *metrics.Counter
	publishLost *metrics.Counter
	emptyLines  *metrics.Counter

	tcpBytes, udpBytes *metrics.Counter

	accepted           *metrics.Counter
	admitWaits         *metrics.Counter
	tlsHandshake       *metrics.Counter
	closedEOF          *metrics.Counter
	closedIdle         *metrics.Counter
	closedError        *metrics.Counter
	closedShutdown     *metrics.Counter
	closedEvicted      *metrics.Counter
	closedFrameTimeout *metrics.Counter
	acceptErrors       *metrics.Counter
	udpErrors          *metrics.Counter
	udpKernelDrops     atomic.Uint64 // the kernel's count, read from SO_RXQ_OVFL
	udpReadBuffer      *metrics.Gauge
	unreadBytes        *metrics.Counter
	cutAtShutdown      *metrics.Counter

	invalidOctetCount  *metrics.Counter
	oversizeOctetCount *metrics.Counter
	shortFrame         *metrics.Counter
}

func newReceiverMetrics(reg *metrics.Registry) *receiverMetrics {
	const sub = "syslog"
	m := &receiverMetrics{records: map[firelens.Format]*metrics.Counter{}}
	for _, f := range []firelens.Format{firelens.FormatRFC3164, firelens.FormatRFC5424, firelens.FormatRaw} {
		m.records[f] = reg.Counter(sub, "records_total", "Records received and handed to the pipeline, by format (raw: no syslog header).", "format", string(f))
	}
	m.truncated = reg.Counter(sub, "truncated_total", "Records cut at --syslog-max-message-size (flagged truncated, tail discarded).")
	m.parseErrors = reg.Counter(sub, "parse_errors_total", "Records that could not be parsed; published with parse_error and the raw text.")
	m.publishLost = reg.Counter(sub, "dropped_total", "Records not published, by reason.", "reason", "publish_failed")
	m.emptyLines = reg.Counter(sub, "dropped_total", "Records not published, by reason.", "reason", "empty_line")
	m.tcpBytes = reg.Counter(sub, "received_bytes_total", "Bytes read, by transport.", "transport", "tcp")
	m.udpBytes = reg.Counter(sub, "received_bytes_total", "Bytes read, by transport.", "transport", "udp")
	m.accepted = reg.Counter(sub, "connections_total", "TCP connections accepted.")
	m.admitWaits = reg.Counter(sub, "connections_waited_total", "New TCP connections that waited for a slot because every connection was busy (none idle to evict).")
	m.tlsHandshake = reg.Counter(sub, "connections_rejected_total", "TCP connections closed at once, by reason.", "reason", "tls_handshake")
	closed := func(reason string) *metrics.Counter {
		return reg.Counter(sub, "connections_closed_total", "TCP connections ended, by reason (evicted: reset to admit a newcomer at --syslog-max-conns; frame_timeout: a frame slower than --syslog-frame-timeout).", "reason", reason)
	}
	m.closedEOF = closed("eof")
	m.closedIdle = closed("idle")
	m.closedError = closed("error")
	m.closedShutdown = closed("shutdown")
	m.closedEvicted = closed("evicted")
	m.closedFrameTimeout = closed("frame_timeout")
	m.acceptErrors = reg.Counter(sub, "accept_errors_total", "Failed accepts (for example out of file descriptors).")
	m.udpErrors = reg.Counter(sub, "udp_read_errors_total", "Failed UDP reads.")
	reg.CounterFunc(sub, "udp_kernel_dropped_total", "UDP datagrams the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL; known when the next datagram is read).",
		func() float64 { return float64(m.udpKernelDrops.Load()) })
	m.udpReadBuffer = reg.Gauge(sub, "udp_read_buffer_bytes", "The UDP socket's receive buffer as the kernel reports it (SO_RCVBUF).")
	m.unreadBytes = reg.Counter(sub, "unread_bytes_total", "Bytes still in TCP sockets when the shutdown deadline ended their connections.")
	m.cutAtShutdown = reg.Counter(sub, "frame_errors_total", "Broken TCP frames, by reason.", "reason", "cut_at_shutdown")
	m.invalidOctetCount = reg.Counter(sub, "frame_errors_total", "Broken TCP frames, by reason.", "reason", "invalid_octet_count")
	m.oversizeOctetCount = reg.Counter(sub, "frame_errors_total", "Broken TCP frames, by reason.", "reason", "oversize_octet_count")
	m.shortFrame = reg.Counter(sub, "frame_errors_total", "Broken TCP frames, by reason.", "reason", "short_frame")
	return m
}
