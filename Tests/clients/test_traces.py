"""One order is one trace, end to end: the session cluster's roles export spans over OTLP/HTTP to a
real receiver (`otlp_receiver`, decoding with the official opentelemetry-proto), and a ccxt order
that trades is followed from the gateway's request through clearing, the shard, settlement and
the user data stream push, by span parent links (ARCHITECTURE: trace context travels in log entry
metadata, never in the payload)."""

import asyncio
import json
import subprocess

import websockets
from binance.spot import Spot

from test_ccxt import client

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind


def test_an_order_is_one_trace_from_request_to_push(cluster, otlp):
    maker = cluster.new_trader({"BTC": "1"})
    taker = cluster.new_trader({"USDT": "10000"})
    makers, takers = client(cluster, maker), client(cluster, taker)
    makers.load_markets()
    takers.load_markets()
    makers.create_order("BTC/USDT", "limit", "sell", 0.01, 31000)
    listen_key = Spot(api_key=taker["apiKey"], api_secret=taker["secret"], base_url=cluster.base).new_listen_key()["listenKey"]

    async def trade_while_listening():
        async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws/" + listen_key) as socket:
            await asyncio.sleep(0.3)
            order = await asyncio.to_thread(takers.create_order, "BTC/USDT", "limit", "buy", 0.01, 31000)
            events = []
            while not ({"executionReport", "outboundAccountPosition"} <= {e["e"] for e in events}
                       and any(e.get("x") == "TRADE" for e in events)):
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
            return order, events

    order, events = asyncio.run(trade_while_listening())
    assert order["status"] == "closed", order
    order_id = order["id"]

    def ours(spans):
        """The spans of the taker order's trace (found through its append span)."""
        append = [s for s in spans if s.name == "order.append" and s.attributes.get("exchange.order_id") == order_id]
        return [s for s in spans if append and s.trace_id == append[0].trace_id]

    def complete(spans):
        # Every stage, and a push under each of the three that push (the two execution reports
        # under the shard's apply may come before settlement's push).
        mine = ours(spans)
        names = {s.name for s in mine}
        stages = {s.span_id: s.name for s in mine}
        pushed_under = {stages.get(s.parent_span_id) for s in mine if s.name == "user_event.push"}
        # The request's span is exported when its answer is sent, maybe after the stages'.
        requested = any(s.name == "order.append" and s.parent_span_id in stages for s in mine)
        return {"order.append", "clearing.apply", "shard.apply", "clearing.settle"} <= names \
            and {"clearing.apply", "shard.apply", "clearing.settle"} <= pushed_under and requested

    trace = ours(otlp.wait_for(complete))
    by_id = {s.span_id: s for s in trace}

    def one(name):
        found = [s for s in trace if s.name == name and s.attributes.get("exchange.order_id") == order_id]
        assert len(found) == 1, (name, trace)
        return found[0]

    append, apply, shard, settle = one("order.append"), one("clearing.apply"), one("shard.apply"), one("clearing.settle")
    request = by_id[append.parent_span_id]
    # The gateway's request span (Hummingbird's TracingMiddleware) is the root.
    assert request.name == "/api/v3/order" and request.kind == SERVER and request.parent_span_id == "", request
    assert request.service == append.service == "exchange-gateway" and append.kind == PRODUCER
    # Each stage is a child of the one that carried the order to it, in the process that ran it.
    assert apply.parent_span_id == append.span_id and apply.service == "exchange-clearing" and apply.kind == CONSUMER
    assert shard.parent_span_id == apply.span_id and shard.service == "exchange-matcher"
    assert settle.parent_span_id == shard.span_id and settle.service == "exchange-clearing"
    # Where each stage ran is its process's resource: the partition (both clearing stages in the
    # taker's), the shard, the replica.
    assert apply.resource["exchange.partition"] == settle.resource["exchange.partition"] == append.attributes["exchange.partition"]
    assert shard.resource["exchange.shard"] in ("0", "1") and shard.resource["exchange.replica"] in ("a", "b")
    assert request.start <= append.start <= apply.start <= shard.start <= settle.start
    # The pushes of the user data stream: the order's execution reports under the shard's
    # apply, the balances it froze under clearing's apply, what it settled under settlement.
    pushes = [s for s in trace if s.name == "user_event.push"]
    assert all(s.service == "exchange-gateway" and s.attributes["exchange.user_id"] == str(taker["userId"]) for s in pushes)
    parents = {by_id[s.parent_span_id].name for s in pushes}
    assert parents == {"clearing.apply", "shard.apply", "clearing.settle"}, pushes
    # Nobody else's work is in this trace: the maker's side of the trade is not.
    assert all(s.attributes.get("exchange.order_id", order_id) == order_id for s in trace)
    assert otlp.refused == 0

    # The context traveled beside the payload (field `c` of the clearing input entry) and the
    # payload is what any order's is: replaying every log reproduces every output, byte for byte.
    entries = subprocess.run(["redis-cli", "-p", str(cluster.redis_port), "XRANGE", f"clr:{{{apply.resource['exchange.partition']}}}:in", "-", "+"],
                             capture_output=True, check=True).stdout
    assert f"{order_id}=00-{append.trace_id}-{append.span_id}-01".encode() in entries
    cluster.run("audit", "shards", "--redis", cluster.redis)
    cluster.run("audit", "clearing", "--redis", cluster.redis)
