"""cluster/: the default topology as network namespaces (3 Redis hosts with Sentinel, PostgreSQL,
2 matcher hosts, 2 clearing hosts, an edge host), every role on its host's own address. A real
client trades through the gateway's address; a matcher primary's host loses its network and
the standby takes over while the cut-off primary is fenced and rejoins as standby; the Redis
master's host dies and Sentinel's new master serves on; cluster/down leaves nothing behind."""

import os
import subprocess
import sys
import tempfile
import time

import ccxt
import pytest

from cluster import ROOT, binance_client, http_json

sys.path.insert(0, os.path.join(ROOT, "cluster"))
import netns  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def leftovers():
    namespaces = [l for l in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines() if l.startswith("ox-")]
    links = [l for l in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines() if "oxv-" in l or "oxbr0" in l]
    return namespaces + links


def new_trader(cluster, base, deposits):
    email = f"hosts-{os.urandom(4).hex()}@example.com"
    status, user = http_json(base + "/api/v1/users", "POST", {"email": email, "password": "correct horse 1"})
    assert status == 201, user
    status, session = http_json(base + "/api/v1/sessions", "POST", {"email": email, "password": "correct horse 1"})
    assert status == 200, session
    status, key = http_json(base + "/api/v1/me/api-keys", "POST", {"label": "hosts", "permissions": ["read", "trade"]}, token=session["accessToken"])
    assert status == 201, key
    for asset, amount in deposits.items():
        cluster.exchange("ctl", "deposit", str(user["userId"]), asset, amount, "--redis", cluster.topology.redis_url())
    return binance_client(base, key["apiKey"], key["secretKey"])


def place(client, side):
    """One limit order at 30000, retried as a trading client would while the cluster fails over
    (503): with the same newClientOrderId, so a retry never places twice."""
    client_order_id = "hosts-" + os.urandom(6).hex()
    deadline = time.monotonic() + 30
    while True:
        try:
            return client.create_order("BTC/USDT", "limit", side, 0.01, 30000, {"newClientOrderId": client_order_id})
        except (ccxt.ExchangeNotAvailable, ccxt.OperationFailed, ccxt.RequestTimeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def trade(buyer, seller):
    """A resting sell, a crossing buy: one trade each side sees."""
    sell = place(seller, "sell")
    place(buyer, "buy")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if seller.fetch_order(sell["id"], "BTC/USDT")["status"] == "closed":
                return
        except (ccxt.ExchangeNotAvailable, ccxt.OperationFailed, ccxt.RequestTimeout):
            pass  # still failing over
        time.sleep(0.2)
    raise AssertionError("the crossing orders did not trade")


def test_default_topology_trades_survives_a_cut_host_and_a_lost_redis_master_and_comes_down():
    # Not under pytest's tmp_path: PostgreSQL runs as its own user, which must reach its directory.
    state = tempfile.mkdtemp(prefix="openexchange-hosts-")
    netns.Cluster.down(state)
    os.makedirs(state)
    cluster = netns.Cluster(state, topology=os.path.join(ROOT, "cluster", "topologies", "default.toml"),
                            binary=os.environ["EXCHANGE_BINARY"])
    cluster.save()
    try:
        cluster.up()
        t = cluster.topology
        edge = t.address("edge")
        # Roles listen on their host's address, not on loopback.
        listening = cluster.run_on("edge", "ss", "-ltnH").stdout
        assert f"{edge}:8080" in listening and f"{edge}:8084" in listening, listening
        redis = t.redis_url()
        for asset, scale in (("BTC", "8"), ("USDT", "6")):
            cluster.exchange("ctl", "asset", "add", asset, "--scale", scale, "--redis", redis)
        cluster.exchange("ctl", "symbol", "add", "BTCUSDT", "--base", "BTC", "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                         "--min-notional", "5", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", redis)
        base = f"http://{edge}:8080"
        deadline = time.monotonic() + 30  # the gateway learns new symbols from clearing's output
        while "BTCUSDT" not in str(http_json(base + "/api/v3/exchangeInfo")[1]) and time.monotonic() < deadline:
            time.sleep(0.2)
        buyer = new_trader(cluster, base, {"USDT": "100000"})
        seller = new_trader(cluster, base, {"BTC": "10"})
        trade(buyer, seller)

        # Cut shard 0's primary's host off the network: the standby on the other host takes over.
        holder = cluster.master_cli("HGET", "me:{0}:lease", "holder")
        host = t.host_of(f"matcher:0:{holder}")
        epoch = cluster.master_cli("GET", "me:{0}:epoch")
        cluster.set_link(host, False)
        deadline = time.monotonic() + 30
        while cluster.master_cli("GET", "me:{0}:epoch") == epoch and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.master_cli("GET", "me:{0}:epoch") != epoch, "no failover after the cut"
        assert cluster.master_cli("HGET", "me:{0}:lease", "holder") != holder
        trade(buyer, seller)
        cluster.set_link(host, True)
        deadline = time.monotonic() + 30
        while cluster.master_cli("HGET", f"me:{{0}}:replica:{holder}", "role") != "standby" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.master_cli("HGET", f"me:{{0}}:replica:{holder}", "role") == "standby", "the cut-off primary did not rejoin as standby"

        # The Redis master's host dies: Sentinel promotes a replica and trading goes on.
        master_host, master_address = cluster.redis_master()
        cluster.kill_host(master_host)
        deadline = time.monotonic() + 30
        while cluster.redis_master()[1] == master_address and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.redis_master()[1] != master_address, "Sentinel promoted no replica"
        trade(buyer, seller)
        assert len(buyer.fetch_my_trades("BTC/USDT")) == 3

        audit = cluster.exchange("audit", "shards", "--redis", redis, check=False)
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        pids = [entry["pid"] for entry in cluster.processes.values()]
        netns.Cluster.down(state)
    assert leftovers() == []
    assert [pid for pid in pids if os.path.exists(f"/proc/{pid}")] == []
