#!/usr/bin/env bash
# Failover drill: a private redis-server (AOF, appendfsync always) on a free loopback port,
# 2 matching shards x 2 replicas, a generated flow fed while the drill acts on shard 0:
#
#   kill-primary     kill -9 the primary
#   pause-primary    SIGSTOP the primary past its lease, then SIGCONT (it must step down:
#                    its appends are refused; it rejoins as standby)
#   restart-standby  kill -9 a standby and restart it with an empty data directory
#   restart-redis    shut Redis down mid-feed and start it again on the same AOF
#   kill-clearing-primary
#                    with 2 clearing partitions x 2 replicas, PostgreSQL and the
#                    recorder, the flow fed through clearing (users funded first): kill -9
#                    partition 0's primary
#   restart-postgres the same cluster: stop PostgreSQL (fast shutdown) mid-feed, start it again
#   restart-recorder the same cluster: kill -9 the recorder mid-feed, start it again
#   restart-redis-clearing
#                    the same cluster: shut Redis down mid-feed and start it again on the
#                    same AOF (primaries' forwards and appends fail, they reload and forward
#                    again; the recorder and feed retry)
#
# Each run ends with `exchange audit shards --require-complete` and `exchange collect`
# compared byte for byte with `exchange replay` of the same flow (the clearing drill ends
# with `exchange audit clearing --postgres` instead, once the recorder caught up: through
# clearing, a cancel may overtake its order, so the result is not replay's), and prints the failover
# time it measured (action to the first output of the new epoch). Exit 0 only if every run
# passes.
#
# The flow is fed at a rate that spreads it over --feed-seconds (default 6), so the drill
# acts at 1.5 s while commands still flow.
#
# --realtime-priority P runs every replica with `--realtime-priority P` (leaders under
# SCHED_FIFO, as the benchmarks run them).
#
# --tls runs the same drill with TLS on every hop the cluster has: Redis accepts TLS only
# (the roles, the feed and the tools reach it through a local stunnel client, as operators
# run hiredis 0.14 against a TLS Redis), PostgreSQL accepts TLS only and is reached with
# sslmode=verify-full; certificates from scripts/certs.
#
# Usage: chaos/drill.sh ACTION [--runs N] [--commands N] [--lease-ms MS] [--feed-seconds S] [--realtime-priority P] [--tls]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?usage: chaos/drill.sh kill-primary|pause-primary|restart-standby|restart-redis|kill-clearing-primary|restart-postgres|restart-recorder|restart-redis-clearing [--runs N] [--commands N] [--lease-ms MS]}
shift
runs=1
commands=200000
lease_ms=300
feed_seconds=6
priority_option=""
tls=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tls) tls=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    --commands) commands=$2; shift 2 ;;
    --lease-ms) lease_ms=$2; shift 2 ;;
    --feed-seconds) feed_seconds=$2; shift 2 ;;
    --realtime-priority) priority_option="--realtime-priority $2"; shift 2 ;;
    *) echo "drill: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$action" in kill-primary|pause-primary|restart-standby|restart-redis|kill-clearing-primary|restart-postgres|restart-recorder|restart-redis-clearing) ;; *) echo "drill: unknown action $action" >&2; exit 2 ;; esac
case "$action" in kill-clearing-primary|restart-postgres|restart-recorder|restart-redis-clearing) clearing=1 ;; *) clearing="" ;; esac
# Without clearing, matchers send nothing to it (their drills compare with replay).
matching_only=$([ -n "$clearing" ] || echo --without-clearing)
# The log the drill fails over: shard 0's, or partition 0's.
if [ -n "$clearing" ]; then log="clr:{0}"; log_option="--partition 0"; else log="me:{0}"; log_option="--shard 0"; fi

export SWIFT_DETERMINISTIC_HASHING=1
(cd "$root" && bash scripts/bootstrap && swift build -c release --product exchange 2>&1 | tail -1) >&2
exchange="$root/.build/release/exchange"
now_ms() { date +%s%3N; }

