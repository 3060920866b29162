// Command genpcap writes a pcap file of synthetic Ethernet traffic for the
// capture benchmark (make bench-capture): a mix of TCP flows (full-size
// segments one way, ACKs the other), DNS-like UDP exchanges and pings, addressed to a
// network that the capturing namespace does not route, so nothing answers.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	n := flag.Int("n", 300000, "packets to write")
	flows := flag.Int("flows", 4096, "distinct flows")
	dmac := flag.String("dmac", "02:00:00:00:00:02", "destination MAC of client-to-server frames")
	out := flag.String("o", "", "output pcap file")
	flag.Parse()
	if err := run(*out, *n, *flows, *dmac); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
}

func run(path string, n, flows int, dmacStr string) error {
	if path == "" || n < 1 || flows < 1 || flows > 65000 {
		return fmt.Errorf("need -o, -n >= 1 and -flows in 1..65000")
	}
	dmac, err := net.ParseMAC(dmacStr)
	if err != nil {
		return err
	}
	smac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	payload := make([]byte, 1460)
	start := time.Unix(1_700_000_000, 0)
	for i := range n {
		flowN := i % flows
		reply := (i/flows)%3 == 2 // about one frame in three goes back
		client := net.IP{10, 100, byte(flowN >> 8), byte(flowN)}
		server := net.IP{10, 200, 0, byte(1 + flowN%200)}
		eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: client, DstIP: server}
		if reply {
			eth.SrcMAC, eth.DstMAC = dmac, smac
			ip.SrcIP, ip.DstIP = server, client
		}
		var layersOut []gopacket.SerializableLayer
		switch kind := flowN % 16; {
		case kind < 12: // TCP: full segments from the server, ACKs from the client
			ip.Protocol = layers.IPProtocolTCP
			tcp := &layers.TCP{SrcPort: layers.TCPPort(32768 + flowN), DstPort: 443, ACK: true, Seq: uint32(i), Window: 65535}
			size := 0
			if reply {
				tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
				tcp.PSH, size = true, 1460
			}
			tcp.SetNetworkLayerForChecksum(ip)
			layersOut = []gopacket.SerializableLayer{eth, ip, tcp, gopacket.Payload(payload[:size])}
		case kind < 15: // DNS-like UDP
			ip.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: layers.UDPPort(32768 + flowN), DstPort: 53}
			size := 40
			if reply {
				udp.SrcPort, udp.DstPort = udp.DstPort, udp.SrcPort
				size = 120
			}
			udp.SetNetworkLayerForChecksum(ip)
			layersOut = []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(payload[:size])}
		default: // ping
			ip.Protocol = layers.IPProtocolICMPv4
			typ := uint8(layers.ICMPv4TypeEchoRequest)
			if reply {
				typ = layers.ICMPv4TypeEchoReply
			}
			icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: uint16(flowN), Seq: uint16(i)}
			layersOut = []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload(payload[:56])}
		}
		if err := gopacket.SerializeLayers(buf, opts, layersOut...); err != nil {
			return err
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return bw.Flush()
}
