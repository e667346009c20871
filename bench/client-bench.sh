#!/usr/bin/env bash
# Runs a Python benchmark that drives a private cluster through the client tests' harness
# (Tests/clients/cluster.py): builds the release binary, makes the pinned Python environment,
# and runs SCRIPT with the report directory bench/reports/DATE-NAME and the remaining arguments.
#
# Usage (from the bench scripts): bench/client-bench.sh NAME SCRIPT [ARGUMENT...]
set -euo pipefail
name=$1
script=$2
shift 2
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
bash scripts/bootstrap
swift build -c release --product exchange >/dev/null
venv=$(bash scripts/client-venv)
report="bench/reports/$(date +%Y-%m-%d)-$name"
EXCHANGE_BINARY="$PWD/.build/release/exchange" "$venv/bin/python" "$script" "$report" "$@"
echo "$name bench: report in $report"
