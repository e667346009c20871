#!/usr/bin/env python3
"""Does an AOF rewrite delay the acknowledgement of Redis's replicas (`WAIT`)?

A private master and two replicas on loopback (AOF, `appendfsync always`, all on one disk, as
the network-namespace topologies run them), loaded with about 85 MB of stream entries; then
for --seconds a writer sends `XADD` + `WAIT 1 500` every millisecond, while every 30 s all three
servers are told to `BGREWRITEAOF` at once. Prints the latency of each write-and-wait
(p50/p99/p99.9/max) within 10 s after a rewrite and otherwise, and how many waits fell short
of a replica.

Usage: bench/aof_rewrite_wait.py [--seconds 130] [--directory /tmp/aof-rewrite-wait] [--port 7001]
(with the client tests' virtual environment, for redis-py: .build/client-tests-venv/bin/python)
"""

import argparse
import os
import shutil
import subprocess
import threading
import time

import redis


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=130)
    parser.add_argument("--directory", default="/tmp/aof-rewrite-wait")
    parser.add_argument("--port", type=int, default=7001, help="the master's; the replicas take the next two")
    arguments = parser.parse_args()
    ports = [arguments.port, arguments.port + 1, arguments.port + 2]
    shutil.rmtree(arguments.directory, ignore_errors=True)
    for index, port in enumerate(ports):
        directory = os.path.join(arguments.directory, str(port))
        os.makedirs(directory)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--daemonize", "yes", "--logfile", os.path.join(directory, "log"),
                "--auto-aof-rewrite-percentage", "0"]
        if index:
            argv += ["--replicaof", "127.0.0.1", str(ports[0])]
        subprocess.run(argv, check=True)
    try:
        measure(ports, arguments.seconds)
    finally:
        for port in ports:
            try:
                redis.Redis(port=port).shutdown(nosave=True)
            except redis.exceptions.ConnectionError:
                pass


def measure(ports, seconds):
    time.sleep(1)
    master = redis.Redis(port=ports[0])
    payload = b"x" * 200
    pipe = master.pipeline(transaction=False)
    for index in range(400_000):
        pipe.xadd("log", {"d": payload})
        if index % 5000 == 4999:
            pipe.execute()
            print(f"loading: {index + 1} entries", end="\r", flush=True)
    pipe.execute()
    master.wait(2, 5000)
    print(f"loaded: {master.info('memory')['used_memory_human']}", flush=True)
    samples = []  # (seconds since start, milliseconds, replicas that acknowledged)
    rewrites = []
    started = time.monotonic()

    def rewrite_every_30_seconds():
        while time.monotonic() - started < seconds - 30:
            time.sleep(30)
            rewrites.append(time.monotonic() - started)
            print(f"rewrite at {rewrites[-1]:.0f} s", flush=True)
            for port in ports:
                redis.Redis(port=port).bgrewriteaof()

    threading.Thread(target=rewrite_every_30_seconds, daemon=True).start()
    writer = master.pipeline(transaction=False)
    while time.monotonic() - started < seconds:
        sent = time.monotonic()
        writer.xadd("log", {"d": payload}, maxlen=400_000, approximate=True)
        writer.execute_command("WAIT", 1, 500)
        acknowledged = writer.execute()[1]
        answered = time.monotonic()
        samples.append((sent - started, (answered - sent) * 1000, acknowledged))
        time.sleep(max(0.0, 0.001 - (answered - sent)))

    def after_a_rewrite(at):
        return any(0 <= at - rewrite < 10 for rewrite in rewrites)

    for label, chosen in (("within 10 s after a rewrite", [s for s in samples if after_a_rewrite(s[0])]),
                          ("otherwise", [s for s in samples if not after_a_rewrite(s[0])])):
        latencies = sorted(s[1] for s in chosen)
        if not latencies:
            continue

        def quantile(fraction):
            return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]

        print(f"{label}: {len(latencies)} writes, p50 {quantile(0.5):.2f} ms, p99 {quantile(0.99):.2f} ms, "
              f"p99.9 {quantile(0.999):.2f} ms, max {latencies[-1]:.1f} ms; waits short of a replica: "
              f"{sum(1 for s in chosen if s[2] < 1)}")


if __name__ == "__main__":
    main()
