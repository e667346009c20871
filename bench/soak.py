#!/usr/bin/env python3
"""Soak: the default cluster/ topology (network namespaces, Redis with Sentinel, log trimming on)
under a steady flow fed through clearing for --minutes. Every --sample-seconds it records the
Redis master's memory and AOF size, the length of every log, and the latency of each shard's
and partition's newest outputs (the input entry's append to its output's append, over the
newest --latency-entries of each log: p50, p99, max). At the end the audits run on the
trimmed logs. Writes samples.csv, memory.svg, lengths.svg, latency.svg and README.md to
--report-dir, and prints progress as it goes.

Usage: bench/soak.py [--minutes 60] [--rate 2000] [--retention-seconds 300] --report-dir DIR
(bench/soak.sh builds the release binary and makes the Python environment first)."""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "cluster"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import netns  # noqa: E402
from svgplot import line_chart  # noqa: E402


def topology_with(retention, snapshot_entries):
    """The default topology with this soak's retention and snapshot cadence, in a temporary file."""
    with open(os.path.join(ROOT, "cluster", "topologies", "default.toml")) as f:
        text = f.read()
    text = re.sub(r"output_retention_seconds = \d+", f"output_retention_seconds = {retention}", text)
    text = re.sub(r"snapshot_entries = \d+", f"snapshot_entries = {snapshot_entries}", text)
    descriptor, path = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(descriptor, "w") as f:
        f.write(text)
    return path


def log_keys(topology):
    return [f"me:{{{s}}}" for s in range(topology.shards)] + [f"clr:{{{p}}}" for p in range(topology.partitions)]


def latencies(client, prefix, entries):
    """Microseconds from each of the newest `entries` outputs' inputs being appended to the output's append."""
    outputs = client.xrevrange(f"{prefix}:out", count=entries)
    pipe = client.pipeline(transaction=False)
    for _, fields in outputs:
        position = fields[b"p"].decode()
        pipe.xrange(f"{prefix}:in", f"{position}-1", f"{position}-1")
    values = []
    for (_, fields), found in zip(outputs, pipe.execute()):
        if found:
            values.append(int(fields[b"t"]) - int(found[0][1][b"t"]))
    return values


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=int, default=2000, help="commands per second fed through clearing")
    parser.add_argument("--retention-seconds", type=int, default=300)
    parser.add_argument("--snapshot-entries", type=int, default=20000)
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--latency-entries", type=int, default=500)
    parser.add_argument("--state", default="/tmp/openexchange-soak")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "exchange"))
    parser.add_argument("--report-dir", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.report_dir, exist_ok=True)

    netns.Cluster.down(arguments.state)
    os.makedirs(arguments.state)
    cluster = netns.Cluster(arguments.state, topology=topology_with(arguments.retention_seconds, arguments.snapshot_entries),
                            binary=arguments.binary)
    cluster.save()
    problems = []
    samples = []
    try:
        cluster.up()
        t = cluster.topology
        commands = int(arguments.rate * arguments.minutes * 60)
        flow = os.path.join(arguments.state, "flow")
        print(f"soak: generating {commands} commands", flush=True)
        cluster.exchange("bench", "flow", "--symbols", "20", "--orders", str(commands), "--seed", "7", "--output", flow)
        feed = cluster.spawn(cluster.tool_host(), "feed", [cluster.binary, "feed", flow, "--redis", t.redis_url(),
                                                           "--rate", str(arguments.rate), "--via-clearing"])
        started = time.monotonic()
        client = None
        while feed.poll() is None:
            time.sleep(arguments.sample_seconds)
            master_host, master_address = cluster.redis_master()
            if client is None or client.connection_pool.connection_kwargs["host"] != master_address:
                client = redis.Redis(host=master_address, port=t.redis["port"], password=cluster.password())
            memory = client.info("memory")["used_memory"]
            aof = client.info("persistence").get("aof_current_size", 0)
            lengths = {prefix: client.xlen(f"{prefix}:in") + client.xlen(f"{prefix}:out") for prefix in log_keys(t)}
            hops = {"matching": [], "clearing": []}
            for prefix in log_keys(t):
                hops["matching" if prefix.startswith("me") else "clearing"] += latencies(client, prefix, arguments.latency_entries)
            sample = {"seconds": round(time.monotonic() - started, 1), "used_memory_mb": round(memory / 2**20, 2),
                      "aof_mb": round(aof / 2**20, 2), "log_entries": sum(lengths.values())}
            for hop, values in hops.items():
                sample[f"{hop}_p50_ms"] = round(percentile(values, 0.5) / 1000, 3)
                sample[f"{hop}_p99_ms"] = round(percentile(values, 0.99) / 1000, 3)
                sample[f"{hop}_max_ms"] = round(max(values, default=0) / 1000, 3)
            samples.append(sample)
            print(f"soak: {sample['seconds']:.0f} s, Redis {sample['used_memory_mb']} MB, AOF {sample['aof_mb']} MB, "
                  f"{sample['log_entries']} log entries, p99 clearing {sample['clearing_p99_ms']} ms, matching {sample['matching_p99_ms']} ms",
                  flush=True)
        if feed.returncode != 0:
            problems.append("the feed failed: " + open(cluster.processes["feed"]["log"]).read()[-1000:])
        # Audits on the trimmed logs, once every output caught up and the recorder wrote it.
        time.sleep(5)
        shards = cluster.exchange("audit", "shards", "--redis", t.redis_url(), "--require-complete", check=False)
        clearing = None
        for _ in range(300):
            clearing = cluster.exchange("audit", "clearing", "--redis", t.redis_url(), "--postgres", t.postgres_url(), check=False)
            if clearing.returncode == 0 or "recorder is behind" not in clearing.stdout:
                break
            time.sleep(1)
        for name, result in (("audit shards", shards), ("audit clearing", clearing)):
            with open(os.path.join(arguments.report_dir, name.replace(" ", "-") + ".txt"), "w") as f:
                f.write("\n".join(l for l in result.stdout.splitlines() if not l.startswith("       user")) + result.stderr)
            if result.returncode != 0:
                problems.append(f"{name} failed (see {name.replace(' ', '-')}.txt)")
    finally:
        netns.Cluster.down(arguments.state, keep=bool(problems))

    write_report(arguments, samples, problems)
    print("soak: " + ("ok" if not problems else "FAILED: " + "; ".join(problems)), flush=True)
    sys.exit(1 if problems else 0)


