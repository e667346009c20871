#!/usr/bin/env bash
# Benchmarks the order path through Redis on this machine: a private redis-server (AOF,
# appendfsync everysec), 2 matching shards x 2 replicas, 2 clearing partitions x 2 replicas
# (their primaries forward along the order path). `exchange bench order-path` lists the symbols, funds the users, feeds a
# generated flow through clearing and measures orders/s end to end (producer -> clearing ->
# matcher -> clearing), per place append -> accepted and per trade append -> settled (p50,
# p99, p99.9), and settled legs per partition: once at full speed, then on a fresh cluster at
# half that rate. After each pass `exchange recorder` projects every output log into a
# private PostgreSQL 15 (rows/s until it has caught up) and `exchange audit clearing
# --postgres` checks the money. Writes summaries and plots into bench/reports/DATE-order-path/.
#
# --rates "R ..." measures at these rates (flow lines per second) instead of full and half speed.
#
# Usage: bench/order-path.sh [--orders N] [--symbols K] [--rates "R ..."]
set -euo pipefail
orders=200000
symbols=20
rates=""
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) orders=$2; shift 2 ;;
    --symbols) symbols=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    *) echo "order-path bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" order-path

for pass in ${rates:-max half}; do
scratch=$(mktemp -d -t exchange-order-path.XXXXXX)
pids=()
trap stop_order_path_cluster EXIT
start_redis "$scratch" everysec
start_order_path_cluster --snapshot-entries 1000000
sleep 1
if [ "$pass" = max ]; then
  line=$("$exchange" bench order-path --redis "$redis" --symbols "$symbols" --orders "$orders" --report "$report" \
    --label "$symbols symbols, full speed")
  echo "$line"
  max_rate=$(echo "$line" | sed -n 's/.*(\([0-9]*\) commands\/s).*/\1/p')
elif [ "$pass" != half ]; then
  "$exchange" bench order-path --redis "$redis" --symbols "$symbols" --orders "$orders" --rate "$pass" --report "$report" \
    --label "$symbols symbols, $pass commands per s"
else
  half=$(( max_rate / 2 ))
  "$exchange" bench order-path --redis "$redis" --symbols "$symbols" --orders "$orders" --rate "$half" --report "$report" \
    --label "$symbols symbols, half speed ($half commands per s)"
fi
# Under full load no lease may lapse: every log must still be at its first epoch.
echo "  epochs after the $pass pass: $("$exchange" ctl status --redis "$redis" | sed -n 's/^\([a-z]* [0-9]*\):.*epoch \([0-9]*\),.*/\1 epoch \2/p' | tr '\n' ' ')" |
  tee -a "$report/epochs.txt"
ops=$(free_port)
recording=$(date +%s%3N)
"$exchange" recorder --redis "$redis" --postgres "$postgres" --ops-port "$ops" >>"$scratch/recorder.log" 2>&1 &
pids+=($!)
metrics() { curl -s "http://127.0.0.1:$ops/metrics" 2>/dev/null || true; }
while true; do
  lags=$(metrics | { grep '^exchange_recorder_lag_entries{' || true; } | awk '{ s += $2; n += 1 } END { print n + 0, s + 0 }')
  [ "${lags%% *}" -gt 0 ] && [ "${lags##* }" = 0 ] && break
  sleep 0.05
done
recorded=$(( $(date +%s%3N) - recording ))
rows=$(metrics | sed -n 's/^exchange_recorder_rows_total //p')
echo "recorder ($pass pass): $rows rows in $recorded ms (from its start, connections included): $(( rows * 1000 / recorded )) rows/s" |
  tee -a "$report/recorder.txt"
"$exchange" audit clearing --redis "$redis" --postgres "$postgres" >"$scratch/audit.txt" || true
grep -E '^(ok|FAIL)|trades in|PostgreSQL' "$scratch/audit.txt" | tee -a "$report/audit-$pass.txt"
stop_order_path_cluster
trap - EXIT
done
echo "reports in $report"
