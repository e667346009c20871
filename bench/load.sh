#!/usr/bin/env bash
# The cluster-wide load test (bench/soak.py with a load's settings): the default cluster/
# topology (network namespaces; needs root), 10,000 symbols and 100,000 users funded through
# clearing, a steady generated flow through clearing, and traders on the gateway's API during
# the run; throughput, latency and each role's CPU over time plotted; audits at the end. The
# report goes to bench/reports/DATE-load.
#
# Usage: bench/load.sh [--minutes 10] [--rate 1500] [--symbols 10000] [--users 100000] [...]  (see bench/soak.py --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
venv=$(bash "$root/scripts/client-venv")
exec "$venv/bin/python" "$root/bench/soak.py" --binary "$root/.build/release/exchange" --title "Load" \
  --minutes 10 --rate 1500 --symbols 10000 --users 100000 --gateway-connections 8 --gateway-seconds 30 \
  --retention-seconds 300 --snapshot-entries 20000 --high-gateway-limits \
  --report-dir "$root/bench/reports/$(date +%Y-%m-%d)-load" "$@"
