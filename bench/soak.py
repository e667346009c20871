#!/usr/bin/env python3
"""Soak and load on the default cluster/ topology (network namespaces, Redis with Sentinel, log
trimming on): a steady generated flow (--symbols, --users) fed through clearing for --minutes,
and optionally (--gateway-connections) traders placing orders through the gateway's API
meanwhile (`exchange bench gateway` from the edge host, its own users registered and funded
through the API and clearing). Every --sample-seconds it records the Redis master's memory and
AOF size, the length of every log, the commands reaching the shards per second, each role's
CPU, and the latency of each shard's and partition's newest outputs (the input entry's append
to its output's append, over the newest --latency-entries of each log: p50, p99, max). At the
end the audits run on the trimmed logs. Writes samples.csv, memory.svg, lengths.svg,
latency.svg, throughput.svg, cpu.svg and README.md to --report-dir, and prints progress.

Usage: bench/soak.py [--minutes 60] [--rate 2000] [--symbols 20] [--users 1000] [--gateway-connections 0] --report-dir DIR
(bench/soak.sh and bench/load.sh build the release binary and make the Python environment first)."""

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


def topology_with(retention, snapshot_entries, high_gateway_limits):
    """The default topology with this run's retention and snapshot cadence (and, for a load
    test, gateway rate limits above the load), in a temporary file."""
    with open(os.path.join(ROOT, "cluster", "topologies", "default.toml")) as f:
        text = f.read()
    text = re.sub(r"output_retention_seconds = \d+", f"output_retention_seconds = {retention}", text)
    text = re.sub(r"snapshot_entries = \d+", f"snapshot_entries = {snapshot_entries}", text)
    if high_gateway_limits:
        text += "\n[gateway]\nweight_per_minute = 1000000000\norders_per_10_seconds = 1000000000\n"
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


def read_varint(data, offset):
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, offset
        shift += 7


def commands_in(payload):
    """The commands of a shard input entry (`ShardInput` kind 1: version, kind, symbol names, count)."""
    if len(payload) < 3 or payload[1] != 1:
        return 0
    names, offset = read_varint(payload, 2)
    for _ in range(names):
        length, offset = read_varint(payload, offset)
        offset += length
    return read_varint(payload, offset)[0]


class CommandCounter:
    """Commands appended to the shards' input logs since the last count."""

    def __init__(self, shards):
        self.after = {shard: 0 for shard in range(shards)}

    def count(self, client):
        total = 0
        for shard, after in self.after.items():
            while True:
                page = client.xrange(f"me:{{{shard}}}:in", f"{after + 1}-1", "+", count=5000)
                for entry_id, fields in page:
                    total += commands_in(fields[b"d"])
                    after = int(entry_id.split(b"-")[0])
                if len(page) < 5000:
                    break
            self.after[shard] = after
        return total


