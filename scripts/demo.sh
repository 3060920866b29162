#!/usr/bin/env bash
# demo.sh shows what sidewatch does, on any Linux machine, as root, within a
# minute: it creates a throwaway network namespace standing in for a Fargate
# task, runs `sidewatch run` inside it, makes a little real traffic and sends
# a few log lines (one multi-line), then prints the events and a count per
# event type. Everything it creates is removed on exit, Ctrl-C included.
#
#   make demo                    # builds bin/sidewatch, then runs this
#   scripts/demo.sh [SIDEWATCH]  # default bin/sidewatch
set -euo pipefail

sidewatch=$(realpath "${1:-bin/sidewatch}")
ns=swdemo$$
veth=${ns}h
net=$(($$ % 250))
host_ip=198.19.$net.1 # the "VPC" end of the task ENI, in the root namespace
task_ip=198.19.$net.2 # eth1, the task ENI
work=$(mktemp -d /tmp/sidewatch-demo.XXXXXX)
sw_pid='' http_pid=''

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

cleanup() {
	set +e
	if [[ -n $sw_pid ]]; then kill -TERM "$sw_pid" 2>/dev/null; wait "$sw_pid" 2>/dev/null; fi
	if [[ -n $http_pid ]]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
	ip netns del "$ns" 2>/dev/null
	ip link del "$veth" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

((EUID == 0)) || die "needs root for ip netns and packet capture (sudo make demo)"
[[ -x $sidewatch ]] || die "$sidewatch not found (run make build)"
for tool in ip logger unshare curl; do
	command -v "$tool" >/dev/null || die "needs $tool (Debian: iproute2, bsdutils, util-linux, curl)"
done
# Not for background jobs: $! would be the subshell, not the command.
in_task() { ip netns exec "$ns" "$@"; }

say "task: network namespace $ns with lo and eth1 ($task_ip/24); the VPC is $host_ip"
ip netns add "$ns"
in_task ip link set lo up
ip link add "$veth" type veth peer name eth1 netns "$ns"
# IPv4 only, as most task ENIs are: keeps the fresh veth's IPv6 neighbour
# discovery out of the events.
sysctl -qw "net.ipv6.conf.$veth.disable_ipv6=1" 2>/dev/null || true
in_task sysctl -qw net.ipv6.conf.eth1.disable_ipv6=1 2>/dev/null || true
ip addr add "$host_ip/24" dev "$veth"
ip link set "$veth" up
in_task ip addr add "$task_ip/24" dev eth1
in_task ip link set eth1 up
in_task ip route add default via "$host_ip"

# Something to talk to across the ENI.
mkdir "$work/www"
echo "hello from the VPC" >"$work/www/index.html"
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the VPC\n' >"$work/response"
if command -v socat >/dev/null; then
	socat "TCP-LISTEN:8080,bind=$host_ip,fork,reuseaddr" "SYSTEM:cat $work/response" 2>/dev/null &
	http_pid=$!
elif command -v python3 >/dev/null; then
	python3 -m http.server --bind "$host_ip" --directory "$work/www" 8080 >/dev/null 2>&1 &
	http_pid=$!
fi
if [[ -n $http_pid ]]; then
	for _ in $(seq 50); do curl --silent --output /dev/null "http://$host_ip:8080/" && break; sleep 0.1; done
fi

say "sidecar: sidewatch run inside the task (events → $work/events.jsonl)"
start=$(date +%s%N)
# --no-launcher: no log_router here to hand fluent-launch to.
ip netns exec "$ns" "$sidewatch" run --no-launcher >"$work/events.jsonl" 2>"$work/sidewatch.log" &
sw_pid=$!
for _ in $(seq 100); do
	in_task "$sidewatch" health >/dev/null 2>&1 && break
	kill -0 "$sw_pid" 2>/dev/null || { cat "$work/sidewatch.log" >&2; die "sidewatch run exited"; }
	sleep 0.1
done
in_task "$sidewatch" health >/dev/null 2>&1 || { cat "$work/sidewatch.log" >&2; die "sidewatch never became healthy"; }
echo "healthy after $((($(date +%s%N) - start) / 1000000)) ms"

say "logs: what FireLens would forward to 127.0.0.1:1514"
# FireLens sends HOSTNAME=container id and APP-NAME=container name; logger
# takes the hostname from its UTS namespace, so each "container" gets one.
task_id=0123456789abcdef0123456789abcdef
syslog() { # CONTAINER_ID LOGGER_ARGS...
	local id=$1
	shift
	in_task unshare --uts sh -c 'hostname "$0" && exec logger --server 127.0.0.1 --port 1514 --rfc3164 "$@"' "$id" "$@" ||
		echo "demo: logger failed: is the syslog receiver listening on 127.0.0.1:1514?" >&2
}
syslog "$task_id-1234567001" --tcp --tag web 'GET /index.html HTTP/1.1 200 19 "curl/8"'
syslog "$task_id-1234567002" --tcp --tag auth --priority auth.warning 'failed password for admin from 203.0.113.9 port 52144'
# Over TCP each line of the trace arrives as its own newline-framed line, as
# Fluent Bit sends it; the receiver joins the continuation lines back up.
syslog "$task_id-1234567003" --tcp --tag java "$(printf '%s\n\t%s\n\t%s' \
	'Exception in thread "main" java.lang.IllegalStateException: cart is empty' \
	'at com.example.shop.Checkout.pay(Checkout.java:42)' \
	'at com.example.shop.Main.main(Main.java:7)')"
echo "3 log records sent, one of them a 3-line stack trace"

say "traffic: HTTP to the VPC, a refused connection and pings"
for i in 1 2 3; do in_task curl --silent --max-time 2 --output /dev/null "http://$host_ip:8080/?try=$i" || true; done
in_task curl --silent --max-time 2 --output /dev/null "http://$host_ip:9/" || true
if command -v ping >/dev/null; then in_task ping -c 3 -i 0.2 -W 1 "$host_ip" >/dev/null || true; fi

sleep 1
say "stopping sidewatch (SIGTERM flushes open flows)"
kill -TERM "$sw_pid"
wait "$sw_pid" || echo "sidewatch exited with $?"
sw_pid=''

events=$work/events.jsonl
say "events ($(wc -l <"$events") lines of EVE JSON)"
if command -v jq >/dev/null; then
	jq -r '
	  def ep(ip; port): if port then (if (ip | contains(":")) then "[\(ip)]" else ip end) + ":\(port)" else ip end;
	  if .event_type == "log" then
	    "\(.timestamp)  log   \(.aws_ecs.container.name // "-")  \(.log.message | gsub("\n"; " ⏎ "))"
	  elif .event_type == "flow" then
	    "\(.timestamp)  flow  \(.proto) \(ep(.src_ip; .src_port)) → \(ep(.dest_ip; .dest_port))  pkts \(.flow.pkts_toserver)/\(.flow.pkts_toclient)  \(.flow.state // "")"
	  else
	    "\(.timestamp)  \(.event_type)"
	  end' "$events"
	say "one log event in full"
	jq -s -C 'map(select(.event_type == "log")) | .[-1] // "none"' "$events"
	say "one flow event in full (on eth1, the task ENI)"
	jq -s -C 'map(select(.event_type == "flow")) | (map(select(.in_iface == "eth1")) + .)[0] // "none"' "$events"
	say "summary"
	jq -s -r 'group_by(.event_type)[] | "\(length)\t\(.[0].event_type)"' "$events"
else
	cat "$events"
	say "summary (install jq for a prettier view)"
	grep -o '"event_type":"[a-z]*"' "$events" | cut -d'"' -f4 | sort | uniq -c
fi
