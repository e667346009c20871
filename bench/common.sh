# Sourced by the cluster benchmark scripts: builds the release binary and offers what every
# one of them needs. Sets `root`, `exchange` and `report` (bench/reports/DATE-NAME, created).
#
# Usage (from a script in bench/): source "$(dirname "$0")/common.sh" NAME
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
exchange="$root/.build/release/exchange"
report="$root/bench/reports/$(date +%Y-%m-%d)-$1"
mkdir -p "$report"

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# start_redis DIR FSYNC: a private redis-server (AOF with appendfsync FSYNC) with its data in
# DIR, on a free port; sets `port` and `redis` (its URL) and waits until it answers.
start_redis() {
  port=$(free_port)
  redis="redis://127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$1" --appendonly yes --appendfsync "$2" --save "" \
    --daemonize yes --pidfile "$1/redis.pid" --logfile "$1/redis.log"
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "bench: redis did not start" >&2
  return 1
}

# stop_redis: shuts the private redis-server down without saving.
stop_redis() { redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; }
