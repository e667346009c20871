#!/usr/bin/env bash
# Drills across hosts (chaos/hosts_drill.py) on the default cluster/ topology with the release
# binary (built first), every drill --runs times (default 3); the report goes to
# chaos/reports/DATE-hosts-drill. Needs root (network namespaces).
#
# Usage: chaos/hosts-drill.sh [--runs N] [ACTION...|all]   (extra options: see chaos/hosts_drill.py --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
runs=3
arguments=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    *) arguments+=("$1"); shift ;;
  esac
done
[ ${#arguments[@]} -gt 0 ] || arguments=(all)
exec python3 "$root/chaos/hosts_drill.py" "${arguments[@]}" --runs "$runs" \
  --binary "$root/.build/release/exchange" --report-dir "$root/chaos/reports/$(date +%Y-%m-%d)-hosts-drill"
