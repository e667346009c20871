"""Live symbol moves (`exchange ctl move`) under real clients, on a private cluster:

- a client keeping local books from the REST snapshot plus the diff stream (the §6 depth sync)
  ends with exactly the books `exchange collect` rebuilds, with no gap, while symbols move back
  and forth between the two shards under a feed;
- ccxt trades through the gateway while its symbol moves: resting orders travel with the book
  and fill on the new shard, an order that meets the move is refused with a retryable error and
  placed by a retry with the same client order id, cancels work after the move; the shard and
  clearing audits pass."""

import os
import re
import subprocess
import threading
import time

import ccxt
import pytest

from cluster import Cluster, binance_client
from test_depth_sync import FedMarket


# The ccxt test runs first: the depth test feeds orders straight to the shards, which the
# clearing audit would count as trades nobody settled.
@pytest.fixture(scope="module")
def private_cluster():
    started = Cluster(os.environ.get("EXCHANGE_BINARY"), matcher_args=("--snapshot-entries", "300")).start()
    yield started
    started.stop()


def move(cluster, symbol, shard):
    """`ctl move`; returns the halt it reports (ms)."""
    out = cluster.run("ctl", "move", symbol, "--to", str(shard), "--redis", cluster.redis).stdout
    halted = re.search(r"halted at most ([0-9.]+) ms", out)
    assert halted, out
    return float(halted.group(1))


def owner(cluster, symbol):
    out = subprocess.run(["redis-cli", "-p", str(cluster.redis_port), "HGET", "cluster:symbols", symbol],
                         capture_output=True, text=True, check=True).stdout.strip()
    return int(out.split(":")[0])


def test_ccxt_trades_across_moves(private_cluster):
    cluster = private_cluster
    maker_account = cluster.new_trader({"BTC": "20", "USDT": "1000000"})
    taker_account = cluster.new_trader({"BTC": "20", "USDT": "1000000"})
    maker = binance_client(cluster.base, maker_account["apiKey"], maker_account["secret"])
    taker = binance_client(cluster.base, taker_account["apiKey"], taker_account["secret"])
    maker.load_markets()
    taker.load_markets()
    resting = [maker.create_order("BTCUSDT", "limit", "sell", 0.01, 30000 + i) for i in range(40)]

    stop = threading.Event()
    refused_then_placed = []
    filled = []
    errors = []

    def take():
        """IOC buys against the resting sells; a retryable refusal is retried with the same client id."""
        i = 0
        while not stop.is_set():
            client_id = f"take-{i}"
            for attempt in range(20):
                try:
                    order = taker.create_order("BTCUSDT", "limit", "buy", 0.001, 31000, {"timeInForce": "IOC", "newClientOrderId": client_id})
                    filled.append(order["filled"])
                    if attempt:
                        refused_then_placed.append(client_id)
                    break
                except ccxt.OperationFailed:
                    time.sleep(0.01)
                except Exception as error:  # anything else is a failure of the test
                    errors.append(repr(error))
                    return
            i += 1

    worker = threading.Thread(target=take)
    worker.start()
    halts = []
    try:
        time.sleep(0.5)
        for _ in range(4):
            halts.append(move(cluster, "BTCUSDT", 1 - owner(cluster, "BTCUSDT")))
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=120)
    print(f"halts (ms): {halts}; taker orders {len(filled)}, refused then placed {len(refused_then_placed)}")
    assert not errors, errors
    assert len(filled) > 20 and sum(filled) > 0
    # The resting sells moved with the book: the ones not filled are still open, listed, and cancellable.
    open_ids = {o["id"] for o in maker.fetch_open_orders("BTCUSDT")}
    states = {o["id"]: maker.fetch_order(o["id"], "BTCUSDT")["status"] for o in resting}
    assert open_ids == {i for i, s in states.items() if s == "open"}
    assert any(s == "closed" for s in states.values()) or any(maker.fetch_order(i, "BTCUSDT")["filled"] for i in open_ids)
    for order_id in sorted(open_ids)[:5]:
        assert maker.cancel_order(order_id, "BTCUSDT")["status"] == "canceled"
    deadline = time.time() + 30
    while time.time() < deadline:
        audit = cluster.run("audit", "clearing", "--redis", cluster.redis, check=False)
        if audit.returncode == 0:
            break
        time.sleep(1)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    audit = cluster.run("audit", "shards", "--redis", cluster.redis, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_depth_books_follow_moves(private_cluster, tmp_path):
    cluster = private_cluster
    market = FedMarket(cluster, tmp_path, symbols=6, orders=20000, seed=5, rate=1500)
    halts = []
    try:
        time.sleep(2)
        # Every symbol to the other shard, then half of them back, while the feed goes on.
        for symbol in market.symbols + market.symbols[:3]:
            halts.append(move(cluster, symbol, 1 - owner(cluster, symbol)))
            time.sleep(0.3)
        expected = market.settle()
    finally:
        market.stop()
    print(f"halts (ms): {halts}")
    assert len(halts) == len(market.symbols) + 3
    market.check(expected)
    audit = cluster.run("audit", "shards", "--redis", cluster.redis, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
