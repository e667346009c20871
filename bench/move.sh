#!/usr/bin/env bash
# Measures live symbol moves on this machine (release build): a private cluster (Redis,
# PostgreSQL, 2 shards and 2 partitions with standbys, the recorder, a gateway, the admin
# service), a book of 100,000 resting orders moved between the shards N times against the
# same move of a one-order book, under a steady feed on 20 other symbols.
# Writes summary.txt and moves.svg into bench/reports/DATE-moves/.
#
# Usage: bench/move.sh [--book N] [--rounds N] [--rate N]
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
bash scripts/bootstrap
swift build -c release --product exchange >/dev/null
venv=$(bash scripts/client-venv)
report="bench/reports/$(date +%Y-%m-%d)-moves"
EXCHANGE_BINARY="$PWD/.build/release/exchange" "$venv/bin/python" bench/move_bench.py "$report" "$@"
echo "move bench: report in $report"
