package syslog

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the receiver's part of `sidewatch run`. The names are complete
// (embed it with `embed:""`, no prefix) so that Validate can name them.
// The defaults match firelens.DefaultSyslogOutput (a test checks it).
type Config struct {
	TCPAddr        string        `name:"syslog-tcp-addr" env:"SIDEWATCH_SYSLOG_TCP_ADDR" default:"127.0.0.1:1514" help:"TCP address of the syslog receiver (empty disables). Keep it on loopback: anything that can reach it can inject log events."`
	UDPAddr        string        `name:"syslog-udp-addr" env:"SIDEWATCH_SYSLOG_UDP_ADDR" default:"127.0.0.1:1514" help:"UDP address of the syslog receiver (empty disables)."`
	MaxConns       int           `name:"syslog-max-conns" env:"SIDEWATCH_SYSLOG_MAX_CONNS" default:"64" help:"Concurrent TCP connections; more are refused and counted."`
	MaxMessageSize int           `name:"syslog-max-message-size" env:"SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE" default:"786432" help:"Largest message in bytes (Fluent Bit's Syslog_Maxsize); a longer frame is truncated and flagged."`
	IdleTimeout    time.Duration `name:"syslog-idle-timeout" env:"SIDEWATCH_SYSLOG_IDLE_TIMEOUT" default:"10m" help:"Close a TCP connection after this long without data (at least 5m: Fluent Bit loses a write on a connection closed under it)."`
	MultilineWait  time.Duration `name:"syslog-multiline-wait" env:"SIDEWATCH_SYSLOG_MULTILINE_WAIT" default:"100ms" help:"Quiet time after which a record that may still get continuation lines is emitted."`
	TLSCert        string        `name:"syslog-tls-cert" env:"SIDEWATCH_SYSLOG_TLS_CERT" help:"PEM certificate file: the TCP listener then speaks TLS only (with --syslog-tls-key)."`
	TLSKey         string        `name:"syslog-tls-key" env:"SIDEWATCH_SYSLOG_TLS_KEY" help:"PEM private key file of --syslog-tls-cert."`
}

// DefaultConfig returns the defaults of the kong tags.
func DefaultConfig() Config {
	return Config{
		TCPAddr:        "127.0.0.1:1514",
		UDPAddr:        "127.0.0.1:1514",
		MaxConns:       64,
		MaxMessageSize: 786432,
		IdleTimeout:    10 * time.Minute,
		MultilineWait:  100 * time.Millisecond,
	}
}

// Limits checked by Validate.
const (
	minIdleTimeout    = 5 * time.Minute
	minMessageSize    = 1024
	maxMessageSize    = 64 << 20
	maxMultilineWait  = 10 * time.Second
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
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("--syslog-max-conns (SIDEWATCH_SYSLOG_MAX_CONNS) must be >= 1, got %d", c.MaxConns))
	}
	if c.MaxMessageSize < minMessageSize || c.MaxMessageSize > maxMessageSize {
		errs = append(errs, fmt.Errorf("--syslog-max-message-size (SIDEWATCH_SYSLOG_MAX_MESSAGE_SIZE) must be in [%d, %d], got %d", minMessageSize, maxMessageSize, c.MaxMessageSize))
	}
	if c.IdleTimeout < minIdleTimeout {
		errs = append(errs, fmt.Errorf("--syslog-idle-timeout (SIDEWATCH_SYSLOG_IDLE_TIMEOUT) must be >= %s, got %s", minIdleTimeout, c.IdleTimeout))
	}
	if c.MultilineWait <= 0 || c.MultilineWait > maxMultilineWait {
		errs = append(errs, fmt.Errorf("--syslog-multiline-wait (SIDEWATCH_SYSLOG_MULTILINE_WAIT) must be in (0, %s], got %s", maxMultilineWait, c.MultilineWait))
	}
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
