#!/usr/bin/env bash
# Regenerates the replay test captures in this directory from real traffic
# in two network namespaces joined by a veth pair (needs root, ip, tcpdump,
# dumpcap, curl, python3):
#
#   eth.pcap     tcpdump on the client's veth (Ethernet): HTTP over IPv4 and
#                IPv6 (curl -> python3 -m http.server), a UDP exchange over
#                both, ping and ping -6, TCP connections refused (RST), a UDP
#                datagram to a closed port (ICMP port unreachable)
#   eth.pcapng   dumpcap (pcapng) on the same veth: HTTP and UDP over IPv4
#   lo_sll.pcap  tcpdump -i any -y LINUX_SLL in a namespace with only lo:
#                HTTP and UDP over 127.0.0.1 and ::1
#   lo_sll2.pcap the same with -y LINUX_SLL2
#   bulk.pcap    tcpdump -s 128 on the veth: 4 MB downloads over IPv4 and
#                IPv6 (GSO/GRO frames far above the MTU; headers only kept)
#   mixed.pcapng dumpcap on the veth (Ethernet, TCP only) and on any (Linux
#                SLL, UDP only) at once: two interfaces of different link
#                types, HTTP and UDP over IPv4
#   sections.pcapng  eth.pcapng followed by a dumpcap capture on lo in the
#                lo-only namespace (cat): two sections, each with its own
#                interface 0
#   bulk_v21.pcap bulk.pcap rewritten as pcap version 2.1 (the record
#                lengths in the order before 2.3: original, then captured)
#   caplen_over_origlen.pcap  eth.pcap with one damaged record: the first
#                one of more than 100 bytes claims an original length 10
#                bytes below its captured length
#
# The last two are edits of real captures (editcap cannot make them): see
# pcap_edit below.
#
# Usage: mkpcaps.sh [OUTDIR] (default: this directory). After regenerating
# the committed files, run `go test ./sidecar/capture -run Golden -update`.
set -euo pipefail
out=$(realpath "${1:-$(dirname "$0")}")
# Unique namespace names, so that runs do not collide; the interface names
# inside them (recorded in pcapng files) stay fixed.
C=swf-client-$$ S=swf-server-$$ L=swf-lo-$$
work=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del $C 2>/dev/null || true
	ip netns del $S 2>/dev/null || true
	ip netns del $L 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# udp_echo NETNS ADDR: answers each datagram on port 9999 with "pong: " + it.
udp_echo() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 9999))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"pong: " + data, peer)
' &
	pids+=($!)
}

# udp_client NETNS HOST SPORT: three request/reply exchanges from port SPORT.
udp_client() {
	ip netns exec "$1" python3 -c '
import socket, sys
host, sport = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(2)
for i in range(3):
    s.sendto(b"ping %d" % i, (host, 9999))
    s.recvfrom(2048)
' "$2" "$3"
}

# udp_closed NETNS HOST: one datagram to a closed port.
udp_closed() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"anyone?", (sys.argv[1], 9))
' "$2"
}

# pcap_edit MODE IN OUT: rewrites a little- or big-endian pcap file.
#   v21      version 2.1, each record's captured and original lengths
#            swapped (as libpcap wrote them before 2.3)
#   overlen  the first record of more than 100 captured bytes gets an
#            original length 10 below its captured length
pcap_edit() {
	python3 - "$@" <<'PY'
import struct, sys
mode, src, dst = sys.argv[1:]
b = bytearray(open(src, "rb").read())
order = "<" if b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
if mode == "v21":
    struct.pack_into(order + "HH", b, 4, 2, 1)
off = 24
while off < len(b):
    caplen, orig = struct.unpack_from(order + "II", b, off + 8)
    if mode == "v21":
        struct.pack_into(order + "II", b, off + 8, orig, caplen)
    elif caplen > 100:
        struct.pack_into(order + "I", b, off + 12, caplen - 10)
        break
    off += 16 + caplen
open(dst, "wb").write(b)
PY
}

http_server() {
	mkdir -p "$work/www"
	echo "hello from sidewatch" >"$work/www/index.html"
	head -c 4000000 /dev/zero >"$work/www/bulk.bin"
	(cd "$work/www" && exec ip netns exec "$1" python3 -m http.server --bind :: 8080 >/dev/null 2>&1) &
	pids+=($!)
}

