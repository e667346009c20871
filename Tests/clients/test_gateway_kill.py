"""The gateway killed (kill -9) between an order's admission and its append: the order's record
and client order id stay behind, marked unsettled. The worker id's next acquirer (here the
restarted gateway) settles them once clearing has read its logs past where they ended: the
order never reached a log, so it is forgotten, and a retry with its client order id places
one order, not -1007 for ever."""

import json
import subprocess
import threading
import time

from binance.error import ServerError
from binance.spot import Spot


def redis_cli(cluster, *args):
    return subprocess.run(["redis-cli", "-p", str(cluster.redis_port), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_an_order_a_killed_gateway_abandoned_is_settled_and_its_retry_placed_once(cluster):
    trader = cluster.new_trader({"USDT": "100000"})
    spot = Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base, timeout=15)
    # The gateway's lease (not a scan's, which holds one for a moment).
    leases = [key for key in redis_cli(cluster, "--scan", "--pattern", "gw:worker:*").split()
              if not redis_cli(cluster, "GET", key).startswith("sweeper-")]
    assert len(leases) == 1, leases
    worker = leases[0].rsplit(":", 1)[1]
    producer = "gw-" + worker
    partitions = sorted(int(key.split("{")[1].split("}")[0]) for key in redis_cli(cluster, "--scan", "--pattern", "clr:{*}:seq").split())
    assert partitions, "no clearing partition"
    # The gateway's appends fail (its last tags are not strings) while it retries the order's:
    # killed then, it has admitted the order and never appended it.
    last_tags = {p: f"clr:{{{p}}}:last-tag:{producer}" for p in partitions}
    saved = {p: redis_cli(cluster, "GET", key) for p, key in last_tags.items()}
    for key in last_tags.values():
        redis_cli(cluster, "DEL", key)
        redis_cli(cluster, "HSET", key, "blocked", "1")
    order = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000", newOrderRespType="ACK",
                 newClientOrderId="abandoned-1")
    failures = []

    def place():
        try:
            spot.new_order(**order)
        except Exception as error:  # the connection dies with the gateway
            failures.append(repr(error))

    placing = threading.Thread(target=place)
    placing.start()
    client_ids = f"gw:ucid:{trader['userId']}"
    deadline = time.time() + 10
    while not redis_cli(cluster, "HGET", client_ids, "abandoned-1") and time.time() < deadline:
        time.sleep(0.02)
    abandoned = redis_cli(cluster, "HGET", client_ids, "abandoned-1")
    assert abandoned, "admitted"
    cluster.kill("gateway")
    placing.join(timeout=30)
    assert failures, "the placement was never answered"
    for p, key in last_tags.items():
        redis_cli(cluster, "DEL", key)
        if saved[p]:
            redis_cli(cluster, "SET", key, saved[p])
    assert redis_cli(cluster, "HGET", f"gw:o:{abandoned}", "un") == "1", "left marked unsettled"
    assert redis_cli(cluster, "SISMEMBER", f"gw:unsettled-orders:{worker}", abandoned) == "1"
    assert redis_cli(cluster, "HLEN", "gw:unsettled") == "0", "killed before its settler had it: only the sweeper can settle it"

    # Restarted once its lease lapsed (as a supervisor would, a little later), the gateway takes
    # the worker id back and settles what the killed one left.
    deadline = time.time() + 40
    while redis_cli(cluster, "EXISTS", leases[0]) == "1" and time.time() < deadline:
        time.sleep(0.2)
    cluster.start_gateway()
    answered = None
    refusals = []
    deadline = time.time() + 30
    while answered is None and time.time() < deadline:
        try:
            answered = spot.new_order(**order)
        except ServerError as error:  # -1007 comes with 503
            refusals.append(json.loads(error.message)["code"])
            time.sleep(0.2)
        except OSError as error:  # the gateway still starting
            refusals.append(repr(error))
            time.sleep(0.2)
    assert answered is not None, f"the retry never got an answer: {refusals[-3:]}"
    assert all(refusal == -1007 or isinstance(refusal, str) for refusal in refusals), refusals
    assert str(answered["orderId"]) != abandoned
    assert redis_cli(cluster, "EXISTS", f"gw:o:{abandoned}") == "0"
    with_client_id = [o["orderId"] for o in spot.get_orders("BTCUSDT") if o["clientOrderId"] == "abandoned-1"]
    assert with_client_id == [answered["orderId"]], with_client_id
    assert spot.cancel_order("BTCUSDT", origClientOrderId="abandoned-1")["status"] == "CANCELED"
    audit = cluster.run("audit", "clearing", "--redis", cluster.redis, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
