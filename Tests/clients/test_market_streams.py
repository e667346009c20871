"""Market data through the gateway's one address, with real clients: ccxt's REST market calls,
ccxt.pro's watch_* streams, binance-connector's stream client, and the WebSocket protocol's
errors (shared/formats/binance-api.md §2 and §6). Own symbols (ADAUSDT, DOTUSDT), so the
other suites' orders do not move these books."""

import asyncio
import json
import threading
import time
import urllib.request
from decimal import Decimal

import ccxt
import ccxt.pro
import pytest
import websockets
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from test_ccxt import client as rest_client


def pro_client(cluster, trader):
    exchange = ccxt.pro.binance({"apiKey": trader["apiKey"], "secret": trader["secret"], "enableRateLimit": False, "options": {
        "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}})
    for name, url in exchange.urls["api"].items():
        if isinstance(url, str):
            exchange.urls["api"][name] = cluster.base + "/" + url.split("/", 3)[3]
    ws = cluster.base.replace("http://", "ws://")
    exchange.urls["api"]["ws"]["spot"] = ws + "/ws"
    exchange.urls["api"]["ws"]["ws-api"]["spot"] = ws + "/ws-api/v3"
    return exchange


def get(cluster, path):
    try:
        with urllib.request.urlopen(cluster.base + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def market(cluster):
    cluster.run("ctl", "asset", "add", "ADA", "--scale", "8", "--redis", cluster.redis)
    cluster.run("ctl", "asset", "add", "DOT", "--scale", "8", "--redis", cluster.redis)
    for symbol, base in (("ADAUSDT", "ADA"), ("DOTUSDT", "DOT")):
        cluster.run("ctl", "symbol", "add", symbol, "--base", base, "--quote", "USDT", "--tick", "0.0001", "--step", "0.1",
                    "--min-notional", "1", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", cluster.redis)
    maker = cluster.new_trader({"ADA": "100000", "DOT": "10000", "USDT": "1000000"})
    taker = cluster.new_trader({"ADA": "100000", "DOT": "10000", "USDT": "1000000"})
    # Wait until the gateway's market view and its exchangeInfo list the new symbols.
    deadline = time.time() + 30
    while time.time() < deadline and (get(cluster, "/api/v3/depth?symbol=DOTUSDT")[0] != 200
                                      or "DOTUSDT" not in json.dumps(get(cluster, "/api/v3/exchangeInfo")[1])):
        time.sleep(0.1)
    makers, takers = rest_client(cluster, maker), rest_client(cluster, taker)
    makers.load_markets()
    takers.load_markets()
    # A resting book on ADA: asks 0.5010 × 100, 0.5020 × 200; bids 0.4990 × 150, 0.4980 × 50.
    for side, price, amount in (("sell", 0.5010, 100), ("sell", 0.5020, 200), ("buy", 0.4990, 150), ("buy", 0.4980, 50)):
        makers.create_order("ADA/USDT", "limit", side, amount, price)
    # Two trades: a taker buys 30 at 0.5010 (one maker order: one aggregate), then sells 20 at 0.4990.
    takers.create_order("ADA/USDT", "limit", "buy", 30, 0.5010)
    takers.create_order("ADA/USDT", "limit", "sell", 20, 0.4990)
    return {"maker": maker, "taker": taker, "makers": makers, "takers": takers}


def test_rest_market_calls_through_the_gateway(cluster, market):
    exchange = market["takers"]
    book = exchange.fetch_order_book("ADA/USDT")
    assert book["asks"] == [[0.501, 70.0], [0.502, 200.0]]
    assert book["bids"] == [[0.499, 130.0], [0.498, 50.0]]
    assert book["nonce"] > 0
    trades = exchange.fetch_trades("ADA/USDT")  # aggTrades
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(0.501, 30.0, "buy"), (0.499, 20.0, "sell")]
    exchange.options["fetchTradesMethod"] = "publicGetTrades"
    raw = exchange.fetch_trades("ADA/USDT")
    assert [(t["id"], t["price"], t["amount"]) for t in raw] == [("1", 0.501, 30.0), ("2", 0.499, 20.0)]
    ticker = exchange.fetch_ticker("ADA/USDT")
    assert ticker["last"] == 0.499 and ticker["open"] == 0.501 and ticker["high"] == 0.501 and ticker["low"] == 0.499
    assert ticker["baseVolume"] == 50.0 and Decimal(str(ticker["quoteVolume"])) == Decimal("25.01")
    assert ticker["bid"] == 0.499 and ticker["ask"] == 0.501 and ticker["bidVolume"] == 130.0
    tickers = exchange.fetch_tickers(["ADA/USDT", "DOT/USDT"])
    assert set(tickers) == {"ADA/USDT", "DOT/USDT"} and tickers["DOT/USDT"]["baseVolume"] == 0
    assert "BTC/USDT" in exchange.fetch_tickers()
    candles = exchange.fetch_ohlcv("ADA/USDT", "1m")
    assert len(candles) >= 1 and sum(c[5] for c in candles) == 50.0
    assert candles[0][1] == 0.501 and candles[-1][4] == 0.499
    assert exchange.fetch_ohlcv("ADA/USDT", "1M")[-1][5] == 50.0
    bids_asks = exchange.fetch_bids_asks(["ADA/USDT"])
    assert bids_asks["ADA/USDT"]["bid"] == 0.499 and bids_asks["ADA/USDT"]["ask"] == 0.501
    assert exchange.fetch_last_prices(["ADA/USDT"])["ADA/USDT"]["price"] == 0.499


def test_rest_market_errors(cluster, market):
    assert get(cluster, "/api/v3/depth?symbol=NOPEUSDT") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert get(cluster, "/api/v3/depth")[1]["code"] == -1102
    assert get(cluster, "/api/v3/depth?symbol=ADAUSDT&limit=5001")[1]["code"] == -1100
    assert get(cluster, "/api/v3/klines?symbol=ADAUSDT&interval=7m") == (400, {"code": -1120, "msg": "Invalid interval."})
    assert get(cluster, '/api/v3/ticker/24hr?symbols=["ADAUSDT","NOPE"]')[1]["code"] == -1121
    assert get(cluster, "/api/v3/ticker/24hr?symbols=notjson")[1]["code"] == -1100
    assert get(cluster, "/api/v3/aggTrades?symbol=ADAUSDT&startTime=0&endTime=7200000")[1]["code"] == -1127
    status, depth = get(cluster, "/api/v3/depth?symbol=ADAUSDT&limit=1")
    assert status == 200 and depth["bids"] == [["0.49900000", "130.00000000"]] and depth["asks"] == [["0.50100000", "70.00000000"]]
    assert get(cluster, '/api/v3/ticker/price?symbols=["ADAUSDT"]')[1] == [{"symbol": "ADAUSDT", "price": "0.49900000"}]
    mini = get(cluster, "/api/v3/ticker/24hr?symbol=ADAUSDT&type=MINI")[1]
    assert mini["lastPrice"] == "0.49900000" and "priceChange" not in mini and mini["count"] == 2


async def watch_all(cluster, market):
    watcher = pro_client(cluster, market["taker"])
    try:
        await watcher.load_markets()
        book = await watcher.watch_order_book("DOT/USDT")
        assert book["bids"] == [] and book["asks"] == []
        trades_task = asyncio.ensure_future(watcher.watch_trades("DOT/USDT"))
        aggregates_task = asyncio.ensure_future(watcher.watch_trades("DOT/USDT", params={"name": "aggTrade"}))
        ohlcv_task = asyncio.ensure_future(watcher.watch_ohlcv("DOT/USDT", "1m"))
        ticker_task = asyncio.ensure_future(watcher.watch_ticker("DOT/USDT"))
        await asyncio.sleep(0.5)  # the subscriptions are acknowledged
        makers, takers = market["makers"], market["takers"]
        await asyncio.to_thread(makers.create_order, "DOT/USDT", "limit", "sell", 5, 7.5)
        await asyncio.to_thread(makers.create_order, "DOT/USDT", "limit", "buy", 3, 7.4)
        await asyncio.to_thread(takers.create_order, "DOT/USDT", "limit", "buy", 2, 7.5)
        trades = await asyncio.wait_for(trades_task, 10)
        assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(7.5, 2.0, "buy")]
        aggregates = await asyncio.wait_for(aggregates_task, 10)
        assert [(t["price"], t["amount"]) for t in aggregates] == [(7.5, 2.0)]
        ticker = await asyncio.wait_for(ticker_task, 10)
        assert ticker["last"] == 7.5 and ticker["baseVolume"] == 2.0
        candles = await asyncio.wait_for(ohlcv_task, 10)
        assert candles[-1][4] == 7.5 and candles[-1][5] == 2.0
        # The local book (snapshot + diffs; ccxt checks U/u itself and fails on a gap) converges.
        deadline = time.time() + 10
        while time.time() < deadline:
            book = watcher.orderbooks["DOT/USDT"].limit()
            if [list(level) for level in book["asks"]] == [[7.5, 3.0]] and [list(level) for level in book["bids"]] == [[7.4, 3.0]]:
                break
            await asyncio.sleep(0.1)
        assert [list(level) for level in book["asks"]] == [[7.5, 3.0]] and [list(level) for level in book["bids"]] == [[7.4, 3.0]]
    finally:
        await watcher.close()


def test_ccxt_pro_watches_market_streams(cluster, market):
    asyncio.run(asyncio.wait_for(watch_all(cluster, market), 60))


def test_binance_connector_stream_client(cluster, market):
    received = []
    arrived = threading.Event()

    def on_message(_, message):
        received.append(json.loads(message))
        # The trade at once; the mini tickers (one symbol's, and every traded symbol's array) within their second.
        if {"adausdt@trade", "adausdt@miniTicker", "!miniTicker@arr"} <= {m.get("stream") for m in received}:
            arrived.set()

    streams = SpotWebsocketStreamClient(stream_url=cluster.base.replace("http://", "ws://"), is_combined=True, on_message=on_message)
    try:
        streams.trade(symbol="adausdt", id=7)
        streams.book_ticker(symbol="adausdt", id=8)
        streams.mini_ticker(symbol="adausdt", id=9)
        streams.mini_ticker(id=10)
        time.sleep(0.5)
        market["takers"].create_order("ADA/USDT", "limit", "buy", 10, 0.5010)
        assert arrived.wait(10), received
    finally:
        streams.stop()
    assert all({"result": None, "id": id} in received for id in (7, 8, 9, 10))
    trade = next(m["data"] for m in received if m.get("stream") == "adausdt@trade")
    assert trade["e"] == "trade" and trade["s"] == "ADAUSDT" and trade["p"] == "0.50100000" and trade["q"] == "10.00000000"
    assert trade["m"] is False
    ticker = next(m["data"] for m in received if m.get("stream") == "adausdt@bookTicker")
    assert ticker["a"] == "0.50100000" and ticker["A"] == "60.00000000" and ticker["b"] == "0.49900000"
    mini = next(m["data"] for m in received if m.get("stream") == "adausdt@miniTicker")
    assert mini["e"] == "24hrMiniTicker" and mini["s"] == "ADAUSDT" and mini["c"] == "0.50100000" and "p" not in mini
    every = next(m["data"] for m in received if m.get("stream") == "!miniTicker@arr")
    assert any(t["s"] == "ADAUSDT" and t["c"] == "0.50100000" for t in every), every


async def protocol_checks(cluster):
    ws = cluster.base.replace("http://", "ws://")
    async with websockets.connect(ws + "/ws/0") as socket:
        async def ask(frame):
            return await reply(socket, frame)
        assert await ask({"method": "SUBSCRIBE", "params": ["adausdt@depth@100ms", "adausdt@kline_1m"], "id": 1}) == {"result": None, "id": 1}
        assert await ask({"method": "LIST_SUBSCRIPTIONS", "id": "a-uuid"}) == {"result": ["adausdt@depth@100ms", "adausdt@kline_1m"], "id": "a-uuid"}
        assert await ask({"method": "UNSUBSCRIBE", "params": ["adausdt@kline_1m"], "id": 2}) == {"result": None, "id": 2}
        error = await ask({"method": "SUBSCRIBE", "params": ["adausdt@nonsense"], "id": 3})
        assert error["id"] == 3 and error["error"]["code"] == 2 and "adausdt@nonsense" in error["error"]["msg"]
        assert (await ask({"method": "SUBSCRIBE", "params": ["nopeusdt@trade"], "id": 4}))["error"]["code"] == 2
        assert (await ask({"method": "FROB", "id": 5}))["error"]["code"] == 2
        assert (await ask("{not json"))["error"]["code"] == 3
        assert (await ask({"method": "SUBSCRIBE", "params": [1], "id": 6}))["error"]["code"] == 1
        assert (await ask({"method": "SUBSCRIBE", "params": [], "id": 1.5}))["error"]["code"] == 1
        assert (await ask({"method": "LIST_SUBSCRIPTIONS", "id": 8}))["result"] == ["adausdt@depth@100ms"]
    # An oversized frame closes that connection with 1009; others keep being served.
    async with websockets.connect(ws + "/ws", max_size=None) as bystander:
        async with websockets.connect(ws + "/ws") as offender:
            await offender.send(json.dumps({"method": "SUBSCRIBE", "params": ["x" * 100_000], "id": 1}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(offender.recv(), 5)
            assert closed.value.rcvd.code == 1009
        await bystander.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}))
        assert json.loads(await asyncio.wait_for(bystander.recv(), 5)) == {"result": [], "id": 9}
    # /ws/<stream> subscribes at connect; /stream?streams= too, with combined payloads.
    async with websockets.connect(ws + "/stream?streams=adausdt@depth5@100ms/adausdt@aggTrade") as combined:
        # A partial book's first push may come before the answer: answers are the frames with an id.
        assert await reply(combined, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": ["adausdt@depth5@100ms", "adausdt@aggTrade"], "id": 1}
    async with websockets.connect(ws + "/ws/adausdt@trade") as raw:
        assert await reply(raw, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": ["adausdt@trade"], "id": 1}
    # permessage-deflate is offered and taken.
    async with websockets.connect(ws + "/ws", compression="deflate") as compressed:
        assert any(e.name == "permessage-deflate" for e in compressed.protocol.extensions)


async def reply(socket, frame):
    """Sends a control frame (text as is, else as JSON); returns its answer, skipping the stream
    payloads before it (they carry no id)."""
    await socket.send(frame if isinstance(frame, str) else json.dumps(frame))
    while True:
        answer = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if "id" in answer:
            return answer


def test_websocket_protocol_and_bad_input(cluster, market):
    asyncio.run(protocol_checks(cluster))


async def user_data(cluster, market):
    """ccxt.pro's user data watches over the WebSocket API (userDataStream.subscribe.signature)."""
    watcher = pro_client(cluster, market["maker"])
    try:
        await watcher.load_markets()
        orders_task = asyncio.ensure_future(watcher.watch_orders("DOT/USDT"))
        balance_task = asyncio.ensure_future(watcher.watch_balance())
        trades_task = asyncio.ensure_future(watcher.watch_my_trades("DOT/USDT"))
        await asyncio.sleep(1.0)  # subscribed (ccxt waits for the subscription's answer itself)
        # Between the book's 7.40 bid and 7.50 ask (test_ccxt_pro_watches_market_streams left them).
        placed = await asyncio.to_thread(market["makers"].create_order, "DOT/USDT", "limit", "sell", 4, 7.45)
        orders = await asyncio.wait_for(orders_task, 10)
        assert [(o["id"], o["status"], o["amount"], o["price"], o["filled"]) for o in orders] == [(placed["id"], "open", 4.0, 7.45, 0.0)]
        balance = await asyncio.wait_for(balance_task, 10)
        assert balance["DOT"]["used"] >= 4.0
        free_before = balance["DOT"]["free"]
        await asyncio.to_thread(market["takers"].create_order, "DOT/USDT", "limit", "buy", 1.5, 7.45)
        trades = await asyncio.wait_for(trades_task, 10)
        assert [(t["order"], t["price"], t["amount"], t["side"], t["takerOrMaker"]) for t in trades] == [(placed["id"], 7.45, 1.5, "sell", "maker")]
        assert trades[0]["fee"]["currency"] == "USDT" and Decimal(str(trades[0]["fee"]["cost"])) == Decimal("0.011175")
        deadline = time.time() + 10
        while time.time() < deadline:
            order = watcher.orders.hashmap["DOT/USDT"][placed["id"]]
            if order["filled"] == 1.5:
                break
            await asyncio.sleep(0.1)
        assert order["status"] == "open" and order["filled"] == 1.5 and order["remaining"] == 2.5
        await asyncio.to_thread(market["makers"].cancel_order, placed["id"], "DOT/USDT")
        deadline = time.time() + 10
        while time.time() < deadline and watcher.orders.hashmap["DOT/USDT"][placed["id"]]["status"] != "canceled":
            await asyncio.sleep(0.1)
        assert watcher.orders.hashmap["DOT/USDT"][placed["id"]]["status"] == "canceled"
        # The balance after the cancel: nothing of this order is frozen any more.
        deadline = time.time() + 10
        while time.time() < deadline and watcher.balance["spot"]["DOT"]["free"] != free_before + 2.5:
            await asyncio.sleep(0.1)
        assert watcher.balance["spot"]["DOT"]["free"] == free_before + 2.5
    finally:
        await watcher.close()


def test_ccxt_pro_watches_user_data(cluster, market):
    asyncio.run(asyncio.wait_for(user_data(cluster, market), 60))


async def websocket_api(cluster, market):
    """The WebSocket API's answers: ids echoed with their type, status and rateLimits always,
    errors as {"id","status","error"}, v3/ prefixes, unsubscribe and session.subscriptions."""
    import hashlib
    import hmac
    trader = market["taker"]

    def signed(params):
        query = "&".join(f"{k}={params[k]}" for k in sorted(params))
        return dict(params, signature=hmac.new(trader["secret"].encode(), query.encode(), hashlib.sha256).hexdigest())

    async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws-api/v3") as socket:
        async def ask(frame):
            await socket.send(json.dumps(frame))
            while True:
                answer = json.loads(await asyncio.wait_for(socket.recv(), 5))
                if "id" in answer:
                    return answer
        pong = await ask({"id": "p-1", "method": "ping"})
        assert pong["id"] == "p-1" and pong["status"] == 200 and pong["result"] == {}
        assert pong["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT" and pong["rateLimits"][0]["count"] >= 2
        assert (await ask({"id": 5, "method": "v3/time"}))["result"]["serverTime"] > 0
        assert "rateLimits" not in await ask({"id": 6, "method": "ping", "params": {"returnRateLimits": False}})
        now = int(time.time() * 1000)
        bad = await ask({"id": 7, "method": "userDataStream.subscribe.signature",
                         "params": dict(signed({"apiKey": trader["apiKey"], "timestamp": now}), signature="0" * 64)})
        assert bad["status"] == 400 and bad["error"]["code"] == -1022 and "rateLimits" in bad
        stale = await ask({"id": 8, "method": "userDataStream.subscribe.signature", "params": signed({"apiKey": trader["apiKey"], "timestamp": now - 120_000})})
        assert stale["error"]["code"] == -1021
        ok = await ask({"id": "9", "method": "userDataStream.subscribe.signature",
                        "params": signed({"apiKey": trader["apiKey"], "timestamp": now, "recvWindow": 10000})})
        assert ok == {"id": "9", "status": 200, "result": {"subscriptionId": 0}, "rateLimits": ok["rateLimits"]}
        assert (await ask({"id": 10, "method": "session.subscriptions"}))["result"] == [{"subscriptionId": 0}]
        # A deposit reaches the stream as balanceUpdate then outboundAccountPosition.
        cluster.run("ctl", "deposit", str(trader["userId"]), "DOT", "2.5", "--redis", cluster.redis)
        events = []
        while len(events) < 2:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if "subscriptionId" in message:
                events.append(message["event"])
        assert events[0]["e"] == "balanceUpdate" and events[0]["a"] == "DOT" and events[0]["d"] == "2.50000000"
        assert events[1]["e"] == "outboundAccountPosition" and [b["a"] for b in events[1]["B"]] == ["DOT"]
        assert (await ask({"id": 11, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}}))["status"] == 200
        assert (await ask({"id": 12, "method": "session.subscriptions"}))["result"] == []
        assert (await ask({"id": 13, "method": "userDataStream.unsubscribe"}))["error"]["code"] == -2035
        unknown = await ask({"id": 14, "method": "order.place"})
        assert unknown["status"] == 400 and "order.place" in unknown["error"]["msg"]
        await socket.send("not json")
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["status"] == 400


def test_websocket_api_protocol(cluster, market):
    asyncio.run(websocket_api(cluster, market))


def test_binance_connector_trade_lookups(cluster, market):
    """binance-connector's trades, historical_trades (no key needed) and agg_trades agree."""
    from binance.spot import Spot
    spot = Spot(base_url=cluster.base)
    recent = spot.trades("ADAUSDT", limit=1000)
    assert recent and [t["id"] for t in recent] == list(range(recent[0]["id"], recent[-1]["id"] + 1))
    assert spot.historical_trades("ADAUSDT", fromId=recent[0]["id"]) == recent
    assert spot.historical_trades("ADAUSDT", fromId=recent[-1]["id"], limit=5) == recent[-1:]
    assert spot.historical_trades("ADAUSDT", limit=2) == recent[-2:]
    aggregates = spot.agg_trades("ADAUSDT", fromId=recent[0]["id"])
    assert sum(a["l"] - a["f"] + 1 for a in aggregates) == len(recent)


def test_legacy_listen_key_streams(cluster, market):
    """binance-connector's listenKey calls and user_data subscription; /ws/<listenKey> raw."""
    from binance.error import ClientError
    from binance.spot import Spot
    trader = market["taker"]
    spot = Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base)
    listen_key = spot.new_listen_key()["listenKey"]
    assert len(listen_key) == 60
    assert spot.renew_listen_key(listen_key) == {}
    with pytest.raises(ClientError) as unknown:
        spot.renew_listen_key("x" * 60)
    assert unknown.value.error_code == -1125
    received = []
    arrived = threading.Event()

    def on_message(_, message):
        received.append(json.loads(message))
        if any(m.get("e") == "outboundAccountPosition" for m in received):
            arrived.set()

    streams = SpotWebsocketStreamClient(stream_url=cluster.base.replace("http://", "ws://"), on_message=on_message)
    try:
        streams.user_data(listen_key=listen_key, id=1)
        time.sleep(0.5)
        cluster.run("ctl", "deposit", str(trader["userId"]), "ADA", "1", "--redis", cluster.redis)
        assert arrived.wait(10), received
    finally:
        streams.stop()
    assert {"result": None, "id": 1} in received
    assert any(m.get("e") == "balanceUpdate" and m["a"] == "ADA" and m["d"] == "1.00000000" for m in received)

    async def raw():
        async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws/" + listen_key) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(cluster.run, "ctl", "deposit", str(trader["userId"]), "ADA", "2", "--redis", cluster.redis)
            event = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert event["e"] == "balanceUpdate" and event["d"] == "2.00000000"
        async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws/" + "y" * 60) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd.code == 1008 and "listenKey" in closed.value.rcvd.reason

    asyncio.run(raw())
    assert spot.close_listen_key(listen_key) == {}
    with pytest.raises(ClientError):
        spot.renew_listen_key(listen_key)


async def native_channels(cluster, market):
    """/ws/v1: market.{symbol}.depth (snapshot then updates), trades, ticker, and
    private.events with the user's access token; every frame valid against the documented
    schema (docs/ws-v1.schema.json)."""
    import os
    import jsonschema_rs
    schema_path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs/ws-v1.schema.json")
    validator = jsonschema_rs.validator_for(json.load(open(schema_path)))
    maker = market["maker"]
    async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws/v1") as socket:
        unclaimed = []

        async def next_frame(predicate, timeout=10):
            """The first frame (received or to come) matching `predicate`; others stay for later."""
            for frame in unclaimed:
                if predicate(frame):
                    unclaimed.remove(frame)
                    return frame
            deadline = time.time() + timeout
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.time())))
                validator.validate(frame)
                if predicate(frame):
                    return frame
                unclaimed.append(frame)

        await socket.send(json.dumps({"op": "ping", "id": 1}))
        assert await next_frame(lambda f: f.get("id") == 1) == {"op": "pong", "id": 1}
        await socket.send(json.dumps({"op": "subscribe", "id": "s", "channels": ["market.ADAUSDT.depth", "market.ADAUSDT.trades",
                                                                               "market.ADAUSDT.ticker", "private.events"], "token": maker["token"]}))
        assert (await next_frame(lambda f: f.get("id") == "s"))["op"] == "subscribed"
        snapshot = await next_frame(lambda f: f.get("channel") == "market.ADAUSDT.depth")
        assert snapshot["type"] == "snapshot" and snapshot["data"]["asks"][0][0] == "0.50100000"
        await asyncio.to_thread(market["makers"].create_order, "ADA/USDT", "limit", "buy", 10, 0.4995)
        # The first update after the snapshot straddles its id (and may repeat levels it holds);
        # the next ones follow without a gap, one of them with the new bid.
        update = await next_frame(lambda f: f.get("channel") == "market.ADAUSDT.depth")
        assert update["type"] == "update" and update["data"]["firstUpdateId"] <= snapshot["data"]["updateId"] + 1 <= update["data"]["lastUpdateId"]
        while ["0.49950000", "10.00000000"] not in update["data"]["bids"]:
            following = await next_frame(lambda f: f.get("channel") == "market.ADAUSDT.depth")
            assert following["data"]["firstUpdateId"] == update["data"]["lastUpdateId"] + 1
            update = following
        report = await next_frame(lambda f: f.get("channel") == "private.events" and f["type"] == "executionReport")
        assert report["data"]["x"] == "NEW" and report["data"]["s"] == "ADAUSDT" and report["data"]["p"] == "0.49950000"
        await asyncio.to_thread(market["takers"].create_order, "ADA/USDT", "limit", "sell", 4, 0.4995)
        trade = await next_frame(lambda f: f.get("channel") == "market.ADAUSDT.trades")
        assert trade["data"]["price"] == "0.49950000" and trade["data"]["quantity"] == "4.00000000" and trade["data"]["takerSide"] == "sell"
        ticker = await next_frame(lambda f: f.get("channel") == "market.ADAUSDT.ticker")
        assert ticker["data"]["last"] == "0.49950000"
        await socket.send(json.dumps({"op": "subscribe", "id": 2, "channels": ["market.NOPE.depth"]}))
        assert (await next_frame(lambda f: f.get("id") == 2))["code"] == "unknown_symbol"
        await socket.send(json.dumps({"op": "subscribe", "id": 3, "channels": ["private.events"], "token": "not-a-token"}))
        await socket.send(json.dumps({"op": "unsubscribe", "id": 4, "channels": ["private.events", "market.ADAUSDT.ticker"]}))
        assert (await next_frame(lambda f: f.get("id") == 4))["op"] == "unsubscribed"
        await socket.send(json.dumps({"op": "list", "id": 5}))
        assert (await next_frame(lambda f: f.get("id") == 5))["channels"] == ["market.ADAUSDT.depth", "market.ADAUSDT.trades"]
        await socket.send(json.dumps({"op": "subscribe", "id": 6, "channels": ["private.events"], "token": "not-a-token"}))
        assert (await next_frame(lambda f: f.get("id") == 6))["code"] == "unauthorized"


def test_native_channels(cluster, market):
    asyncio.run(native_channels(cluster, market))