# wait_port NETNS PORT: until something listens on TCP PORT.
wait_port() {
	for _ in $(seq 50); do
		ip netns exec "$1" ss -ltn | grep -q ":$2 " && return 0
		sleep 0.1
	done
	echo "nothing listens on $2 in $1" >&2
	return 1
}

# capture NAME CMD...: starts a capture and waits until it is listening.
capture() {
	local name=$1
	shift
	: >"$work/$name.err"
	"$@" 2>"$work/$name.err" &
	pids+=($!)
	cap_pid=$!
	for _ in $(seq 50); do
		grep -qi "listening\|capturing" "$work/$name.err" && return 0
		sleep 0.1
	done
	cat "$work/$name.err" >&2
	return 1
}

# stop_capture: waits for the capture to drain its ring (dumpcap delivers
# blocks when they time out) before interrupting it.
stop_capture() {
	sleep 1.5
	kill -INT "$cap_pid"
	wait "$cap_pid" || true
}

ip netns add $C
ip netns add $S
ip link add swfc$$ type veth peer name swfs$$
ip link set swfc$$ netns $C
ip link set swfs$$ netns $S
ip -n $C link set swfc$$ name swf-c
ip -n $S link set swfs$$ name swf-s
for ns in $C $S; do ip -n $ns link set lo up; done
ip -n $C addr add 10.99.0.1/24 dev swf-c
ip -n $C addr add fd99::1/64 dev swf-c nodad
ip -n $S addr add 10.99.0.2/24 dev swf-s
ip -n $S addr add fd99::2/64 dev swf-s nodad
ip -n $C link set swf-c up
ip -n $S link set swf-s up
# No router solicitations or MLD reports from the new links in the capture.
sleep 1

http_server $S
udp_echo $S
wait_port $S 8080

capture eth ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$work/eth.pcap"
ip netns exec $C curl -s -o /dev/null --local-port 41000 http://10.99.0.2:8080/
ip netns exec $C curl -s -o /dev/null --local-port 41001 'http://[fd99::2]:8080/'
udp_client $C 10.99.0.2 42000
udp_client $C fd99::2 42001
ip netns exec $C ping -q -c 3 -i 0.2 10.99.0.2 >/dev/null
ip netns exec $C ping -6 -q -c 2 -i 0.2 fd99::2 >/dev/null
ip netns exec $C curl -s --local-port 41002 http://10.99.0.2:9/ || true
ip netns exec $C curl -s --local-port 41003 'http://[fd99::2]:9/' || true
udp_closed $C 10.99.0.2
stop_capture

capture bulk ip netns exec $C tcpdump -n -U --immediate-mode -s 128 -i swf-c -w "$work/bulk.pcap"
ip netns exec $C curl -s -o /dev/null --local-port 41030 http://10.99.0.2:8080/bulk.bin
ip netns exec $C curl -s -o /dev/null --local-port 41031 'http://[fd99::2]:8080/bulk.bin'
stop_capture

capture ethng ip netns exec $C dumpcap -q -i swf-c -w "$work/eth.pcapng"
ip netns exec $C curl -s -o /dev/null --local-port 41010 http://10.99.0.2:8080/
udp_client $C 10.99.0.2 42010
stop_capture

capture mixed ip netns exec $C dumpcap -q -i swf-c -f tcp -i any -f udp -w "$work/mixed.pcapng"
ip netns exec $C curl -s -o /dev/null --local-port 41040 http://10.99.0.2:8080/
udp_client $C 10.99.0.2 42040
stop_capture

ip netns add $L
ip -n $L link set lo up
http_server $L
udp_echo $L
wait_port $L 8080
# Distinct client ports per capture: the server's TIME_WAIT keeps the
# previous ones busy.
port=41020
for link in LINUX_SLL LINUX_SLL2; do
	name=lo_$(echo $link | tr A-Z a-z | sed 's/linux_//')
	capture "$name" ip netns exec $L tcpdump -n -U --immediate-mode -i any -y $link -w "$work/$name.pcap"
	ip netns exec $L curl -s -o /dev/null --local-port $port http://127.0.0.1:8080/
	ip netns exec $L curl -s -o /dev/null --local-port $((port + 1)) 'http://[::1]:8080/'
	udp_client $L 127.0.0.1 $((port + 1000))
	udp_client $L ::1 $((port + 1001))
	stop_capture
	port=$((port + 2))
