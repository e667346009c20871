#!/usr/bin/env bash
# Measures live symbol moves on this machine (release build): a private cluster (Redis,
# PostgreSQL, 2 shards and 2 partitions with standbys, the recorder, a gateway, the admin
# service), a book of 100,000 resting orders moved between the shards N times against the
# same move of a one-order book, under a steady feed on 20 other symbols.
# Writes summary.txt and moves.svg into bench/reports/DATE-moves/.
#
# Usage: bench/move.sh [--book N] [--rounds N] [--rate N]
exec bash "$(dirname "$0")/client-bench.sh" moves bench/move_bench.py "$@"
