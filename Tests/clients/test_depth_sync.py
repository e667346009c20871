"""The depth sync of shared/formats/binance-api.md §6, end to end: a client keeping local books
from the REST snapshot plus the diff stream (the procedure ccxt and Binance's docs give) ends
with exactly the books `exchange collect` rebuilds from the shards' logs, over a generated
flow on 12 symbols and 2 shards, through a shard primary's kill -9 and a kill -9 and restart
of `exchange marketdata` (which then catches up from the shards' published snapshots). Also:
/health while catching up, and the per-connection and per-address limits. A private cluster:
it kills processes."""

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from decimal import Decimal

import pytest
import websockets

from cluster import Cluster, binance_client, free_port


@pytest.fixture(scope="module")
def private_cluster():
    binary = os.environ.get("EXCHANGE_BINARY")
    # Frequent snapshots, so the restarted market data has a recent one to catch up from.
    started = Cluster(binary, matcher_args=("--snapshot-entries", "300")).start()
    yield started
    started.stop()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return None, None


class LocalBooks:
    """One /stream connection with every symbol's @depth@100ms; per symbol: buffer events,
    take the REST snapshot (again while it is older than the buffered events), drop events with
    u <= lastUpdateId, require U <= lastUpdateId+1 <= u for the first, U == previous u + 1 after. A gap is counted (and the symbol re-synced);
    a first event past lastUpdateId + 1 means the snapshot predates the subscription (the server subscribes
    a connection once it is open, and the snapshot may come first): as §6 says for the first buffered
    event, a new snapshot is taken, which is not a gap. A lost connection reconnects and re-syncs everything."""

    def __init__(self, base, symbols):
        self.base, self.symbols = base, symbols
        self.books = {}
        self.gaps = 0
        self.stale_snapshots = 0
        self.connections = 0
        self.stopping = False

    async def snapshot(self, symbol):
        while True:  # 503 while a restarted instance catches up
            status, depth = await asyncio.to_thread(get, f"{self.base}/api/v3/depth?symbol={symbol}&limit=5000")
            if status == 200:
                return depth
            await asyncio.sleep(0.1)

    async def connect_once(self):
        streams = "/".join(f"{s.lower()}@depth@100ms" for s in self.symbols)
        async with websockets.connect(self.base.replace("http://", "ws://") + "/stream?streams=" + streams, max_queue=None) as socket:
            self.connections += 1
            state = {s: {"buffer": [], "last": None, "synced": False, "bids": {}, "asks": {}} for s in self.symbols}
            pending = {s: asyncio.ensure_future(self.snapshot(s)) for s in self.symbols}
            while not self.stopping:
                for symbol, task in list(pending.items()):
                    if task.done():
                        del pending[symbol]
                        if not self.start(state[symbol], task.result()):
                            # Older than what the stream already sent: a new snapshot (§6).
                            pending[symbol] = asyncio.ensure_future(self.snapshot(symbol))
                # Every round, not only after a diff: a snapshot that lands after the last diff
                # (a restarted instance catching up, the feed over) still makes its book.
                self.books = {s: (b["bids"], b["asks"]) for s, b in state.items() if b["last"] is not None}
                try:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                except asyncio.TimeoutError:
                    continue
                event = message["data"]
                book = state[event["s"]]
                if book["last"] is None:
                    book["buffer"].append(event)
                elif not self.apply(book, event):
                    if book["synced"]:
                        self.gaps += 1
                        book["buffer"] = []
                    else:
                        self.stale_snapshots += 1
                        book["buffer"] = [event]
                    book["last"] = None
                    pending[event["s"]] = asyncio.ensure_future(self.snapshot(event["s"]))

    def start(self, book, depth):
        """Makes the book from `depth` and the buffered events; False, keeping the buffer, when the
        snapshot is older than the first buffered event that it does not cover (its U is past
        lastUpdateId + 1): the REST answer may predate the stream's subscription, and Binance's
        procedure then takes a new snapshot. Events that do not follow each other fail."""
        first = next((e for e in book["buffer"] if e["u"] > depth["lastUpdateId"]), None)
        if first is not None and first["U"] > depth["lastUpdateId"] + 1:
            return False
        book["bids"] = {Decimal(p): Decimal(q) for p, q in depth["bids"]}
        book["asks"] = {Decimal(p): Decimal(q) for p, q in depth["asks"]}
        book["last"] = depth["lastUpdateId"]
        book["synced"] = False
        buffered, book["buffer"] = book["buffer"], []
        for event in buffered:
            assert self.apply(book, event), ([(e["U"], e["u"]) for e in buffered], depth["lastUpdateId"])
        return True

    @staticmethod
    def apply(book, event):
        """Applies a diff; False on a gap. The first one after the snapshot need only straddle it."""
        if event["u"] <= book["last"]:
            return True
        if not (event["U"] <= book["last"] + 1 if not book["synced"] else event["U"] == book["last"] + 1):
            return False
        book["synced"] = True
        for side, key in (("bids", "b"), ("asks", "a")):
            for price, quantity in event[key]:
                if Decimal(quantity) == 0:
                    book[side].pop(Decimal(price), None)
                else:
                    book[side][Decimal(price)] = Decimal(quantity)
        book["last"] = event["u"]
        return True

    async def run(self):
        while not self.stopping:
            try:
                await self.connect_once()
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus):
                await asyncio.sleep(0.2)


