package forward

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/sidewatch/sidewatch/internal/bounds"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// Config is the receiver's part of `sidewatch run`. The names are complete
// (embed it with `embed:""`, no prefix) so that Validate can name them.
// The defaults match firelens.DefaultForwardRecipe (a test checks it).
type Config struct {
	TCPAddr          string        `name:"forward-tcp-addr" env:"SIDEWATCH_FORWARD_TCP_ADDR" default:"127.0.0.1:24225" help:"TCP address of the forward receiver (empty disables). Senders must pass the shared-key handshake."`
	UnixPath         string        `name:"forward-unix-path" env:"SIDEWATCH_FORWARD_UNIX_PATH" help:"Unix socket of the forward receiver (default forward.sock in --launcher-dir; \"off\" disables). Only containers that mount the volume reach it."`
	KeyFile          string        `name:"forward-key-file" env:"SIDEWATCH_FORWARD_KEY_FILE" help:"Shared key file, created at first start and reused (default forward.key in --launcher-dir)."`
	MaxConns         int           `name:"forward-max-conns" env:"SIDEWATCH_FORWARD_MAX_CONNS" default:"16" help:"Connections read at once (TCP and unix together); a newcomer beyond it resets the idlest or slowest one waiting on its sender, TCP peers that have not passed the handshake first (counted), or waits while every connection is busy."`
	MaxMessageSize   int           `name:"forward-max-message-size" env:"SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE" default:"67108864" help:"Largest forward message in bytes, and largest decompressed payload; a larger one closes the connection."`
	BufferBudget     int64         `name:"forward-buffer-budget" env:"SIDEWATCH_FORWARD_BUFFER_BUDGET" default:"134217728" help:"Bytes that the read and decompression buffers of all forward connections may hold together (at least twice --forward-max-message-size); a connection whose message needs more is closed unacknowledged (counted) and Fluent Bit sends the chunk again."`
	MaxLogSize       int           `name:"forward-max-log-size" env:"SIDEWATCH_FORWARD_MAX_LOG_SIZE" default:"1048576" help:"Bytes of a record's log kept in log.message; the rest is cut and the event flagged truncated."`
	MaxFieldsSize    int           `name:"forward-max-fields-size" env:"SIDEWATCH_FORWARD_MAX_FIELDS_SIZE" default:"262144" help:"Bytes of log.fields (a record's other keys as JSON) kept; keys beyond are left out and the event flagged truncated."`
	IdleTimeout      time.Duration `name:"forward-idle-timeout" env:"SIDEWATCH_FORWARD_IDLE_TIMEOUT" default:"10m" help:"Close a connection after this long without a message."`
	FrameTimeout     time.Duration `name:"forward-frame-timeout" env:"SIDEWATCH_FORWARD_FRAME_TIMEOUT" default:"30s" help:"Time a message may spend arriving after its first byte (waiting on the sender); a slower connection is closed unacknowledged and counted."`
	AckTimeout       time.Duration `name:"forward-ack-timeout" env:"SIDEWATCH_FORWARD_ACK_TIMEOUT" default:"5s" help:"When the pipeline has not written a message's records within this time (a stalled sink), close the connection unacknowledged and refuse messages for as long again: Fluent Bit then retries with backoff from its disk buffer, as when the sidecar is down, instead of holding its chunks in memory."`
	HandshakeTimeout time.Duration `name:"forward-handshake-timeout" env:"SIDEWATCH_FORWARD_HANDSHAKE_TIMEOUT" default:"10s" help:"Time allowed for the shared-key handshake."`
}

// DefaultConfig returns the defaults of the kong tags.
func DefaultConfig() Config {
	return Config{
		TCPAddr:          "127.0.0.1:24225",
		MaxConns:         16,
		MaxMessageSize:   64 << 20,
		BufferBudget:     128 << 20,
		MaxLogSize:       1 << 20,
		MaxFieldsSize:    256 << 10,
		IdleTimeout:      10 * time.Minute,
		FrameTimeout:     30 * time.Second,
		AckTimeout:       5 * time.Second,
		HandshakeTimeout: 10 * time.Second,
	}
}

// Off disables the unix socket in UnixPath.
const Off = "off"

// Names of the files in the launcher directory.
const (
	SocketName = "forward.sock"
	KeyName    = "forward.key"
)

// WithLauncherDir fills the paths left empty with their files in dir.
func (c Config) WithLauncherDir(dir string) Config {
	if c.UnixPath == "" && dir != "" {
		c.UnixPath = filepath.Join(dir, SocketName)
	}
	if c.KeyFile == "" && dir != "" {
		c.KeyFile = filepath.Join(dir, KeyName)
	}
	return c
}

// Enabled reports whether any listener is configured.
func (c Config) Enabled() bool { return c.TCPAddr != "" || c.unixPath() != "" }

func (c Config) unixPath() string {
	if c.UnixPath == Off {
		return ""
	}
	return c.UnixPath
}

