#!/usr/bin/env bash
# Benchmarks the order path through Redis on this machine: a private redis-server (AOF,
# appendfsync everysec), 2 matching shards x 2 replicas, 2 clearing partitions x 2 replicas
# and the relay; a generated flow fed through clearing (`exchange feed --via-clearing`,
# users funded first, at full speed); measured from the feed's start until every log is
# quiet (each output log caught up with its input and the relay with every output log,
# three polls 20 ms apart): orders/s end
# to end (producer -> clearing -> matcher -> clearing). Then `exchange recorder` projects
# every output log into a private PostgreSQL 15: rows/s until it has caught up. Ends with
# `exchange audit clearing --postgres`.
#
# Usage: bench/order-path.sh [--orders N] [--symbols K]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
orders=200000
symbols=20
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) orders=$2; shift 2 ;;
    --symbols) symbols=$2; shift 2 ;;
    *) echo "order-path bench: unknown option $1" >&2; exit 2 ;;
  esac
done
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
exchange="$root/.build/release/exchange"
scratch=$(mktemp -d -t exchange-order-path.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
redis="redis://127.0.0.1:$port"
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  bash "$root/scripts/postgres-server" stop "$scratch/postgres"
  rm -rf "$scratch"
}
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --dir "$scratch" --appendonly yes --appendfsync everysec --save "" \
  --daemonize yes --pidfile "$scratch/redis.pid" --logfile "$scratch/redis.log"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
chmod 755 "$scratch"
postgres=$(bash "$root/scripts/postgres-server" start "$scratch/postgres" "$(free_port)")
"$exchange" migrate --postgres "$postgres" >/dev/null
"$exchange" ctl init --shards 2 --partitions 2 --redis "$redis" >/dev/null
for index in 0 1; do for replica in a b; do
  "$exchange" matcher --shard "$index" --replica "$replica" --redis "$redis" --data "$scratch/m$index$replica" \
    --ops-port 0 --snapshot-entries 1000000 >>"$scratch/replicas.log" 2>&1 &
  pids+=($!)
  "$exchange" clearing --partition "$index" --replica "$replica" --redis "$redis" --data "$scratch/c$index$replica" \
    --ops-port 0 --snapshot-entries 1000000 >>"$scratch/replicas.log" 2>&1 &
  pids+=($!)
done; done
"$exchange" relay --redis "$redis" >>"$scratch/relay.log" 2>&1 &
pids+=($!)
"$exchange" bench flow --symbols "$symbols" --orders "$orders" --output "$scratch/flow" 2>/dev/null
places=$(grep -c '^place,' "$scratch/flow" || true)
sleep 1
quiet() {
  local status
  status=$("$exchange" ctl status --redis "$redis")
  echo "$status" | grep -q '^relay: caught up' || return 1
  echo "$status" | grep -E '^(shard|partition) [0-9]+:' |
    awk '{ split($0, a, "input "); split(a[2], b, ","); split($0, c, "watermark "); split(c[2], d, ","); if (b[1] != d[1]) bad = 1 } END { exit bad }'
}
started=$(date +%s%3N)
"$exchange" feed "$scratch/flow" --via-clearing --redis "$redis" 2>/dev/null
fed=$(date +%s%3N)
streak=0
while [ $streak -lt 3 ]; do
  if quiet; then streak=$((streak + 1)); else streak=0; fi
  sleep 0.02
done
settled=$(( $(date +%s%3N) - 60 ))
elapsed=$(( settled - started ))
echo "order path: $places places (of $orders commands, $symbols symbols) fed in $(( fed - started )) ms, all settled after $elapsed ms: $(( places * 1000 / elapsed )) orders/s end to end"
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
echo "recorder: $rows rows in $recorded ms (from its start, connections included): $(( rows * 1000 / recorded )) rows/s"
"$exchange" audit clearing --redis "$redis" --postgres "$postgres" >"$scratch/audit.txt" || true
grep -E '^(ok|FAIL)|trades in|PostgreSQL' "$scratch/audit.txt"
trades=$(sed -n 's/^ *\([0-9]*\) trades in.*/\1/p' "$scratch/audit.txt")
echo "settled trade legs: $(( trades * 2 )) over 2 partitions in $elapsed ms: $(( trades * 2 * 1000 / elapsed / 2 )) legs/s per partition (averaged over the whole run)"
