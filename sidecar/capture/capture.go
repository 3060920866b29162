// Package capture reads the task's packets from a memory-mapped AF_PACKET
// ring (TPACKET_V3) and hands each one to a flow table, with a kernel filter
// that counts loopback traffic once and leaves out the sidecar's own
// receivers. It needs CAP_NET_RAW only.
package capture

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/flow"
)

// Table consumes packets; *flow.Table implements it. One goroutine (Run's)
// calls every method.
type Table interface {
	// Packet handles one packet. data is valid only during the call.
	Packet(ts time.Time, iface string, link flow.LinkType, data []byte, wireLen int)
	// Expire ends flows idle at now.
	Expire(now time.Time)
	// Flush ends every flow with the given reason.
	Flush(now time.Time, reason string)
}

// Config selects what to capture and sizes the ring. Every field is a flag
// and a SIDEWATCH_CAPTURE_* variable; the defaults are those of DefaultConfig.
type Config struct {
	Interfaces   []string      `name:"capture-interfaces" env:"SIDEWATCH_CAPTURE_INTERFACES" sep:"," placeholder:"NAME" help:"Capture only these interfaces (names resolved at start); empty captures every interface of the network namespace, including ones added later."`
	IgnorePorts  []uint16      `name:"capture-ignore-loopback-ports" env:"SIDEWATCH_CAPTURE_IGNORE_LOOPBACK_PORTS" sep:"," default:"1514" placeholder:"PORT" help:"TCP and UDP ports on lo left out by the kernel filter: the sidecar's own receivers. The syslog receiver's and the health listener's ports are added automatically."`
	RingMiB      int           `name:"capture-ring-mib" env:"SIDEWATCH_CAPTURE_RING_MIB" default:"8" help:"Size of the capture ring in MiB (memory the kernel fills between reads)."`
	BlockKiB     int           `name:"capture-block-kib" env:"SIDEWATCH_CAPTURE_BLOCK_KIB" default:"512" help:"Size of one ring block in KiB: a power of two from 512 (one 256 KiB frame must fit) to 65536."`
	BlockTimeout time.Duration `name:"capture-block-timeout" env:"SIDEWATCH_CAPTURE_BLOCK_TIMEOUT" default:"250ms" help:"Longest time the kernel holds a partly filled block before handing it over (latency on a quiet link; each handover costs a wakeup)."`
}

// DefaultConfig returns the defaults of the flags.
func DefaultConfig() Config {
	return Config{IgnorePorts: []uint16{1514}, RingMiB: 8, BlockKiB: 512, BlockTimeout: 250 * time.Millisecond}
}

// Validate reports every invalid field, naming its flag and variable.
func (c Config) Validate() error {
	var errs []error
	if len(c.Interfaces) > maxInterfaces {
		errs = append(errs, fmt.Errorf("--capture-interfaces (SIDEWATCH_CAPTURE_INTERFACES) names %d interfaces, at most %d", len(c.Interfaces), maxInterfaces))
	}
	for _, name := range c.Interfaces {
		if name == "" || strings.ContainsAny(name, " /") || len(name) > 15 {
			errs = append(errs, fmt.Errorf("--capture-interfaces (SIDEWATCH_CAPTURE_INTERFACES): %q is not an interface name", name))
		}
	}
	if len(c.IgnorePorts) > maxPorts {
		errs = append(errs, fmt.Errorf("--capture-ignore-loopback-ports (SIDEWATCH_CAPTURE_IGNORE_LOOPBACK_PORTS) lists %d ports, at most %d", len(c.IgnorePorts), maxPorts))
	}
	for _, p := range c.IgnorePorts {
		if p == 0 {
			errs = append(errs, errors.New("--capture-ignore-loopback-ports (SIDEWATCH_CAPTURE_IGNORE_LOOPBACK_PORTS): port 0 is not a port"))
		}
	}
	block := c.BlockKiB
	if block < 512 || block > 65536 || block&(block-1) != 0 {
		errs = append(errs, fmt.Errorf("--capture-block-kib (SIDEWATCH_CAPTURE_BLOCK_KIB) is %d, must be a power of two from 512 to 65536", block))
	} else if c.RingMiB < 1 || c.RingMiB > 4096 || c.RingMiB*1024%block != 0 || c.RingMiB*1024/block < 2 {
		errs = append(errs, fmt.Errorf("--capture-ring-mib (SIDEWATCH_CAPTURE_RING_MIB) is %d, must be at most 4096 and hold at least two blocks of --capture-block-kib (%d KiB)", c.RingMiB, block))
	}
	if c.BlockKiB*1024%os.Getpagesize() != 0 {
		errs = append(errs, fmt.Errorf("--capture-block-kib (SIDEWATCH_CAPTURE_BLOCK_KIB) is %d, must be a multiple of the page size (%d bytes)", c.BlockKiB, os.Getpagesize()))
	}
	if c.BlockTimeout < time.Millisecond || c.BlockTimeout > 10*time.Second {
		errs = append(errs, fmt.Errorf("--capture-block-timeout (SIDEWATCH_CAPTURE_BLOCK_TIMEOUT) is %v, must be from 1ms to 10s", c.BlockTimeout))
	}
	return errors.Join(errs...)
}

// pollTimeout is how long Run keeps reading after a block timeout once
// cancelled (the kernel retires a partly filled block within the block
// timeout), and how long it waits after a socket error before reading on.
// On a quiet link Run waits a whole expiry period: cancellation wakes it.
const pollTimeout = 200 * time.Millisecond

// frameSize is the ring's nominal frame size. TPACKET_V3 packs variable-size
// frames into each block, so it only has to divide the block size.
const frameSize = 4096

// expireEvery is how often Run asks the table to end idle flows.
const expireEvery = time.Second
