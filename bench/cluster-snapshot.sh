#!/usr/bin/env bash
# The cost of a snapshot of a shard holding ~1M resting orders while it matches: 2 shards x 2
# replicas on a private Redis are prefilled with 2M resting orders (about 1M per shard), then
# a 200k-command flow is fed at a fixed rate twice: once with snapshots far away, once with
# a snapshot of each shard falling inside the measured window. Compare the p99.9 lines.
#
# Usage: bench/cluster-snapshot.sh [--rate R]
set -euo pipefail
rate=15000
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    *) echo "snapshot bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" cluster-snapshot

for mode in without with; do
  scratch=$(mktemp -d -t exchange-bench.XXXXXX)
  start_redis "$scratch" everysec
  "$exchange" ctl init --shards 2 --redis "$redis" >/dev/null
  # The prefill goes in entries of 256 commands: about 4,000 per shard. The measured flow,
  # paced, makes about one entry per shard per millisecond: about 13,000 per shard. With 8,000
  # the first snapshot lands inside the measured window (`ctl status` at the end shows where);
  # with 10M none does.
  entries=$([ "$mode" = with ] && echo 8000 || echo 10000000)
  pids=()
  for shard in 0 1; do for replica in a b; do
    "$exchange" matcher --shard "$shard" --replica "$replica" --redis "$redis" --data "$scratch/$shard$replica" --without-clearing $replica_options \
      --ops-port 0 --snapshot-entries "$entries" --snapshot-seconds 3600 >>"$scratch/matcher.log" 2>&1 &
    pids+=($!)
  done; done
  sleep 1
  "$exchange" bench cluster --redis "$redis" --symbols 100 --prefill 2000000 --orders 200000 --rate "$rate" \
    --report "$report" --label "1M resting per shard, $mode a snapshot, $rate per s"
  "$exchange" ctl status --redis "$redis" | grep -E "^shard|  [ab]:"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  stop_redis
  rm -rf "$scratch"
done
echo "reports in $report"
