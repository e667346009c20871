#!/usr/bin/env bash
# The cost of a snapshot of a shard holding ~1M resting orders while it matches: 2 shards x 2
# replicas on a private Redis are prefilled with 2M resting orders (about 1M per shard), then
# a 200k-command flow is fed at a fixed rate twice: once with snapshots far away, once with
# a snapshot of each shard falling inside the measured window. Compare the p99.9 lines.
#
# Usage: bench/cluster-snapshot.sh [--rate R]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rate=15000
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    *) echo "snapshot bench: unknown option $1" >&2; exit 2 ;;
  esac
done
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
exchange="$root/.build/release/exchange"
report="$root/bench/reports/$(date +%Y-%m-%d)-cluster-snapshot"
mkdir -p "$report"

for mode in without with; do
  scratch=$(mktemp -d -t exchange-bench.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  redis="redis://127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$scratch" --appendonly yes --appendfsync everysec --save "" \
    --daemonize yes --pidfile "$scratch/redis.pid" --logfile "$scratch/redis.log"
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  "$exchange" ctl init --shards 2 --redis "$redis" >/dev/null
  # The prefill goes in entries of 256 commands: about 4,000 per shard. The measured flow,
  # paced, makes about one entry per shard per millisecond: about 13,000 per shard. With 8,000
  # the first snapshot lands inside the measured window (`ctl status` at the end shows where);
  # with 10M none does.
  entries=$([ "$mode" = with ] && echo 8000 || echo 10000000)
  pids=()
  for shard in 0 1; do for replica in a b; do
    "$exchange" matcher --shard "$shard" --replica "$replica" --redis "$redis" --data "$scratch/$shard$replica" --without-clearing \
      --ops-port 0 --snapshot-entries "$entries" --snapshot-seconds 3600 >>"$scratch/matcher.log" 2>&1 &
    pids+=($!)
  done; done
  sleep 1
  "$exchange" bench cluster --redis "$redis" --symbols 100 --prefill 2000000 --orders 200000 --rate "$rate" \
    --report "$report" --label "1M resting per shard, $mode a snapshot, $rate per s"
  "$exchange" ctl status --redis "$redis" | grep -E "^shard|  [ab]:"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$scratch"
done
echo "reports in $report"
