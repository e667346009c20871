"""HTTPS and WSS on the gateway and the market data, with certificates from scripts/certs: real
TLS handshakes (Python's ssl, ccxt's requests, the websockets client) that verify the chain and
the host; plaintext refused on a TLS port; a reissued certificate served to new connections
without a restart."""

import asyncio
import http.client
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import websockets

from cluster import ROOT, binance_client, free_port, processes_mentioning, read_banner
from otlp_receiver import OTLPReceiver


def issue(directory):
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "certs"), directory], check=True, capture_output=True)


def issue_client_certificate(directory):
    """A client certificate (extended key usage clientAuth) from the test CA in `directory`
    (scripts/certs issues server certificates only); returns its certificate and key files."""
    key, request, extensions, certificate = (os.path.join(directory, name) for name in ("client.key", "client.csr", "client.ext", "client.pem"))
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=exchange roles", "-out", request], check=True, capture_output=True)
    pathlib.Path(extensions).write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", request, "-CA", os.path.join(directory, "ca.pem"), "-CAkey", os.path.join(directory, "ca.key"),
                    "-set_serial", "0x" + secrets.token_hex(16), "-days", "2", "-sha256", "-extfile", extensions, "-out", certificate],
                   check=True, capture_output=True)
    return certificate, key


def wait_for_https(url, context, log):
    deadline = time.monotonic() + 60
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2, context=context).read()
        except OSError:
            assert time.monotonic() < deadline, open(log).read()[-3000:]
            time.sleep(0.2)


