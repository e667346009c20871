"""The kill switch on the live session cluster under load, with two gateways: once the call
returns no gateway accepts a new order, every order accepted before ends in exactly one state
(resting ones cancelled when asked), the audits pass, and trading resumes. Also the symbol and
shard scopes. How fast the gateways refuse is measured by bench/kill-switch.sh, not here."""
import json
import os
import random
import secrets
import threading
import time

from cluster import free_port, http_json, wait_http
from staff import signed

HALTED = "trading halted by the exchange"


def place(base, trader, symbol, side, price, quantity="0.1", tif="GTC"):
    # A client order id of its own: two identical requests in one millisecond would otherwise be one signature (a replay).
    return signed(base, "POST", "/api/v3/order", trader, symbol=symbol, side=side, type="LIMIT", timeInForce=tif, quantity=quantity,
                  price=price, newOrderRespType="RESULT", newClientOrderId="ks-" + secrets.token_hex(8))


def test_kill_switch_whole_exchange_under_load(cluster):
    second_port = free_port()
    cluster.spawn("gateway-2", "gateway", "--redis", cluster.redis, "--postgres", cluster.postgres, "--port", str(second_port), "--ops-port", "0",
                  "--bcrypt-cost", "4", "--weight-per-minute", "100000000", "--orders-per10-seconds", "10000", "--no-market-data")
    gateways = [cluster.base, f"http://127.0.0.1:{second_port}"]
    wait_http(gateways[1] + "/api/v3/ping", os.path.join(cluster.dir, "gateway-2.log"))
    traders = [cluster.new_trader({"USDT": "1000000", "BTC": "100", "ETH": "100"}) for _ in range(4)]
    operator = cluster.new_staff("Operator")
    results, lock, stop = [], threading.Lock(), threading.Event()

    def load(trader, base, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            symbol = rng.choice(["BTCUSDT", "ETHUSDT"])
            if rng.random() < 0.2:  # marketable: trades against what rests
                side, price, tif = rng.choice([("BUY", "130.00", "IOC"), ("SELL", "100.00", "IOC")])
            else:
                side = rng.choice(["BUY", "SELL"])
                price, tif = (f"{rng.randint(10000, 11000) / 100:.2f}" if side == "BUY" else f"{rng.randint(12000, 13000) / 100:.2f}"), "GTC"
            sent = time.monotonic()
            status, body = place(base, trader, symbol, side, price, tif=tif)
            with lock:
                results.append((sent, time.monotonic(), base, trader["userId"], status, body))

    threads = [threading.Thread(target=load, args=(trader, base, index)) for index, (trader, base) in
               enumerate((t, g) for t in traders for g in gateways)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        called = time.monotonic()
        status, halt = cluster.admin("POST", "halts", {"scope": "exchange", "cancelResting": True, "reason": "kill switch test"}, token=operator)
        returned = time.monotonic()
        assert status == 200 and set(halt["symbols"]) >= {"BTCUSDT", "ETHUSDT"}, halt
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    try:
        refused_by = {}
        for sent, done, base, _, status, body in sorted(results, key=lambda r: r[1]):
            if status == 400 and isinstance(body, dict) and HALTED in body.get("msg", "") and base not in refused_by:
                refused_by[base] = done
        assert set(refused_by) == set(gateways), f"every gateway refuses: {refused_by}; {[r[4:] for r in results[-5:]]}; {len(results)} sent"
        latency_ms = max(refused_by.values()) - called
        latency_ms *= 1000
        after_call = [r for r in results if r[0] > returned]
        accepted_after = [r for r in after_call if r[4] == 200]
        assert not accepted_after, f"accepted after the halt call returned: {accepted_after[:3]}"
        other = [r[4:] for r in after_call if not (r[4] == 400 and r[5]["code"] == -2010)]
        assert after_call and not other, f"refused otherwise than halted: {other[:5]}"
        accepted = [r for r in results if r[4] == 200]
        print(json.dumps({"orders sent": len(results), "accepted before": len(accepted), "refused after the call": len(after_call),
                          "halt call ms": round((returned - called) * 1000, 1), "call to last gateway refusing ms": round(latency_ms, 1),
                          "cancelRequested": halt.get("cancelRequested")}))
        assert halt.get("cancelRequested") is not None, halt

        # Every order accepted before the halt ends in exactly one final state: none rests.
        by_user = {t["userId"]: t for t in traders}
        deadline = time.time() + 20
        pending = {(r[5]["symbol"], r[5]["orderId"], r[3]) for r in accepted}
        while pending and time.time() < deadline:
            for symbol, order_id, user in list(pending):
                status, order = signed(cluster.base, "GET", "/api/v3/order", by_user[user], symbol=symbol, orderId=order_id)
                assert status == 200, order
                if order["status"] in ("FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"):
                    pending.discard((symbol, order_id, user))
            time.sleep(0.2)
        assert not pending, f"{len(pending)} orders accepted before the halt still open after it cancelled resting orders"
        for trader in traders:
            status, open_orders = signed(cluster.base, "GET", "/api/v3/openOrders", trader)
            assert status == 200 and open_orders == [], open_orders
        # Cancels still work while halted (nothing to cancel: an unknown order is refused cleanly).
        status, body = signed(cluster.base, "DELETE", "/api/v3/order", traders[0], symbol="BTCUSDT", orderId=1)
        assert status == 400 and body["code"] in (-2011, -2013), body
        cluster.run("audit", "shards", "--redis", cluster.redis)
        cluster.run("audit", "clearing", "--redis", cluster.redis)
    finally:
        status, resumed = cluster.admin("POST", "halts/resume", {"scope": "exchange"}, token=operator)
        assert status == 200, resumed
        cluster.kill("gateway-2")
    status, body = place(cluster.base, traders[0], "BTCUSDT", "BUY", "101.00")
    assert status == 200 and body["status"] == "NEW", body
    assert signed(cluster.base, "DELETE", "/api/v3/order", traders[0], symbol="BTCUSDT", orderId=body["orderId"])[0] == 200


def test_kill_switch_symbol_and_shard_scopes(cluster):
    operator = cluster.new_staff("Operator")
    trader = cluster.new_trader({"USDT": "10000"})
    status, pairs = cluster.admin("GET", "pairs", token=operator)
    shard_of = {p["symbol"]: p["shard"] for p in pairs}
    status, halt = cluster.admin("POST", "halts", {"scope": "symbol", "symbol": "ETHUSDT"}, token=operator)
    try:
        assert status == 200 and halt["symbols"] == ["ETHUSDT"]
        status, body = place(cluster.base, trader, "ETHUSDT", "BUY", "100.00")
        assert status == 400 and HALTED in body["msg"] and "symbol:ETHUSDT" in body["msg"], body
        info = http_json(cluster.base + "/api/v3/exchangeInfo?symbol=ETHUSDT")[1]
        deadline = time.time() + 3
        while info["symbols"][0]["status"] != "HALT" and time.time() < deadline:
            time.sleep(0.2)
            info = http_json(cluster.base + "/api/v3/exchangeInfo?symbol=ETHUSDT")[1]
        assert info["symbols"][0]["status"] == "HALT"
        if shard_of["BTCUSDT"] != shard_of["ETHUSDT"]:
            status, body = place(cluster.base, trader, "BTCUSDT", "BUY", "100.00")
            assert status == 200, body
            signed(cluster.base, "DELETE", "/api/v3/order", trader, symbol="BTCUSDT", orderId=body["orderId"])
    finally:
        assert cluster.admin("POST", "halts/resume", {"scope": "symbol", "symbol": "ETHUSDT"}, token=operator)[0] == 200
    shard = shard_of["BTCUSDT"]
    status, halt = cluster.admin("POST", "halts", {"scope": "shard", "shard": shard}, token=operator)
    try:
        assert status == 200 and "BTCUSDT" in halt["symbols"]
        status, body = place(cluster.base, trader, "BTCUSDT", "BUY", "100.00")
        assert status == 400 and f"shard:{shard}" in body["msg"], body
    finally:
        assert cluster.admin("POST", "halts/resume", {"scope": "shard", "shard": shard}, token=operator)[0] == 200
    for bad in ({"scope": "galaxy"}, {"scope": "symbol", "symbol": "NOSUCH"}, {"scope": "shard", "shard": 99}, {"scope": "shard"}, {}):
        status, body = cluster.admin("POST", "halts", bad, token=operator)
        assert status == 400 and body["msg"], (bad, body)
    assert cluster.admin("POST", "halts/resume", {"scope": "exchange"}, token=operator)[0] == 404
    assert cluster.admin("GET", "halts", token=operator)[1] == []