class CPUMeter:
    """CPU use (percent of one core) per role and per host, between two samples, from /proc."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.previous = {}
        self.at = time.monotonic()

    @staticmethod
    def seconds(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def sample(self):
        now = time.monotonic()
        interval, self.at = now - self.at, now
        used = {}
        roles = {str(p["pid"]): name.split("@")[0].split(":")[0] for name, p in self.cluster.processes.items()}
        for host in self.cluster.topology.hosts:
            pids = subprocess.run(["ip", "netns", "pids", netns.NAMESPACE_PREFIX + host], capture_output=True, text=True).stdout.split()
            for pid in pids:
                seconds = self.seconds(pid)
                if seconds is None:
                    continue
                before = self.previous.get(pid, seconds)
                self.previous[pid] = seconds
                for key in (f"role {roles.get(pid, 'other')}", f"host {host}"):
                    used[key] = used.get(key, 0) + (seconds - before)
        return {key: round(100 * value / interval, 1) for key, value in used.items()}


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
    parser.add_argument("--symbols", type=int, default=20, help="symbols of the generated flow")
    parser.add_argument("--users", type=int, default=1000, help="users of the generated flow (each funded through clearing)")
    parser.add_argument("--gateway-connections", type=int, default=0, help="traders on the gateway's API meanwhile (0: none)")
    parser.add_argument("--gateway-seconds", type=int, default=30, help="seconds per phase of `exchange bench gateway`")
    parser.add_argument("--rewrite-every", type=float, default=0,
                        help="seconds between AOF rewrites forced on every Redis host at once (0: only Redis's own)")
    parser.add_argument("--title", default="Soak")
    parser.add_argument("--high-gateway-limits", action="store_true", help="the gateway's rate limits above the load")
    parser.add_argument("--state", default="/tmp/openexchange-soak")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "exchange"))
    parser.add_argument("--report-dir", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.report_dir, exist_ok=True)

    netns.Cluster.down(arguments.state)
    os.makedirs(arguments.state)
    cluster = netns.Cluster(arguments.state, topology=topology_with(arguments.retention_seconds, arguments.snapshot_entries, arguments.high_gateway_limits),
                            binary=arguments.binary)
    cluster.save()
    problems = []
    samples = []
    step_downs = {}
    try:
        cluster.up()
        t = cluster.topology
        commands = int(arguments.rate * arguments.minutes * 60)
        flow = os.path.join(arguments.state, "flow")
        print(f"soak: generating {commands} commands on {arguments.symbols} symbols for {arguments.users} users", flush=True)
        cluster.exchange("bench", "flow", "--symbols", str(arguments.symbols), "--users", str(arguments.users), "--orders", str(commands),
                         "--seed", "7", "--output", flow)
        feed = cluster.spawn(cluster.tool_host(), "feed", [cluster.binary, "feed", flow, "--redis", t.redis_url(),
                                                           "--rate", str(arguments.rate), "--via-clearing"])
        started = time.monotonic()
        client = None
        counter = CommandCounter(t.shards)
        cpu = CPUMeter(cluster)
        gateway = None
        last_sample = time.monotonic()
        last_rewrite = time.monotonic()
        while feed.poll() is None:
            time.sleep(arguments.sample_seconds)
            if arguments.rewrite_every and time.monotonic() - last_rewrite >= arguments.rewrite_every:
                last_rewrite = time.monotonic()
                for host in t.redis_hosts:
                    cluster.redis_cli(host, "BGREWRITEAOF")
            if arguments.gateway_connections and gateway is None and time.monotonic() - started > arguments.minutes * 20:
                gateway = start_gateway_traders(cluster, arguments)
            master_host, master_address = cluster.redis_master()
            if client is None or client.connection_pool.connection_kwargs["host"] != master_address:
                client = redis.Redis(host=master_address, port=t.redis["port"], password=cluster.password())
            memory = client.info("memory")["used_memory"]
            aof = client.info("persistence").get("aof_current_size", 0)
            lengths = {prefix: client.xlen(f"{prefix}:in") + client.xlen(f"{prefix}:out") for prefix in log_keys(t)}
            hops = {"matching": [], "clearing": []}
            for prefix in log_keys(t):
                hops["matching" if prefix.startswith("me") else "clearing"] += latencies(client, prefix, arguments.latency_entries)
            now = time.monotonic()
            sample = {"seconds": round(now - started, 1), "used_memory_mb": round(memory / 2**20, 2),
                      "aof_mb": round(aof / 2**20, 2), "log_entries": sum(lengths.values()),
                      "shard_commands_per_s": round(counter.count(client) / (now - last_sample)),
                      "gateway_traders": int(gateway is not None and gateway.poll() is None)}
            last_sample = now
            sample.update(cpu.sample())
            for hop, values in hops.items():
                sample[f"{hop}_p50_ms"] = round(percentile(values, 0.5) / 1000, 3)
                sample[f"{hop}_p99_ms"] = round(percentile(values, 0.99) / 1000, 3)
                sample[f"{hop}_max_ms"] = round(max(values, default=0) / 1000, 3)
            samples.append(sample)
            print(f"soak: {sample['seconds']:.0f} s, Redis {sample['used_memory_mb']} MB, AOF {sample['aof_mb']} MB, "
                  f"{sample['log_entries']} log entries, {sample['shard_commands_per_s']} commands/s to the shards, "
                  f"p99 clearing {sample['clearing_p99_ms']} ms, matching {sample['matching_p99_ms']} ms", flush=True)
        if feed.returncode != 0:
            problems.append("the feed failed: " + open(cluster.processes["feed"]["log"]).read()[-1000:])
        if gateway is not None:
            if gateway.wait(timeout=600) != 0:
                problems.append("the gateway traders failed: " + open(cluster.processes["bench-gateway"]["log"]).read()[-1000:])
            with open(cluster.processes["bench-gateway"]["log"]) as log, open(os.path.join(arguments.report_dir, "gateway.txt"), "w") as out:
                out.write(log.read())
        # Audits on the trimmed logs, once every output caught up and the recorder wrote it.
        time.sleep(5)
        shards = cluster.exchange("audit", "shards", "--redis", t.redis_url(), "--require-complete", check=False)
        clearing = None
        for _ in range(300):
            clearing = cluster.exchange("audit", "clearing", "--redis", t.redis_url(), "--postgres", t.postgres_url(), check=False)
            if clearing.returncode == 0 or "recorder is behind" not in clearing.stdout:
                break
            time.sleep(1)
        step_downs = count_step_downs(cluster)
        for name, result in (("audit shards", shards), ("audit clearing", clearing)):
            with open(os.path.join(arguments.report_dir, name.replace(" ", "-") + ".txt"), "w") as f:
                f.write("\n".join(l for l in result.stdout.splitlines() if not l.startswith("       user")) + result.stderr)
            if result.returncode != 0:
                problems.append(f"{name} failed (see {name.replace(' ', '-')}.txt)")
    finally:
        netns.Cluster.down(arguments.state, keep=bool(problems))

    write_report(arguments, samples, problems, step_downs)
    print("soak: " + ("ok" if not problems else "FAILED: " + "; ".join(problems)), flush=True)
    sys.exit(1 if problems else 0)


def start_gateway_traders(cluster, arguments):
    """`exchange bench gateway` from the edge host against its gateway, on BTCUSDT (listed here
    if the flow did not), in the background."""
    t = cluster.topology
    redis_url = t.redis_url()
    for asset, scale in (("BTC", "8"), ("USDT", "6")):
        cluster.exchange("ctl", "asset", "add", asset, "--scale", scale, "--redis", redis_url, check=False)
    cluster.exchange("ctl", "symbol", "add", "BTCUSDT", "--base", "BTC", "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                     "--min-notional", "0", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", redis_url, check=False)
    gateway = next(f"http://{t.address(host)}:{netns.SERVICE_PORTS['gateway']}" for host, role, _ in t.roles if role == "gateway")
    print(f"soak: traders on the gateway's API ({arguments.gateway_connections} connections)", flush=True)
    return cluster.spawn(cluster.tool_host(), "bench-gateway", [
        cluster.binary, "bench", "gateway", "--redis", redis_url, "--gateway", gateway, "--connections", str(arguments.gateway_connections),
        "--seconds", str(arguments.gateway_seconds)])


def count_step_downs(cluster):
    """What the replicas' logs say of their leases: step-downs by reason, and failed renewals and
    observations (each a warning the replica logged)."""
    counts = {}
    for name, entry in cluster.processes.items():
        if not name.startswith(("matcher", "clearing")):
            continue
        with open(entry["log"], errors="replace") as log:
            for line in log:
                found = re.search(r"stepped down from epoch \d+: ([^;]+);", line)
                key = f"stepped down: {found.group(1)}" if found else next(
                    (warning for warning in ("renew failed", "observe failed", "append failed", "append not acknowledged") if warning in line), None)
                if key:
                    counts[key] = counts.get(key, 0) + 1
    return counts


def write_report(arguments, samples, problems, step_downs):
    directory = arguments.report_dir
    if samples:
        with open(os.path.join(directory, "samples.csv"), "w", newline="") as f:
            fields = list(dict.fromkeys(key for sample in samples for key in sample))
            writer = csv.DictWriter(f, fieldnames=fields, restval=0)
            writer.writeheader()
            writer.writerows(samples)
    minutes = [s["seconds"] / 60 for s in samples]
    line_chart(os.path.join(directory, "memory.svg"), "Redis master: memory and AOF", "minutes", "MB",
               [("used_memory", list(zip(minutes, [s["used_memory_mb"] for s in samples]))),
                ("AOF size", list(zip(minutes, [s["aof_mb"] for s in samples])))])
    line_chart(os.path.join(directory, "lengths.svg"), "Entries in every input and output log", "minutes", "entries",
               [("all logs", list(zip(minutes, [s["log_entries"] for s in samples])))])
    line_chart(os.path.join(directory, "throughput.svg"), "Commands reaching the shards", "minutes", "commands/s",
               [("commands/s", list(zip(minutes, [s["shard_commands_per_s"] for s in samples]))),
                ("traders on the gateway (x1000)", list(zip(minutes, [1000 * s["gateway_traders"] for s in samples])))])
    hosts = sorted({key for s in samples for key in s if key.startswith("host ")})
    line_chart(os.path.join(directory, "cpu.svg"), "CPU per host (percent of one core; the machine has 2)", "minutes", "%",
               [(key[5:], list(zip(minutes, [s.get(key, 0) for s in samples]))) for key in hosts])
    line_chart(os.path.join(directory, "latency.svg"), "Input append to output append (newest entries of each log)", "minutes", "ms",
               [(f"{hop} {stat}", list(zip(minutes, [s[f"{hop}_{stat}_ms"] for s in samples])))
                for hop in ("clearing", "matching") for stat in ("p50", "p99")])
    settled = samples[len(samples) // 2:]

    def spread(key):
        values = [s[key] for s in settled]
        if not values:
            return "-"
        median = f"{statistics.median(values):.3f}".rstrip("0").rstrip(".")
        return f"{min(values)}–{max(values)} (median {median})"

    def average(key):
        values = [s.get(key, 0) for s in settled]
        return sum(values) / len(values) if values else 0

    cpu_keys = sorted({key for s in settled for key in s if key.startswith(("role ", "host "))}, key=average, reverse=True)
    cpu_table = "| where | CPU, % of one core (second half, mean) |\n| --- | --- |\n" + "".join(
        f"| {key} | {average(key):.0f} |\n" for key in cpu_keys)
    total = sum(average(key) for key in cpu_keys if key.startswith("host "))
    with open(os.path.join(directory, "README.md"), "w") as f:
        f.write(f"# {arguments.title} ({time.strftime('%Y-%m-%d')})\n\n"
                f"`bench/soak.py --minutes {arguments.minutes:g} --rate {arguments.rate} --symbols {arguments.symbols} "
                f"--users {arguments.users} --gateway-connections {arguments.gateway_connections}"
                + (f" --rewrite-every {arguments.rewrite_every:g}" if arguments.rewrite_every else "")
                + "`: the default `cluster/` topology "
                f"(9 network namespaces, Redis master + 2 replicas with Sentinel, appends wait for a replica), log trimming on "
                f"(output retention {arguments.retention_seconds} s, a snapshot every {arguments.snapshot_entries} entries), "
                f"a flow on {arguments.symbols} symbols by {arguments.users} users (each funded through clearing) fed through "
                f"clearing at {arguments.rate} commands/s from the edge host for {arguments.minutes:g} minutes"
                + (f", and `exchange bench gateway` ({arguments.gateway_connections} connections, its own traders registered "
                   f"through the API) on the gateway in the second third (`gateway.txt`)" if arguments.gateway_connections else "")
                + f"; a sample every {arguments.sample_seconds:g} s.\n\n"
                f"Commands reaching the shards: {spread('shard_commands_per_s')} per second. CPU of the whole machine: "
                f"{total:.0f}% of one core on average (2 cores: 200%).\n\n{cpu_table}\n"
                f"Second half of the run (after the retention filled): Redis used memory {spread('used_memory_mb')} MB, "
                f"AOF {spread('aof_mb')} MB, log entries {spread('log_entries')}, "
                f"clearing p99 {spread('clearing_p99_ms')} ms, matching p99 {spread('matching_p99_ms')} ms.\n\n"
                f"Replicas' leases over the run (from their logs): "
                + (", ".join(f"{key} {count}" for key, count in sorted(step_downs.items())) or "no step-down, no failed renewal")
                + ".\n\n"
                f"Audits at the end on the trimmed logs: {'clean' if not problems else '; '.join(problems)} "
                f"(`audit-shards.txt`, `audit-clearing.txt`).\n\n"
                "![throughput](throughput.svg)\n\n![latency](latency.svg)\n\n![CPU per host](cpu.svg)\n\n"
                "![memory](memory.svg)\n\n![log entries](lengths.svg)\n\n"
                "Samples: `samples.csv`.\n")


if __name__ == "__main__":
    main()
