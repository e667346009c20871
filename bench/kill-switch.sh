#!/usr/bin/env bash
# Measures the kill switch on this machine (release build): a private cluster (Redis,
# PostgreSQL, 2 shards and 2 partitions with standbys, the recorder, two gateways, the admin
# service), 8 clients placing orders, N rounds of halting the whole exchange and resuming.
# Writes summary.txt and kill-switch.svg into bench/reports/DATE-kill-switch/.
#
# Usage: bench/kill-switch.sh [--rounds N]
exec bash "$(dirname "$0")/client-bench.sh" kill-switch bench/kill_switch.py "$@"
