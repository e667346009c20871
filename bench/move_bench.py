#!/usr/bin/env python3
"""Measures live symbol moves (`exchange ctl move`): how long a symbol with a book of BOOK
resting orders is halted as it moves between the two shards, against the same move of a
symbol with one resting order (the baseline, measured in the same run), and whether the other
symbols notice: the input-to-output latency of a steady feed on 20 other symbols (both
shards) during the moves against the rest of the run. Writes summary.txt and moves.svg into
the report directory, with windows.txt (each move's halt in µs of Redis time, for matching
CPU profiles to it) and timeline.txt (every entry of both shards around the first two moves of
the book).

The cluster is the client tests' (2 shards and 2 clearing partitions with standbys, recorder,
gateway, admin, Redis with AOF), matchers under SCHED_FIFO as in the other benchmarks.

Usage (bench/move.sh runs it): move_bench.py REPORT_DIR [--book N] [--rounds N] [--rate N]"""
import argparse
import os
import re
import subprocess
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "clients"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
from svgplot import line_chart  # noqa: E402


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0


FIRST_ID = 10**12
PSQL = "/usr/lib/postgresql/15/bin/psql"


def write_book(path, orders):
    """BIGUSDT with `orders` resting GTC orders (bids 9000.00-9009.99, asks 9010.01-9020.00,
    1,000 users, about orders/2000 per level), SMALLUSDT with one. Order ids start at 10^12,
    clear of the steady flow's (a shard refuses a book holding an id it already has)."""
    with open(path, "w") as f:
        f.write("symbol,BIGUSDT,0.01,0.0001\nsymbol,SMALLUSDT,0.01,0.0001\n")
        for i in range(orders):
            level = (i // 2) % 1000
            if i % 2 == 0:
                f.write(f"place,{FIRST_ID + i},{i % 1000 + 1},BIGUSDT,buy,limit,gtc,{9000 + level / 100:.2f},0.{1 + i % 9}000\n")
            else:
                f.write(f"place,{FIRST_ID + i},{i % 1000 + 1},BIGUSDT,sell,limit,gtc,{9010.01 + level / 100:.2f},0.{1 + i % 9}000\n")
        f.write(f"place,{FIRST_ID + orders},1,SMALLUSDT,buy,limit,gtc,100.00,0.1000\n")


def quiet(client):
    """Waits until both shards' outputs caught up with their inputs."""
    deadline = time.time() + 300
    while time.time() < deadline:
        done = True
        for shard in (0, 1):
            length = int(client.get(f"me:{{{shard}}}:seq") or 0)
            last = client.xrevrange(f"me:{{{shard}}}:out", count=1)
            if not last or int(last[0][1][b"p"]) < length:
                done = False
        if done:
            return
        time.sleep(0.2)
    raise RuntimeError("the shards did not catch up")


def owner(client, symbol):
    return int(client.hget("cluster:symbols", symbol).split(b":")[0])


def move(cluster, client, symbol):
    """Moves `symbol` to the other shard; returns (halted ms, window start µs, window end µs,
    ms from the hand-over's append to the take-over's append (the old shard's part))."""
    source = owner(client, symbol)
    out = cluster.run("ctl", "move", symbol, "--to", str(1 - source), "--redis", cluster.redis).stdout
    found = re.search(r"halted at most ([0-9.]+) ms \(hand-over at input (\d+) of shard \d+, take-over answered at input (\d+)", out)
    assert found, out
    halted, handover, takeover = float(found.group(1)), found.group(2), found.group(3)
    start = int(client.xrange(f"me:{{{source}}}:in", f"{handover}-1", f"{handover}-1")[0][1][b"t"])
    # A book of several steps is answered at the new shard's last step: its take-over entry (kind 4,
    # the book) is the latest before that one.
    # Read back a page at a time: a long read of entries holding books stalls Redis for everyone.
    taken, before = None, f"{takeover}-1"
    while taken is None:
        entries = client.xrevrange(f"me:{{{1 - source}}}:in", before, "-", count=32)
        taken = next((int(fields[b"t"]) for _, fields in entries if fields[b"d"][1:2] == b"\x04"), None)
        before = f"({entries[-1][0].decode()}"
    return halted, start, start + int(halted * 1000), (taken - start) / 1000


def recorded(cluster, orders):
    """Waits until the recorder has written `orders` orders to PostgreSQL (it competes for the
    CPU until then)."""
    deadline = time.time() + 600
    while time.time() < deadline:
        count = subprocess.run([PSQL, cluster.postgres, "-tAc", "SELECT count(*) FROM exchange_order.orders"],
                               capture_output=True, text=True).stdout.strip()
        if count.isdigit() and int(count) >= orders:
            return
        time.sleep(1)
    raise RuntimeError("the recorder did not catch up")


def entry_latencies(client, after):
    """(input time µs, latency µs, shard) of every output after input position `after[shard]`,
    and the entries themselves: (input time µs, shard, position, payload kind, input bytes,
    output time µs or None, output bytes)."""
    samples, entries = [], []
    for shard in (0, 1):
        inputs = {}
        for entry_id, fields in client.xrange(f"me:{{{shard}}}:in", f"{after[shard] + 1}-1", "+"):
            inputs[int(entry_id.split(b"-")[0])] = (int(fields[b"t"]), fields[b"d"][1:2].hex(), len(fields[b"d"]))
        outputs = {}
        for _, fields in client.xrange(f"me:{{{shard}}}:out", "-", "+"):
            position = int(fields[b"p"])
            outputs[position] = (int(fields[b"t"]), len(fields[b"d"]))
            if position in inputs:
                samples.append((inputs[position][0], int(fields[b"t"]) - inputs[position][0], shard))
        for position, (t, kind, size) in inputs.items():
            output = outputs.get(position)
            entries.append((t, shard, position, kind, size, output[0] if output else None, output[1] if output else 0))
    return samples, sorted(entries)


def timeline(entries, start, end):
    """Both shards' input entries from 3 ms before a move to 5 ms after it: when each came,
    its kind (payload byte 1: 01 commands, 03 handOver, 04 takeOver, 05 continueMove), its size,
    and when its output came."""
    lines = []
    for t, shard, position, kind, size, out, out_size in entries:
        if start - 3_000 <= t <= end + 5_000:
            answered = f"output at {(out - start) / 1000:7.2f} ms ({(out - t) / 1000:6.2f} ms later, {out_size} B)" if out else "no output"
            lines.append(f"{(t - start) / 1000:7.2f} ms  shard {shard}  input {position}  kind {kind}  {size} B  {answered}")
    return lines


def step_timings(client, after):
    """For the moves' steps (`continueMove` entries, payload kind 5): the time from each step's
    input to the next one's on the same shard (ms, within a move), and each step's input-to-output
    time (ms)."""
    intervals, latencies = [], []
    for shard in (0, 1):
        outputs = {int(fields[b"p"]): int(fields[b"t"]) for _, fields in client.xrange(f"me:{{{shard}}}:out", "-", "+")}
        previous = None
        for entry_id, fields in client.xrange(f"me:{{{shard}}}:in", f"{after[shard] + 1}-1", "+"):
            if fields[b"d"][1:2] != b"\x05":
                continue
            position, t = int(entry_id.split(b"-")[0]), int(fields[b"t"])
            if previous is not None and t - previous < 100_000:
                intervals.append((t - previous) / 1000)
            previous = t
            if position in outputs:
                latencies.append((outputs[position] - t) / 1000)
    return intervals, latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("--book", type=int, default=100_000, help="resting orders of the moved book")
    parser.add_argument("--rounds", type=int, default=10, help="moves of each symbol")
    parser.add_argument("--rate", type=int, default=1000, help="commands per second of the steady feed on other symbols")
    arguments = parser.parse_args()
    os.makedirs(arguments.report, exist_ok=True)
    cluster = Cluster(os.environ["EXCHANGE_BINARY"], matcher_args=("--realtime-priority", "10")).start()
    try:
        client = redis.Redis(port=cluster.redis_port)
        book = os.path.join(cluster.dir, "book.flow")
        write_book(book, arguments.book)
        print(f"loading a book of {arguments.book} resting orders", flush=True)
        cluster.run("feed", "--redis", cluster.redis, book)
        recorded(cluster, arguments.book + 1)
        steady = os.path.join(cluster.dir, "steady.flow")
        commands = arguments.rate * (arguments.rounds * 6 + 10)
        cluster.run("bench", "flow", "--symbols", "20", "--orders", str(commands), "--seed", "3", "--activity", "uniform", "-o", steady)
        quiet(client)
        after = {shard: int(client.get(f"me:{{{shard}}}:seq") or 0) for shard in (0, 1)}
        began = time.time()
        feeder = subprocess.Popen([cluster.binary, "feed", "--redis", cluster.redis, steady, "--rate", str(arguments.rate)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        # A first move of each, not measured: the shard taking the book grows its order pool.
        warmup = [move(cluster, client, "BIGUSDT"), move(cluster, client, "SMALLUSDT")]
        print(f"warm-up: BIGUSDT halted {warmup[0][0]:.1f} ms, SMALLUSDT {warmup[1][0]:.1f} ms", flush=True)
        time.sleep(1.5)
        big, small = [], []
        for round_ in range(arguments.rounds):
            big.append(move(cluster, client, "BIGUSDT"))
            time.sleep(1.5)
            small.append(move(cluster, client, "SMALLUSDT"))
            time.sleep(1.5)
            print(f"round {round_ + 1}/{arguments.rounds}: BIGUSDT halted {big[-1][0]:.1f} ms, SMALLUSDT {small[-1][0]:.1f} ms", flush=True)
        feeder.terminate()
        feeder.wait(timeout=30)
        quiet(client)
        samples, entries = entry_latencies(client, after)
        intervals, step_latencies = step_timings(client, after)
        audit = cluster.run("audit", "shards", "--redis", cluster.redis, check=False)
    finally:
        cluster.stop()

    windows = [(start, end) for _, start, end, _ in big + small + warmup]
    with open(os.path.join(arguments.report, "windows.txt"), "w") as f:
        f.write("".join(f"{'big' if i < len(big) else 'small'} {start} {end}\n" for i, (start, end) in enumerate(windows[:len(big) + len(small)])))
    with open(os.path.join(arguments.report, "timeline.txt"), "w") as f:
        for number, (_, start, end, _) in enumerate(big[:2]):
            f.write(f"BIGUSDT move {number + 1} (times from its hand-over's input):\n" + "\n".join(timeline(entries, start, end)) + "\n\n")
    during = [latency for t, latency, _ in samples if any(start <= t <= end for start, end in windows)]
    # The slowest of them, placed in their move: (latency ms, shard, ms after the hand-over's append).
    slowest = sorted(((latency / 1000, shard, (t - start) / 1000) for t, latency, shard in samples
                      for start, end in windows if start <= t <= end), reverse=True)[:8]
    outside = [latency for t, latency, _ in samples if not any(start - 200_000 <= t <= end + 200_000 for start, end in windows)]
    big_halts = [h for h, _, _, _ in big]
    small_halts = [h for h, _, _, _ in small]
    big_source = [part for _, _, _, part in big]
    ratio = percentile(big_halts, 0.5) / max(percentile(small_halts, 0.5), 0.001)
    lines = [
        f"live symbol moves, {arguments.rounds} rounds, steady feed of {arguments.rate} commands/s on 20 other symbols",
        f"BIGUSDT ({arguments.book} resting orders) halted at most: p50 {percentile(big_halts, 0.5):.1f} ms, max {max(big_halts):.1f} ms ({', '.join(f'{h:.1f}' for h in big_halts)})",
        f"  of which the old shard's part (hand-over appended to take-over appended): p50 {percentile(big_source, 0.5):.1f} ms; "
        f"the new shard's (take-over appended to answered): p50 {percentile([h - p for h, p in zip(big_halts, big_source)], 0.5):.1f} ms",
        f"first move of BIGUSDT (warm-up, not counted): {warmup[0][0]:.1f} ms; of SMALLUSDT {warmup[1][0]:.1f} ms",
        f"SMALLUSDT (1 resting order, baseline) halted at most: p50 {percentile(small_halts, 0.5):.1f} ms, max {max(small_halts):.1f} ms",
        f"ratio of medians (book / baseline): {ratio:.2f}",
        f"other symbols' entries during a move: {len(during)}, latency p50 {percentile(during, 0.5) / 1000:.2f} ms, "
        f"p99 {percentile(during, 0.99) / 1000:.2f} ms, max {max(during, default=0) / 1000:.2f} ms",
        "  slowest (latency ms, shard, ms after the hand-over): " + ", ".join(f"({l:.1f}, {sh}, {o:.1f})" for l, sh, o in slowest),
        f"other symbols' entries away from moves (beyond 200 ms): {len(outside)}, latency p50 {percentile(outside, 0.5) / 1000:.2f} ms, "
        f"p99 {percentile(outside, 0.99) / 1000:.2f} ms, max {max(outside, default=0) / 1000:.2f} ms",
        f"move steps ({len(step_latencies)} continueMove entries): from one step's input to the next p50 {percentile(intervals, 0.5):.2f} ms, "
        f"p90 {percentile(intervals, 0.9):.2f} ms; a step's input to its output p50 {percentile(step_latencies, 0.5):.2f} ms, "
        f"p90 {percentile(step_latencies, 0.9):.2f} ms",
        f"audit shards: {'ok' if audit.returncode == 0 else 'FAILED'}",
    ]
    if audit.returncode != 0:
        lines.append(audit.stdout + audit.stderr)
    summary = "\n".join(lines) + "\n"
    with open(os.path.join(arguments.report, "summary.txt"), "w") as f:
        f.write(summary)
    print(summary)
    start = min((t for t, _, _ in samples), default=0)
    series = []
    for shard in (0, 1):
        buckets = {}
        for t, latency, s in samples:
            if s == shard:
                key = (t - start) // 100_000
                buckets[key] = max(buckets.get(key, 0), latency / 1000)
        series.append((f"shard {shard}: max latency per 100 ms", sorted((k / 10, v) for k, v in buckets.items())))
    series.append(("BIGUSDT halted (ms)", [((s - start) / 1e6, h) for h, s, _, _ in big]))
    series.append(("SMALLUSDT halted (ms)", [((s - start) / 1e6, h) for h, s, _, _ in small]))
    line_chart(os.path.join(arguments.report, "moves.svg"), "Live symbol moves: halts and the other symbols' latency",
               "seconds", "ms", series)
    if audit.returncode != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
