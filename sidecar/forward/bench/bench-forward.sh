#!/usr/bin/env bash
# Fluent Bit -> sidewatch's forward receiver vs Fluent Bit -> Fluent Bit's
# own in_forward -> null, side by side on this machine. The same sender
# (Fluent Bit's dummy input, docker-log-driver-shaped records, out_forward
# with Require_ack_response and the shared key) feeds each receiver in its
# own network namespace; the script prints records/s and receiver CPU per
# record for both, and their ratios. Root (ip netns).
#
#   N        records per run (default 300000)
#   RATE     target records/s of the sender (default 100000)
#   RUNS     runs per receiver, alternating (default 3)
#   FB       Fluent Bit for sender and reference receiver (default fluent-bit-5.1.1)
set -euo pipefail
N=${N:-300000}
RATE=${RATE:-100000}
RUNS=${RUNS:-3}
FB=${FB:-$(command -v fluent-bit-5.1.1 || command -v fluent-bit || true)}
[ "$(id -u)" = 0 ] || { echo "bench-forward: needs root (ip netns)"; exit 1; }
[ -x "$FB" ] || { echo "bench-forward: no Fluent Bit (set FB=/path/to/fluent-bit)"; exit 1; }
command -v curl >/dev/null || { echo "bench-forward: needs curl"; exit 1; }

cd "$(dirname "$0")/../../.."
tmp=$(mktemp -d)
ns=sw-bf-$$
cleanup() {
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$tmp/" ./cmd/sidewatch
ip netns add "$ns"
ip -n "$ns" link set lo up
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$key" > "$tmp/key"
chmod 600 "$tmp/key"
COPIES=500
TICKS=$(( RATE / COPIES ))
SAMPLES=$(( N / COPIES ))
N=$(( SAMPLES * COPIES ))
line=$(printf 'GET /api/v1/items?page=7 HTTP/1.1 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64)" rt=0.042 %0100d' 0)
record="{\"container_id\":\"0123456789abcdef0123456789abcdef-2495160603\",\"container_name\":\"web\",\"source\":\"stdout\",\"log\":\"${line//\"/\\\"}\"}"

# cpu_ticks PID: user+system clock ticks of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run NAME COUNT_CMD RECEIVER...: start the receiver, then the sender, wait
# until COUNT_CMD reports N, print "NAME seconds cpu_seconds".
run() {
  local name=$1 count=$2; shift 2
  # Both receivers discard what they produce: Fluent Bit's null output,
  # sidewatch's stdout to /dev/null (it still encodes every event as EVE).
  ip netns exec "$ns" "$@" >/dev/null 2>"$tmp/$name.err" &
  local rpid=$!
  for _ in $(seq 100); do
    ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/24225' 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.5
  local c0 t0 t1 c1 got=0
  c0=$(cpu_ticks "$rpid")
  t0=$(date +%s.%N)
  ip netns exec "$ns" "$FB" -q -i dummy -p "dummy=$record" -p "copies=$COPIES" -p "rate=$TICKS" -p "samples=$SAMPLES" \
    -o forward -m '*' -p host=127.0.0.1 -p port=24225 -p "shared_key=$key" -p self_hostname=sender \
    -p require_ack_response=true -p retry_limit=no_limits >"$tmp/sender.out" 2>&1 &
  local spid=$!
  local deadline=$(( $(date +%s) + 600 ))
  while [ "$got" -lt "$N" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "bench-forward: $name got $got of $N in 600s"; tail -5 "$tmp/$name.err"; exit 1; }
    sleep 0.05
    got=$(eval "$count" 2>/dev/null || echo 0)
    got=${got:-0}
  done
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$rpid")
  kill "$spid" "$rpid" 2>/dev/null || true
  wait "$spid" "$rpid" 2>/dev/null || true
  echo "$name $(echo "$t1 - $t0" | bc -l) $(echo "($c1 - $c0) / $hz" | bc -l)"
}

sw_count="ip netns exec $ns curl -s http://127.0.0.1:9901/metrics | awk '/^sidewatch_forward_records_total/ {s+=\$2} END {print s+0}'"
fb_count="ip netns exec $ns curl -s http://127.0.0.1:2020/api/v1/metrics | sed -n 's/.*\"proc_records\":\([0-9]*\).*/\1/p'"

echo "bench-forward: $N records of $(( ${#record} )) bytes JSON per run, sender target $RATE/s, $RUNS runs each; load: $(uptime | sed 's/.*load/load/')"
results=()
for i in $(seq "$RUNS"); do
  results+=("$(run sidewatch "$sw_count" "$tmp/sidewatch" run --no-capture --no-launcher --forward-key-file "$tmp/key" \
    --forward-tcp-addr 127.0.0.1:24225 --syslog-tcp-addr "" --syslog-udp-addr "" --health-addr 127.0.0.1:9901 --stats-interval 0 --sink stdout)")
  echo "  ${results[-1]}"
  results+=("$(run fluentbit "$fb_count" "$FB" -q -H -P 2020 -i forward -p listen=127.0.0.1 -p port=24225 -p "shared_key=$key" -o null -m '*')")
  echo "  ${results[-1]}"
done
printf '%s\n' "${results[@]}" | awk -v n="$N" '
  { wall[$1] += $2; cpu[$1] += $3; runs[$1]++ }
  END {
    for (r in runs) {
      rps[r] = n * runs[r] / wall[r]; us[r] = 1e6 * cpu[r] / (n * runs[r])
      printf "%-10s %10.0f records/s  %6.2f us CPU/record (receiver)\n", r, rps[r], us[r]
    }
    printf "ratio sidewatch/fluent-bit: records/s %.2f, CPU per record %.2f (below 1: sidewatch uses less)\n", rps["sidewatch"] / rps["fluentbit"], us["sidewatch"] / us["fluentbit"]
  }'
echo "load after: $(uptime | sed 's/.*load/load/')"
