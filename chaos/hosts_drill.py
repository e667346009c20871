#!/usr/bin/env python3
"""Drills across hosts: every run brings a cluster/ topology up as network namespaces (default:
3 Redis hosts with Sentinel, PostgreSQL, 2 matcher hosts, 2 clearing hosts, an edge host),
feeds a generated flow through clearing from the edge host, and acts on a host mid-feed:

  cut-matcher-host        shard 0's primary's host loses its link for --cut-seconds, then gets it
                          back: the standby takes over; the cut-off primary is fenced and rejoins as standby
  kill-matcher-host       every process on shard 0's primary's host is SIGKILLed at once; the host's
                          roles start again 2 s later and rejoin as standbys
  kill-clearing-host      the same for partition 0's primary's host
  redis-loss              --loss percent of the packets between shard 0's primary's host and the Redis
                          hosts dropped for --loss-seconds: no failover may happen; then all of them
                          (a total loss) until the standby takes over, then healed
  kill-redis-master-host  the Redis master's host (its Redis and its sentinel) SIGKILLed: Sentinel
                          promotes a replica, the roles follow it; the host starts again as a replica
  restart-redis-host      the Redis master shut down (AOF synced) and started again on the same host
  restart-postgres-host   PostgreSQL stopped (fast shutdown) and started again on its host
  stall-redis-replicas    both Redis replicas frozen (SIGSTOP) for --stall-seconds, then resumed, as when
                          their hosts stall (a VM paused, a disk that stops answering): the master keeps
                          taking writes, unacknowledged; no shard or partition may fail over (a
                          failover cannot help: the new primary would wait for the same replicas)
  move-during-kill        `ctl move` of a symbol of shard 0 to shard 1 and, as it starts, every process on
                          shard 0's primary's host SIGKILLed: the standby takes over and the move completes
                          (the hand-over and take-over are in the logs); the symbol ends on shard 1

Each run ends when the feed has every command acknowledged and every log's outputs caught up
with its inputs, then checks: `exchange audit shards --require-complete`, `exchange audit
clearing --postgres` (once the recorder caught up), and that every order the flow placed is in
PostgreSQL exactly once (orders and order events), so no acknowledged order was lost. Through
clearing, a cancel may overtake its order, so `collect` is not compared with `replay` here
(chaos/drill.sh does that for matcher-only flows).

Usage: chaos/hosts_drill.py ACTION... | all [--runs N] [--commands N] [--feed-seconds S] [--report-dir DIR]
Prints one line per run and each action's failover times (p50, max); with --report-dir, writes
every run's result to DIR/results.jsonl and a summary table to DIR/README.md.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "cluster"))
import netns  # noqa: E402

ACTIONS = ("cut-matcher-host", "kill-matcher-host", "kill-clearing-host", "redis-loss", "kill-redis-master-host",
           "restart-redis-host", "restart-postgres-host", "move-during-kill", "stall-redis-replicas")
PSQL = "/usr/lib/postgresql/15/bin/psql"


def failed_checks(report):
    """The FAIL lines of an audit report, each with its first detail lines."""
    lines, keep, kept = [], 0, []
    for line in report.splitlines():
        if line.startswith("FAIL") or line.startswith("error"):
            keep = 6
        elif line.startswith("ok"):
            keep = 0
        if keep:
            kept.append(line)
            keep -= 1
    return "\n".join(kept) or report[-2000:]


def now_ms():
    return int(time.time() * 1000)


class Run:
    def __init__(self, cluster, arguments, number):
        self.cluster = cluster
        self.arguments = arguments
        self.number = number
        self.t = cluster.topology
        self.flow = os.path.join(cluster.state, "flow")
        self.problems = []
        self.result = {"action": arguments.action, "run": number, "commands": arguments.commands}

    def status(self):
        """{'shard 0': (input, watermark, epoch, lease holder), …} from `exchange ctl status`."""
        lines = self.cluster.exchange("ctl", "status", "--redis", self.t.redis_url(), check=False).stdout.splitlines()
        table = {}
        for line in lines:
            if line.startswith(("shard ", "partition ")) and "input" in line:
                name, rest = line.split(":", 1)
                fields = dict(part.strip().rsplit(" ", 1) for part in rest.split(","))
                table[name] = (int(fields["input"]), int(fields["output watermark"]), int(fields["epoch"]), fields["lease"])
        return table

    def primary_host(self, kind, number):
        prefix = "me" if kind == "matcher" else "clr"
        holder = self.cluster.master_cli("HGET", f"{prefix}:{{{number}}}:lease", "holder")
        return holder, self.t.host_of(f"{kind}:{number}:{holder}")

    def epoch(self, kind, number):
        prefix = "me" if kind == "matcher" else "clr"
        return self.cluster.master_cli("GET", f"{prefix}:{{{number}}}:epoch")

    def wait_failover(self, kind, number, old_epoch, started, timeout=30):
        """Milliseconds from `started` to the first output of a new epoch, or None."""
        option = "--shard" if kind == "matcher" else "--partition"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            epoch = self.epoch(kind, number)
            if epoch and epoch != old_epoch:
                first = self.cluster.exchange("ctl", "epoch-start", option, str(number), "--epoch", epoch, "--redis",
                                              self.t.redis_url(), check=False)
                if first.returncode == 0 and first.stdout.strip():
                    return int(first.stdout.strip()) - started
            time.sleep(0.01)
        self.problems.append(f"{kind} {number}: no output of a new epoch within {timeout} s")
        return None

    def wait_role(self, kind, number, replica, role, timeout=30):
        prefix = "me" if kind == "matcher" else "clr"
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = self.cluster.master_cli("HGET", f"{prefix}:{{{number}}}:replica:{replica}", "role")
            if seen == role:
                return True
            time.sleep(0.1)
        self.problems.append(f"{kind} {number} replica {replica} is '{seen}', not {role}")
        return False

    def act(self):
        action = self.arguments.action
        c = self.cluster
        started = now_ms()
        if action in ("cut-matcher-host", "kill-matcher-host", "kill-clearing-host", "redis-loss"):
            kind = "clearing" if action == "kill-clearing-host" else "matcher"
            holder, host = self.primary_host(kind, 0)
            old_epoch = self.epoch(kind, 0)
            self.result["host"] = host
            if action == "redis-loss":
                c.set_loss(host, self.arguments.loss)
                time.sleep(self.arguments.loss_seconds)
                if self.epoch(kind, 0) != old_epoch:
                    self.problems.append(f"false failover at {self.arguments.loss}% loss")
                self.result["false_failover"] = self.epoch(kind, 0) != old_epoch
                started = now_ms()
                c.set_loss(host, 100)
                self.result["failover_ms"] = self.wait_failover(kind, 0, old_epoch, started)
                c.set_loss(host, 0)
            elif action == "cut-matcher-host":
                c.set_link(host, False)
                self.result["failover_ms"] = self.wait_failover(kind, 0, old_epoch, started)
                time.sleep(max(0, self.arguments.cut_seconds - (now_ms() - started) / 1000))
                c.set_link(host, True)
            else:
                self.result["killed"] = c.kill_host(host)
                self.result["failover_ms"] = self.wait_failover(kind, 0, old_epoch, started)
                time.sleep(2)
                c.start_host_roles(host)
            # The deposed primary is fenced and comes back as a standby.
            self.wait_role(kind, 0, holder, "standby")
        elif action == "move-during-kill":
            holder, host = self.primary_host("matcher", 0)
            old_epoch = self.epoch("matcher", 0)
            self.result["host"] = host
            fields = c.master_cli("HGETALL", "cluster:symbols").split()
            symbol = next(name for name, place in zip(fields[::2], fields[1::2]) if place.startswith("0:"))
            self.result["symbol"] = symbol
            mover = c.spawn(c.tool_host(), "move", [c.binary, "ctl", "move", symbol, "--to", "1", "--redis", self.t.redis_url(),
                                                    "--timeout", "120"])
            time.sleep(0.05)  # the hand-over is in shard 0's log by now, or about to be
            started = now_ms()
            self.result["killed"] = c.kill_host(host)
            self.result["failover_ms"] = self.wait_failover("matcher", 0, old_epoch, started)
            time.sleep(2)
            c.start_host_roles(host)
            self.wait_role("matcher", 0, holder, "standby")
            code = mover.wait(timeout=180)
            with open(c.processes["move"]["log"]) as log:
                moved = log.read().strip()
            if code != 0:
                self.problems.append(f"ctl move failed: {moved[-1500:]}")
            self.result["move"] = moved[-300:]
            if not c.master_cli("HGET", "cluster:symbols", symbol).startswith("1:"):
                self.problems.append(f"{symbol} is not on shard 1 after the move")
        elif action == "kill-redis-master-host":
            host, address = c.redis_master()
            self.result["host"] = host
            c.kill_host(host)
            self.result["failover_ms"] = self.wait_redis_failover(address, started)
            time.sleep(2)
            c.start_host_roles(host)
        elif action == "restart-redis-host":
            host, _ = c.redis_master()
            self.result["host"] = host
            c.redis_cli(host, "SHUTDOWN")
            time.sleep(0.5)
            c.start_redis(host)
        elif action == "stall-redis-replicas":
            master, _ = c.redis_master()
            replicas = [host for host in self.t.redis_hosts if host != master]
            before = {name: entry[2] for name, entry in self.status().items()}
            self.result["host"] = ",".join(replicas)
            pids = [c.processes[f"redis@{host}"]["pid"] for host in replicas]
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(self.arguments.stall_seconds)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            time.sleep(2)
            after = {name: entry[2] for name, entry in self.status().items()}
            changed = {name: f"{before[name]} -> {after.get(name)}" for name in before if after.get(name) != before[name]}
            self.result["false_failovers"] = len(changed)
            if changed:
                self.problems.append(f"false failover while Redis's replicas stalled for {self.arguments.stall_seconds} s: {changed}")
        elif action == "restart-postgres-host":
            c.stop_postgres()
            time.sleep(1)
            c.start_postgres()

    def wait_redis_failover(self, old_address, started, timeout=30):
        """Milliseconds from `started` until the sentinels name a new master that takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host, address = self.cluster.redis_master()
            if address and address != old_address and self.cluster.redis_cli(host, "ROLE").stdout.startswith("master"):
                return now_ms() - started
            time.sleep(0.02)
        self.problems.append(f"Redis: no new master within {timeout} s")
        return None

    def wait_complete(self):
        quiet = 0
        for _ in range(1200):
            table = self.status()
            if table and all(entry[0] == entry[1] for entry in table.values()):
                quiet += 1
                if quiet >= 3:
                    return
            else:
                quiet = 0
            time.sleep(0.1)
        self.problems.append(f"outputs did not catch up with the inputs: {self.status()}")

    def audit(self):
        c, t = self.cluster, self.t
        shards = c.exchange("audit", "shards", "--redis", t.redis_url(), "--require-complete", check=False)
        if shards.returncode != 0:
            self.problems.append("audit shards failed:\n" + shards.stdout[-3000:] + shards.stderr[-1000:])
        clearing = None
        for _ in range(600):
            clearing = c.exchange("audit", "clearing", "--redis", t.redis_url(), "--postgres", t.postgres_url(), check=False)
            if clearing.returncode == 0 or "recorder is behind" not in clearing.stdout + clearing.stderr:
                break
            time.sleep(0.2)
        if clearing.returncode != 0:
            self.problems.append("audit clearing failed:\n" + failed_checks(clearing.stdout + clearing.stderr))
        self.result["audit_clearing_ok_checks"] = sum(1 for line in clearing.stdout.splitlines() if line.startswith("ok"))
        # Every order the flow placed, once: the recorder's orders and order events (a rejected
        # order has only events) hold exactly the flow's order ids.
        with open(self.flow) as f:
            placed = {line.split(",")[1] for line in f if line.startswith("place,")}
        recorded = set()
        for _ in range(300):
            query = c.run_on(c.tool_host(), PSQL, "-h", t.address(t.postgres_host), "-p", str(t.postgres["port"]), "-U", "exchange",
                             "-d", "exchange", "-tAc",
                             "SELECT order_id FROM exchange_order.orders UNION SELECT order_id FROM exchange_order.order_events",
                             check=False)
            recorded = set(query.stdout.split())
            if recorded >= placed:
                break
            time.sleep(0.2)
        missing, extra = placed - recorded, recorded - placed
        self.result["orders_placed"] = len(placed)
        self.result["orders_missing"] = len(missing)
        if missing or extra:
            self.problems.append(f"orders: {len(missing)} placed but not recorded (e.g. {sorted(missing)[:5]}), {len(extra)} unknown")

    def execute(self):
        c, a = self.cluster, self.arguments
        c.exchange("bench", "flow", "--symbols", "20", "--orders", str(a.commands), "--seed", str(self.number), "--output", self.flow)
        # The flow must outlast the action: redis-loss's lossy phase and its failover come first.
        seconds = max(a.feed_seconds, a.act_after + a.loss_seconds + 6) if a.action == "redis-loss" else a.feed_seconds
        feed = c.spawn(c.tool_host(), "feed", [c.binary, "feed", self.flow, "--redis", self.t.redis_url(),
                                               "--rate", str(int(a.commands / seconds)), "--via-clearing"])
        time.sleep(a.act_after)
        self.act()
        if feed.wait(timeout=600) != 0:
            self.problems.append(f"feed failed: {open(c.processes['feed']['log']).read()[-1500:]}")
        self.wait_complete()
        self.audit()
        self.result["epochs"] = {name: entry[2] for name, entry in self.status().items()}
        self.result["ok"] = not self.problems
        self.result["problems"] = self.problems
        return self.result