done

capture lo ip netns exec $L dumpcap -q -i lo -w "$work/lo.pcapng"
ip netns exec $L curl -s -o /dev/null --local-port $port http://127.0.0.1:8080/
udp_client $L ::1 $((port + 1000))
stop_capture
cat "$work/eth.pcapng" "$work/lo.pcapng" >"$work/sections.pcapng"

pcap_edit v21 "$work/bulk.pcap" "$work/bulk_v21.pcap"
pcap_edit overlen "$work/eth.pcap" "$work/caplen_over_origlen.pcap"

for f in eth.pcap eth.pcapng lo_sll.pcap lo_sll2.pcap bulk.pcap mixed.pcapng sections.pcapng bulk_v21.pcap caplen_over_origlen.pcap; do
	cp "$work/$f" "$out/$f"
done
ls -l "$out"/*.pcap "$out"/*.pcapng

# ---------------------------------------------------------------------------
# Flow-accuracy regression captures (issue 11 §2), one per bug, replayed by
# regression_test.go against golden files and tshark:
#
#   ipver.pcap       tcpdump on the client's veth (Ethernet) and
#   ipver_sll.pcap   tcpdump -i any -y LINUX_SLL in the client's namespace,
#                    both at once: a UDP exchange, then frames sent through
#                    an AF_PACKET socket whose IP header disagrees with the
#                    EtherType (copies of the exchange's datagram with
#                    version 2 and 5, IPv6 behind EtherType IPv4, IPv4
#                    behind EtherType IPv6): malformed, never a flow
#   snaplen.pcap     tcpdump -s 68: HTTP over IPv4 and IPv6, whose SYNs
#                    (40 bytes of TCP options) are cut inside the TCP header
#   finscan.pcap     nmap -sF (FIN scan) of an open and a closed port over
#                    IPv4 and IPv6: one-sided FIN flows are not established
#   backwards.pcap   a UDP exchange and an HTTP request whose first packets
#                    editcap moved 0.4 s later, so that time goes backwards
#                    after them: flow.start is the earliest packet
#   long.pcap        a UDP exchange every 0.4 s for 3.2 s, replayed with
#                    --flow-active-timeout 1s: flow_update events
#   plen0.pcap       a UDP exchange over IPv6, then a datagram of the same
#                    flow sent through an AF_PACKET socket with IPv6
#                    payload length 0, as segmentation offload (BIG TCP)
#                    leaves it: it counts into the flow. (BIG TCP itself
#                    made no frame above 64 KiB on this kernel's veth, and
#                    a real RFC 2675 jumbogram needs an MTU above 65535.)
# raw_send runs the Python program on stdin in the client namespace after
# a prelude that gives it s, an AF_PACKET socket bound to swf-c, the MAC
# addresses me (swf-c) and peer (swf-s), and csum, the Internet checksum:
# the regressions send frames no socket API would.
raw_send() {
	ip netns exec $C python3 -c "$(cat <<'PY'
import socket, struct, sys
dev, peer = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
me = bytes.fromhex(open("/sys/class/net/%s/address" % dev).read().strip().replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
PY
)
$(cat)" swf-c "$(ip -n $S -br link show swf-s | awk '{print $3}')"
}

regressions() {
	local w=$work/reg
	mkdir -p "$w"

	capture ipver ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$w/ipver.pcap"
	local ipver_pid=$cap_pid
	capture ipver_sll ip netns exec $C tcpdump -n -U --immediate-mode -i any -y LINUX_SLL -w "$w/ipver_sll.pcap"
	udp_client $C 10.99.0.2 42100
	raw_send <<'PY'

def ipv4(version, payload):
    h = struct.pack("!BBHHHBBH4s4s", version << 4 | 5, 0, 20 + len(payload), 1, 0, 64, 17, 0,
                    socket.inet_aton("10.99.0.1"), socket.inet_aton("10.99.0.2"))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def ipv6(payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), 17, 64,
                       socket.inet_pton(socket.AF_INET6, "fd99::1"), socket.inet_pton(socket.AF_INET6, "fd99::2")) + payload

udp = struct.pack("!HHHH", 42100, 9999, 8 + 6, 0) + b"ping 9"
for ethertype, packet in ((0x0800, ipv4(2, udp)), (0x0800, ipv4(5, udp)), (0x0800, ipv6(udp)), (0x86DD, ipv4(4, udp))):
    s.send(peer + me + struct.pack("!H", ethertype) + packet)
PY
	stop_capture
	kill -INT "$ipver_pid"
	wait "$ipver_pid" || true

	capture snaplen ip netns exec $C tcpdump -n -U --immediate-mode -s 68 -i swf-c -w "$w/snaplen.pcap"
	ip netns exec $C curl -s -o /dev/null --local-port 41100 http://10.99.0.2:8080/
	ip netns exec $C curl -s -o /dev/null --local-port 41101 'http://[fd99::2]:8080/'
	stop_capture

	capture finscan ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$w/finscan.pcap" tcp
	ip netns exec $C nmap -n -Pn -sF -g 41110 --max-retries 1 -p 8080,9 10.99.0.2 >/dev/null
	ip netns exec $C nmap -n -Pn -6 -sF -g 41111 --max-retries 1 -p 8080,9 fd99::2 >/dev/null
	stop_capture

	capture backwards ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$w/inorder.pcap" udp or tcp
	udp_client $C 10.99.0.2 42120
	ip netns exec $C curl -s -o /dev/null --local-port 41120 http://10.99.0.2:8080/
	stop_capture
	# Move the first UDP datagram and the SYN 0.4 s later, keeping the
	# file order: every frame between them and their flow's next ones is
	# then earlier than the frame before it.
	local parts=() prev=0 n i=0
	for n in $(tshark -r "$w/inorder.pcap" -Y 'frame.number == 1 || (tcp.flags.syn == 1 && tcp.flags.ack == 0)' -T fields -e frame.number | sort -n); do
		if [ "$n" -gt $((prev + 1)) ]; then
			editcap -r "$w/inorder.pcap" "$w/part$i.pcap" "$((prev + 1))-$((n - 1))"
			parts+=("$w/part$i.pcap")
			i=$((i + 1))
		fi
		editcap -r -t 0.4 "$w/inorder.pcap" "$w/part$i.pcap" "$n"
		parts+=("$w/part$i.pcap")
		i=$((i + 1))
		prev=$n
	done
	editcap "$w/inorder.pcap" "$w/part$i.pcap" "1-$prev"
	parts+=("$w/part$i.pcap")
	mergecap -F pcap -a -w "$w/backwards.pcap" "${parts[@]}"

	capture long ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$w/long.pcap" udp
	ip netns exec $C python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 42140))
s.settimeout(2)
for i in range(9):
    s.sendto(b"tick %d" % i, ("10.99.0.2", 9999))
    s.recvfrom(2048)
    time.sleep(0.4)
'
	stop_capture

	capture plen0 ip netns exec $C tcpdump -n -U --immediate-mode -i swf-c -w "$w/plen0.pcap" udp
	udp_client $C fd99::2 42150
	raw_send <<'PY'
src, dst = socket.inet_pton(socket.AF_INET6, "fd99::1"), socket.inet_pton(socket.AF_INET6, "fd99::2")

def udp(data):
    u = struct.pack("!HHHH", 42150, 9999, 8 + len(data), 0) + data
    return u[:6] + struct.pack("!H", csum(src + dst + struct.pack("!I3xB", len(u), 17) + u)) + u[8:]

# Payload length 0 without an option, as TSO and BIG TCP leave it.
s.send(peer + me + b"\x86\xdd" + struct.pack("!IHBB16s16s", 6 << 28, 0, 17, 64, src, dst) + udp(b"ping offload"))
PY
	stop_capture

	for f in ipver.pcap ipver_sll.pcap snaplen.pcap finscan.pcap backwards.pcap long.pcap plen0.pcap; do
		cp "$w/$f" "$out/$f"
	done
	ls -l "$out"/{ipver,ipver_sll,snaplen,finscan,backwards,long,plen0}.pcap
}
regressions
