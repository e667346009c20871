#!/usr/bin/env bash
# The soak (bench/soak.py) with the release binary (built first) and the pinned Python tools;
# the report goes to bench/reports/DATE-soak. Needs root (network namespaces).
#
# Usage: bench/soak.sh [--minutes 60] [--rate 2000] [--retention-seconds 300] [...]  (see bench/soak.py --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
venv=$(bash "$root/scripts/client-venv")
exec "$venv/bin/python" "$root/bench/soak.py" --binary "$root/.build/release/exchange" \
  --report-dir "$root/bench/reports/$(date +%Y-%m-%d)-soak" "$@"
