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
