#!/usr/bin/env bash
# End-to-end syslog throughput on this machine: the same stream of 213-byte
# Fluent Bit-style RFC 3164 lines over TCP into
#   1. `sidewatch run` (syslog receiver -> pipeline -> file sink, JSON lines)
#   2. rsyslogd (imptcp -> omfile, its default text format)
# one after the other, then a paced run at RATE msg/s for sidewatch's peak RSS.
# Usage: make bench-syslog [N=500000] [CONNS=1] [RATE=100000] [SECONDS_AT_RATE=10]
set -euo pipefail

N=${N:-500000}
CONNS=${CONNS:-1}
RATE=${RATE:-100000}
SECONDS_AT_RATE=${SECONDS_AT_RATE:-10}
PORT_SW=${PORT_SW:-15514}
PORT_RS=${PORT_RS:-15515}

cd "$(git rev-parse --show-toplevel)"
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

command -v rsyslogd >/dev/null || { echo "bench-syslog: needs rsyslogd (apt-get install rsyslog)" >&2; exit 1; }
CGO_ENABLED=0 go build -trimpath -o "$work/sidewatch" ./cmd/sidewatch
go build -o "$work/sender" ./sidecar/syslog/bench/sender

wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-syslog: nothing listens on port $1" >&2
	return 1
}

# wait_lines FILE COUNT: poll until FILE has COUNT lines.
wait_lines() {
	until [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; do sleep 0.05; done
}

# measure NAME PORT FILE: send N lines, wait until all are written, print msg/s.
measure() {
	local start end
	start=$(date +%s%N)
	"$work/sender" -addr "127.0.0.1:$2" -n "$N" -conns "$CONNS"
	wait_lines "$3" "$N"
	end=$(date +%s%N)
	echo $(( N * 1000000000 / (end - start) ))
}

hwm() { awk '/VmHWM/ {print int($2/1024) " MiB"}' "/proc/$1/status"; }

# cpu PID: CPU seconds (user + system, all threads) used so far. On a busy
# machine CPU per message is steadier than the rate.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
per_msg() { awk -v s="$1" -v n="$N" 'BEGIN { printf "%.2f", s * 1e6 / n }'; }

start_sidewatch() {
	env -u ECS_CONTAINER_METADATA_URI_V4 "$work/sidewatch" run --no-launcher \
		--sink file --file-path "$1" --file-max-bytes 0 --health-addr "" --stats-interval 0 \
		--syslog-tcp-addr "127.0.0.1:$PORT_SW" --syslog-udp-addr "" 2>"$work/sidewatch.log" &
	pids+=($!)
	sw_pid=$!
	wait_port "$PORT_SW"
}

# 1. sidewatch
start_sidewatch "$work/sidewatch.jsonl"
sw_rate=$(measure sidewatch "$PORT_SW" "$work/sidewatch.jsonl")
sw_hwm=$(hwm "$sw_pid")
sw_cpu=$(cpu "$sw_pid")
kill "$sw_pid"; wait "$sw_pid" || true

# 2. rsyslog
mkdir -p "$work/rs"
cat >"$work/rsyslog.conf" <<CONF
global(workDirectory="$work/rs")
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="$PORT_RS")
action(type="omfile" file="$work/rsyslog.log")
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rs/rsyslogd.pid" &
pids+=($!)
rs_pid=$!
wait_port "$PORT_RS"
rs_rate=$(measure rsyslog "$PORT_RS" "$work/rsyslog.log")
rs_hwm=$(hwm "$rs_pid")
rs_cpu=$(cpu "$rs_pid")
kill "$rs_pid"; wait "$rs_pid" || true

# 3. sidewatch paced at RATE msg/s: peak RSS
start_sidewatch "$work/paced.jsonl"
paced=$((RATE * SECONDS_AT_RATE))
pstart=$(date +%s%N)
"$work/sender" -addr "127.0.0.1:$PORT_SW" -n "$paced" -conns "$CONNS" -rate "$RATE"
wait_lines "$work/paced.jsonl" "$paced"
pend=$(date +%s%N)
paced_hwm=$(hwm "$sw_pid")
kill "$sw_pid"; wait "$sw_pid" || true

in_line=$(head -n 1 "$work/sidewatch.jsonl" | wc -c)
rs_line=$(head -n 1 "$work/rsyslog.log" | wc -c)
echo "syslog end to end, $N lines over $CONNS TCP connection(s), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg):"
printf '  %-36s %8s msg/s  %6s us CPU/msg  peak RSS %s\n' "sidewatch run -> file sink (JSON)" "$sw_rate" "$(per_msg "$sw_cpu")" "$sw_hwm"
printf '  %-36s %8s msg/s  %6s us CPU/msg  peak RSS %s\n' "rsyslogd imptcp -> omfile (text)" "$rs_rate" "$(per_msg "$rs_cpu")" "$rs_hwm"
awk -v a="$sw_rate" -v b="$rs_rate" 'BEGIN { printf "  ratio sidewatch/rsyslog: %.2f\n", a / b }'
echo "  sidewatch peak RSS while paced at $RATE msg/s ($paced lines, achieved $(( paced * 1000000000 / (pend - pstart) )) msg/s): $paced_hwm"
echo "  (input line: 213 bytes; output line: sidewatch $in_line bytes, rsyslog $rs_line bytes)"