def collected_books(cluster, symbols):
    """`exchange collect`'s final resting orders, summed per price level."""
    books = {s: ({}, {}) for s in symbols}
    for line in cluster.run("collect", "--redis", cluster.redis).stdout.splitlines():
        if line.startswith("book,"):
            _, symbol, side, _, price, remaining = line.split(",")
            if symbol in books:
                levels = books[symbol][0 if side == "buy" else 1]
                levels[Decimal(price)] = levels.get(Decimal(price), Decimal(0)) + Decimal(remaining)
    return books


def lease_holder(cluster, shard):
    return subprocess.run(["redis-cli", "-p", str(cluster.redis_port), "HGET", f"me:{{{shard}}}:lease", "holder"],
                          capture_output=True, text=True, check=True).stdout.strip()


def spawn_marketdata(cluster, port):
    cluster.spawn("marketdata", "marketdata", "--redis", cluster.redis, "--weight-per-minute", "100000000", "--port", str(port), "--ops-port", "0",
                  "--streams-per-connection", "40", "--stream-connections-per-address", "8")


class FedMarket:
    """A generated flow of `symbols` symbols fed straight to the shards at `rate`, a market data
    on a free port, and a `LocalBooks` client following every symbol's depth stream (in a thread
    of its own) once each symbol has traded."""

    def __init__(self, cluster, tmp_path, symbols, orders, seed, rate):
        self.cluster = cluster
        flow = tmp_path / "flow.txt"
        cluster.run("bench", "flow", "--symbols", str(symbols), "--orders", str(orders), "--seed", str(seed), "--activity", "uniform",
                    "-o", str(flow))
        self.symbols = [line.split(",")[1] for line in flow.read_text().splitlines() if line.startswith("symbol,")]
        self.port = free_port()
        base = f"http://127.0.0.1:{self.port}"
        spawn_marketdata(cluster, self.port)
        deadline = time.time() + 30
        while get(base + "/health")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert get(base + "/health") == (200, {"status": "ok"})
        self.feeder = subprocess.Popen([cluster.binary, "feed", "--redis", cluster.redis, str(flow), "--rate", str(rate)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            status, prices = get(base + "/api/v3/ticker/price")
            if status == 200 and set(self.symbols) <= {p["symbol"] for p in prices}:
                break
            time.sleep(0.1)
        self.client = LocalBooks(base, self.symbols)
        loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=loop.run_until_complete, args=(self.client.run(),))
        self.thread.start()

    def settle(self):
        """Waits for the feed to end and the local books to settle on what the logs say
        (`collect`'s books, returned)."""
        _, errors = self.feeder.communicate(timeout=180)
        assert self.feeder.returncode == 0, errors
        expected = collected_books(self.cluster, self.symbols)
        deadline = time.time() + 60
        while time.time() < deadline and self.client.books != expected:
            time.sleep(0.5)
        return expected

    def stop(self):
        self.client.stopping = True
        self.thread.join(timeout=30)
        self.cluster.kill("marketdata", signal.SIGTERM)

    def check(self, expected):
        """The local books equal `expected` for every symbol, with no gap, and some rest."""
        print(f"connections: {self.client.connections}, stale snapshots retaken: {self.client.stale_snapshots}")
        assert self.client.gaps == 0
        assert set(self.client.books) == set(self.symbols)
        for symbol in self.symbols:
            assert self.client.books[symbol] == expected[symbol], symbol
        assert any(expected[s][0] and expected[s][1] for s in self.symbols), "the flow leaves resting books"


def test_stream_books_equal_collect_through_failover_and_restart(private_cluster, tmp_path):
    cluster = private_cluster
    market = FedMarket(cluster, tmp_path, symbols=12, orders=24000, seed=11, rate=1200)
    try:
        time.sleep(5)
        cluster.kill(f"matcher-0-{lease_holder(cluster, 0)}")  # the standby takes over shard 0
        time.sleep(5)
        cluster.kill("marketdata")  # kill -9; the client reconnects to the new instance
        spawn_marketdata(cluster, market.port)
        expected = market.settle()
    finally:
        market.stop()
    assert market.client.connections >= 2, "the client reconnected to the restarted market data"
    market.check(expected)


def test_health_limits_and_catch_up(private_cluster):
    cluster = private_cluster
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    spawn_marketdata(cluster, port)
    # /health says 503 "catching up" until the logs are read, then 200.
    seen = set()
    deadline = time.time() + 30
    while time.time() < deadline:
        status, body = get(base + "/health")
        if status:
            seen.add((status, json.dumps(body)))
        if status == 200:
            break
        time.sleep(0.02)
    assert (200, '{"status": "ok"}') in seen

    async def limits():
        ws = base.replace("http://", "ws://")
        async with websockets.connect(ws + "/ws") as socket:
            names = [f"s{i}usdt@{kind}" for i in (0, 1, 3) for kind in ("trade", "aggTrade", "ticker", "miniTicker", "bookTicker",
                                                                          "depth", "depth@100ms", "depth5", "depth10", "depth20",
                                                                          "kline_1m", "kline_5m", "kline_1h", "kline_1d")]
            await socket.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
            answer = json.loads(await socket.recv())
            assert answer["id"] == 1 and answer["error"]["code"] == 2 and "more than 40" in answer["error"]["msg"]
            await socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            assert json.loads(await socket.recv()) == {"result": [], "id": 2}
        # 8 connections per address: the 9th is closed at once (1008, with the reason); closing one frees a slot.
        sockets = [await websockets.connect(ws + "/ws") for _ in range(8)]
        async with websockets.connect(ws + "/ws") as ninth:
            with pytest.raises(websockets.ConnectionClosed) as refused:
                await asyncio.wait_for(ninth.recv(), 5)
        assert refused.value.rcvd.code == 1008 and "too many connections" in refused.value.rcvd.reason
        await sockets.pop().close()
        await asyncio.sleep(0.2)
        sockets.append(await websockets.connect(ws + "/ws"))
        for socket in sockets:
            await socket.close()

    asyncio.run(limits())
    cluster.kill("marketdata", signal.SIGTERM)


def test_klines_join_history_from_postgres_with_memory(private_cluster):
    """Candles the instance holds whole come from memory; older ones from the trades the
    recorder wrote (with their times) in PostgreSQL."""
    cluster = private_cluster
    psql = lambda sql: subprocess.run(["psql", cluster.postgres, "-At", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()
    deadline = time.time() + 30
    while time.time() < deadline and int(psql("SELECT count(*) FROM exchange_order.trades WHERE symbol = 'S0USDT' AND time_ms > 0")) == 0:
        time.sleep(0.2)
    assert int(psql("SELECT count(*) FROM exchange_order.trades WHERE symbol = 'S0USDT' AND time_ms > 0")) > 0, "the recorder writes trade times"
    day = 86_400_000
    today = int(time.time() * 1000) // day * day
    # Three older trades of S0USDT (tick 0.01, step 0.00001): two three days ago, one two days ago.
    rows = [(90_000_001, 10_000, 200_000, "buy", today - 3 * day + 3_600_000), (90_000_002, 10_500, 100_000, "sell", today - 3 * day + 7_200_000),
            (90_000_003, 9_900, 50_000, "buy", today - 2 * day + 60_000)]
    psql("INSERT INTO exchange_order.trades (symbol, trade_id, shard, position, price_ticks, quantity_lots, taker_side, taker_order_id, "
         "taker_user_id, maker_order_id, maker_user_id, time_ms) VALUES " +
         ", ".join(f"('S0USDT', {i}, 0, 0, {p}, {q}, '{s}', 1, 1, 2, 2, {t})" for i, p, q, s, t in rows))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster.spawn("marketdata", "marketdata", "--redis", cluster.redis, "--weight-per-minute", "100000000", "--postgres", cluster.postgres, "--port", str(port), "--ops-port", "0")
    try:
        deadline = time.time() + 30
        while get(base + "/health")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        status, candles = get(base + f"/api/v3/klines?symbol=S0USDT&interval=1d&startTime={today - 4 * day}&limit=10")
        assert status == 200, candles
        assert [c[0] for c in candles] == [today - 3 * day, today - 2 * day, today]
        assert candles[0][1:6] == ["100.00000000", "105.00000000", "100.00000000", "105.00000000", "3.00000000"]
        assert candles[0][8] == 2 and candles[0][9] == "2.00000000" and candles[0][10] == "200.00000000"  # taker buys: 2 at 100
        assert candles[1][1:6] == ["99.00000000", "99.00000000", "99.00000000", "99.00000000", "0.50000000"] and candles[1][8] == 1
        ticker = get(base + "/api/v3/ticker/24hr?symbol=S0USDT")[1]
        assert candles[2][8] == ticker["count"] and candles[2][5] == ticker["volume"]
        newest = get(base + "/api/v3/klines?symbol=S0USDT&interval=1d&limit=2")[1]
        assert [c[0] for c in newest] == [today - 2 * day, today]
        assert get(base + f"/api/v3/klines?symbol=S0USDT&interval=1w&startTime={today - 30 * day}")[1][-1][5] != "0.00000000"

        # Aggregate trades older than memory holds come from the recorded trades, grouped as the
        # live ones: a symbol listed now whose trades only PostgreSQL has (ids 1-5: one taker's
        # two trades at one price, then its third at another, then two takers').
        cluster.run("ctl", "asset", "add", "OLD", "--scale", "8", "--redis", cluster.redis)
        cluster.run("ctl", "symbol", "add", "OLDUSDT", "--base", "OLD", "--quote", "USDT", "--tick", "0.01", "--step", "0.001",
                    "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", cluster.redis)
        old = today - 5 * day
        recorded = [(1, 10_000, 1_000, "buy", 7, old), (2, 10_000, 500, "buy", 7, old), (3, 10_100, 100, "buy", 7, old),
                    (4, 9_900, 200, "sell", 8, old + 60_000), (5, 9_900, 300, "sell", 9, old + 60_000)]
        psql("INSERT INTO exchange_order.trades (symbol, trade_id, shard, position, price_ticks, quantity_lots, taker_side, taker_order_id, "
             "taker_user_id, maker_order_id, maker_user_id, time_ms) VALUES " +
             ", ".join(f"('OLDUSDT', {i}, 0, 0, {p}, {q}, '{s}', {o}, 1, 2, 2, {t})" for i, p, q, s, o, t in recorded))
        deadline = time.time() + 30
        while get(base + "/api/v3/aggTrades?symbol=OLDUSDT")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert get(base + "/api/v3/aggTrades?symbol=OLDUSDT") == (200, [])  # the newest: memory holds none
        everything = get(base + "/api/v3/aggTrades?symbol=OLDUSDT&fromId=1")[1]
        assert [(a["a"], a["f"], a["l"], a["p"], a["q"], a["T"], a["m"]) for a in everything] == [
            (1, 1, 2, "100.00000000", "1.50000000", old, False), (3, 3, 3, "101.00000000", "0.10000000", old, False),
            (4, 4, 4, "99.00000000", "0.20000000", old + 60_000, True), (5, 5, 5, "99.00000000", "0.30000000", old + 60_000, True)]
        # fromId counts aggregates: 2 is inside the first, which is left out.
        assert [a["a"] for a in get(base + "/api/v3/aggTrades?symbol=OLDUSDT&fromId=2")[1]] == [3, 4, 5]
        assert [a["a"] for a in get(base + "/api/v3/aggTrades?symbol=OLDUSDT&fromId=1&limit=2")[1]] == [1, 3]
        in_hour = get(base + f"/api/v3/aggTrades?symbol=OLDUSDT&startTime={old + 1}&endTime={old + 3_600_000}")[1]
        assert [a["a"] for a in in_hour] == [4, 5]
        # So do the trades themselves (historicalTrades from fromId on; the newest are memory's: none).
        assert get(base + "/api/v3/historicalTrades?symbol=OLDUSDT") == (200, [])
        lookup = get(base + "/api/v3/historicalTrades?symbol=OLDUSDT&fromId=2&limit=3")[1]
        assert [(t["id"], t["price"], t["qty"], t["quoteQty"], t["time"], t["isBuyerMaker"]) for t in lookup] == [
            (2, "100.00000000", "0.50000000", "50.00000000", old, False), (3, "101.00000000", "0.10000000", "10.10000000", old, False),
            (4, "99.00000000", "0.20000000", "19.80000000", old + 60_000, True)]
        # ccxt's fetch_trades(since) asks aggTrades for the hour from `since`, through the
        # gateway's base URL (which serves the same history).
        deadline = time.time() + 30
        while get(cluster.base + "/api/v3/exchangeInfo?symbol=OLDUSDT")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        public = binance_client(cluster.base, "", "")
        public.load_markets()
        fetched = public.fetch_trades("OLD/USDT", since=old)
        assert [(t["id"], t["price"], t["amount"], t["timestamp"], t["side"]) for t in fetched] == [
            ("1", 100.0, 1.5, old, "buy"), ("3", 101.0, 0.1, old, "buy"),
            ("4", 99.0, 0.2, old + 60_000, "sell"), ("5", 99.0, 0.3, old + 60_000, "sell")]
        assert [t["id"] for t in public.fetch_trades("OLD/USDT", since=old + 1)] == ["4", "5"]
    finally:
        cluster.kill("marketdata", signal.SIGTERM)


def test_a_stalled_client_is_dropped_and_others_keep_their_stream(private_cluster):
    """A client that stops reading is disconnected and counted; a reading client of the same
    stream gets every trade meanwhile."""
    import re
    import socket as sockets
    from test_ccxt import client as rest_client
    cluster = private_cluster
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster.spawn("marketdata", "marketdata", "--redis", cluster.redis, "--weight-per-minute", "100000000", "--port", str(port), "--ops-port", "0",
                  "--stream-queue", "16", "--stream-socket-buffer", "4096")
    deadline = time.time() + 30
    while get(base + "/health")[0] != 200 and time.time() < deadline:
        time.sleep(0.1)
    stalled = sockets.socket()
    stalled.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /ws/btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    maker = rest_client(cluster, cluster.new_trader({"BTC": "10", "USDT": "1000000"}))
    taker = rest_client(cluster, cluster.new_trader({"BTC": "10", "USDT": "1000000"}))
    maker.load_markets()
    taker.load_markets()
    trades = 400

    async def reader_and_flow():
        async with websockets.connect(base.replace("http://", "ws://") + "/ws/btcusdt@trade") as reader:
            await asyncio.sleep(0.3)
            for index in range(trades):
                price = 30000 + index % 5
                await asyncio.to_thread(maker.create_order, "BTC/USDT", "limit", "sell", 0.001, price)
                await asyncio.to_thread(taker.create_order, "BTC/USDT", "limit", "buy", 0.001, price)
            received = 0
            while received < trades:
                event = json.loads(await asyncio.wait_for(reader.recv(), 10))
                received += event.get("e") == "trade"
            return received

    assert asyncio.run(reader_and_flow()) == trades
    ops_port = int(re.findall(r'"message":"ops port (\d+)"', open(os.path.join(cluster.dir, "marketdata.log")).read())[-1])
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/metrics", timeout=5).read().decode()
    assert "exchange_marketdata_slow_clients_dropped_total 1" in metrics, metrics
    # Every entry of the flow was published, each counted once in the hub's delay histogram.
    published = int(re.search(r"^exchange_marketdata_publish_delay_seconds_count (\d+)", metrics, re.M).group(1))
    applied = int(re.search(r"^exchange_marketdata_entries_applied_total (\d+)", metrics, re.M).group(1))
    assert 0 < published <= applied, metrics
    # The stalled socket, read at last: the trades that fit in the buffers, then EOF (its close
    # frame, "slow consumer", could not go out behind them: the server closed it a second later).
    stalled.settimeout(10)
    data = b""
    while True:
        chunk = stalled.recv(65536)
        if not chunk:
            break
        data += chunk
    stalled.close()
    assert data.startswith(b"HTTP/1.1 101") and data.count(b'"e":"trade"') < trades
    cluster.kill("marketdata", signal.SIGTERM)


def test_a_shard_added_later_is_followed(private_cluster):
    """`ctl add-shard`, a matcher for it and a symbol pinned there: a running market data
    follows the new shard's log without a restart."""
    from test_ccxt import client as rest_client
    cluster = private_cluster
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster.spawn("marketdata", "marketdata", "--redis", cluster.redis, "--weight-per-minute", "100000000", "--port", str(port), "--ops-port", "0")
    try:
        deadline = time.time() + 30
        while get(base + "/health")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        cluster.run("ctl", "add-shard", "--redis", cluster.redis)
        cluster.spawn("matcher-2-a", "matcher", "--shard", "2", "--replica", "a", "--redis", cluster.redis,
                      "--data", os.path.join(cluster.dir, "m2a"), "--ops-port", "0")
        cluster.run("ctl", "pin", "XRPUSDT", "2", "--redis", cluster.redis)
        cluster.run("ctl", "asset", "add", "XRP", "--scale", "8", "--redis", cluster.redis)
        cluster.run("ctl", "symbol", "add", "XRPUSDT", "--base", "XRP", "--quote", "USDT", "--tick", "0.0001", "--step", "1",
                    "--min-notional", "1", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", cluster.redis)
        trader = rest_client(cluster, cluster.new_trader({"XRP": "1000", "USDT": "10000"}))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                trader.load_markets(reload=True)
                if "XRP/USDT" in trader.markets:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        trader.create_order("XRP/USDT", "limit", "sell", 100, 0.62)
        deadline = time.time() + 30
        while time.time() < deadline and get(base + "/api/v3/depth?symbol=XRPUSDT")[1].get("asks") != [["0.62000000", "100.00000000"]]:
            time.sleep(0.2)
        assert get(base + "/api/v3/depth?symbol=XRPUSDT")[1]["asks"] == [["0.62000000", "100.00000000"]]
    finally:
        cluster.kill("marketdata", signal.SIGTERM)


def test_public_endpoints_count_against_the_address(private_cluster):
    """The market endpoints weigh as Binance's do, against the caller's address (a gateway
    with 60 weight a minute, called from an address of its own: counters are per address and
    shared by every gateway): ping 1, depth?limit=5 5, depth?limit=5000 250 → 429 -1003. A
    market-data instance counts into the same counters."""
    import http.client
    import random
    cluster = private_cluster
    port = free_port()
    source = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    cluster.spawn("gateway-limited", "gateway", "--redis", cluster.redis, "--postgres", cluster.postgres, "--port", str(port),
                  "--bcrypt-cost", "4", "--weight-per-minute", "60")

    def call(path, source=source, port=port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.headers, json.loads(response.read())
        finally:
            connection.close()

    def other():
        return f"127.255.{random.randint(1, 254)}.{random.randint(2, 254)}"

    market_port = free_port()
    cluster.spawn("marketdata-limited", "marketdata", "--redis", cluster.redis, "--port", str(market_port), "--ops-port", "0",
                  "--weight-per-minute", "60")
    try:
        # Both up and caught up, asked from other addresses (so this one's count stays 0).
        deadline = time.time() + 60
        for serving in (port, market_port):
            while time.time() < deadline:
                try:
                    if call("/api/v3/depth?symbol=BTCUSDT", source=other(), port=serving)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
        # Counters are per minute: the calls below (milliseconds) must fall in one.
        if time.time() % 60 > 50:
            time.sleep(60.2 - time.time() % 60)
        status, headers, _ = call("/api/v3/ping")
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "1"
        status, headers, _ = call("/api/v3/depth?symbol=BTCUSDT&limit=5")
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "6"
        status, headers, body = call("/api/v3/depth?symbol=BTCUSDT&limit=5000")
        assert status == 429 and headers["Retry-After"] and body["code"] == -1003
        # The market-data role (standalone, 60 a minute too) counts into the same counters: the
        # address is over its minute there as well, while another starts from nothing.
        status, headers, body = call("/api/v3/depth?symbol=BTCUSDT&limit=5", port=market_port)
        assert status == 429 and headers["Retry-After"] and body["code"] == -1003
        fresh = f"127.254.{random.randint(1, 254)}.{random.randint(2, 254)}"
        status, headers, _ = call("/api/v3/depth?symbol=BTCUSDT&limit=5", source=fresh, port=market_port)
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "5"
        # trades weigh 25: 30, 55, then 80 > 60.
        assert [call("/api/v3/trades?symbol=BTCUSDT", source=fresh, port=market_port)[0] for _ in range(3)] == [200, 200, 429]
    finally:
        cluster.kill("gateway-limited", signal.SIGTERM)
        cluster.kill("marketdata-limited", signal.SIGTERM)
