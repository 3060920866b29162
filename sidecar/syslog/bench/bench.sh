#!/usr/bin/env bash
# End-to-end syslog throughput and CPU on this machine: `sidewatch run`
# (syslog receiver -> pipeline -> file sink, JSON enriched with task
# metadata) against rsyslogd (imptcp -> omfile, its default text format),
# alternating the two for ROUNDS rounds in one run and printing the medians
# (sidecar/syslog/bench/syslogbench), then a paced run at RATE msg/s for
# sidewatch's peak RSS.
# RSYSLOG_FORMAT=json makes rsyslog write the same enriched JSON lines as
# sidewatch (a list template), so that both do the same work.
# Usage: make bench-syslog [N=500000] [CONNS=4] [ROUNDS=5] [RATE=100000] [SECONDS_AT_RATE=10] [RSYSLOG_FORMAT=text|json]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/sidewatch" ./cmd/sidewatch
go build -o "$work/syslogbench" ./sidecar/syslog/bench/syslogbench
"$work/syslogbench" -sidewatch "$work/sidewatch" -n "${N:-500000}" -conns "${CONNS:-4}" -rounds "${ROUNDS:-5}" \
	-rate "${RATE:-100000}" -paced "${SECONDS_AT_RATE:-10}s" -rsyslog-json="$([ "${RSYSLOG_FORMAT:-text}" = json ] && echo true || echo false)"
