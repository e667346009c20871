#!/usr/bin/env bash
# Benchmarks market data fan-out on this machine, everything on it: a private redis-server
# (AOF, appendfsync everysec), 2 matching shards x 2 replicas (without clearing), one
# `exchange marketdata`, and `exchange bench marketdata`: 1,000 WebSocket clients listening to
# the trades of 100 symbols each, of 1,000, while a generated flow is fed at a ramp of rates,
# then at half the best one, in turn without and with a stalled client (twice each). Writes the summary and plots
# into bench/reports/DATE-marketdata/.
#
# Usage: bench/marketdata.sh [--clients N] [--symbols K] [--streams-per-client S] [--rates "R ..."] [--seconds T]
set -euo pipefail
clients=1000
symbols=1000
streams=100
rates="500 1000 2000 3000 4000 5000 6000 8000"
seconds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --symbols) symbols=$2; shift 2 ;;
    --streams-per-client) streams=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "marketdata bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" marketdata

scratch=$(mktemp -d -t exchange-marketdata-bench.XXXXXX)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  stop_redis
  rm -rf "$scratch"
}
trap cleanup EXIT
start_redis "$scratch" everysec
"$exchange" ctl init --shards 2 --redis "$redis" >/dev/null
for shard in 0 1; do for replica in a b; do
  "$exchange" matcher --shard "$shard" --replica "$replica" --redis "$redis" --data "$scratch/$shard$replica" --without-clearing $replica_options \
    --ops-port 0 >>"$scratch/matcher.log" 2>&1 &
  pids+=($!)
done; done
marketdata_port=$(free_port)
"$exchange" marketdata --redis "$redis" --port "$marketdata_port" --ops-port 0 --stream-connections-per-address $((clients + 10)) \
  >>"$scratch/marketdata.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$marketdata_port/health" >/dev/null && break; sleep 0.1; done
"$exchange" bench marketdata --redis "$redis" --marketdata "http://127.0.0.1:$marketdata_port" --symbols "$symbols" --clients "$clients" \
  --streams-per-client "$streams" --rates "$rates" --seconds "$seconds" --report "$report" | tee "$report/summary.txt"
curl -sf "http://127.0.0.1:$marketdata_port/metrics" | grep -E "slow_clients|frames_sent|connections|publish_delay" | tee -a "$report/summary.txt"
echo "reports in $report"
