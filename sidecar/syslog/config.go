package syslog

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sidewatch/sidewatch/internal/bounds"
)

// Config is the receiver's part of `sidewatch run`. The names are complete
// (embed it with `embed:""`, no prefix) so that Validate can name them.
// The defaults match firelens.DefaultSyslogOutput (a test checks it).
type Config struct {
	TCPAddr        string        `name:"syslog-tcp-addr" env:"SIDEWATCH_SYSLOG_TCP_ADDR" default:"127.0.0.1:1514" help:"TCP address of the syslog receiver (empty disables). Keep it on loopback: anything that can reach it can inject log events."`
	UDPAddr        string        `name:"syslog-udp-addr" env:"SIDEWATCH_SYSLOG_UDP_ADDR" default:"127.0.0.1:1514" help:"UDP address of the syslog receiver (empty disables)."`
	MaxConns       int           `name:"syslog-max-conns" env:"SIDEWATCH_SYSLOG_MAX_CONNS" default:"16" help:"TCP connections read at once; a newcomer beyond it resets the idlest or slowest one (counted), or waits while all are busy."`
	MaxMessageSize int           `name:"syslog-max-message-size" env:"SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE" default:"786432" help:"Largest message in bytes (Fluent Bit's Syslog_Maxsize); a longer frame is truncated and flagged."`
	IdleTimeout    time.Duration `name:"syslog-idle-timeout" env:"SIDEWATCH_SYSLOG_IDLE_TIMEOUT" default:"10m" help:"Close a TCP connection after this long without data (at least 5m: Fluent Bit loses a write on a connection closed under it)."`
	MultilineWait  time.Duration `name:"syslog-multiline-wait" env:"SIDEWATCH_SYSLOG_MULTILINE_WAIT" default:"100ms" help:"Quiet time after which a record that may still get continuation lines is emitted."`
	FrameTimeout   time.Duration `name:"syslog-frame-timeout" env:"SIDEWATCH_SYSLOG_FRAME_TIMEOUT" default:"10s" help:"Time a TCP frame may take to arrive after its first byte (waiting on the sender); a slower connection is closed and counted."`
	UDPReadBuffer  int           `name:"syslog-udp-read-buffer" env:"SIDEWATCH_SYSLOG_UDP_READ_BUFFER" default:"4194304" help:"UDP socket receive buffer in bytes (the kernel caps it at net.core.rmem_max without CAP_NET_ADMIN); datagrams it drops are counted."`
	TLSCert        string        `name:"syslog-tls-cert" env:"SIDEWATCH_SYSLOG_TLS_CERT" help:"PEM certificate file: the TCP listener then speaks TLS only (with --syslog-tls-key)."`
	TLSKey         string        `name:"syslog-tls-key" env:"SIDEWATCH_SYSLOG_TLS_KEY" help:"PEM private key file of --syslog-tls-cert."`
}

// DefaultConfig returns the defaults of the kong tags.
func DefaultConfig() Config {
	return Config{
		TCPAddr:        "127.0.0.1:1514",
		UDPAddr:        "127.0.0.1:1514",
		MaxConns:       16,
		MaxMessageSize: 786432,
		IdleTimeout:    10 * time.Minute,
		MultilineWait:  100 * time.Millisecond,
		FrameTimeout:   10 * time.Second,
		UDPReadBuffer:  4 << 20,
	}
}

// Limits checked by Validate.
const (
	maxConns          = 4096
	minIdleTimeout    = 5 * time.Minute
	maxIdleTimeout    = 24 * time.Hour
	minMessageSize    = 1024
	maxMessageSize    = 64 << 20
	minMultilineWait  = time.Millisecond
	maxMultilineWait  = 10 * time.Second
	minFrameTimeout   = 100 * time.Millisecond
	maxFrameTimeout   = 10 * time.Minute
	minUDPReadBuffer  = 64 << 10
	maxUDPReadBuffer  = 256 << 20
	defaultSyslogPort = "1514"
)

// Validate checks the values kong cannot, naming the flag and variable.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, env, addr string }{
		{"--syslog-tcp-addr", "SIDEWATCH_SYSLOG_TCP_ADDR", c.TCPAddr},
		{"--syslog-udp-addr", "SIDEWATCH_SYSLOG_UDP_ADDR", c.UDPAddr},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s) %q: want host:port (e.g. 127.0.0.1:%s): %w", a.flag, a.env, a.addr, defaultSyslogPort, err))
		}
	}
	errs = append(errs,
		bounds.Int("--syslog-max-conns", "SIDEWATCH_SYSLOG_MAX_CONNS", c.MaxConns, 1, maxConns),
		bounds.Int("--syslog-max-message-size", "SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE", c.MaxMessageSize, minMessageSize, maxMessageSize),
		bounds.Duration("--syslog-idle-timeout", "SIDEWATCH_SYSLOG_IDLE_TIMEOUT", c.IdleTimeout, minIdleTimeout, maxIdleTimeout),
		bounds.Duration("--syslog-multiline-wait", "SIDEWATCH_SYSLOG_MULTILINE_WAIT", c.MultilineWait, minMultilineWait, maxMultilineWait),
		bounds.Duration("--syslog-frame-timeout", "SIDEWATCH_SYSLOG_FRAME_TIMEOUT", c.FrameTimeout, minFrameTimeout, maxFrameTimeout),
		bounds.Int("--syslog-udp-read-buffer", "SIDEWATCH_SYSLOG_UDP_READ_BUFFER", c.UDPReadBuffer, minUDPReadBuffer, maxUDPReadBuffer),
	)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--syslog-tls-cert (SIDEWATCH_SYSLOG_TLS_CERT) and --syslog-tls-key (SIDEWATCH_SYSLOG_TLS_KEY) go together"))
	}
	if c.TLSCert != "" && c.TCPAddr == "" {
		errs = append(errs, errors.New("--syslog-tls-cert (SIDEWATCH_SYSLOG_TLS_CERT) needs --syslog-tcp-addr (SIDEWATCH_SYSLOG_TCP_ADDR)"))
	}
	return errors.Join(errs...)
}

// maxFrame is the largest frame kept: the message plus room for a header,
// since Fluent Bit's Syslog_Maxsize counts the header but other senders'
// limits do not.
func (c Config) maxFrame() int { return c.MaxMessageSize + headerRoom }

// headerRoom covers the longest RFC 5424 header without structured data
// (PRI, version, timestamp, 255+48+128+32 bytes of fields, spaces, BOM).
const headerRoom = 512
