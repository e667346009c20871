"""`exchange up`, as a newcomer runs it: from an empty data directory it starts Redis,
PostgreSQL and every role, prints the URLs and a demo API key; ccxt places an order with that
key; Ctrl-C (SIGINT) then stops everything, leaving no process and no port in use."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from binance.spot import Spot
from cluster import ROOT, binance_client, free_port, http_json, processes_mentioning, read_banner
from evm_rpc import EVMNode

DEPLOY = os.path.join(ROOT, "deploy")


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_range(count):
    """A base port with `count` free ports from it."""
    for _ in range(100):
        base = free_port()
        if base + count < 65535 and all(port_is_free(base + i) for i in range(count)):
            return base
    raise AssertionError("no free port range")


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def query(prometheus, expression):
    answer = json.loads(get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def check_metrics_with_prometheus(data, ports):
    """promtool accepts every role's /metrics; Debian's Prometheus, run with the shipped
    deploy/prometheus configuration and rules on `up`'s target list, scrapes every role and
    finds every metric the dashboard and the alert rules use."""
    with open(os.path.join(data, "prometheus-targets.json")) as f:
        targets = [group["targets"][0] for group in json.load(f)]
    assert len(targets) == 13
    token_file = os.path.join(data, "secrets", "internal.token")
    token = open(token_file).read().strip()
    for target in targets:
        # Ops endpoints ask for the cluster's internal token.
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(f"http://{target}/metrics")
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            get(f"http://{target}/health", token="not-the-token-0123456789")
        text = get(f"http://{target}/metrics", token=token)
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0, f"{target}: {lint.stdout}{lint.stderr}"

    workdir = tempfile.mkdtemp(prefix="openexchange-prometheus.")
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(os.path.join(DEPLOY, "prometheus", name), workdir)
    os.symlink(os.path.join(data, "prometheus-targets.json"), os.path.join(workdir, "prometheus-targets.json"))
    os.symlink(token_file, os.path.join(workdir, "internal.token"))
    check = subprocess.run(["promtool", "check", "config", os.path.join(workdir, "prometheus.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    ports.append(port)
    prometheus_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["prometheus", f"--config.file={workdir}/prometheus.yml", f"--storage.tsdb.path={workdir}/data",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "log"), "w"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                up = query(prometheus_url, 'up{job="openexchange"} == 1')
                if len(up) == 13:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, open(os.path.join(workdir, "log")).read()[-3000:]
            time.sleep(0.5)
        assert {series["metric"]["component"] for series in up} == {"matcher", "clearing", "recorder", "gateway", "marketdata", "admin", "wallet"}
        # One primary per shard and per partition, found through the scraped roles.
        primaries = query(prometheus_url, 'sum by (shard, partition) (exchange_replica_role{role="primary"})')
        assert sorted(float(series["value"][1]) for series in primaries) == [1.0] * 4, primaries
        assert float(query(prometheus_url, "sum(exchange_gateway_commands_appended_total)")[0]["value"][1]) >= 1
        assert query(prometheus_url, 'sum(hb_requests_total{component="gateway", http_route="/api/v3/order"})'), "the order's request is counted"
        rules = json.loads(get(f"{prometheus_url}/api/v1/rules"))["data"]["groups"][0]["rules"]
        assert len(rules) == 15 and all(rule["health"] == "ok" for rule in rules), rules
        assert float(query(prometheus_url, "exchange_wallet_active")[0]["value"][1]) == 1
        assert float(query(prometheus_url, "exchange_wallet_deposits_credited_total")[0]["value"][1]) == 1, "the demo deposit"
        # Every metric the dashboard and the rules use is exported (audits come from their textfile).
        names = set(json.loads(get(f"{prometheus_url}/api/v1/label/__name__/values"))["data"])
        with open(os.path.join(DEPLOY, "grafana", "openexchange.json")) as f:
            expressions = [target["expr"] for panel in json.load(f)["panels"] for target in panel["targets"]]
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            expressions.append(f.read())
        used = set(re.findall(r"\b((?:exchange|hb|http_server)_[a-z_]+)", "\n".join(expressions)))
        missing = {name for name in used if name not in names and not name.startswith("exchange_audit_")}
        assert not missing, f"used by deploy/ but not exported: {missing}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def test_up_serves_a_ccxt_order_then_ctrl_c_leaves_nothing_behind():
    binary = os.environ["EXCHANGE_BINARY"]
    data = tempfile.mkdtemp(prefix="openexchange-up.")
    node = EVMNode().start()  # before the ports are chosen: its own port is not among them
    redis_port, postgres_port, gateway_port, admin_port = free_port(), free_port(), free_port(), free_port()
    market_port = free_port_range(2)
    ops_base = free_port_range(12)
    ports = [redis_port, postgres_port, gateway_port, admin_port, market_port, market_port + 1] + [ops_base + i for i in range(11)]
    up = subprocess.Popen(
        [binary, "up", "--data", data, "--redis-port", str(redis_port), "--postgres-port", str(postgres_port),
         "--port", str(gateway_port), "--market-data-port", str(market_port), "--admin-port", str(admin_port), "--ops-base-port", str(ops_base),
         "--wallet-rpc", node.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = read_banner(up)
        assert "OpenExchange is up: 13 roles" in text and "wallet" in text, text
        assert f"http://127.0.0.1:{gateway_port}" in text and f"http://127.0.0.1:{market_port}" in text and f"http://127.0.0.1:{admin_port}" in text

        # The first SuperAdmin logs in with the password up made (mode 600); the pages are served.
        password_file = os.path.join(data, "secrets", "admin.password")
        assert os.stat(password_file).st_mode & 0o077 == 0
        status, session = http_json(f"http://127.0.0.1:{admin_port}/api/v1/admin/sessions", "POST",
                                    {"email": "admin@openexchange.local", "password": open(password_file).read().strip()})
        assert status == 200 and session["staff"]["role"] == "SuperAdmin", session
        assert "OpenExchange admin" in urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/").read().decode()
        assert "OpenExchange" in urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/").read().decode()

        with open(os.path.join(data, "demo-account.json")) as f:
            demo = json.load(f)
        assert demo["apiKey"] in text and demo["secretKey"] in text
        assert os.stat(os.path.join(data, "demo-account.json")).st_mode & 0o077 == 0

        exchange = binance_client(f"http://127.0.0.1:{gateway_port}", demo["apiKey"], demo["secretKey"])
        assert exchange.fetch_balance()["USDT"]["free"] == 100000
        order = exchange.create_order("BTC/USDT", "limit", "buy", 0.5, 20000)
        assert order["status"] == "open"
        assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
        assert exchange.fetch_balance()["USDT"]["used"] == 10000

        # The wallet role runs on the node given: the demo user has an ETH deposit address, and a
        # payment to it is credited after the confirmations (12 by default).
        spot = Spot(api_key=demo["apiKey"], api_secret=demo["secretKey"], base_url=f"http://127.0.0.1:{gateway_port}")
        address = spot.deposit_address(coin="ETH")["address"]
        node.send(node.funded_accounts[0], address, 10**18)
        deadline = time.monotonic() + 60
        while not [d for d in spot.deposit_history(coin="ETH") if d["status"] == 1]:
            assert time.monotonic() < deadline, "the deposit was not credited"
            node.mine(1)
            time.sleep(0.2)
        assert exchange.fetch_balance()["ETH"]["total"] == 101

        # Every role logs JSON lines, and no secret of the demo user reached any log.
        for role in ("matcher-0-a", "clearing-0-a", "recorder", "gateway", "marketdata", "admin", "wallet"):
            with open(os.path.join(data, "logs", f"{role}.log")) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            assert lines and all(line["service"] == "openexchange" and "time" in line and "level" in line for line in lines), role
        logs = "".join(open(os.path.join(data, "logs", name)).read() for name in os.listdir(os.path.join(data, "logs")))
        for secret in (demo["secretKey"], demo["password"], open(os.path.join(data, "secrets", "master.key")).read().strip(),
                       open(os.path.join(data, "secrets", "hot-wallet.key")).read().strip(),
                       open(os.path.join(data, "secrets", "deposit.seed")).read().strip(),
                       open(password_file).read().strip(), session["accessToken"]):
            assert secret not in logs

        check_metrics_with_prometheus(data, ports)

        # up's Redis asks for its own password (kept off every command line), not the internal
        # token that Prometheus holds.
        password = open(os.path.join(data, "secrets", "redis.password")).read().strip()
        token = open(os.path.join(data, "secrets", "internal.token")).read().strip()
        assert password != token
        assert "NOAUTH" in subprocess.run(["redis-cli", "-p", str(redis_port), "get", "x"], capture_output=True, text=True).stdout
        for wrong in (token, "x"):
            refused = subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, text=True,
                                     env=dict(os.environ, REDISCLI_AUTH=wrong))
            assert "WRONGPASS" in refused.stderr and "NOAUTH" in refused.stdout
        assert subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, text=True,
                              env=dict(os.environ, REDISCLI_AUTH=password)).stdout.strip() == "PONG"
        assert processes_mentioning(password) == [] and processes_mentioning(token) == []

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=120) == 0, up.stderr.read()
        stderr = up.stderr.read()
        assert "up: stopped 13 roles" in stderr and stderr.rstrip().endswith("up: stopped"), stderr
    finally:
        node.stop()
        if up.poll() is None:
            # A failed test: kill `up` (its roles follow it), then stop the servers it started.
            up.kill()
            up.wait()
            password_file = os.path.join(data, "secrets", "redis.password")
            auth = {"REDISCLI_AUTH": open(password_file).read().strip()} if os.path.exists(password_file) else {}
            subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"], capture_output=True, env=dict(os.environ, **auth))
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "postgres-server"), "stop", os.path.join(data, "postgres")], capture_output=True)

    leftovers = processes_mentioning(data, f"127.0.0.1:{redis_port}")
    assert leftovers == [], leftovers
    busy = [port for port in ports if not port_is_free(port)]
    assert busy == [], f"ports still in use: {busy}"
    shutil.rmtree(data, ignore_errors=True)