def served_certificate(port):
    """The DER certificate a new connection to `port` is served (not verified: just read)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True)


def file_certificate(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


@pytest.fixture(scope="module")
def tls(cluster):
    directory = os.path.join(cluster.dir, "certs")
    issue(directory)
    cert, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    gateway_port, market_port = free_port(), free_port()
    cluster.spawn("gateway-tls", "gateway", "--redis", cluster.redis, "--postgres", cluster.postgres, "--port", str(gateway_port),
                  "--ops-port", "0", "--bcrypt-cost", "4", "--weight-per-minute", "100000000", "--tls-cert", cert, "--tls-key", key)
    cluster.spawn("marketdata-tls", "marketdata", "--redis", cluster.redis, "--weight-per-minute", "100000000", "--port", str(market_port), "--ops-port", "0",
                  "--tls-cert", cert, "--tls-key", key)
    context = ssl.create_default_context(cafile=os.path.join(directory, "ca.pem"))
    wait_for_https(f"https://127.0.0.1:{gateway_port}/api/v3/ping", context, os.path.join(cluster.dir, "gateway-tls.log"))
    wait_for_https(f"https://localhost:{market_port}/api/v3/depth?symbol=BTCUSDT", context, os.path.join(cluster.dir, "marketdata-tls.log"))
    yield {"dir": directory, "context": context, "gateway": gateway_port, "market": market_port}
    for name in ("gateway-tls", "marketdata-tls"):
        cluster.kill(name)


def test_https_verifies_and_plaintext_is_refused(tls):
    for port, path, key in ((tls["gateway"], "/api/v3/time", "serverTime"), (tls["market"], "/health", "status")):
        assert key in json.loads(urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", timeout=5, context=tls["context"]).read())
        # Plain HTTP to a TLS port gets no HTTP answer.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            connection.request("GET", "/api/v3/ping")
            connection.getresponse().read()
        # A client that does not trust the test CA refuses the certificate.
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v3/ping", timeout=5, context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    assert json.loads(urllib.request.urlopen(
        f"https://127.0.0.1:{tls['market']}/api/v3/depth?symbol=BTCUSDT&limit=5", timeout=5, context=tls["context"]).read())["lastUpdateId"] >= 0


def test_ccxt_trades_over_https(cluster, tls, monkeypatch):
    trader = cluster.new_trader({"USDT": "1000"})
    # How a requests-based client trusts a private CA: REQUESTS_CA_BUNDLE, which ccxt honours
    # with requests_trust_env.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.path.join(tls["dir"], "ca.pem"))
    exchange = binance_client(f"https://localhost:{tls['gateway']}", trader["apiKey"], trader["secret"], requests_trust_env=True)
    assert exchange.fetch_balance()["USDT"]["free"] == 1000
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 10000)
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    exchange.cancel_order(order["id"], "BTC/USDT")


def test_wss_streams(tls):
    async def subscribe(port):
        async with websockets.connect(f"wss://localhost:{port}/ws", ssl=tls["context"]) as stream:
            await stream.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 7}))
            assert json.loads(await asyncio.wait_for(stream.recv(), 10)) == {"result": None, "id": 7}
            await stream.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            return json.loads(await asyncio.wait_for(stream.recv(), 10))
    for port in (tls["gateway"], tls["market"]):
        assert asyncio.run(subscribe(port)) == {"result": ["btcusdt@depth"], "id": 8}


def test_a_reissued_certificate_is_served_without_a_restart(tls):
    before = file_certificate(os.path.join(tls["dir"], "server.pem"))
    assert served_certificate(tls["gateway"]) == before
    time.sleep(1.1)  # a modification time the reloader can tell apart
    issue(tls["dir"])
    after = file_certificate(os.path.join(tls["dir"], "server.pem"))
    assert after != before
    deadline = time.monotonic() + 20
    while served_certificate(tls["gateway"]) != after or served_certificate(tls["market"]) != after:
        assert time.monotonic() < deadline, "the new certificate was not picked up"
        time.sleep(0.5)
    # Still verifiable with the same CA.
    urllib.request.urlopen(f"https://127.0.0.1:{tls['gateway']}/api/v3/ping", timeout=5, context=tls["context"]).read()


def test_a_cluster_with_tls_on_every_hop(monkeypatch):
    """Redis accepts TLS only (the roles reach it through a local stunnel: hiredis 0.14 has no
    TLS), PostgreSQL accepts TLS only (sslmode=verify-full against the test CA), the gateway
    and the market data serve HTTPS and WSS only: `exchange up` runs the whole cluster on them,
    ccxt trades over HTTPS, the recorder's PostgreSQL agrees with clearing, and plaintext is
    refused at every TLS port."""
    binary = os.environ["EXCHANGE_BINARY"]
    # Not pytest's tmp_path: PostgreSQL's user must reach the directory through its parents.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="openexchange-tls."))
    os.chmod(tmp_path, 0o755)
    certs = str(tmp_path / "certs")
    issue(certs)
    ca, cert, key = (os.path.join(certs, name) for name in ("ca.pem", "server.pem", "server.key"))
    redis_tls, tunnel, postgres_port, gateway, market = free_port(), free_port(), free_port(), free_port(), free_port()
    ops_base = free_port()
    up = stunnel = otlp = None
    try:
        password = secrets.token_hex(16)
        subprocess.run(["redis-server", "--port", "0", "--tls-port", str(redis_tls), "--requirepass", password, "--bind", "127.0.0.1", "--tls-cert-file", cert,
                        "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--appendonly", "yes", "--save", "",
                        "--dir", str(tmp_path), "--daemonize", "yes", "--pidfile", str(tmp_path / "redis.pid"),
                        "--logfile", str(tmp_path / "redis.log")], check=True)
        (tmp_path / "stunnel.conf").write_text(
            f"foreground = yes\npid =\n[redis]\nclient = yes\naccept = 127.0.0.1:{tunnel}\nconnect = 127.0.0.1:{redis_tls}\n"
            f"CAfile = {ca}\nverifyChain = yes\ncheckHost = localhost\n")
        stunnel = subprocess.Popen(["stunnel", str(tmp_path / "stunnel.conf")], stdout=subprocess.DEVNULL, stderr=open(tmp_path / "stunnel.log", "w"))
        postgres = subprocess.run(["bash", os.path.join(ROOT, "scripts", "postgres-server"), "start", str(tmp_path / "pg"), str(postgres_port), cert, key],
                                  capture_output=True, text=True, check=True).stdout.strip()
        assert postgres.endswith("?sslmode=require")
        verified = postgres.replace("sslmode=require", f"sslmode=verify-full&sslrootcert={ca}")
        # Plaintext is refused where TLS is required.
        assert subprocess.run(["redis-cli", "-p", str(redis_tls), "ping"], capture_output=True, text=True).stdout.strip() != "PONG"
        plain = subprocess.run([binary, "migrate", "--postgres", postgres.split("?")[0]], capture_output=True, text=True)
        assert plain.returncode != 0
        unverified = subprocess.run([binary, "migrate", "--postgres", postgres.replace("sslmode=require", "sslmode=verify-full")],
                                    capture_output=True, text=True)
        assert unverified.returncode != 0, "the test CA is not among the system's roots"

        # Spans go to an HTTPS-only OTLP receiver that the roles verify against the test CA, and
        # that takes only clients with a certificate of that CA (mutual TLS).
        client_cert, client_key = issue_client_certificate(certs)
        otlp = OTLPReceiver(tls=(cert, key), client_ca=ca).start()
        traced = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE=ca,
                      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=client_cert, OTEL_EXPORTER_OTLP_CLIENT_KEY=client_key, OTEL_BSP_SCHEDULE_DELAY="100")

        # Through the tunnel the roles log in to Redis; `up` hands them the password in a file.
        redis = f"redis://:{password}@127.0.0.1:{tunnel}"
        up = subprocess.Popen(
            [binary, "up", "--data", str(tmp_path / "up"), "--redis", redis, "--postgres", verified, "--port", str(gateway),
             "--market-data-port", str(market), "--ops-base-port", str(ops_base), "--shards", "1", "--partitions", "1",
             "--replicas", "1", "--tls-cert", cert, "--tls-key", key],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=traced)
        banner = read_banner(up)
        assert f"https://127.0.0.1:{gateway}" in banner and password not in banner
        assert processes_mentioning(password, besides=(up.pid,)) == [], "the Redis password is on a role's command line"

        demo = json.load(open(tmp_path / "up" / "demo-account.json"))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
        exchange = binance_client(f"https://localhost:{gateway}", demo["apiKey"], demo["secretKey"], requests_trust_env=True)
        exchange.create_order("BTC/USDT", "limit", "sell", 0.5, 30000)
        bought = exchange.create_order("BTC/USDT", "limit", "buy", 0.2, 30000)
        assert exchange.fetch_order(bought["id"], "BTC/USDT")["status"] == "closed"
        context = ssl.create_default_context(cafile=ca)
        trades = json.loads(urllib.request.urlopen(f"https://localhost:{market}/api/v3/trades?symbol=BTCUSDT", timeout=5, context=context).read())
        deadline = time.monotonic() + 20
        while not trades:
            assert time.monotonic() < deadline
            time.sleep(0.2)
            trades = json.loads(urllib.request.urlopen(f"https://localhost:{market}/api/v3/trades?symbol=BTCUSDT", timeout=5, context=context).read())
        assert trades[-1]["price"].startswith("30000")
        # The order's trace reached the receiver over mutual TLS, from the gateway (swift-otel's
        # exporter) and from the shard and clearing primaries (their entry span exporters).
        # Each exporter sends in its own time: wait for the bought order's spans from all three.
        stages = {("exchange-gateway", "order.append"), ("exchange-clearing", "clearing.apply"), ("exchange-matcher", "shard.apply")}
        spans = otlp.wait_for(lambda spans: stages <= {(s.service, s.name) for s in spans if s.attributes.get("exchange.order_id") == bought["id"]})
        # Exporting spans makes none (AsyncHTTPClient would trace its own posts).
        assert not [s for s in spans if s.attributes.get("url.path") == "/v1/traces"]
        assert otlp.refused == 0
        # The recorder wrote through TLS: PostgreSQL's ledger and balances agree with clearing.
        deadline = time.monotonic() + 60
        while True:
            audit = subprocess.run([binary, "audit", "clearing", "--redis", redis, "--postgres", verified], capture_output=True, text=True)
            if audit.returncode == 0:
                break
            assert time.monotonic() < deadline, audit.stdout + audit.stderr
            time.sleep(1)
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=120) == 0, up.stderr.read()
    finally:
        if up and up.poll() is None:
            up.kill()
        if otlp:
            otlp.stop()
        if stunnel:
            stunnel.terminate()
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "postgres-server"), "stop", str(tmp_path / "pg")])
        pid = (tmp_path / "redis.pid").read_text().strip() if (tmp_path / "redis.pid").exists() else None
        if pid:
            os.kill(int(pid), signal.SIGTERM)
        shutil.rmtree(tmp_path, ignore_errors=True)
