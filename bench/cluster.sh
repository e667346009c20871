#!/usr/bin/env bash
# Benchmarks matching through Redis on this machine: a private redis-server (AOF,
# appendfsync everysec unless --fsync-always), 2 shards x 2 replicas, then
# `exchange bench cluster` for 1, 100 and 10,000 symbols at full speed and at half the
# measured maximum. 3,000,000 commands per run by default: with 1,000,000 the full-speed
# run lasts about a second, mostly a burst Redis absorbs while the standbys fall behind. Writes text and latency plots into bench/reports/DATE-cluster/.
#
# MATCHER_OPTIONS (environment) adds options to every matcher, e.g. "--read-batch-entries 16".
# --rates "R ..." adds passes at these rates (commands per second), for latency against load.
#
# --replica adds a replica of that Redis, and every writing pipeline waits for it (`?wait=1`,
# as under Sentinel): what an acknowledged append that survives the loss of the master costs.
#
# Usage: bench/cluster.sh [--orders N] [--fsync-always] [--replica] [--rates "R ..."]
set -euo pipefail
orders=3000000
fsync=everysec
rates=""
replica=""
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) orders=$2; shift 2 ;;
    --fsync-always) fsync=always; shift ;;
    --replica) replica=1; shift ;;
    --rates) rates=$2; shift 2 ;;
    *) echo "cluster bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" "cluster${replica:+-replica-wait}"

for symbols in ${SYMBOLS:-1 100 10000}; do
  for pass in max half $rates; do
    scratch=$(mktemp -d -t exchange-bench.XXXXXX)
    start_redis "$scratch" "$fsync"
    [ -n "$replica" ] && start_replica "$scratch" "$fsync"
    "$exchange" ctl init --shards 2 --redis "$redis" >/dev/null
    pids=()
    for shard in 0 1; do for replica in a b; do
      "$exchange" matcher --shard "$shard" --replica "$replica" --redis "$redis" --data "$scratch/$shard$replica" --without-clearing $replica_options ${MATCHER_OPTIONS:-} \
        --ops-port 0 --snapshot-entries 1000000 >>"$scratch/matcher.log" 2>&1 &
      pids+=($!)
    done; done
    sleep 1
    if [ "$pass" = max ]; then
      line=$("$exchange" bench cluster --redis "$redis" --symbols "$symbols" --orders "$orders" --report "$report" --label "$symbols symbols, full speed")
      echo "$line"
      max_rate=$(echo "$line" | sed -n 's/.*= \([0-9]*\) commands\/s.*/\1/p')
    elif [ "$pass" != half ]; then
      "$exchange" bench cluster --redis "$redis" --symbols "$symbols" --orders "$orders" --rate "$pass" --report "$report" \
        --label "$symbols symbols, $pass per s"
    else
      half=$(( max_rate / 2 ))
      "$exchange" bench cluster --redis "$redis" --symbols "$symbols" --orders "$orders" --rate "$half" --report "$report" \
        --label "$symbols symbols, half speed ($half per s)"
    fi
    # Under full load no lease may lapse: every shard must still be at its first epoch.
    epochs=$("$exchange" ctl status --redis "$redis" | sed -n 's/^\(shard [0-9]*\):.*epoch \([0-9]*\),.*/\1 epoch \2/p' | tr '\n' ' ')
    echo "  epochs after the pass: $epochs" | tee -a "$report/epochs.txt"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    stop_redis
    rm -rf "$scratch"
  done
done
echo "reports in $report"