def write_report(arguments, samples, problems):
    directory = arguments.report_dir
    if samples:
        with open(os.path.join(directory, "samples.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(samples[0].keys()))
            writer.writeheader()
            writer.writerows(samples)
    minutes = [s["seconds"] / 60 for s in samples]
    line_chart(os.path.join(directory, "memory.svg"), "Redis master: memory and AOF", "minutes", "MB",
               [("used_memory", list(zip(minutes, [s["used_memory_mb"] for s in samples]))),
                ("AOF size", list(zip(minutes, [s["aof_mb"] for s in samples])))])
    line_chart(os.path.join(directory, "lengths.svg"), "Entries in every input and output log", "minutes", "entries",
               [("all logs", list(zip(minutes, [s["log_entries"] for s in samples])))])
    line_chart(os.path.join(directory, "latency.svg"), "Input append to output append (newest entries of each log)", "minutes", "ms",
               [(f"{hop} {stat}", list(zip(minutes, [s[f"{hop}_{stat}_ms"] for s in samples])))
                for hop in ("clearing", "matching") for stat in ("p50", "p99")])
    settled = samples[len(samples) // 2:]

    def spread(key):
        values = [s[key] for s in settled]
        return f"{min(values)}–{max(values)} (median {statistics.median(values)})" if values else "-"

    with open(os.path.join(directory, "README.md"), "w") as f:
        f.write(f"# Soak ({time.strftime('%Y-%m-%d')})\n\n"
                f"`bench/soak.sh --minutes {arguments.minutes:g} --rate {arguments.rate}`: the default `cluster/` topology "
                f"(9 network namespaces, Redis master + 2 replicas with Sentinel, appends wait for a replica), log trimming on "
                f"(output retention {arguments.retention_seconds} s, a snapshot every {arguments.snapshot_entries} entries), "
                f"{arguments.rate} commands/s fed through clearing from the edge host for {arguments.minutes:g} minutes; "
                f"a sample every {arguments.sample_seconds:g} s.\n\n"
                f"Second half of the run (after the retention filled): Redis used memory {spread('used_memory_mb')} MB, "
                f"AOF {spread('aof_mb')} MB, log entries {spread('log_entries')}, "
                f"clearing p99 {spread('clearing_p99_ms')} ms, matching p99 {spread('matching_p99_ms')} ms.\n\n"
                f"Audits at the end on the trimmed logs: {'clean' if not problems else '; '.join(problems)} "
                f"(`audit-shards.txt`, `audit-clearing.txt`).\n\n"
                "![memory](memory.svg)\n\n![log entries](lengths.svg)\n\n![latency](latency.svg)\n\n"
                "Samples: `samples.csv`.\n")


if __name__ == "__main__":
    main()
