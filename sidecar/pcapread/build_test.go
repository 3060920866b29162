package pcapread

import (
	"encoding/binary"
)

// Builders of hand-made capture files for the tests.

// byteOrder is what binary.LittleEndian and BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapFile builds a pcap file header.
func pcapFile(order byteOrder, nano bool, major, minor uint16, snaplen, link uint32) []byte {
	b := make([]byte, 24)
	magic := uint32(magicMicro)
	if nano {
		magic = magicNano
	}
	order.PutUint32(b, magic)
	order.PutUint16(b[4:], major)
	order.PutUint16(b[6:], minor)
	order.PutUint32(b[16:], snaplen)
	order.PutUint32(b[20:], link)
	return b
}

// pcapRecord appends a record with the given header fields and data.
func pcapRecord(b []byte, order byteOrder, sec, frac, caplen, orig uint32, data []byte) []byte {
	h := make([]byte, 16)
	order.PutUint32(h, sec)
	order.PutUint32(h[4:], frac)
	order.PutUint32(h[8:], caplen)
	order.PutUint32(h[12:], orig)
	return append(append(b, h...), data...)
}

// ng builds a pcapng file block by block.
type ng struct {
	order byteOrder
	b     []byte
}

// block appends a block of type typ with body padded to 4 bytes.
func (n *ng) block(typ uint32, body []byte) *ng {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	length := uint32(12 + len(body))
	n.b = n.order.AppendUint32(n.b, typ)
	n.b = n.order.AppendUint32(n.b, length)
	n.b = append(n.b, body...)
	n.b = n.order.AppendUint32(n.b, length)
	return n
}

// shb appends a Section Header Block (version 1.0), switching to order.
func (n *ng) shb(order byteOrder) *ng {
	n.order = order
	body := order.AppendUint32(nil, byteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	body = n.opt(body, 4, []byte("a shb_userappl option"))
	body = n.opt(body, optEnd, nil)
	return n.block(blockSHB, body)
}

// opt appends one option, padded.
func (n *ng) opt(b []byte, code uint16, v []byte) []byte {
	b = n.order.AppendUint16(b, code)
	b = n.order.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// idbOpt is one option of an Interface Description Block.
type idbOpt struct {
	code uint16
	v    []byte
}

func optIfName(s string) idbOpt  { return idbOpt{optName, []byte(s)} }
func optIfTSResol(v byte) idbOpt { return idbOpt{optTSResol, []byte{v}} }
func (n *ng) optIfTSOffset(s int64) idbOpt {
	return idbOpt{optTSOffset, n.order.AppendUint64(nil, uint64(s))}
}

// idb appends an Interface Description Block.
func (n *ng) idb(link uint16, snaplen uint32, opts ...idbOpt) *ng {
	body := n.order.AppendUint16(nil, link)
	body = n.order.AppendUint16(body, 0)
	body = n.order.AppendUint32(body, snaplen)
	for _, o := range opts {
		body = n.opt(body, o.code, o.v)
	}
	if len(opts) > 0 {
		body = n.opt(body, optEnd, nil)
	}
	return n.block(blockIDB, body)
}

// epb appends an Enhanced Packet Block with a timestamp in the interface's
// units, and an epb_flags option after the data.
func (n *ng) epb(id uint32, units uint64, caplen, orig uint32, data []byte) *ng {
	body := n.order.AppendUint32(nil, id)
	body = n.order.AppendUint32(body, uint32(units>>32))
	body = n.order.AppendUint32(body, uint32(units))
	body = n.order.AppendUint32(body, caplen)
	body = n.order.AppendUint32(body, orig)
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = n.opt(body, 2, n.order.AppendUint32(nil, 1)) // epb_flags: inbound
	body = n.opt(body, optEnd, nil)
	return n.block(blockEPB, body)
}

// pb appends an obsolete Packet Block.
func (n *ng) pb(id uint16, units uint64, caplen, orig uint32, data []byte) *ng {
	body := n.order.AppendUint16(nil, id)
	body = n.order.AppendUint16(body, 7) // drops count
	body = n.order.AppendUint32(body, uint32(units>>32))
	body = n.order.AppendUint32(body, uint32(units))
	body = n.order.AppendUint32(body, caplen)
	body = n.order.AppendUint32(body, orig)
	body = append(body, data...)
	return n.block(blockPB, body)
}

// spb appends a Simple Packet Block.
func (n *ng) spb(orig uint32, data []byte) *ng {
	return n.block(blockSPB, append(n.order.AppendUint32(nil, orig), data...))
}
