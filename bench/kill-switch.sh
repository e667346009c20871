#!/usr/bin/env bash
# Measures the kill switch on this machine (release build): a private cluster (Redis,
# PostgreSQL, 2 shards and 2 partitions with standbys, the recorder, two gateways, the admin
# service), 8 clients placing orders, N rounds of halting the whole exchange and resuming.
# Writes summary.txt and kill-switch.svg into bench/reports/DATE-kill-switch/.
#
# Usage: bench/kill-switch.sh [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
bash scripts/bootstrap
swift build -c release --product exchange >/dev/null
venv=$(bash scripts/client-venv)
report="bench/reports/$(date +%Y-%m-%d)-kill-switch"
EXCHANGE_BINARY="$PWD/.build/release/exchange" "$venv/bin/python" bench/kill_switch.py "$report" "$@"
echo "kill switch bench: report in $report"
