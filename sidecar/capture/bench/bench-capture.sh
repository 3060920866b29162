#!/usr/bin/env bash
# make bench-capture: replay a generated pcap with tcpreplay at increasing
# rates through a veth pair into a network namespace where `sidewatch run`
# and `tcpdump -w /dev/null` capture the same interface at the same time, and report, per rate, the kernel drops and the CPU seconds each
# used while the pcap was replayed, then the highest rate at which each
# dropped nothing. Rate "top" is tcpreplay --topspeed, "top2" two of them at
# once.
#
# Needs root, ip (iproute2), tcpdump, tcpreplay and go.
# Environment: PACKETS (default 300000), RATES (pps list), RING_MIB (8; the
# tcpdump buffer is set to the same size), BLOCK_KIB (sidewatch's ring block,
# default 512, like libpcap's at this snap length), PERF_DIR (when set, a
# perf profile of sidewatch per rate is written there: perf report -i FILE).
set -euo pipefail
cd "$(dirname "$0")/../../.."

PACKETS=${PACKETS:-300000}
RATES=${RATES:-"25000 50000 100000 150000 200000 top top2"}
RING_MIB=${RING_MIB:-8}
BLOCK_KIB=${BLOCK_KIB:-512}

if [ "$(id -u)" != 0 ]; then echo "bench-capture needs root (ip netns, AF_PACKET)" >&2; exit 1; fi
for tool in ip tcpdump tcpreplay go; do
  command -v "$tool" >/dev/null || { echo "bench-capture needs $tool (.ci/apt/capture.txt)" >&2; exit 1; }
done

work=$(mktemp -d)
src=swbench-src-$$ cap=swbench-cap-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$src" 2>/dev/null || true
  ip netns del "$cap" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$src" "$cap"; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip -n "$src" link add swb0 type veth peer name swb1 netns "$cap"
ip -n "$src" link set swb0 up
ip -n "$cap" link set swb1 up
dmac=$(ip netns exec "$cap" cat /sys/class/net/swb1/address)

CGO_ENABLED=0 go build -trimpath -o "$work/sidewatch" ./cmd/sidewatch
go run ./sidecar/capture/bench/genpcap -n "$PACKETS" -dmac "$dmac" -o "$work/bench.pcap"

