#!/usr/bin/env bash
# Wallet drill (chaos/wallet_drill.py): the wallet on a real EVM under deposits and withdrawals,
# killed mid-deposit, killed between signing and broadcasting, Redis restarted; every transfer
# exactly once and the clearing audit clean afterwards.
#
# Usage: chaos/wallet-drill.sh [--runs N] [--seconds S] [--report DIR]
# Builds the release binary; the client-test venv by scripts/client-venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && swift build -c release --product exchange >&2)
venv=$(bash "$root/scripts/client-venv")
EXCHANGE_BINARY="$root/.build/release/exchange" exec "$venv/bin/python" "$root/chaos/wallet_drill.py" "$@"
