#!/usr/bin/env bash
# Benchmarks the gateway on this machine, everything on it: a private redis-server (AOF,
# appendfsync everysec), 2 matching shards x 2 replicas, 2 clearing partitions x 2 replicas, a
# private PostgreSQL 15, one gateway (rate limits above the load). `exchange bench gateway`
# registers and funds traders through the API and clearing, then measures with one keep-alive
# client: the no-op route's requests/s (the ceiling), ACK orders/s at full speed, and ACK and
# FULL latency at half that rate. Writes the summary and plots into bench/reports/DATE-gateway/.
#
# Usage: bench/gateway.sh [--connections N] [--seconds S]
set -euo pipefail
connections=16
seconds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "gateway bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" gateway

scratch=$(mktemp -d -t exchange-gateway-bench.XXXXXX)
pids=()
trap stop_order_path_cluster EXIT
start_redis "$scratch" everysec
start_order_path_cluster
"$exchange" ctl asset add BTC --scale 8 --redis "$redis" >/dev/null
"$exchange" ctl asset add USDT --scale 6 --redis "$redis" >/dev/null
"$exchange" ctl symbol add BTCUSDT --base BTC --quote USDT --tick 0.01 --step 0.0001 --min-notional 0 \
  --maker-fee-bps 10 --taker-fee-bps 20 --redis "$redis" >/dev/null
gateway_port=$(free_port)
EXCHANGE_MASTER_KEY=$(openssl rand -hex 32) EXCHANGE_TOKEN_KEY=$(openssl rand -hex 32) \
  "$exchange" gateway --redis "$redis" --postgres "$postgres" --port "$gateway_port" --ops-port 0 --bcrypt-cost 4 \
  --weight-per-minute 1000000000 --orders-per10-seconds 1000000000 >>"$scratch/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$gateway_port/api/v3/ping" >/dev/null && break; sleep 0.1; done
"$exchange" bench gateway --redis "$redis" --gateway "http://127.0.0.1:$gateway_port" --connections "$connections" \
  --seconds "$seconds" --report "$report" | tee "$report/summary.txt"
"$exchange" audit clearing --redis "$redis" | tail -3 | tee -a "$report/summary.txt"
