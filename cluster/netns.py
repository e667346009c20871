#!/usr/bin/env python3
"""A topology (cluster/topologies/*.toml) brought up as Linux network namespaces on one machine.

Every host is a namespace `ox-HOST` with its own address on a private bridge (`oxbr0`, a veth
pair per host: `oxv-HOST` on the bridge, `eth0` inside), so every process reaches the others
over real addresses and a host's network can be cut, made lossy, or the whole host killed.
The root namespace holds the bridge's first address and reaches every host (for status and
tools), as an operator's machine on the same network would.

    netns.py up [TOPOLOGY] [--binary PATH] [--state DIR]   build the network, start every role
    netns.py status [--state DIR]                           hosts, links, processes, health, Redis roles
    netns.py down [--state DIR] [--keep]                    stop everything, remove every namespace and link
    netns.py exec HOST COMMAND...                           run a command on a host
    netns.py cut|heal HOST                                  take a host's link down / up
    netns.py loss HOST PERCENT | loss HOST 0                drop PERCENT% of the host's packets to and from Redis hosts
    netns.py kill-host HOST                                 SIGKILL every process on the host
    netns.py start-host HOST                                start the host's roles again (after kill-host)

Run as root (namespaces, links, nftables). State (secrets, logs, data, the process table) is
under --state, /tmp/openexchange-cluster by default.
"""

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STATE = "/tmp/openexchange-cluster"
BRIDGE = "oxbr0"
NAMESPACE_PREFIX = "ox-"
CHAOS_TABLE = "oxchaos"
# Ports of the edge roles (the ops ports are numbered from OPS_BASE in topology order).
SERVICE_PORTS = {"gateway": 8080, "marketdata": 8084, "admin": 8087}
OPS_BASE = 9100


def log(message):
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def sh(*argv, check=True, capture=False, env=None):
    result = subprocess.run(argv, check=False, capture_output=capture, text=True, env=env)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip() if capture else ""
        raise SystemExit(f"cluster: {' '.join(argv)} failed ({result.returncode}) {detail}")
    return result


