#!/usr/bin/env python3
"""Where the CPU goes at a steady rate: the client tests' cluster (2 shards and 2 clearing
partitions with standbys, recorder, gateway with market data, admin, Redis with AOF,
PostgreSQL), matchers under SCHED_FIFO while primary, fed by `exchange feed` at RATE commands/s
on 20 symbols. Prints each process's share of a core and its CPU per command over SECONDS,
Redis's command statistics per command, then its slow log at 0 µs for 2 s grouped by command
and keys (which script, which log), per command.

Usage: EXCHANGE_BINARY=PATH steady_cpu.py [--rate N] [--seconds N]
(figures from two builds are comparable only when run one after the other: the machine drifts)."""
import argparse
import collections
import os
import subprocess
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "clients"))
from cluster import Cluster  # noqa: E402


def ticks(pid):
    """utime + stime of process `pid`, in clock ticks (0 once it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def postgres_ticks(postmaster):
    """The postmaster's ticks and its children's (the backends)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if int(entry) == postmaster or parent == postmaster:
            total += ticks(int(entry))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="commands per second")
    parser.add_argument("--seconds", type=int, default=10, help="length of the measured window")
    arguments = parser.parse_args()
    cluster = Cluster(os.environ["EXCHANGE_BINARY"], matcher_args=("--realtime-priority", "10")).start()
    try:
        client = redis.Redis(port=cluster.redis_port)
        flow = os.path.join(cluster.dir, "steady.flow")
        cluster.run("bench", "flow", "--symbols", "20", "--orders", str(arguments.rate * (arguments.seconds + 15)), "--seed", "3",
                    "--activity", "uniform", "-o", flow)
        feeder = subprocess.Popen([cluster.binary, "feed", "--redis", cluster.redis, flow, "--rate", str(arguments.rate)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        postmaster = int(open(os.path.join(cluster.dir, "pg", "postmaster.pid")).read().split()[0])
        redis_pid = int(open(os.path.join(cluster.dir, "redis.pid")).read())

        def sample():
            taken = {name: ticks(process.pid) for name, process in [*cluster.processes.items(), ("feed", feeder)]}
            taken["postgres"] = postgres_ticks(postmaster)
            taken["redis"] = ticks(redis_pid)
            return taken

        print(f"measuring {arguments.seconds} s at {arguments.rate} commands/s", flush=True)
        client.config_resetstat()
        before, started = sample(), time.time()
        time.sleep(arguments.seconds)
        after, elapsed = sample(), time.time() - started
        stats = client.info("commandstats")
        commands = arguments.rate * elapsed
        hertz = os.sysconf("SC_CLK_TCK")
        print(f"CPU per process ({arguments.rate}/s over {elapsed:.1f} s):")
        for name in sorted(after, key=lambda n: before.get(n, 0) - after[n]):
            used = (after[name] - before.get(name, 0)) / hertz
            print(f"  {name:14s} {100 * used / elapsed:6.1f}% of a core  {1e6 * used / commands:7.1f} µs/command")
        print("Redis commands:")
        rows = sorted(((v["usec"], k, v["calls"]) for k, v in stats.items()), reverse=True)
        for usec, name, calls in rows[:12]:
            print(f"  {name:28s} {calls / commands:6.2f} calls/command  {usec / commands:7.1f} µs/command  {usec / max(calls, 1):6.1f} µs/call")
        print(f"  all commands: {sum(r[0] for r in rows) / commands:.1f} µs/command")
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 200_000)
        client.slowlog_reset()
        time.sleep(2)
        client.config_set("slowlog-log-slower-than", 10_000)
        grouped = collections.defaultdict(lambda: [0, 0])
        for entry in client.slowlog_get(200_000):
            words = entry["command"].split(b" ") if isinstance(entry["command"], bytes) else entry["command"].split(" ")
            key = " ".join(w if isinstance(w, str) else w.decode(errors="replace") for w in words[:6])[:110]
            grouped[key][0] += 1
            grouped[key][1] += entry["duration"]
        logged = arguments.rate * 2
        print("Redis slow log at 0 µs, 2 s (its own cost included), by command and keys:")
        for key, (calls, micros) in sorted(grouped.items(), key=lambda item: -item[1][1])[:20]:
            print(f"  {calls / logged:6.2f}/command {micros / logged:7.1f} µs/command {micros / calls:6.1f} µs/call  {key}")
        feeder.terminate()
        feeder.wait()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
