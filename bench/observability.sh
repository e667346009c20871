#!/usr/bin/env bash
# What metrics and tracing cost the matching cluster: the cluster benchmark (2 shards x 2
# replicas through Redis, 100 symbols) with telemetry on and off, alternating within one run
# so both see the same machine. On: every replica records its step timers and reports, and
# one order in --trace-every (1000: 0.1%, a production sampler's rate at these volumes) is
# traced, each primary recording its span and exporting it over OTLP/HTTP to a sink
# (bench/otlp_sink.py). Off: EXCHANGE_METRICS=off (swift-metrics' no-op), no tracer, no traced
# orders. In both modes a scraper (bench/metrics_scraper.py, kept-alive connections as
# Prometheus keeps them) reads every ops port once a second and the sink runs, so the
# harness's own cost is the same in both.
# Each round: a full-speed pass (throughput) and a pass at a fixed rate (latency). Writes
# bench/reports/DATE-observability/: summary.txt with the on/off ratios, passes.txt, and each
# pass's latency distribution and throughput over time (SVG).
#
# --scrape-seconds S scrapes every S seconds instead of every second (15 is Prometheus's usual
# interval; 0 scrapes never, leaving only what the roles themselves spend on metrics).
# --trace-every 0 traces nothing: metrics alone.
# --name NAME writes into bench/reports/DATE-NAME instead (to keep several variants of a day).
#
# Usage: bench/observability.sh [--orders N] [--rounds R] [--rate COMMANDS_PER_S] [--scrape-seconds S] [--trace-every N] [--name NAME]
set -euo pipefail
orders=2000000
rounds=3
rate=300000
scrape_seconds=1
trace_every=1000
name=observability
while [ $# -gt 0 ]; do
  case "$1" in
    --scrape-seconds) scrape_seconds=$2; shift 2 ;;
    --trace-every) trace_every=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --orders) orders=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "observability bench: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/common.sh" "$name"
symbols=${SYMBOLS:-100}
: >"$report/passes.txt"

# cpu_seconds PID...: user + system CPU seconds the processes have used so far.
cpu_seconds() {
  local ticks
  ticks=$(getconf CLK_TCK)
  for pid in "$@"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk -v t="$ticks" '{s += $1} END {printf "%.2f", s / t}'
}

# pass MODE ROUND: one full-speed and one fixed-rate run with telemetry MODE (on|off).
pass() {
  local mode=$1 round=$2
  scratch=$(mktemp -d -t exchange-bench.XXXXXX)
  start_redis "$scratch" everysec
  "$exchange" ctl init --shards 2 --redis "$redis" >/dev/null
  pids=()
  ports=()
  tracing=()
  traced=()
  # The sink and the scraper run in both modes, so the harness costs both the same: what differs
  # is what the roles spend on telemetry.
  sink_port=$(free_port)
  python3 "$(dirname "$0")/otlp_sink.py" "$sink_port" >>"$report/otlp-sink.txt" &
  sink=$!
  if [ "$mode" = on ] && [ "$trace_every" != 0 ]; then
    tracing=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_BSP_SCHEDULE_DELAY=1000)
    traced=(--trace-every "$trace_every")
  fi
  for shard in 0 1; do for replica in a b; do
    ops_port=$(free_port)
    ports+=("$ops_port")
    env EXCHANGE_METRICS="$mode" "${tracing[@]}" "$exchange" matcher --shard "$shard" --replica "$replica" --redis "$redis" --data "$scratch/$shard$replica" \
      --without-clearing $replica_options --ops-port "$ops_port" --snapshot-entries 1000000 >>"$scratch/matcher.log" 2>&1 &
    pids+=($!)
  done; done
  sleep 1
  scraper=""
  if [ "$scrape_seconds" != 0 ]; then
    python3 "$(dirname "$0")/metrics_scraper.py" "$scrape_seconds" "${ports[@]}" >>"$report/scraper-$mode.txt" &
    scraper=$!
  fi
  for kind in full rate; do
    if [ "$kind" = full ]; then
      line=$("$exchange" bench cluster --redis "$redis" --symbols "$symbols" --orders "$orders" --report "$report" "${traced[@]}" \
        --label "telemetry $mode, round $round, full speed")
    else
      before=$(cpu_seconds "${pids[@]}")
      line=$("$exchange" bench cluster --redis "$redis" --symbols "$symbols" --orders "$orders" --rate "$rate" --report "$report" "${traced[@]}" \
        --label "telemetry $mode, round $round, $rate per s")
      # What the four replicas spent on the same fixed work: steadier than latency on a shared host.
      line="$line; replica CPU $(awk -v a="$before" -v b="$(cpu_seconds "${pids[@]}")" 'BEGIN {printf "%.2f", b - a}') s"
    fi
    echo "$line" | tee -a "$report/passes.txt"
  done
  if [ -n "$scraper" ]; then kill "$scraper"; wait "$scraper" 2>/dev/null || true; fi
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  kill "$sink"; wait "$sink" 2>/dev/null || true
  stop_redis
  rm -rf "$scratch"
}

