"""A private OpenExchange cluster for client tests: its own redis-server and PostgreSQL on free
loopback ports, 2 matching shards and 2 clearing partitions (primary and standby each), the
recorder and a gateway, all from the `exchange` binary named by EXCHANGE_BINARY; traced to an
OTLP endpoint if given. Stopped and
removed when the test session ends."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import ccxt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binance_client(base, api_key, secret, **config):
    """ccxt's `binance`, unmodified, pointed at the gateway at `base` (shared/formats/binance-api.md §1);
    `config` adds ccxt settings (requests_trust_env, ...)."""
    exchange = ccxt.binance({"apiKey": api_key, "secret": secret, "enableRateLimit": False, **config, "options": {
        "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}})
    for name, url in exchange.urls["api"].items():
        if isinstance(url, str):
            exchange.urls["api"][name] = base + "/" + url.split("/", 3)[3]
    return exchange


def read_banner(up, timeout=240):
    """`exchange up`'s standard output up to its banner's last line ("Stop everything..."); fails if
    `up` exits first or takes longer than `timeout` seconds."""
    banner = ""
    deadline = time.monotonic() + timeout
    while "Stop everything" not in banner:
        line = up.stdout.readline()
        assert line and time.monotonic() < deadline, f"up exited ({up.poll()}) before it was ready: {up.stderr.read()}"
        banner += line
    return banner


def processes_mentioning(*needles, besides=()):
    """(pid, command line) of every process but this one and `besides` whose command line contains one of `needles`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) != os.getpid() and int(pid) not in besides and any(needle in command for needle in needles):
            found.append((int(pid), command))
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, log, timeout=60):
    """Waits until `url` answers; else fails with the role's log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: " + open(log).read())


def http_json(url, method="GET", body=None, token=None, headers=None):
    """(status, parsed JSON or text) of one request; JSON bodies."""
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read()
    try:
        return status, json.loads(data or b"{}")
    except ValueError:
        return status, data.decode()


class Cluster:
    def __init__(self, binary, matcher_args=(), trace_endpoint=None):
        self.binary = binary
        self.matcher_args = tuple(matcher_args)
        self.dir = tempfile.mkdtemp(prefix="openexchange-clients.")
        os.chmod(self.dir, 0o755)
        self.processes = {}
        self.redis_port = free_port()
        self.redis = f"redis://127.0.0.1:{self.redis_port}"
        self.gateway_port = free_port()
        self.base = f"http://127.0.0.1:{self.gateway_port}"
        self.admin_port = free_port()
        self.admin_base = f"http://127.0.0.1:{self.admin_port}"
        self.admin_email = "root@openexchange.test"
        self.admin_password = secrets.token_hex(16)
        self.env = dict(os.environ, EXCHANGE_MASTER_KEY=secrets.token_hex(32), EXCHANGE_TOKEN_KEY=secrets.token_hex(32))
        if trace_endpoint:
            # Roles export spans there over OTLP/HTTP, in batches every 100 ms.
            self.env.update(OTEL_EXPORTER_OTLP_ENDPOINT=trace_endpoint, OTEL_BSP_SCHEDULE_DELAY="100")

    def run(self, *args, check=True, env_extra=None):
        result = subprocess.run([self.binary, *args], capture_output=True, text=True, env=dict(self.env, **(env_extra or {})), timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"exchange {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result

    def spawn(self, name, *args, env_extra=None):
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.processes[name] = subprocess.Popen([self.binary, *args], stdout=log, stderr=subprocess.STDOUT, env=dict(self.env, **(env_extra or {})))

    def kill(self, name, sig=signal.SIGKILL):
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def start_redis(self):
        """The cluster's redis-server (AOF) on its port, started on whatever AOF its directory holds."""
        subprocess.run(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", self.dir,
                        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "yes",
                        "--pidfile", os.path.join(self.dir, "redis.pid"), "--logfile", os.path.join(self.dir, "redis.log")], check=True)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)

    def restart_redis(self, down_seconds=1.0):
        """Shuts Redis down (the AOF flushed), waits, starts it again on the same AOF."""
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown"], capture_output=True)
        time.sleep(down_seconds)
        self.start_redis()

    def start(self):
        self.start_redis()
        pg_port = free_port()
        self.postgres = subprocess.run(["bash", os.path.join(ROOT, "scripts/postgres-server"), "start", os.path.join(self.dir, "pg"), str(pg_port)],
                                       capture_output=True, text=True, check=True).stdout.strip()
        self.run("migrate", "--postgres", self.postgres)
        self.run("ctl", "init", "--shards", "2", "--partitions", "2", "--redis", self.redis)
        for shard in range(2):
            for replica in "ab":
                self.spawn(f"matcher-{shard}-{replica}", "matcher", "--shard", str(shard), "--replica", replica, "--redis", self.redis,
                           "--data", os.path.join(self.dir, f"m{shard}{replica}"), "--ops-port", "0", *self.matcher_args)
        for partition in range(2):
            for replica in "ab":
                self.spawn(f"clearing-{partition}-{replica}", "clearing", "--partition", str(partition), "--replica", replica,
                           "--redis", self.redis, "--data", os.path.join(self.dir, f"c{partition}{replica}"), "--ops-port", "0")
        self.spawn("recorder", "recorder", "--redis", self.redis, "--postgres", self.postgres, "--ops-port", "0")
        self.run("ctl", "asset", "add", "BTC", "--scale", "8", "--redis", self.redis)
        self.run("ctl", "asset", "add", "ETH", "--scale", "8", "--redis", self.redis)
        self.run("ctl", "asset", "add", "USDT", "--scale", "6", "--redis", self.redis)
        for symbol, base in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")):
            self.run("ctl", "symbol", "add", symbol, "--base", base, "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                     "--min-notional", "5", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", self.redis)
        self.start_gateway()
        self.start_admin()
        return self

    def start_gateway(self):
        self.spawn("gateway", "gateway", "--redis", self.redis, "--postgres", self.postgres, "--port", str(self.gateway_port), "--ops-port", "0",
                   "--bcrypt-cost", "4", "--weight-per-minute", "100000000", "--orders-per10-seconds", "10000")
        wait_http(self.base + "/api/v3/ping", os.path.join(self.dir, "gateway.log"))

    def start_admin(self):
        """The admin service, with a first SuperAdmin (`admin_email`, `admin_password`)."""
        self.run("admin", "add-staff", self.admin_email, "--role", "SuperAdmin", "--bcrypt-cost", "4", "--if-absent", "--postgres", self.postgres,
                 env_extra={"EXCHANGE_STAFF_PASSWORD": self.admin_password})
        self.spawn("admin", "admin", "--redis", self.redis, "--postgres", self.postgres, "--port", str(self.admin_port), "--ops-port", "0",
                   "--bcrypt-cost", "4")
        wait_http(self.admin_base + "/", os.path.join(self.dir, "admin.log"))

    def stop(self):
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/postgres-server"), "stop", os.path.join(self.dir, "pg")])
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"], capture_output=True)
        if os.environ.get("KEEP_CLUSTER_DIR") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # The native API: users and keys.

    def api(self, method, path, body=None, token=None):
        return http_json(self.base + path, method, body, token)

    # The admin API.

    def admin(self, method, path, body=None, token=None):
        return http_json(self.admin_base + "/api/v1/admin/" + path, method, body, token)

    def staff_login(self, email=None, password=None):
        status, session = self.admin("POST", "sessions", {"email": email or self.admin_email, "password": password or self.admin_password})
        assert status == 200, session
        return session["accessToken"]

    def new_staff(self, role):
        """A staff account of `role`, made by the SuperAdmin; returns its session token."""
        email, password = f"{role.lower()}-{secrets.token_hex(4)}@openexchange.test", "staff password 1"
        status, member = self.admin("POST", "staff", {"email": email, "password": password, "role": role}, token=self.staff_login())
        assert status == 201, member
        return self.staff_login(email, password)

    def new_trader(self, deposits, permissions=("read", "trade")):
        """Registers a user, creates a trading API key, deposits `deposits` ({asset: amount})."""
        email = f"trader-{secrets.token_hex(6)}@example.com"
        status, user = self.api("POST", "/api/v1/users", {"email": email, "password": "correct horse 1"})
        assert status == 201, user
        status, session = self.api("POST", "/api/v1/sessions", {"email": email, "password": "correct horse 1"})
        assert status == 200, session
        status, key = self.api("POST", "/api/v1/me/api-keys", {"label": "tests", "permissions": list(permissions)}, token=session["accessToken"])
        assert status == 201, key
        for asset, amount in deposits.items():
            self.run("ctl", "deposit", str(user["userId"]), asset, amount, "--redis", self.redis)
        return {"userId": user["userId"], "email": email, "apiKey": key["apiKey"], "secret": key["secretKey"], "token": session["accessToken"]}
