#!/usr/bin/env bash
# make bench-detect: the detections' cost, measured side by side in one
# run so that the ratios hold on a busy machine.
#
#   packets  the flow path on a task-like packet mix (the corpus captures,
#            400 HTTPS-like connections, 2,000 DNS exchanges) with the
#            detection engine as inspector and tap, and without; the two
#            alternate ROUNDS times and the medians are compared
#   logs     detections per ordinary log record (secrets, JNDI), and per
#            64 KiB hostile record
#   intel    loading 1M indicators (time, heap kept) and lookups in them
#
# ROUNDS (default 7) and BENCHTIME (default 1s) tune the run.
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${ROUNDS:-7}
benchtime=${BENCHTIME:-1s}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load: $(uptime | sed 's/.*load average/load average/'), $(nproc) CPUs"
go test -c -o "$work/detect.test" ./sidecar/detect
go test -c -o "$work/intel.test" ./sidecar/intel

metric() { # metric FILE UNIT: the values of UNIT in benchmark output
	awk -v u="$2" '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$1"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'; }

for i in $(seq "$rounds"); do
	for mode in On Off; do
		(cd sidecar/detect && "$work/detect.test" -test.run '^$' -test.bench "^BenchmarkMixDetect$mode\$" -test.benchtime "$benchtime" -test.benchmem) >>"$work/$mode.txt"
	done
done
on=$(metric "$work/On.txt" ns/pkt | median)
off=$(metric "$work/Off.txt" ns/pkt | median)
printf '\npackets (median of %d alternating runs)\n' "$rounds"
printf '  detections on   %8.1f ns/packet\n' "$on"
printf '  detections off  %8.1f ns/packet\n' "$off"
awk -v a="$on" -v b="$off" 'BEGIN { printf "  ratio on/off    %8.2f\n", a / b }'
printf '  allocs/op on %s, off %s (flow events and alerts; none per packet)\n' \
	"$(metric "$work/On.txt" allocs/op | median)" "$(metric "$work/Off.txt" allocs/op | median)"

(cd sidecar/detect && "$work/detect.test" -test.run '^$' -test.bench '^BenchmarkTapLog' -test.benchtime "$benchtime" -test.count 3 -test.benchmem) >"$work/logs.txt"
printf '\nlogs (median of 3)\n'
printf '  ordinary record %8.1f ns, %s allocs\n' "$(grep 'TapLog-' "$work/logs.txt" | metric /dev/stdin ns/op | median)" "$(grep 'TapLog-' "$work/logs.txt" | metric /dev/stdin allocs/op | median)"
printf '  64 KiB hostile  %8.1f MB/s\n' "$(grep 'TapLogHostile' "$work/logs.txt" | metric /dev/stdin MB/s | median)"

(cd sidecar/intel && "$work/intel.test" -test.run '^$' -test.bench 'Load1M' -test.benchtime 3x -test.benchmem) >"$work/intel.txt"
(cd sidecar/intel && "$work/intel.test" -test.run '^$' -test.bench 'Lookup' -test.benchtime "$benchtime" -test.benchmem) >>"$work/intel.txt"
printf '\nintel, 1M indicators (60%% IPv4, 5%% IPv4 networks, 2.5%% IPv6 networks, 30%% domains, 2.5%% JA3)\n'
printf '  load            %8.0f indicators/s\n' "$(metric "$work/intel.txt" indicators/s | median)"
printf '  heap kept       %8.1f MB per 1M indicators\n' "$(metric "$work/intel.txt" MB/set | median)"
printf '  address lookup  %8.1f ns\n' "$(grep 'Lookup1M/Addr' "$work/intel.txt" | tail -1 | metric /dev/stdin ns/op)"
printf '  domain lookup   %8.1f ns\n' "$(grep 'Lookup1M/Domain' "$work/intel.txt" | tail -1 | metric /dev/stdin ns/op)"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