def run_action(arguments, action, number):
    """One run of `action` on a fresh cluster, torn down after (its state kept if it failed)."""
    arguments.action = action
    netns.Cluster.down(arguments.state)
    os.makedirs(arguments.state)
    cluster = netns.Cluster(arguments.state, topology=arguments.topology, binary=arguments.binary)
    cluster.save()
    try:
        cluster.up()
        result = Run(cluster, arguments, number).execute()
    except BaseException as error:  # a bring-up or tool failure fails the run, never the tear-down
        result = {"action": action, "run": number, "ok": False, "problems": [repr(error)]}
    failover = result.get("failover_ms")
    print(f"run {number}: {action} on {result.get('host', '-')}, {arguments.commands} commands, "
          f"failover {failover if failover is not None else 'n/a'} ms, epochs {result.get('epochs')}, "
          f"orders {result.get('orders_placed', '?')} placed / {result.get('orders_missing', '?')} missing, "
          f"{'ok' if result['ok'] else 'FAILED'}", flush=True)
    for problem in result.get("problems", []):
        print(f"  {problem}", flush=True)
    netns.Cluster.down(arguments.state, keep=not result["ok"])
    if not result["ok"]:  # the next run starts afresh in --state: keep this one's logs beside it
        kept = f"{arguments.state}-{action}-{number}"
        shutil.rmtree(kept, ignore_errors=True)
        os.rename(arguments.state, kept)
        print(f"  logs and data kept in {kept}", flush=True)
    return result