class Topology:
    """A parsed topology: hosts, their addresses and roles, and the derived URLs and ports."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = tomllib.load(f)
        self.path = os.path.abspath(path)
        self.network = ipaddress.ip_network(data["network"])
        self.gateway_address = str(next(self.network.hosts()))
        self.shards = data["shards"]
        self.partitions = data["partitions"]
        self.lease_ms = data.get("lease_milliseconds", 1000)
        self.logs = data.get("logs", {})
        self.gateway_limits = data.get("gateway", {})
        self.redis = data["redis"]
        self.postgres = data["postgres"]
        self.hosts = {host["name"]: host for host in data["host"]}
        for name, host in self.hosts.items():
            if len(NAMESPACE_PREFIX + name) > 15 or len("oxv-" + name) > 15:
                raise SystemExit(f"cluster: host name '{name}' too long (interface names are at most 15 characters)")
            if ipaddress.ip_address(host["address"]) not in self.network:
                raise SystemExit(f"cluster: {name}'s address {host['address']} is outside {self.network}")
        self.redis_hosts = [name for name, host in self.hosts.items() if "redis" in host["roles"]]
        self.sentinel_hosts = [name for name, host in self.hosts.items() if "sentinel" in host["roles"]]
        postgres_hosts = [name for name, host in self.hosts.items() if "postgres" in host["roles"]]
        if self.redis["master"] not in self.redis_hosts or len(postgres_hosts) != 1:
            raise SystemExit("cluster: a topology needs its Redis master among the redis hosts and exactly one postgres host")
        self.postgres_host = postgres_hosts[0]
        self.roles = []  # (host, role, ops port or None), in topology order
        ops = OPS_BASE
        for name, host in self.hosts.items():
            for role in host["roles"]:
                if role.split(":")[0] in ("redis", "sentinel", "postgres"):
                    self.roles.append((name, role, None))
                else:
                    self.roles.append((name, role, ops))
                    ops += 1
        self.check_replicas_apart()

    def check_replicas_apart(self):
        """The two replicas of a shard or partition must live on different hosts."""
        seen = {}
        for host, role, _ in self.roles:
            parts = role.split(":")
            if parts[0] in ("matcher", "clearing"):
                key = (parts[0], parts[1])
                if host in seen.get(key, set()):
                    raise SystemExit(f"cluster: two replicas of {parts[0]} {parts[1]} on {host}")
                seen.setdefault(key, set()).add(host)

    def address(self, host):
        return self.hosts[host]["address"]

    def prefix(self):
        return self.network.prefixlen

    def redis_url(self):
        sentinels = ",".join(f"{self.address(h)}:{self.redis['sentinel_port']}" for h in self.sentinel_hosts)
        return f"redis+sentinel://{sentinels}/{self.redis['master_name']}"

    def postgres_url(self):
        return f"postgres://exchange@{self.address(self.postgres_host)}:{self.postgres['port']}/exchange"

    def host_of(self, role):
        return next(host for host, name, _ in self.roles if name == role)


class Cluster:
    """A running (or to-be-started) cluster: its topology, state directory and process table."""

    def __init__(self, state, topology=None, binary=None):
        self.state = state
        self.table_path = os.path.join(state, "cluster.json")
        if topology is None:
            with open(self.table_path) as f:
                table = json.load(f)
            topology, binary = table["topology"], table["binary"]
            self.processes = table["processes"]
        else:
            self.processes = {}
        self.topology = Topology(topology)
        self.binary = binary
        self.secrets = os.path.join(state, "secrets")

    # --- the process table ---------------------------------------------------------------

    def save(self):
        with open(self.table_path + ".tmp", "w") as f:
            json.dump({"topology": self.topology.path, "binary": self.binary, "processes": self.processes}, f, indent=1)
        os.replace(self.table_path + ".tmp", self.table_path)

    def secret(self, name):
        with open(os.path.join(self.secrets, name)) as f:
            return f.read().strip()

    def token(self):
        """The internal token the ops endpoints ask for."""
        return self.secret("internal.token")

    def password(self):
        """Redis's password: a secret of its own, not the internal token that scrapers hold."""
        return self.secret("redis.password")

    def environment(self):
        return dict(
            os.environ,
            EXCHANGE_REDIS_PASSWORD_FILE=os.path.join(self.secrets, "redis.password"),
            EXCHANGE_INTERNAL_TOKEN_FILE=os.path.join(self.secrets, "internal.token"),
            EXCHANGE_MASTER_KEY_FILE=os.path.join(self.secrets, "master.key"),
            EXCHANGE_TOKEN_KEY_FILE=os.path.join(self.secrets, "token.key"),
        )

    def spawn(self, host, name, argv):
        """Starts `argv` on `host` in the background, its output in the host's log directory."""
        logs = os.path.join(self.state, host, "logs")
        os.makedirs(logs, exist_ok=True)
        path = os.path.join(logs, name.replace(":", "-") + ".log")
        with open(path, "ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", NAMESPACE_PREFIX + host] + argv, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=self.environment())
        self.processes[name] = {"host": host, "pid": process.pid, "argv": argv, "log": path}
        self.save()
        return process

    def alive(self, name):
        entry = self.processes.get(name)
        if not entry:
            return False
        try:
            os.kill(entry["pid"], 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{entry['pid']}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"

    def run_on(self, host, *argv, check=True, capture=True):
        """Runs `argv` to its end on `host` (the exchange binary for `exchange`)."""
        argv = [self.binary if argv[0] == "exchange" else argv[0], *argv[1:]]
        result = subprocess.run(["ip", "netns", "exec", NAMESPACE_PREFIX + host, *argv], capture_output=capture, text=True,
                                env=self.environment())
        if check and result.returncode != 0:
            raise SystemExit(f"cluster: on {host}: {' '.join(argv)} failed: {(result.stderr or '').strip()[-2000:]}")
        return result

    def exchange(self, *arguments, check=True):
        """Runs an `exchange` tool on the edge host (the first host with a gateway or recorder) against the cluster."""
        return self.run_on(self.tool_host(), "exchange", *arguments, check=check)

    def tool_host(self):
        return next(host for host, role, _ in self.topology.roles if role in ("recorder", "gateway"))

    # --- Redis ------------------------------------------------------------------------------

    def redis_cli(self, host, *arguments, port=None, check=False):
        port = port or self.topology.redis["port"]
        auth = [] if port == self.topology.redis["sentinel_port"] else ["--no-auth-warning", "-a", self.password()]
        return sh("redis-cli", "-h", self.topology.address(host), "-p", str(port), *auth, *arguments, check=check, capture=True)

    def redis_master(self):
        """(host, address) of the master the sentinels name now."""
        for host in self.topology.sentinel_hosts:
            reply = self.redis_cli(host, "SENTINEL", "get-master-addr-by-name", self.topology.redis["master_name"],
                                   port=self.topology.redis["sentinel_port"])
            lines = reply.stdout.split()
            if reply.returncode == 0 and len(lines) == 2:
                address = lines[0]
                return next((h for h in self.topology.redis_hosts if self.topology.address(h) == address), None), address
        return None, None

    def master_cli(self, *arguments):
        """redis-cli against the current master; stdout stripped."""
        host, _ = self.redis_master()
        return self.redis_cli(host, *arguments).stdout.strip() if host else ""

    # --- bring-up -----------------------------------------------------------------------------

    def build_network(self):
        t = self.topology
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{t.gateway_address}/{t.prefix()}", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for host in t.hosts:
            namespace = NAMESPACE_PREFIX + host
            sh("ip", "netns", "add", namespace)
            sh("ip", "link", "add", "oxv-" + host, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            sh("ip", "link", "set", "oxv-" + host, "master", BRIDGE, "up")
            inside = ["ip", "netns", "exec", namespace, "ip"]
            sh(*inside, "addr", "add", f"{t.address(host)}/{t.prefix()}", "dev", "eth0")
            sh(*inside, "link", "set", "eth0", "up")
            sh(*inside, "link", "set", "lo", "up")
            sh(*inside, "route", "add", "default", "via", t.gateway_address)

    def make_secrets(self):
        os.makedirs(self.secrets, mode=0o700, exist_ok=True)
        for name in ("master.key", "token.key", "internal.token", "redis.password", "admin.password"):
            path = os.path.join(self.secrets, name)
            if not os.path.exists(path):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(descriptor, (secrets.token_hex(32) + "\n").encode())
                os.close(descriptor)

    def start_redis(self, host):
        t = self.topology
        directory = os.path.join(self.state, host, "redis")
        os.makedirs(directory, exist_ok=True)
        password = self.password()
        argv = ["redis-server", "--port", str(t.redis["port"]), "--bind", t.address(host), "127.0.0.1", "--dir", directory,
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--requirepass", password, "--masterauth", password,
                "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", "--replica-announce-ip", t.address(host),
                # The AOF is rewritten whenever it doubles past 64 MB: with the logs trimmed, it stays bounded.
                "--auto-aof-rewrite-percentage", "100", "--auto-aof-rewrite-min-size", "64mb"]
        master_host, master_address = self.redis_master() if any(self.alive(f"sentinel@{h}") for h in t.sentinel_hosts) else (None, None)
        if master_address is None:
            master_host = t.redis["master"]
        if host != master_host:
            argv += ["--replicaof", t.address(master_host), str(t.redis["port"])]
        self.spawn(host, f"redis@{host}", argv)
        self.wait(lambda: self.redis_cli(host, "PING").stdout.strip() == "PONG", f"Redis on {host}")

    def start_sentinel(self, host):
        t, r = self.topology, self.topology.redis
        directory = os.path.join(self.state, host, "sentinel")
        os.makedirs(directory, exist_ok=True)
        configuration = os.path.join(directory, "sentinel.conf")
        if not os.path.exists(configuration):  # Sentinel rewrites it with what it learns: keep it across restarts
            with open(configuration, "w") as f:
                f.write(f"port {r['sentinel_port']}\nbind {t.address(host)} 127.0.0.1\nprotected-mode no\ndir {directory}\n"
                        f"sentinel announce-ip {t.address(host)}\n"
                        f"sentinel monitor {r['master_name']} {t.address(r['master'])} {r['port']} {r['quorum']}\n"
                        f"sentinel auth-pass {r['master_name']} {self.password()}\n"
                        f"sentinel down-after-milliseconds {r['master_name']} {r['down_after_milliseconds']}\n"
                        f"sentinel failover-timeout {r['master_name']} {r['failover_timeout_milliseconds']}\n"
                        f"sentinel parallel-syncs {r['master_name']} 1\n")
        self.spawn(host, f"sentinel@{host}", ["redis-server", configuration, "--sentinel"])
        self.wait(lambda: self.redis_cli(host, "PING", port=r["sentinel_port"]).stdout.strip() == "PONG", f"sentinel on {host}")

    def start_postgres(self):
        t = self.topology
        host = t.postgres_host
        directory = os.path.join(self.state, host, "postgres")
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        os.chmod(self.state, 0o755)
        os.chmod(os.path.dirname(directory), 0o755)
        self.run_on(host, "env", f"POSTGRES_LISTEN={t.address(host)}", f"POSTGRES_TRUST={t.network}",
                    "bash", os.path.join(ROOT, "scripts", "postgres-server"), "start", directory, str(t.postgres["port"]))

    def stop_postgres(self):
        directory = os.path.join(self.state, self.topology.postgres_host, "postgres")
        sh("bash", os.path.join(ROOT, "scripts", "postgres-server"), "stop", directory, check=False)

    def role_argv(self, role, ops):
        t = self.topology
        kind, *ids = role.split(":")
        redis, postgres = t.redis_url(), t.postgres_url()
        host = t.host_of(role)
        if kind in ("matcher", "clearing"):
            number, replica = ids
            logs = t.logs
            trimming = ["--trim-log", "--required-consumers", logs.get("required_consumers", "recorder"),
                        "--output-retention-seconds", str(logs.get("output_retention_seconds", 3600))] if logs.get("trim") else []
            return [self.binary, kind, "--redis", redis, "--shard" if kind == "matcher" else "--partition", number,
                    "--replica", replica, "--data", os.path.join(self.state, host, f"{kind}-{number}-{replica}"),
                    "--lease-milliseconds", str(t.lease_ms), "--ops-port", str(ops),
                    "--snapshot-entries", str(logs.get("snapshot_entries", 100000)),
                    "--snapshot-seconds", str(logs.get("snapshot_seconds", 60)), *trimming]
        if kind == "recorder":
            return [self.binary, "recorder", "--redis", redis, "--postgres", postgres, "--ops-port", str(ops)]
        if kind in ("gateway", "marketdata"):
            # The request weight counters are shared: market data gets the gateway's weight limit.
            flags = (("weight_per_minute", "--weight-per-minute"),) + (
                (("orders_per_10_seconds", "--orders-per10-seconds"),) if kind == "gateway" else ())
            limits = [option for key, flag in flags if key in t.gateway_limits for option in (flag, str(t.gateway_limits[key]))]
            return [self.binary, kind, "--redis", redis, "--postgres", postgres, "--host", t.address(host),
                    "--port", str(SERVICE_PORTS[kind]), "--ops-port", str(ops), *limits]
        if kind == "admin":
            return [self.binary, "admin", "serve", "--redis", redis, "--postgres", postgres, "--host", t.address(host),
                    "--port", str(SERVICE_PORTS[kind]), "--ops-port", str(ops)]
        raise SystemExit(f"cluster: unknown role {role}")

    def start_role(self, host, role, ops):
        self.spawn(host, role, self.role_argv(role, ops))

    def healthy(self, host, ops):
        request = urllib.request.Request(f"http://{self.topology.address(host)}:{ops}/health",
                                         headers={"Authorization": "Bearer " + self.token()})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except Exception:
            return False

    def wait(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise SystemExit(f"cluster: {what} not ready within {timeout} s (logs under {self.state})")

    def start_host_roles(self, host):
        """Starts every role of `host` again (after kill-host): servers first, then the roles."""
        for h, role, ops in self.topology.roles:
            if h != host:
                continue
            if role == "redis":
                self.start_redis(host)
            elif role == "sentinel":
                self.start_sentinel(host)
            elif role == "postgres":
                self.start_postgres()
            else:
                self.start_role(host, role, ops)

    def up(self):
        t = self.topology
        self.make_secrets()
        self.build_network()
        for host in [t.redis["master"]] + [h for h in t.redis_hosts if h != t.redis["master"]]:
            self.start_redis(host)
        replicas = len(t.redis_hosts) - 1
        # The master counts a replica as good (min-replicas-to-write) only after its first ack.
        self.wait(lambda: f"min_slaves_good_slaves:{replicas}" in self.redis_cli(t.redis["master"], "INFO", "replication").stdout,
                  "Redis replication")
        for host in t.sentinel_hosts:
            self.start_sentinel(host)
        self.start_postgres()
        self.exchange("migrate", "--postgres", t.postgres_url())
        self.exchange("ctl", "init", "--shards", str(t.shards), "--partitions", str(t.partitions), "--redis", t.redis_url())
        # Replicas named `a` first, so each host holds the lease of the shard or partition it lists first.
        ordered = sorted((r for r in t.roles if r[2] is not None), key=lambda r: (r[1].split(":")[0] not in ("matcher", "clearing"),
                                                                                  r[1].split(":")[-1] != "a"))
        for host, role, ops in ordered:
            if role.endswith(":b") and not getattr(self, "_leases_held", False):
                self.wait(self.leases_held, "the first replicas' leases")
                self._leases_held = True
            self.start_role(host, role, ops)
        for host, role, ops in ordered:
            self.wait(lambda: self.healthy(host, ops), f"{role} on {host}", timeout=120)
        self.print_summary()

    def leases_held(self):
        keys = [f"me:{{{s}}}:lease" for s in range(self.topology.shards)] + [f"clr:{{{p}}}:lease" for p in range(self.topology.partitions)]
        return all(self.master_cli("HGET", key, "holder") for key in keys)

    def print_summary(self):
        t = self.topology
        edge = {role: t.address(host) for host, role, _ in t.roles if role in SERVICE_PORTS}
        print(f"cluster up: {len(t.hosts)} hosts on {t.network} (bridge {BRIDGE} {t.gateway_address})")
        print(f"  redis      {t.redis_url()}  (password: {self.secrets}/redis.password)")
        print(f"  postgres   {t.postgres_url()}")
        for role, address in edge.items():
            print(f"  {role:<10} http://{address}:{SERVICE_PORTS[role]}")
        print(f"  status: cluster/status   stop: cluster/down   logs: {self.state}/HOST/logs")

    # --- status -------------------------------------------------------------------------------

    def status(self):
        t = self.topology
        links = sh("ip", "-o", "link", "show", "master", BRIDGE, check=False, capture=True).stdout
        for host in t.hosts:
            state = "UP" if f"oxv-{host}@" in links and "state UP" in next((l for l in links.splitlines() if f"oxv-{host}@" in l), "") else "DOWN"
            print(f"{host:<8} {t.address(host):<12} link {state}")
            for name, entry in self.processes.items():
                if entry["host"] != host:
                    continue
                ops = next((o for h, r, o in t.roles if r == name), None)
                health = "" if ops is None else ("healthy" if self.healthy(host, ops) else "not healthy")
                extra = ""
                if name.startswith("redis@"):
                    extra = self.redis_cli(host, "ROLE").stdout.split("\n")[0]
                print(f"    {name:<16} pid {entry['pid']:<8} {'running' if self.alive(name) else 'stopped'} {health} {extra}".rstrip())
        ready = sh("/usr/lib/postgresql/15/bin/pg_isready", "-h", t.address(t.postgres_host), "-p", str(t.postgres["port"]),
                   check=False, capture=True)
        print(f"postgres on {t.postgres_host}: {ready.stdout.strip() or ready.stderr.strip()}")
        master_host, address = self.redis_master()
        print(f"redis master (sentinels): {master_host} {address}")
        result = self.exchange("ctl", "status", "--redis", t.redis_url(), check=False)
        print(result.stdout.rstrip() or result.stderr.rstrip())

    # --- faults -------------------------------------------------------------------------------

    def set_link(self, host, up):
        sh("ip", "link", "set", "oxv-" + host, "up" if up else "down")

    def set_loss(self, host, percent):
        """Drops `percent`% of `host`'s packets to and from the Redis hosts (both directions), in
        the host's own namespace with nftables (this kernel has no netem)."""
        inside = ["ip", "netns", "exec", NAMESPACE_PREFIX + host, "nft"]
        sh(*inside, "delete", "table", "inet", CHAOS_TABLE, check=False, capture=True)
        if percent <= 0:
            return
        hosts = dict.fromkeys(self.topology.redis_hosts + self.topology.sentinel_hosts)
        addresses = ", ".join(self.topology.address(h) for h in hosts)
        chance = "" if percent >= 100 else f"numgen random mod 100 < {percent} "
        rules = (f"table inet {CHAOS_TABLE} {{\n"
                 f"  chain out {{ type filter hook output priority 0; ip daddr {{ {addresses} }} {chance}drop; }}\n"
                 f"  chain in {{ type filter hook input priority 0; ip saddr {{ {addresses} }} {chance}drop; }}\n"
                 f"}}\n")
        subprocess.run(inside + ["-f", "-"], input=rules, text=True, check=True)

    def kill_host(self, host):
        """SIGKILLs every process in the host's namespace at once, as a host losing power."""
        pids = sh("ip", "netns", "pids", NAMESPACE_PREFIX + host, check=False, capture=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    # --- tear-down ----------------------------------------------------------------------------

    @staticmethod
    def down(state, keep=False):
        """Stops every process in every ox- namespace, removes the namespaces, links and bridge."""
        namespaces = [line.split()[0] for line in sh("ip", "netns", "list", capture=True).stdout.splitlines()
                      if line.startswith(NAMESPACE_PREFIX)]
        if os.path.exists(os.path.join(state, "cluster.json")):
            cluster = Cluster(state)
            cluster.stop_postgres()
        for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.2)):
            pids = [int(p) for ns in namespaces for p in sh("ip", "netns", "pids", ns, check=False, capture=True).stdout.split()]
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + pause
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
                time.sleep(0.05)
        for ns in namespaces:
            sh("ip", "netns", "del", ns, check=False)
        # A namespace outlives its name while a socket in it still retransmits (after a cut or a
        # lossy run): delete the links from this side, so nothing is left for the next bring-up.
        for line in sh("ip", "-o", "link", "show", check=False, capture=True).stdout.splitlines():
            name = line.split(": ")[1].split("@")[0]
            if name.startswith("oxv-"):
                sh("ip", "link", "del", name, check=False, capture=True)
        sh("ip", "link", "del", BRIDGE, check=False, capture=True)
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
        print(f"cluster down: {len(namespaces)} namespaces removed" + (f", state kept in {state}" if keep else ""))


def default_binary():
    binary = os.environ.get("EXCHANGE_BINARY") or os.path.join(ROOT, ".build", "release", "exchange")
    if not os.path.exists(binary):
        log("building the release binary")
        sh("swift", "build", "-c", "release", "--product", "exchange", "--package-path", ROOT,
           env=dict(os.environ, SWIFT_DETERMINISTIC_HASHING="1"))
    return os.path.abspath(binary)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", default=os.environ.get("OPENEXCHANGE_CLUSTER_STATE", DEFAULT_STATE))
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up")
    up.add_argument("topology", nargs="?", default=os.path.join(ROOT, "cluster", "topologies", "default.toml"))
    up.add_argument("--binary")
    commands.add_parser("status")
    down = commands.add_parser("down")
    down.add_argument("--keep", action="store_true", help="keep the state directory (logs, data)")
    run = commands.add_parser("exec")
    run.add_argument("host")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    for name in ("cut", "heal", "kill-host", "start-host"):
        commands.add_parser(name).add_argument("host")
    loss = commands.add_parser("loss")
    loss.add_argument("host")
    loss.add_argument("percent", type=int)
    arguments = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("cluster: run as root (network namespaces and links)")

    if arguments.command == "up":
        if any(line.startswith(NAMESPACE_PREFIX) for line in sh("ip", "netns", "list", capture=True).stdout.splitlines()):
            raise SystemExit("cluster: a cluster is already up (cluster/down first)")
        if os.path.exists(arguments.state):
            shutil.rmtree(arguments.state)
        os.makedirs(arguments.state)
        cluster = Cluster(arguments.state, topology=arguments.topology, binary=arguments.binary or default_binary())
        cluster.save()
        try:
            cluster.up()
        except BaseException:
            log(f"bring-up failed: tearing down (state kept in {arguments.state})")
            Cluster.down(arguments.state, keep=True)
            raise
        return
    if arguments.command == "down":
        Cluster.down(arguments.state, keep=arguments.keep)
        return
    if not os.path.exists(os.path.join(arguments.state, "cluster.json")):
        raise SystemExit(f"cluster: no cluster is up (no {arguments.state}/cluster.json)")
    cluster = Cluster(arguments.state)
    if arguments.command == "status":
        cluster.status()
    elif arguments.command == "exec":
        argv = arguments.argv
        os.execvpe("ip", ["ip", "netns", "exec", NAMESPACE_PREFIX + arguments.host,
                          *([cluster.binary] + argv[1:] if argv[:1] == ["exchange"] else argv)], cluster.environment())
    elif arguments.command in ("cut", "heal"):
        cluster.set_link(arguments.host, arguments.command == "heal")
    elif arguments.command == "loss":
        cluster.set_loss(arguments.host, arguments.percent)
    elif arguments.command == "kill-host":
        print(f"killed {cluster.kill_host(arguments.host)} processes on {arguments.host}")
    elif arguments.command == "start-host":
        cluster.start_host_roles(arguments.host)


if __name__ == "__main__":
    main()
