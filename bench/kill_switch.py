#!/usr/bin/env python3
"""Measures the kill switch: from the admin call to the last of two gateways refusing new
orders, under load (4 traders on each gateway placing orders without pause), over many
rounds of halt and resume. The baseline, measured in the same run, is the round trip of an
order the gateways accept under that load. Writes summary.txt and kill-switch.svg into the
report directory.

Usage (bench/kill-switch.sh runs it): kill_switch.py REPORT_DIR [--rounds N]"""
import argparse
import os
import random
import secrets
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "clients"))
from cluster import Cluster, free_port, wait_http  # noqa: E402
from staff import signed  # noqa: E402

HALTED = "trading halted by the exchange"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def svg(rounds, baseline_ms, path):
    """Per-round call-to-last-refusal (bars) against the median accepted order's round trip (line)."""
    width, height, margin = 760, 320, 50
    top = max(max(rounds), baseline_ms) * 1.15
    step = (width - 2 * margin) / len(rounds)
    y = lambda v: height - margin - v / top * (height - 2 * margin)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{margin}" y="20">Kill switch: call to the last gateway refusing (ms), per round; line: median accepted order round trip</text>',
             f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="black"/>',
             f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="black"/>']
    for tick in range(0, int(top) + 1, max(1, int(top / 5))):
        parts.append(f'<text x="{margin - 8}" y="{y(tick) + 4}" text-anchor="end">{tick}</text>')
    for index, value in enumerate(rounds):
        parts.append(f'<rect x="{margin + index * step + 2}" y="{y(value)}" width="{max(1, step - 4)}" height="{y(0) - y(value)}" fill="#f0b90b"/>')
    parts.append(f'<line x1="{margin}" y1="{y(baseline_ms)}" x2="{width - margin}" y2="{y(baseline_ms)}" stroke="#2e86de" stroke-dasharray="4"/>')
    parts.append(f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">round</text></svg>')
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--rounds", type=int, default=20)
    arguments = parser.parse_args()
    binary = os.environ["EXCHANGE_BINARY"]
    cluster = Cluster(binary)
    try:
        cluster.start()
        port = free_port()
        cluster.spawn("gateway-2", "gateway", "--redis", cluster.redis, "--postgres", cluster.postgres, "--port", str(port), "--ops-port", "0",
                      "--bcrypt-cost", "4", "--weight-per-minute", "100000000", "--orders-per10-seconds", "100000000", "--no-market-data")
        gateways = [cluster.base, f"http://127.0.0.1:{port}"]
        wait_http(gateways[1] + "/api/v3/ping", os.path.join(cluster.dir, "gateway-2.log"))
        traders = [cluster.new_trader({"USDT": "100000000", "BTC": "100000"}) for _ in range(4)]
        operator = cluster.new_staff("Operator")
        lock, stop = threading.Lock(), threading.Event()
        outcomes = []  # (sent, done, gateway, accepted, halted)

        def load(trader, base, seed):
            rng = random.Random(seed)
            while not stop.is_set():
                side = rng.choice(["BUY", "SELL"])
                price = f"{rng.randint(10000, 11000) / 100:.2f}" if side == "BUY" else f"{rng.randint(12000, 13000) / 100:.2f}"
                sent = time.monotonic()
                status, body = signed(base, "POST", "/api/v3/order", trader, symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="IOC",
                                      quantity="0.1", price=price, newOrderRespType="ACK",
                                      newClientOrderId="ks-" + secrets.token_hex(8))
                halted = status == 400 and isinstance(body, dict) and HALTED in body.get("msg", "")
                with lock:
                    outcomes.append((sent, time.monotonic(), base, status == 200, halted))

        threads = [threading.Thread(target=load, args=(t, g, i)) for i, (t, g) in enumerate((t, g) for t in traders for g in gateways)]
        for thread in threads:
            thread.start()
        rounds, calls = [], []
        try:
            time.sleep(2)
            for number in range(arguments.rounds):
                time.sleep(0.5)
                called = time.monotonic()
                status, body = cluster.admin("POST", "halts", {"scope": "exchange", "reason": "bench"}, token=operator)
                returned = time.monotonic()
                assert status == 200, body
                time.sleep(0.3)
                with lock:
                    window = [o for o in outcomes if o[1] >= called]
                first = {}
                for _, done, base, _, halted in sorted(window, key=lambda o: o[1]):
                    if halted and base not in first:
                        first[base] = done
                assert len(first) == len(gateways), f"round {number}: a gateway did not refuse"
                late = [o for o in window if o[0] > returned and o[3]]
                assert not late, f"round {number}: {len(late)} orders accepted after the halt call returned"
                rounds.append((max(first.values()) - called) * 1000)
                calls.append((returned - called) * 1000)
                assert cluster.admin("POST", "halts/resume", {"scope": "exchange"}, token=operator)[0] == 200
                print(f"kill switch bench: round {number + 1}/{arguments.rounds}: {rounds[-1]:.1f} ms", file=sys.stderr)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        accepted = [(done - sent) * 1000 for sent, done, _, ok, _ in outcomes if ok]
        baseline = statistics.median(accepted)
        os.makedirs(arguments.report, exist_ok=True)
        lines = [
            f"rounds: {len(rounds)} (halt the whole exchange, then resume), 2 gateways, 8 clients placing orders without pause",
            f"call to the last gateway refusing, ms: p50 {percentile(rounds, 0.5):.1f}, p90 {percentile(rounds, 0.9):.1f}, max {max(rounds):.1f}",
            f"the halt call itself, ms: p50 {percentile(calls, 0.5):.1f}, max {max(calls):.1f}",
            f"baseline, an accepted order's round trip under the same load, ms: p50 {baseline:.1f}, p99 {percentile(accepted, 0.99):.1f}"
            f" ({len(accepted)} orders)",
            f"ratio, call-to-last-refusal p50 / order round trip p50: {percentile(rounds, 0.5) / baseline:.2f}",
            f"target (issue 15): at most 100 ms: {'met' if max(rounds) <= 100 else 'NOT met'} (max {max(rounds):.1f} ms)",
        ]
        with open(os.path.join(arguments.report, "summary.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        svg(rounds, baseline, os.path.join(arguments.report, "kill-switch.svg"))
        print("\n".join(lines))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