def summary(action, results):
    """(line for the terminal, row for the report) of one action's runs."""
    times = sorted(r["failover_ms"] for r in results if r.get("failover_ms") is not None)
    passed = sum(1 for r in results if r["ok"])
    p50 = statistics.median_low(times) if times else None
    maximum = times[-1] if times else None
    missing = sum(r.get("orders_missing", 0) for r in results)
    line = f"{action}: {passed}/{len(results)} passed" + (f", failover p50 {p50} ms, max {maximum} ms" if times else "")
    row = (f"| {action} | {len(results)} | {passed} | {p50 if p50 is not None else '-'} | {maximum if maximum is not None else '-'} | "
           f"{missing} | {'all clean' if passed == len(results) else 'see results.jsonl'} |")
    return line, row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("actions", nargs="+", choices=ACTIONS + ("all",))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--commands", type=int, default=60000)
    parser.add_argument("--feed-seconds", type=int, default=8)
    parser.add_argument("--act-after", type=float, default=2.0, help="seconds into the feed")
    parser.add_argument("--cut-seconds", type=float, default=4.0)
    parser.add_argument("--loss", type=int, default=2, help="percent of packets dropped in redis-loss's first phase")
    parser.add_argument("--loss-seconds", type=float, default=8.0)
    parser.add_argument("--stall-seconds", type=float, default=2.0, help="how long stall-redis-replicas freezes the replicas")
    parser.add_argument("--topology", default=os.path.join(ROOT, "cluster", "topologies", "default.toml"))
    parser.add_argument("--state", default="/tmp/openexchange-drill")
    parser.add_argument("--binary", default=os.environ.get("EXCHANGE_BINARY") or os.path.join(ROOT, ".build", "release", "exchange"))
    parser.add_argument("--report-dir", help="write results.jsonl and README.md here")
    arguments = parser.parse_args()
    actions = ACTIONS if "all" in arguments.actions else tuple(arguments.actions)

    everything, lines, rows = [], [], []
    for action in actions:
        results = [run_action(arguments, action, number) for number in range(1, arguments.runs + 1)]
        everything += results
        line, row = summary(action, results)
        print(line, flush=True)
        lines.append(line)
        rows.append(row)
    if arguments.report_dir:
        os.makedirs(arguments.report_dir, exist_ok=True)
        with open(os.path.join(arguments.report_dir, "results.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in everything)
        with open(os.path.join(arguments.report_dir, "README.md"), "w") as f:
            f.write(f"# Drills across hosts ({time.strftime('%Y-%m-%d')})\n\n"
                    f"`chaos/hosts-drill.sh --runs {arguments.runs}` on `{os.path.relpath(arguments.topology, ROOT)}`: "
                    f"{arguments.commands} commands per run fed through clearing over {arguments.feed_seconds} s "
                    f"(redis-loss: {arguments.loss}% loss for {arguments.loss_seconds:g} s, then total loss). "
                    "Each run ends with `audit shards --require-complete`, `audit clearing --postgres` and every placed "
                    "order found in PostgreSQL exactly once. Failover: the action to the first output of the new epoch "
                    "(kill-redis-master-host: to a new master taking writes).\n\n"
                    "| drill | runs | passed | failover p50 ms | max ms | orders missing | audits |\n"
                    "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")
    sys.exit(0 if all(r["ok"] for r in everything) else 1)


if __name__ == "__main__":
    main()
