package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ring is an AF_PACKET socket with its memory-mapped TPACKET_V3 receive
// ring. The kernel fills one block at a time and hands it over by setting the
// block's status to TP_STATUS_USER; the reader walks the block's packets with
// plain loads and gives the whole block back with one store. So a wakeup
// costs one status load per block and no system call per packet, and waiting
// parks the goroutine in the runtime's network poller (the socket is
// non-blocking) instead of blocking a thread in poll(2), which would make the
// runtime hand its P to another thread on every wait.
//
// Only one goroutine reads; stats may be called from another while the ring
// is open.
type ring struct {
	fd    int
	file  *os.File // the socket, registered with the network poller
	raw   syscall.RawConn
	mem   []byte
	bsize int // block size
	nblk  int

	cur  int // index of the block to read next
	held bool
	// Within the held block: the packets left and the offset of the next.
	left int
	off  int
	base int // offset of the held block in mem
	// ready is rawConn.Read's condition, allocated once.
	ready func(fd uintptr) bool
	// interrupted is set by interrupt, from another goroutine.
	interrupted atomic.Bool
}

// Offsets in struct tpacket_block_desc (version, offset_to_priv, then
// struct tpacket_hdr_v1) and struct tpacket3_hdr, from <linux/if_packet.h>.
const (
	blkStatus   = 8
	blkNumPkts  = 12
	blkFirstPkt = 16

	pktNext    = 0
	pktSec     = 4
	pktNsec    = 8
	pktSnaplen = 12
	pktLen     = 16
	pktMac     = 24
	// struct sockaddr_ll follows the header at TPACKET_ALIGN(sizeof(struct
	// tpacket3_hdr)); its sll_ifindex is at offset 4.
	pktIfindex = unix.SizeofTpacket3Hdr + 4
)

// openRing opens the socket with protocol 0 (it receives nothing yet),
// attaches prog, sets up and maps the ring, and only then binds it to every
// interface (ifindex 0) for every protocol: no packet reaches the ring
// unfiltered.
func openRing(prog []bpf.RawInstruction, blockSize, nblocks int, blockTimeout time.Duration) (*ring, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	r := &ring{fd: fd, bsize: blockSize, nblk: nblocks}
	if err := r.setup(prog, blockTimeout); err != nil {
		if r.mem != nil {
			unix.Munmap(r.mem)
		}
		unix.Close(fd)
		return nil, err
	}
	// os.NewFile registers a non-blocking descriptor with the poller; from
	// here on the file owns fd.
	r.file = os.NewFile(uintptr(fd), "af_packet")
	if r.raw, err = r.file.SyscallConn(); err != nil {
		r.close()
		return nil, fmt.Errorf("af_packet socket: %w", err)
	}
	r.ready = func(uintptr) bool { return r.blockReady() }
	return r, nil
}

func (r *ring) setup(prog []bpf.RawInstruction, blockTimeout time.Duration) error {
	if len(prog) > 0 {
		ins := make([]unix.SockFilter, len(prog))
		for i, in := range prog {
			ins[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}); err != nil {
			return fmt.Errorf("attach capture filter: %w", err)
		}
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("set TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.nblk),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.bsize / frameSize * r.nblk),
		Retire_blk_tov: uint32(blockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("set up %d-block receive ring: %w", r.nblk, err)
	}
	mem, err := unix.Mmap(r.fd, 0, r.bsize*r.nblk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map receive ring: %w", err)
	}
	r.mem = mem
	proto := uint16(unix.ETH_P_ALL)
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: proto<<8 | proto>>8}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

// status is the held or next block's status word, which the kernel and the
// reader hand over to each other.
func (r *ring) status(blk int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[blk*r.bsize+blkStatus]))
}

// blockReady takes the next block if the kernel has handed it over. The
// atomic load orders the reads of the block after the kernel's writes (it
// sets the status after a write barrier).
func (r *ring) blockReady() bool {
	if r.held {
		return true
	}
	if atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER == 0 {
		return false
	}
	r.held = true
	r.base = r.cur * r.bsize
	b := r.mem[r.base:]
	r.left = int(ne32(b[blkNumPkts:]))
	r.off = int(ne32(b[blkFirstPkt:]))
	return true
}

// errTimeout is wait's error when no block was handed over in time.
var errTimeout = errors.New("no block before the poll timeout")

// wait returns once a block is held, or errTimeout after d or once
// interrupt is called.
func (r *ring) wait(d time.Duration) error {
	if r.blockReady() {
		return nil
	}
	if err := r.file.SetReadDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("wait for capture ring: %w", err)
	}
	// An interrupt before the deadline above was set would be undone by
	// it: its flag says so. One after it moves the deadline to now.
	if r.interrupted.Swap(false) {
		return errTimeout
	}
	err := r.raw.Read(r.ready)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTimeout
	}
	if err != nil {
		return fmt.Errorf("wait for capture ring: %w", err)
	}
	return nil
}

// interrupt ends the current or next wait with errTimeout. It may be
// called from any goroutine, also after close.
func (r *ring) interrupt() {
	r.interrupted.Store(true)
	r.file.SetReadDeadline(time.Now())
}

// rxFrame is one packet of the held block. data aliases the ring and is valid
// until the block is released.
type rxFrame struct {
	data    []byte
	sec     uint32
	nsec    uint32
	wireLen int
	ifindex int
}

// next returns the held block's next packet, false when the block is done
// (release it then).
func (r *ring) next(f *rxFrame) bool {
	if r.left == 0 {
		return false
	}
	r.left--
	h := r.mem[r.base+r.off : r.base+r.off+pktIfindex+4]
	f.sec = ne32(h[pktSec:])
	f.nsec = ne32(h[pktNsec:])
	f.wireLen = int(ne32(h[pktLen:]))
	f.ifindex = int(int32(ne32(h[pktIfindex:])))
	mac := r.base + r.off + int(ne16(h[pktMac:]))
	f.data = r.mem[mac : mac+int(ne32(h[pktSnaplen:]))]
	r.off += int(ne32(h[pktNext:]))
	return true
}

// release gives the held block back to the kernel. The atomic store orders
// it after every read of the block.
func (r *ring) release() {
	if !r.held {
		return
	}
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	r.held = false
	r.left = 0
	if r.cur++; r.cur == r.nblk {
		r.cur = 0
	}
}

// stats returns the kernel's counts since the previous call (it resets them
// on every read): packets, drops and queue freezes.
func (r *ring) stats() ([3]uint32, error) {
	var st *unix.TpacketStatsV3
	var serr error
	err := r.raw.Control(func(fd uintptr) {
		st, serr = unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return [3]uint32{}, fmt.Errorf("capture socket statistics: %w", err)
	}
	return [3]uint32{st.Packets, st.Drops, st.Freeze_q_cnt}, nil
}

func (r *ring) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.file != nil {
		r.file.Close()
	}
}

func ne32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
func ne16(b []byte) uint16 { return binary.NativeEndian.Uint16(b) }
