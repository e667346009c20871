# Sourced by the cluster benchmark scripts: builds the release binary and offers what every
# one of them needs. Sets `root`, `exchange`, `report` (bench/reports/DATE-NAME, created;
# NAME gets -normal-priority with REPLICA_PRIORITY=0 and -redis-realtime with
# REDIS_PRIORITY), `replica_options` and `aof_options` (see below: environment
# REPLICA_PRIORITY, REDIS_PRIORITY, AOF_REWRITES, EXCHANGE_BINARY).
#
# Usage (from a script in bench/): source "$(dirname "$0")/common.sh" NAME
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SWIFT_DETERMINISTIC_HASHING=1
# EXCHANGE_BINARY=PATH runs that binary instead of building one (an A/B against a saved build).
if [ -n "${EXCHANGE_BINARY:-}" ]; then
  exchange="$EXCHANGE_BINARY"
else
  (cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
  exchange="$root/.build/release/exchange"
fi
suffix=""
if [ "${REPLICA_PRIORITY:-10}" = 0 ]; then suffix="$suffix-normal-priority"; fi
if [ -n "${REDIS_PRIORITY:-}" ]; then suffix="$suffix-redis-realtime"; fi
report="$root/bench/reports/$(date +%Y-%m-%d)-$1$suffix"
mkdir -p "$report"

# Options every benchmarked replica gets. Leaders run their matching and loop threads under
# SCHED_FIFO (`--realtime-priority`), as a latency-minded operator runs them: on this shared
# 2-core host a woken primary otherwise queues behind the load generator and the standbys.
# REPLICA_PRIORITY=0 runs them at normal priority, for comparison.
replica_options=""
if [ "${REPLICA_PRIORITY:-10}" != 0 ]; then replica_options="--realtime-priority ${REPLICA_PRIORITY:-10}"; fi

# REDIS_PRIORITY=P runs every thread of the private Redis under SCHED_FIFO at P, as if it had
# cores of its own (what a production Redis gets: a host or dedicated cores). Off by default:
# the benchmarks' figures are those of one shared host where Redis competes with everything.

# Redis rewrites its AOF by itself each time the file doubles: a fork whose child rewrites the
# whole data set, a core's worth of work for about a second here, with the replicas' latency
# tripling meanwhile. Operators of latency-bound Redis schedule rewrites (BGREWRITEAOF) for
# quiet hours instead; so do these benchmarks. AOF_REWRITES=1 keeps Redis's automatic ones.
aof_options="--auto-aof-rewrite-percentage 0"
if [ "${AOF_REWRITES:-0}" = 1 ]; then aof_options=""; fi

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# start_redis DIR FSYNC: a private redis-server (AOF with appendfsync FSYNC) with its data in
# DIR, on a free port; sets `port` and `redis` (its URL) and waits until it answers.
start_redis() {
  port=$(free_port)
  redis="redis://127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$1" --appendonly yes --appendfsync "$2" $aof_options --save "" \
    --daemonize yes --pidfile "$1/redis.pid" --logfile "$1/redis.log"
  for _ in $(seq 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
      if [ -n "${REDIS_PRIORITY:-}" ]; then chrt -a -f -p "$REDIS_PRIORITY" "$(cat "$1/redis.pid")" >/dev/null; fi
      return
    fi
    sleep 0.05
  done
  echo "bench: redis did not start" >&2
  return 1
}

# start_replica DIR: a replica of the private redis-server (same AOF settings, data in DIR/replica)
# on a free port; waits until the master counts it, then makes `redis` ask every writing
# pipeline to wait for it (`?wait=1`, as a Sentinel deployment does).
start_replica() {
  replica_port=$(free_port)
  mkdir -p "$1/replica"
  redis-server --port "$replica_port" --bind 127.0.0.1 --dir "$1/replica" --appendonly yes --appendfsync "$2" $aof_options --save "" \
    --replicaof 127.0.0.1 "$port" --daemonize yes --pidfile "$1/replica/redis.pid" --logfile "$1/replica/redis.log"
  for _ in $(seq 200); do
    if redis-cli -p "$port" info replication 2>/dev/null | grep -q "slave0:.*state=online"; then
      redis="redis://127.0.0.1:$port?wait=1"
      return
    fi
    sleep 0.05
  done
  echo "bench: the replica did not come online" >&2
  return 1
}

# stop_redis: shuts the private redis-server (and its replica, if any) down without saving.
stop_redis() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  if [ -n "${replica_port:-}" ]; then redis-cli -p "$replica_port" shutdown nosave >/dev/null 2>&1 || true; fi
}

# start_order_path_cluster OPTIONS...: in $scratch, a private PostgreSQL (migrated; sets
# `postgres`), the cluster map, and 2 matching shards x 2 replicas and 2 clearing partitions
# x 2 replicas on the private Redis, each given OPTIONS; their pids go into `pids` (the
# caller's array, for its cleanup).
start_order_path_cluster() {
  chmod 755 "$scratch"
  postgres=$(bash "$root/scripts/postgres-server" start "$scratch/postgres" "$(free_port)")
  "$exchange" migrate --postgres "$postgres" >/dev/null
  "$exchange" ctl init --shards 2 --partitions 2 --redis "$redis" >/dev/null
  local index replica
  for index in 0 1; do for replica in a b; do
    "$exchange" matcher --shard "$index" --replica "$replica" --redis "$redis" --data "$scratch/m$index$replica" $replica_options \
      --ops-port 0 "$@" >>"$scratch/replicas.log" 2>&1 &
    pids+=($!)
    "$exchange" clearing --partition "$index" --replica "$replica" --redis "$redis" --data "$scratch/c$index$replica" $replica_options \
      --ops-port 0 "$@" >>"$scratch/replicas.log" 2>&1 &
    pids+=($!)
  done; done
}

# stop_order_path_cluster: stops what start_order_path_cluster and start_redis started and
# removes $scratch (a trap on EXIT).
stop_order_path_cluster() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  stop_redis
  bash "$root/scripts/postgres-server" stop "$scratch/postgres"
  rm -rf "$scratch"
}
