package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Capture is one open AF_PACKET socket with its ring.
type Capture struct {
	r        *ring
	ifaces   interfaces
	drainFor time.Duration // how long Run reads on after cancellation

	mu     sync.Mutex // guards closed and the kernel counters against Close
	closed bool
	kernel [3]uint64 // packets, drops, queue freezes

	packets        *metrics.Counter
	bytes          *metrics.Counter
	truncated      *metrics.Counter
	unknownIface   *metrics.Counter
	unknownLink    *metrics.Counter
	readErrors     *metrics.Counter
	ifaceRefreshes *metrics.Counter
	wakeups        *metrics.Counter
}

// Open opens the capture socket, sets up its ring and attaches the kernel
// filter. Call it before dropping privileges: it needs CAP_NET_RAW.
func Open(cfg Config, reg *metrics.Registry) (*Capture, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Capture{ifaces: interfaces{fd: -1}}
	if err := c.ifaces.refresh(); err != nil {
		c.ifaces.close()
		return nil, err
	}
	var ifindexes []int
	for _, name := range cfg.Interfaces {
		idx, ok := c.ifaces.index(name)
		if !ok {
			c.ifaces.close()
			return nil, fmt.Errorf("capture interface %q: no such interface in this network namespace", name)
		}
		ifindexes = append(ifindexes, idx)
	}
	prog, err := filter(ifindexes, cfg.IgnorePorts)
	if err != nil {
		c.ifaces.close()
		return nil, err
	}
	block := cfg.BlockKiB * 1024
	r, err := openRing(prog, block, cfg.RingMiB*1024*1024/block, cfg.BlockTimeout)
	if err != nil {
		c.ifaces.close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("open AF_PACKET socket: %w (packet capture needs CAP_NET_RAW; disable it with --no-capture)", err)
		}
		return nil, fmt.Errorf("open AF_PACKET socket: %w", err)
	}
	c.r = r
	c.drainFor = cfg.BlockTimeout + pollTimeout

	const sub = "capture"
	c.packets = reg.Counter(sub, "packets_total", "Packets read from the capture ring.")
	c.bytes = reg.Counter(sub, "bytes_total", "Wire bytes of the packets read from the capture ring.")
	c.truncated = reg.Counter(sub, "truncated_total", "Packets longer than the snap length (counted with their wire length).")
	c.unknownIface = reg.Counter(sub, "dropped_total", "Packets read but not passed to the flow table.", "reason", "unknown_interface")
	c.unknownLink = reg.Counter(sub, "dropped_total", "Packets read but not passed to the flow table.", "reason", "link_type")
	c.readErrors = reg.Counter(sub, "read_errors_total", "Errors reading the capture ring other than timeouts.")
	c.ifaceRefreshes = reg.Counter(sub, "interface_refreshes_total", "Re-reads of the interface list after a packet from an unknown interface.")
	c.wakeups = reg.Counter(sub, "wakeups_total", "Waits for the ring that ended: a block handed over, the once-a-second expiry, or shutdown.")
	reg.CounterFunc(sub, "kernel_packets_total", "Packets the kernel passed to the capture socket, including dropped ones (tp_packets).",
		func() float64 { return float64(c.kernelStats()[0]) })
	reg.CounterFunc(sub, "kernel_drops_total", "Packets the kernel dropped because the capture ring was full (tp_drops).",
		func() float64 { return float64(c.kernelStats()[1]) })
	reg.CounterFunc(sub, "kernel_queue_freezes_total", "Times the kernel froze the capture ring because every block was full (tp_freeze_q_cnt).",
		func() float64 { return float64(c.kernelStats()[2]) })
	// The same quantities under Suricata's names (its AF_PACKET source
	// reads the same socket statistics).
	reg.Suricata("capture.kernel_packets", func() uint64 { return c.kernelStats()[0] })
	reg.Suricata("capture.kernel_drops", func() uint64 { return c.kernelStats()[1] })
	reg.Suricata("capture.errors", c.readErrors.Load)
	return c, nil
}

// kernelStats returns the socket's cumulative packets, drops and queue
// freezes. The kernel resets its counters on every read, so they are summed
// here.
func (c *Capture) kernelStats() [3]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		if d, err := c.r.stats(); err == nil {
			for i := range d {
				c.kernel[i] += uint64(d[i])
			}
		}
	}
	return c.kernel
}

// Close releases the socket and its ring. Run closes on return; call Close
// only for a Capture that is never run. The kernel counters keep their last
// values.
func (c *Capture) Close() error {
	c.kernelStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.r.close()
		c.ifaces.close()
	}
	return nil
}

