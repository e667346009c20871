"""Primaries die (kill -9) under a client placing orders: every acknowledged order reaches
exactly one final state or still rests, nothing is lost or doubled, and the clearing audit
passes. Runs last: it leaves the cluster on its standbys."""

import subprocess
import threading
import time

from binance.error import ClientError
from binance.spot import Spot


def primary(cluster, log):
    return subprocess.run(["redis-cli", "-p", str(cluster.redis_port), "HGET", f"{log}:lease", "holder"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_acknowledged_orders_survive_primary_kills(cluster):
    maker_account = cluster.new_trader({"BTC": "50", "USDT": "2000000"})
    taker_account = cluster.new_trader({"BTC": "50", "USDT": "2000000"})
    maker = Spot(api_key=maker_account["apiKey"], api_secret=maker_account["secret"], base_url=cluster.base, timeout=15)
    taker = Spot(api_key=taker_account["apiKey"], api_secret=taker_account["secret"], base_url=cluster.base, timeout=15)
    acknowledged = []  # (client, order id, is IOC)
    refused = []

    def trade(rounds):
        for i in range(rounds):
            price = str(20000 + i % 7)
            for client, side, tif in ((maker, "SELL", "GTC"), (taker, "BUY", "IOC")):
                try:
                    answer = client.new_order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce=tif, quantity="0.01", price=price,
                                              newOrderRespType="ACK")
                    acknowledged.append((client, answer["orderId"], tif == "IOC"))
                except ClientError as error:
                    refused.append(error.error_code)
                except Exception as error:  # a timeout while a primary is away: not acknowledged
                    refused.append(repr(error))

    worker = threading.Thread(target=trade, args=(150,))
    worker.start()
    time.sleep(1.0)
    # The shard holding BTCUSDT and the partitions of both users lose their primaries.
    victims = set()
    for shard in range(2):
        victims.add(f"matcher-{shard}-{primary(cluster, 'me:{' + str(shard) + '}')}")
    for partition in range(2):
        victims.add(f"clearing-{partition}-{primary(cluster, 'clr:{' + str(partition) + '}')}")
    for name in sorted(victims):
        cluster.kill(name)
    worker.join(timeout=300)
    assert not worker.is_alive()
    print(f"acknowledged {len(acknowledged)}, refused {len(refused)}: {refused[:3]}")
    assert len(acknowledged) > 100, (len(acknowledged), refused[:5])

    # Every acknowledged IOC order ends; every GTC one ends or rests, and is listed as open exactly then.
    deadline = time.time() + 60
    pending = list(acknowledged)
    while pending and time.time() < deadline:
        pending = [(c, o, ioc) for c, o, ioc in pending if ioc and c.get_order("BTCUSDT", orderId=o)["status"] in ("NEW", "PARTIALLY_FILLED")]
        time.sleep(0.2)
    assert pending == [], f"{len(pending)} IOC orders never ended"
    open_ids = {o["orderId"] for o in maker.get_open_orders("BTCUSDT")}
    final = {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"}
    for client, order_id, _ in acknowledged:
        status = client.get_order("BTCUSDT", orderId=order_id)["status"]
        assert status in final or order_id in open_ids, (order_id, status)
    ids = [order_id for _, order_id, _ in acknowledged]
    assert len(ids) == len(set(ids))
    maker.cancel_open_orders("BTCUSDT")
    for client, order_id, _ in acknowledged:
        assert client.get_order("BTCUSDT", orderId=order_id)["status"] in final

    # Money: the ledger balances, every trade settled once on both legs.
    audit = cluster.run("audit", "clearing", "--redis", cluster.redis, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