failovers=()
failed=0
for run in $(seq 1 "$runs"); do
  scratch=$(mktemp -d -t exchange-drill.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  redis="redis://127.0.0.1:$port"
  cli() { redis-cli -p "$port" "$@"; }
  listen=(--port "$port")
  stunnel_pid=""
  if [ -n "$tls" ]; then
    bash "$root/scripts/certs" "$scratch/certs" 2>/dev/null
    tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    listen=(--port 0 --tls-port "$tls_port" --tls-cert-file "$scratch/certs/server.pem" --tls-key-file "$scratch/certs/server.key"
      --tls-ca-cert-file "$scratch/certs/ca.pem" --tls-auth-clients no)
    cli() { redis-cli --tls --cacert "$scratch/certs/ca.pem" -p "$tls_port" "$@"; }
    # The roles' Redis URL is the tunnel's end: TLS from there on, verified against the test CA.
    printf 'foreground = yes\npid =\n[redis]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nCAfile = %s\nverifyChain = yes\ncheckHost = localhost\n' \
      "$port" "$tls_port" "$scratch/certs/ca.pem" >"$scratch/stunnel.conf"
    stunnel "$scratch/stunnel.conf" >"$scratch/stunnel.log" 2>&1 &
    stunnel_pid=$!
  fi
  start_redis() {
    redis-server "${listen[@]}" --bind 127.0.0.1 --dir "$scratch" --appendonly yes --appendfsync always --save "" \
      --daemonize yes --pidfile "$scratch/redis.pid" --logfile "$scratch/redis.log"
    for _ in $(seq 100); do cli ping >/dev/null 2>&1 && return; sleep 0.05; done
    echo "drill: redis did not start" >&2; exit 1
  }
  declare -A pids=()
  start_matcher() { # shard replica
    "$exchange" matcher --shard "$1" --replica "$2" --redis "$redis" --data "$scratch/data-$1-$2" $matching_only $priority_option \
      --lease-milliseconds "$lease_ms" --snapshot-entries 50000 --ops-port 0 >>"$scratch/matcher-$1-$2.log" 2>&1 &
    pids["$1-$2"]=$!
  }
  start_clearing() { # partition replica
    "$exchange" clearing --partition "$1" --replica "$2" --redis "$redis" --data "$scratch/clearing-$1-$2" $priority_option \
      --lease-milliseconds "$lease_ms" --snapshot-entries 50000 --ops-port 0 >>"$scratch/clearing-$1-$2.log" 2>&1 &
    pids["c$1-$2"]=$!
  }
  start_recorder() {
    "$exchange" recorder --redis "$redis" --postgres "$postgres" --ops-port 0 >>"$scratch/recorder.log" 2>&1 &
    pids[recorder]=$!
  }
  cleanup() {
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
    [ -n "$stunnel_pid" ] && kill "$stunnel_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    cli shutdown nosave >/dev/null 2>&1 || true
    [ -n "$clearing" ] && bash "$root/scripts/postgres-server" stop "$scratch/postgres"
    [ "${KEEP_DRILL:-}" = 1 ] && echo "drill: kept $scratch" >&2 || rm -rf "$scratch"
  }
  trap cleanup EXIT

  start_redis
  "$exchange" bench flow --symbols 20 --orders "$commands" --seed "$run" --output "$scratch/flow" 2>/dev/null
  "$exchange" ctl init --shards 2 --partitions 2 --redis "$redis" >/dev/null
  for shard in 0 1; do for replica in a b; do start_matcher "$shard" "$replica"; done; done
  leases=("me:{0}:lease" "me:{1}:lease")
  if [ -n "$clearing" ]; then
    chmod 755 "$scratch"
    postgres_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    pg_tls=()
    [ -n "$tls" ] && pg_tls=("$scratch/certs/server.pem" "$scratch/certs/server.key")
    postgres=$(bash "$root/scripts/postgres-server" start "$scratch/postgres" "$postgres_port" "${pg_tls[@]}")
    [ -n "$tls" ] && postgres="${postgres%%\?*}?sslmode=verify-full&sslrootcert=$scratch/certs/ca.pem"
    "$exchange" migrate --postgres "$postgres" >/dev/null
    for partition in 0 1; do for replica in a b; do start_clearing "$partition" "$replica"; done; done
    start_recorder
    leases+=("clr:{0}:lease" "clr:{1}:lease")
  fi
  for _ in $(seq 200); do
    held=1
    for lease in "${leases[@]}"; do [ -n "$(cli hget "$lease" holder)" ] || held=0; done
    [ $held = 1 ] && break
    sleep 0.05
  done
  "$exchange" feed "$scratch/flow" --redis "$redis" --rate $(( commands / feed_seconds )) ${clearing:+--via-clearing} 2>"$scratch/feed.log" &
  feed_pid=$!
  sleep 1.5

  primary=$(cli hget "$log:lease" holder)
  standby=$([ "$primary" = a ] && echo b || echo a)
  old_epoch=$(cli get "$log:epoch")
  started=$(now_ms)
  case "$action" in
    kill-primary) kill -9 "${pids[0-$primary]}" ;;
    kill-clearing-primary) kill -9 "${pids[c0-$primary]}" ;;
    pause-primary) kill -STOP "${pids[0-$primary]}" ;;
    restart-standby)
      kill -9 "${pids[0-$standby]}"; wait "${pids[0-$standby]}" 2>/dev/null || true
      rm -rf "$scratch/data-0-$standby"; start_matcher 0 "$standby" ;;
    restart-redis|restart-redis-clearing)
      cli shutdown >/dev/null 2>&1 || true; sleep 0.5; start_redis ;;
    restart-postgres)
      bash "$root/scripts/postgres-server" stop "$scratch/postgres"; sleep 0.5
      bash "$root/scripts/postgres-server" start "$scratch/postgres" "$postgres_port" "${pg_tls[@]}" >/dev/null ;;
    restart-recorder)
      kill -9 "${pids[recorder]}"; wait "${pids[recorder]}" 2>/dev/null || true; sleep 0.5; start_recorder ;;
  esac

  failover_ms=""
  if [ "$action" = kill-primary ] || [ "$action" = pause-primary ] || [ "$action" = kill-clearing-primary ]; then
    deadline=$(( $(now_ms) + 30000 ))
    while [ -z "$failover_ms" ] && [ "$(now_ms)" -lt "$deadline" ]; do
      epoch=$(cli get "$log:epoch")
      if [ "$epoch" != "$old_epoch" ]; then
        # The first output entry of the new epoch: its id carries Redis's clock in ms.
        if first=$("$exchange" ctl epoch-start $log_option --epoch "$epoch" --redis "$redis" 2>/dev/null); then
          failover_ms=$(( first - started ))
        fi
      fi
      sleep 0.005
    done
    [ -n "$failover_ms" ] || { echo "drill run $run: no output of a new epoch within 30 s" >&2; failed=1; }
    [ "$action" = pause-primary ] && { sleep 1; kill -CONT "${pids[0-$primary]}"; }
  fi

  wait "$feed_pid" || { echo "drill run $run: feed failed: $(tail -3 "$scratch/feed.log")" >&2; failed=1; }
  # Complete: every log's outputs caught up with its inputs, three polls in a row (a primary
  # forwards along the order path before it emits, so a caught-up log has grown its targets).
  watched="^(shard|partition) [0-9]+:"
  complete=""
  quiet=0
  for _ in $(seq 1200); do
    ok=1
    while read -r line; do
      length=$(echo "$line" | sed -n 's/.*input \([0-9]*\),.*/\1/p'); watermark=$(echo "$line" | sed -n 's/.*watermark \([0-9]*\),.*/\1/p')
      [ -n "$length" ] && [ "$length" = "$watermark" ] || ok=0
    done < <("$exchange" ctl status --redis "$redis" 2>/dev/null | grep -E "$watched" || echo "none")
    if [ $ok = 1 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ $quiet -ge 3 ] && { complete=1; break; }
    sleep 0.1
  done
  [ -n "$complete" ] || { echo "drill run $run: outputs did not catch up with the inputs" >&2; failed=1; }
  if [ "$action" = pause-primary ]; then
    # The woken primary must have been fenced and rejoined as a standby.
    sleep 1
    role=$(cli hget "me:{0}:replica:$primary" role)
    [ "$role" = standby ] || { echo "drill run $run: paused primary is '$role', not standby" >&2; failed=1; }
  fi
  if ! "$exchange" audit shards --redis "$redis" --require-complete >"$scratch/audit.txt"; then
    echo "drill run $run: audit failed:" >&2; cat "$scratch/audit.txt" >&2; failed=1
  fi
  if [ -n "$clearing" ]; then
    # The recorder catches up within a minute, or the PostgreSQL checks fail.
    for _ in $(seq 600); do
      "$exchange" audit clearing --redis "$redis" --postgres "$postgres" >"$scratch/audit-clearing.txt" && break
      grep -q "recorder is behind" "$scratch/audit-clearing.txt" || break
      sleep 0.1
    done
    if ! "$exchange" audit clearing --redis "$redis" --postgres "$postgres" >"$scratch/audit-clearing.txt"; then
      echo "drill run $run: clearing audit failed:" >&2; cat "$scratch/audit-clearing.txt" >&2; failed=1
    fi
    checked="audit shards and audit clearing ($(grep -c '^ok' "$scratch/audit-clearing.txt") checks ok; $(grep -o '[0-9]* trades in' "$scratch/audit-clearing.txt"))"
  else
    "$exchange" collect --redis "$redis" --output "$scratch/collect.out"
    "$exchange" replay "$scratch/flow" --output "$scratch/replay.out"
    if ! cmp -s "$scratch/collect.out" "$scratch/replay.out"; then
      echo "drill run $run: collect differs from replay" >&2; failed=1
    fi
    checked="audit and collect==replay"
  fi
  echo "run $run: $action, $commands commands, failover ${failover_ms:-n/a} ms, epochs $(cli get "$log:epoch"), $checked $([ $failed = 0 ] && echo ok || echo FAILED)"
  [ -n "$failover_ms" ] && failovers+=("$failover_ms")
  cleanup
  trap - EXIT
  unset pids
done

if [ ${#failovers[@]} -gt 0 ]; then
  sorted=($(printf '%s\n' "${failovers[@]}" | sort -n))
  echo "failover over ${#sorted[@]} runs: p50 ${sorted[$(( (${#sorted[@]} - 1) / 2 ))]} ms, max ${sorted[-1]} ms"
fi
exit $failed