# cpu PID: CPU seconds a running process has used so far, summed over its
# threads from the scheduler's nanosecond clock (/proc/PID/stat counts in
# 10 ms ticks, too coarse for tcpdump's share of one rate). Neither program
# ends threads while it runs, so no thread's time is lost.
cpu() { cat /proc/"$1"/task/*/schedstat | awk '{s+=$1} END{printf "%.4f", s/1e9}'; }
# wait_for FILE TEXT: wait until FILE contains TEXT (a process is ready).
wait_for() {
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

printf '%-9s %-10s | %-12s %-9s %-8s %-7s | %-12s %-9s %-8s %-7s | %s\n' \
  "rate_pps" "sent_pps" "sw_captured" "sw_drops" "sw_cpu_s" "sw_us/p" "td_captured" "td_drops" "td_cpu_s" "td_us/p" "ratio"
best_sw=0 best_td=0 ratios=() drops_miss=()
for rate in $RATES; do
  SIDEWATCH_CAPTURE_INTERFACES=swb1 SIDEWATCH_CAPTURE_RING_MIB=$RING_MIB SIDEWATCH_CAPTURE_BLOCK_KIB=$BLOCK_KIB SIDEWATCH_NO_LAUNCHER=true \
    SIDEWATCH_STATS_INTERVAL=0 SIDEWATCH_HEALTH_ADDR= SIDEWATCH_LOG_FORMAT=text \
    ip netns exec "$cap" "$work/sidewatch" run >"$work/sw.json" 2>"$work/sw.err" &
  swpid=$!; pids+=("$swpid")
  ip netns exec "$cap" tcpdump -i swb1 -p -n -s 262144 -B $((RING_MIB * 1024)) -w /dev/null 2>"$work/td.err" &
  tdpid=$!; pids+=("$tdpid")
  wait_for "$work/sw.err" "sidewatch running"
  wait_for "$work/td.err" "listening on"

  sw0=$(cpu "$swpid") td0=$(cpu "$tdpid")
  if [ -n "${PERF_DIR:-}" ]; then
    perf record -q -g -F 1999 -p "$swpid" -o "$PERF_DIR/sidewatch-$rate.perf" >/dev/null 2>&1 &
    perfpid=$!
  fi
  case $rate in
  top) ip netns exec "$src" tcpreplay -q -i swb0 --topspeed "$work/bench.pcap" >"$work/replay.txt" 2>&1 ;;
  top2) # two senders at once: more than one core can offer
    ip netns exec "$src" tcpreplay -q -i swb0 --topspeed "$work/bench.pcap" >"$work/replay2.txt" 2>&1 &
    second=$!
    ip netns exec "$src" tcpreplay -q -i swb0 --topspeed "$work/bench.pcap" >"$work/replay.txt" 2>&1
    wait "$second" ;;
  *) ip netns exec "$src" tcpreplay -q -i swb0 --pps="$rate" "$work/bench.pcap" >"$work/replay.txt" 2>&1 ;;
  esac
  sleep 1 # let both drain their rings
  if [ -n "${PERF_DIR:-}" ]; then kill -INT "$perfpid"; wait "$perfpid" || true; fi
  swcpu=$(awk -v a="$sw0" -v b="$(cpu "$swpid")" 'BEGIN{printf "%.3f", b-a}')
  tdcpu=$(awk -v a="$td0" -v b="$(cpu "$tdpid")" 'BEGIN{printf "%.3f", b-a}')
  kill -TERM "$swpid" "$tdpid"
  wait "$swpid" "$tdpid" || true

  sent=$(cat "$work"/replay*.txt | grep -o 'Rated: [0-9.]* Bps, [0-9.]* Mbps, [0-9.]* pps' | awk '{s+=$6} END{print int(s)}')
  rm -f "$work"/replay*.txt
  want=$PACKETS
  if [ "$rate" = top2 ]; then want=$((2 * PACKETS)); fi
  # The capture group of the final stats event (its keys are sorted, so the
  # first packets_total after "capture" is its own).
  swcap=$(grep '"event_type":"stats"' "$work/sw.json" | tail -1 | grep -o '"capture":{.*' || true)
  swdrops=$(grep -o '"kernel_drops_total":[0-9]*' <<<"$swcap" | head -1 | cut -d: -f2)
  swpkts=$(grep -o '"packets_total":[0-9]*' <<<"$swcap" | head -1 | cut -d: -f2)
  tddrops=$(grep -o '[0-9]* packets dropped by kernel' "$work/td.err" | awk '{print $1}')
  tdpkts=$(grep -o '[0-9]* packets captured' "$work/td.err" | awk '{print $1}')
  # CPU per captured packet of each, and sidewatch's over tcpdump's.
  swus=$(awk -v c="$swcpu" -v n="${swpkts:-0}" 'BEGIN{if (n > 0) printf "%.3f", c*1e6/n; else print "?"}')
  tdus=$(awk -v c="$tdcpu" -v n="${tdpkts:-0}" 'BEGIN{if (n > 0) printf "%.3f", c*1e6/n; else print "?"}')
  ratio=$(awk -v a="$swus" -v b="$tdus" 'BEGIN{if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "?"}')
  if [ "$ratio" != "?" ]; then ratios+=("$ratio"); fi
  printf '%-9s %-10s | %-12s %-9s %-8s %-7s | %-12s %-9s %-8s %-7s | %s\n' \
    "$rate" "${sent:-?}" "${swpkts:-?}" "${swdrops:-?}" "$swcpu" "$swus" "${tdpkts:-?}" "${tddrops:-?}" "$tdcpu" "$tdus" "$ratio"
  # Zero drops wherever tcpdump has none (the issue's goal).
  if [ "${tddrops:-1}" = 0 ] && [ "${swdrops:-1}" != 0 ]; then drops_miss+=("$rate"); fi
  if [ "${swdrops:-1}" = 0 ] && [ "${swpkts:-0}" -ge "$want" ] && [ "${sent:-0}" -gt "$best_sw" ]; then best_sw=$sent; fi
  if [ "${tddrops:-1}" = 0 ] && [ "${tdpkts:-0}" -ge "$want" ] && [ "${sent:-0}" -gt "$best_td" ]; then best_td=$sent; fi
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END{if (NR == 0) print "?"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2}')
echo "CPU per packet sidewatch/tcpdump: median ratio ${median} over ${#ratios[@]} rates (goal <= 1.5)"
echo "rates where tcpdump dropped nothing but sidewatch did: ${drops_miss[*]:-none}"
echo "highest sent rate with zero kernel drops: sidewatch ${best_sw} pps, tcpdump ${best_td} pps (${PACKETS} packets per rate, ${RING_MIB} MiB ring/buffer each, sidewatch blocks ${BLOCK_KIB} KiB)"
