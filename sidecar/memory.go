package sidecar

// Memory the records can take, from the options: docs/sinks.md gives the
// formula, a process-level test holds it (stalled sink, 760 KB messages),
// and Run logs it at startup so that the container's memory can be sized.
const (
	// connReadBuf is a syslog connection's read buffer (syslog.readBufSize).
	connReadBuf = 32 << 10
	// frameRoom is what a frame may hold beyond --syslog-max-message-size
	// (syslog.headerRoom).
	frameRoom = 512
	// escapeFactor bounds JSON encoding's growth of a message: a control
	// byte becomes \u00XX.
	escapeFactor = 6
	// eventOverhead covers an encoded log event's fields beyond its message.
	eventOverhead = 4 << 10
	// batchBytes is the pipeline's batch size (pipeline.DefaultBatchBytes
	// plus its slack).
	batchBytes = 260 << 10
	// udpBuffers: the datagram buffer and its largest frame.
	udpBuffers = 128 << 10
)

// recordMemory returns the most heap bytes that records can hold at once:
//
//	queue      Q + E                 (admitted below Q, one event over)
//	batches    3 × B + E             (the one being filled, written, filtered)
//	syslog     2 × C × (32 KiB + F)  (connections reading, and finishing
//	                                  their last record after EOF)
//	udp        128 KiB
//	forward    W + K × 1.27 MiB      (every connection's read and
//	                                  decompression buffers together, and
//	                                  each one's batch of decoded events)
//
// with Q = --queue-max-bytes, C = --syslog-max-conns, F = the largest
// frame (--syslog-max-message-size + 512), E = the largest encoded event
// (6 × F + 4 KiB: every byte escaped), B the batch size (260 KiB),
// W = --forward-buffer-budget and K = --forward-max-conns.
func recordMemory(cfg Config) int64 {
	f := int64(cfg.Syslog.MaxMessageSize + frameRoom)
	e := escapeFactor*f + eventOverhead
	mem := cfg.QueueMaxBytes + e + 3*batchBytes + e
	if cfg.Syslog.TCPAddr != "" {
		mem += 2 * int64(cfg.Syslog.MaxConns) * (connReadBuf + f)
	}
	if cfg.Syslog.UDPAddr != "" {
		mem += udpBuffers
	}
	if fw := cfg.forwardConfig(); fw.Enabled() {
		mem += fw.MemoryBound()
	}
	return mem
}

// baseRSS is the sidecar's resident size before any record: runtime,
// code and metadata (23 MiB measured idle with --no-capture, unstripped).
const baseRSS = 32 << 20

// MemoryBounds returns the most bytes records can hold in the heap at once
// with cfg, and the worst-case resident size of the process (docs/sinks.md,
// "Memory").
func MemoryBounds(cfg Config) (records, rss int64) { return recordMemory(cfg), rssBound(cfg) }

// rssBound is the worst-case resident size: the base, the capture ring,
// and twice the record memory, since Go's garbage collector lets the heap
// grow to twice what is live (GOGC=100) before collecting.
func rssBound(cfg Config) int64 {
	b := int64(baseRSS) + 2*recordMemory(cfg)
	if !cfg.NoCapture {
		b += int64(cfg.Capture.RingMiB) << 20
	}
	return b
}