// Limits checked by Validate.
const (
	maxConns            = 4096
	minFrameTimeout     = time.Second
	minAckTimeout       = 100 * time.Millisecond
	maxAckTimeout       = 10 * time.Minute
	minHandshakeTimeout = time.Second
	maxHandshakeTimeout = time.Minute
	minMessageSize      = 64 << 10
	maxMessageSize      = 1 << 30
	maxBufferBudget     = 64 << 30
	minLogSize          = 1 << 10
	minIdleTimeout      = time.Minute
	maxIdleTimeout      = 24 * time.Hour
	maxSocketPathLen    = 107 // sun_path holds 108 bytes with the NUL
)

// Validate checks the values kong cannot, naming the flag and variable.
func (c *Config) Validate() error {
	var errs []error
	if c.TCPAddr != "" {
		if _, _, err := net.SplitHostPort(c.TCPAddr); err != nil {
			errs = append(errs, fmt.Errorf("--forward-tcp-addr (SIDEWATCH_FORWARD_TCP_ADDR) %q: want host:port (e.g. 127.0.0.1:24225): %w", c.TCPAddr, err))
		}
	}
	if p := c.unixPath(); p != "" && (!filepath.IsAbs(p) || len(p) > maxSocketPathLen) {
		errs = append(errs, fmt.Errorf("--forward-unix-path (SIDEWATCH_FORWARD_UNIX_PATH) %q: want an absolute path of at most %d bytes", p, maxSocketPathLen))
	}
	errs = append(errs,
		bounds.Int("--forward-max-conns", "SIDEWATCH_FORWARD_MAX_CONNS", c.MaxConns, 1, maxConns),
		bounds.Int("--forward-max-message-size", "SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE", c.MaxMessageSize, minMessageSize, maxMessageSize),
		bounds.Int("--forward-buffer-budget", "SIDEWATCH_FORWARD_BUFFER_BUDGET", c.BufferBudget, 2*minMessageSize, maxBufferBudget),
		bounds.Duration("--forward-idle-timeout", "SIDEWATCH_FORWARD_IDLE_TIMEOUT", c.IdleTimeout, minIdleTimeout, maxIdleTimeout),
		bounds.Duration("--forward-ack-timeout", "SIDEWATCH_FORWARD_ACK_TIMEOUT", c.AckTimeout, minAckTimeout, maxAckTimeout),
		bounds.Duration("--forward-handshake-timeout", "SIDEWATCH_FORWARD_HANDSHAKE_TIMEOUT", c.HandshakeTimeout, minHandshakeTimeout, maxHandshakeTimeout),
	)
	// Bounded by other options: the message size, the idle timeout.
	// One largest message and its decompressed payload always fit.
	if c.BufferBudget < 2*int64(c.MaxMessageSize) {
		errs = append(errs, fmt.Errorf("--forward-buffer-budget (SIDEWATCH_FORWARD_BUFFER_BUDGET) must be at least 2 × --forward-max-message-size (SIDEWATCH_FORWARD_MAX_MESSAGE_SIZE), %d, got %d", 2*int64(c.MaxMessageSize), c.BufferBudget))
	}
	if c.MaxLogSize < minLogSize || c.MaxLogSize > c.MaxMessageSize {
		errs = append(errs, fmt.Errorf("--forward-max-log-size (SIDEWATCH_FORWARD_MAX_LOG_SIZE) must be in [%d, --forward-max-message-size], got %d", minLogSize, c.MaxLogSize))
	}
	if c.MaxFieldsSize < minLogSize || c.MaxFieldsSize > c.MaxMessageSize {
		errs = append(errs, fmt.Errorf("--forward-max-fields-size (SIDEWATCH_FORWARD_MAX_FIELDS_SIZE) must be in [%d, --forward-max-message-size], got %d", minLogSize, c.MaxFieldsSize))
	}
	if c.FrameTimeout < minFrameTimeout || c.FrameTimeout > c.IdleTimeout {
		errs = append(errs, fmt.Errorf("--forward-frame-timeout (SIDEWATCH_FORWARD_FRAME_TIMEOUT) must be in [%s, --forward-idle-timeout], got %s", minFrameTimeout, c.FrameTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) limits() limits {
	return limits{maxMessage: c.MaxMessageSize, maxLog: c.MaxLogSize, maxFields: c.MaxFieldsSize}
}

// batchEventBytes is what a connection's decoded batch takes beyond the
// message bytes it points into: its events and their logs.
const batchEventBytes = decodeBatch * int64(unsafe.Sizeof(event.Event{})+unsafe.Sizeof(event.Log{}))

// MemoryBound returns the most heap bytes the receiver's buffers can hold
// at once: the buffer budget (read and decompression buffers of every
// connection together) and one batch of events per connection. The
// log.fields of a batch are left out (see docs/forward.md, "Memory").
func (c Config) MemoryBound() int64 {
	return c.BufferBudget + int64(c.MaxConns)*batchEventBytes
}