// Run feeds every captured packet to t until ctx is done, asks t to expire
// idle flows about once a second, and on return flushes t with reason
// "shutdown" and closes the socket. Only Run's goroutine touches t.
//
// Run reads a whole ring block per wakeup; the counters, the expiry clock
// and the cancellation check are updated once per block, so the per-packet
// path has no atomic operation, system call or clock read (packets carry
// the kernel's timestamps). On a quiet link it wakes once a second, to
// expire flows; cancellation wakes it at once. Once ctx is done, Run keeps
// reading for a block timeout and a poll period, so that the packets of
// the block the kernel is still filling are counted too.
func (c *Capture) Run(ctx context.Context, t Table) error {
	defer c.Close()
	stop := context.AfterFunc(ctx, c.r.interrupt)
	defer stop()
	var drainUntil time.Time
	now := time.Now()
	lastExpire := now
	var f rxFrame
	for {
		// Until the next expiry, or the end of the drain. An interrupt
		// that lands late (during the drain) only shortens one wait.
		d := lastExpire.Add(expireEvery).Sub(now)
		if !drainUntil.IsZero() {
			d = drainUntil.Sub(now)
		}
		err := c.r.wait(max(d, time.Millisecond))
		c.wakeups.Inc()
		if err != nil {
			now = time.Now()
			timeout := errors.Is(err, errTimeout)
			if !timeout {
				c.readErrors.Inc()
				// Persistent socket errors must not spin; wait a poll period.
				select {
				case <-ctx.Done():
				case <-time.After(pollTimeout):
				}
			}
			if !drainUntil.IsZero() && !now.Before(drainUntil) {
				t.Flush(now, "shutdown")
				return nil
			}
			if drainUntil.IsZero() && ctx.Err() != nil {
				drainUntil = now.Add(c.drainFor)
			}
			if now.Sub(lastExpire) >= expireEvery {
				t.Expire(now)
				lastExpire = now
			}
			continue
		}
		var pkts, bytes, truncated, unknownIface, unknownLink uint64
		for c.r.next(&f) {
			ts := time.Unix(int64(f.sec), int64(f.nsec))
			pkts++
			bytes += uint64(f.wireLen)
			if len(f.data) < f.wireLen {
				truncated++
			}
			if iface, ok := c.ifaces.lookup(f.ifindex, ts, c.ifaceRefreshes); !ok {
				unknownIface++
			} else if iface.link == 0 {
				unknownLink++
			} else {
				t.Packet(ts, iface.name, iface.link, f.data, f.wireLen)
			}
		}
		c.r.release()
		c.packets.Add(pkts)
		c.bytes.Add(bytes)
		addNonZero(c.truncated, truncated)
		addNonZero(c.unknownIface, unknownIface)
		addNonZero(c.unknownLink, unknownLink)
		// Once per block, on the monotonic clock: a block holds hundreds
		// of packets under load, and packet time may stand still or go
		// back (a stepped clock) without delaying expiry or shutdown.
		now = time.Now()
		if !drainUntil.IsZero() {
			if now.After(drainUntil) {
				t.Flush(now, "shutdown")
				return nil
			}
			continue
		}
		if ctx.Err() != nil {
			drainUntil = now.Add(c.drainFor)
			continue
		}
		if now.Sub(lastExpire) >= expireEvery {
			t.Expire(now)
			lastExpire = now
		}
	}
}

func addNonZero(c *metrics.Counter, n uint64) {
	if n > 0 {
		c.Add(n)
	}
}

// iface is one network interface as the flow table needs it.
type iface struct {
	name string
	link flow.LinkType // 0 (LinkTypeNull, never delivered by AF_PACKET): not decodable
}

// interfaces maps kernel interface indexes to names. Only Run's goroutine
// uses it after Open.
type interfaces struct {
	fd          int // rtnetlink socket
	seq         uint32
	byIndex     map[int]iface
	lastIndex   int
	last        iface
	lastRefresh time.Time
}

func (s *interfaces) index(name string) (int, bool) {
	for idx, i := range s.byIndex {
		if i.name == name {
			return idx, true
		}
	}
	return 0, false
}

// lookup returns the interface of index, re-reading the list when the index
// is new (an interface added after Open), at most once a second.
func (s *interfaces) lookup(index int, now time.Time, refreshes *metrics.Counter) (iface, bool) {
	if index == s.lastIndex && s.last.name != "" {
		return s.last, true
	}
	i, ok := s.byIndex[index]
	if !ok && now.Sub(s.lastRefresh) >= time.Second {
		s.lastRefresh = now
		refreshes.Inc()
		if s.refresh() == nil {
			i, ok = s.byIndex[index]
		}
	}
	if ok {
		s.lastIndex, s.last = index, i
	}
	return i, ok
}

// refresh reads the interface list over rtnetlink: net.Interfaces does not
// give the hardware type, which decides how a frame is decoded. The socket is
// opened once, by Open, so later refreshes list the network namespace that was
// current then, whatever thread runs them.
func (s *interfaces) refresh() error {
	if s.fd < 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("list interfaces: %w", err)
		}
		s.fd = fd
	}
	byIndex, err := dumpLinks(s.fd, &s.seq)
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	s.byIndex = byIndex
	s.lastIndex, s.last = 0, iface{}
	return nil
}

func (s *interfaces) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// dumpLinks sends one RTM_GETLINK dump request on fd and reads the answer.
func dumpLinks(fd int, seq *uint32) (map[int]iface, error) {
	*seq++
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], *seq)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	byIndex := map[int]iface{}
	buf := make([]byte, 64*1024)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != *seq {
				continue // a late answer to an earlier, failed request
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return byIndex, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
						return nil, syscall.Errno(-errno)
					}
				}
				return nil, errors.New("netlink error")
			case unix.RTM_NEWLINK:
				if len(m.Data) < unix.SizeofIfInfomsg {
					continue
				}
				// struct ifinfomsg: family u8, pad u8, type u16, index s32, ...
				hwType := binary.NativeEndian.Uint16(m.Data[2:4])
				index := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
				attrs, err := syscall.ParseNetlinkRouteAttr(&m)
				if err != nil {
					return nil, err
				}
				for _, a := range attrs {
					if a.Attr.Type == unix.IFLA_IFNAME {
						name := a.Value
						if n := slices.Index(name, 0); n >= 0 {
							name = name[:n]
						}
						byIndex[index] = iface{name: string(name), link: linkType(hwType)}
					}
				}
			}
		}
	}
}

// linkType maps an ARPHRD_* hardware type to the frame format an AF_PACKET
// SOCK_RAW socket delivers for it.
func linkType(arphrd uint16) flow.LinkType {
	switch arphrd {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return flow.LinkTypeEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_PPP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		// Tunnels deliver the IP packet with no link header.
		return flow.LinkTypeRaw
	}
	return 0
}