for round in $(seq "$rounds"); do
  # Alternate which goes first, so a drift of the machine's speed does not favour one mode.
  if [ $((round % 2)) = 1 ]; then pass on "$round"; pass off "$round"; else pass off "$round"; pass on "$round"; fi
done

python3 - "$report/passes.txt" "$rate" "$scrape_seconds" "$trace_every" <<'PY' | tee "$report/summary.txt"
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
def values(mode, kind, pattern):
    return [float(re.search(pattern, l).group(1)) for l in lines if l.startswith(f"telemetry {mode},") and kind in l]
full = {m: values(m, "full speed", r"= (\d+) commands/s") for m in ("on", "off")}
p99 = {m: values(m, "per s", r"append-to-output latency .*?p99 (\d+) µs") for m in ("on", "off")}
p50 = {m: values(m, "per s", r"append-to-output latency p50 (\d+) µs") for m in ("on", "off")}
print(f"matching cluster, 2 shards x 2 replicas, {len(full['on'])} rounds; telemetry on: metrics scraped every {sys.argv[3]} s (0: never),"
      f" {'nothing' if sys.argv[4] == '0' else f'one order in {sys.argv[4]}'} traced; medians (all runs in passes.txt)")
print(f"throughput at full speed: on {statistics.median(full['on']):.0f}, off {statistics.median(full['off']):.0f} commands/s;"
      f" on/off = {statistics.median(full['on']) / statistics.median(full['off']):.3f}")
print(f"latency at {sys.argv[2]} commands/s: p50 on {statistics.median(p50['on']):.0f} µs, off {statistics.median(p50['off']):.0f} µs;"
      f" p99 on {statistics.median(p99['on']):.0f} µs, off {statistics.median(p99['off']):.0f} µs; p99 on/off = {statistics.median(p99['on']) / statistics.median(p99['off']):.3f}")
print("p99 per round, on: " + ", ".join(f"{v:.0f}" for v in p99["on"]) + "; off: " + ", ".join(f"{v:.0f}" for v in p99["off"]))
def paired(kind, pattern):
    """on ÷ off of the same round, per round: steadier than ratios of medians when the machine drifts between rounds."""
    rounds = {}
    for l in lines:
        m = re.match(r"telemetry (on|off), round (\d+), ", l)
        if m and kind in l:
            rounds.setdefault(int(m.group(2)), {})[m.group(1)] = float(re.search(pattern, l).group(1))
    return [r["on"] / r["off"] for _, r in sorted(rounds.items()) if "on" in r and "off" in r]
for name, kind, pattern in (("throughput", "full speed", r"= (\d+) commands/s"), ("p99", "per s", r"append-to-output latency .*?p99 (\d+) µs"),
                            ("replica CPU", "per s", r"replica CPU ([0-9.]+) s")):
    ratios = paired(kind, pattern)
    if ratios:
        print(f"{name} on/off within each round: " + ", ".join(f"{r:.3f}" for r in ratios) + f"; median {statistics.median(ratios):.3f}")
cpu = {m: values(m, "per s", r"replica CPU ([0-9.]+) s") for m in ("on", "off")}
if cpu["on"] and cpu["off"]:
    print(f"replica CPU for the fixed-rate pass (4 replicas): on {statistics.median(cpu['on']):.2f} s, off {statistics.median(cpu['off']):.2f} s;"
          f" on/off = {statistics.median(cpu['on']) / statistics.median(cpu['off']):.3f}")
    print("per round, on: " + ", ".join(f"{v:.2f}" for v in cpu["on"]) + "; off: " + ", ".join(f"{v:.2f}" for v in cpu["off"]))
PY
echo "reports in $report"
