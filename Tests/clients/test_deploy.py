"""The operator's files in deploy/, each checked by the tool that will read it, as far as this
machine has one: Prometheus's alert rules by promtool (and their unit tests), the Grafana
dashboard against its generator, the systemd units by systemd-analyze and systemctl, the
image's runtime stage against what the binary links, the compose file against the Compose
Specification's schema, the Kubernetes manifests against Kubernetes' schemas, the Redis and
Sentinel profiles by redis-server, the PostgreSQL fragment by postgres. Every `exchange`
command these files run is held to what `exchange ... --help` accepts, so they cannot drift
from the binary."""

import glob
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import jsonschema_rs
import kubernetes_validate
import pytest
import yaml

import deploy_files
from cluster import ROOT, free_port, http_json
from deploy_files import DEPLOY, SECRETS

PROMETHEUS = os.path.join(DEPLOY, "prometheus")
GRAFANA = os.path.join(DEPLOY, "grafana")
SYSTEMD = os.path.join(DEPLOY, "systemd")
ETC = os.path.join(SYSTEMD, "openexchange")  # what goes to /etc/openexchange
CONTAINER = os.path.join(DEPLOY, "container")
COMPOSE = os.path.join(DEPLOY, "compose", "compose.yaml")
KUBERNETES = os.path.join(DEPLOY, "kubernetes")
DROP_IN = os.path.join(SYSTEMD, "exchange-.service.d", "openexchange.conf")
# The ops port of every role in a container: what the image's health check asks.
HEALTH_PORT = re.search(r"port=\$\{1:-(\d+)\}", open(os.path.join(CONTAINER, "exchange-health")).read()).group(1)
# What the compose trial and the Kubernetes manifests run (the wallet needs a chain node).
EVERY_ROLE = {("migrate",), ("ctl", "init"), ("matcher",), ("clearing",), ("recorder",), ("gateway",), ("marketdata",), ("admin", "serve")}
# The oldest Kubernetes the manifests are for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())


@pytest.fixture(scope="module")
def binary():
    path = os.environ.get("EXCHANGE_BINARY")
    assert path and os.access(path, os.X_OK), "set EXCHANGE_BINARY to a built `exchange` (scripts/test does)"
    return path


def test_alert_rules_are_valid_and_fire_on_their_scenarios():
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 15 rules found" in check.stdout + check.stderr
    tests = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_dashboard_is_generated_from_its_panel_list(tmp_path):
    with open(os.path.join(GRAFANA, "openexchange.json")) as f:
        committed = f.read()
    script = open(os.path.join(GRAFANA, "generate.py")).read()
    copy = tmp_path / "generate.py"
    copy.write_text(script)
    subprocess.run([sys.executable, str(copy)], check=True)
    assert (tmp_path / "openexchange.json").read_text() == committed, "run python3 deploy/grafana/generate.py"
    dashboard = json.loads(committed)
    assert dashboard["uid"] == "openexchange" and len(dashboard["panels"]) == 16


def wait_until(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def spawn(tmp_path):
    """Starts a process, its output in its `log` file; every one is stopped when the test ends."""
    processes = []

    def start(*argv, env=None):
        log = tmp_path / f"process-{len(processes)}.log"
        processes.append(subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env))
        processes[-1].log = log
        return processes[-1]
    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def option(arguments, name):
    """The value of option `name` in an argument list (`--name VALUE` or `--name=VALUE`), or None."""
    for index, argument in enumerate(arguments):
        if argument == name:
            return arguments[index + 1]
        if argument.startswith(name + "="):
            return argument.split("=", 1)[1]
    return None


# systemd

# Settings that add to what the drop-in set rather than replace it: a unit may set them too.
ACCUMULATING = {"Environment", "EnvironmentFile", "LoadCredential", "Wants", "After"}


def unit_instances():
    """(unit to load, its file, its instance or None) of every unit in deploy/systemd: a template
    as the instance whose example environment file is in deploy/systemd/openexchange/
    (matcher-0-a.env: exchange-matcher@0-a.service)."""
    examples = {}
    for path in glob.glob(os.path.join(ETC, "*-*.env")):
        role, _, instance = os.path.basename(path)[:-len(".env")].partition("-")
        examples[f"exchange-{role}@.service"] = instance
    units = []
    for path in sorted(glob.glob(os.path.join(SYSTEMD, "*.service")) + glob.glob(os.path.join(SYSTEMD, "*.target"))):
        name = os.path.basename(path)
        if "@." in name:
            assert name in examples, f"{name}: no example instance in deploy/systemd/openexchange/ (ROLE-INSTANCE.env)"
            units.append((name.replace("@.", f"@{examples[name]}."), name, examples[name]))
        else:
            units.append((name, name, None))
    return units


def services():
    return [(unit, name, instance) for unit, name, instance in unit_instances() if name.endswith(".service")]


def unit_entries(name):
    """A service's settings as systemd reads them: its file, then the shared drop-in."""
    return deploy_files.read_unit(os.path.join(SYSTEMD, name)) + deploy_files.read_unit(DROP_IN)


def unit_environment(entries, instance):
    """What the EnvironmentFile= settings give the service, from the example files."""
    environment = {}
    for path in deploy_files.values(entries, "EnvironmentFile"):
        relative = os.path.relpath(path.replace("%i", instance or ""), "/etc/openexchange")
        environment.update(deploy_files.read_environment_file(os.path.join(ETC, relative)))
    return environment


def unit_command(entries):
    """The arguments after `exchange` of the service's ExecStart=."""
    [exec_start] = deploy_files.values(entries, "ExecStart")
    argv = exec_start.split()
    assert argv[0] == "/usr/local/bin/exchange", exec_start
    [arguments] = deploy_files.exchange_commands(argv)
    return arguments


def cpus(text):
    """The CPUs of a CPUAffinity= value: "0 1", "2-5,8"."""
    found = set()
    for part in re.split(r"[\s,]+", text.strip()):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def systemd_root(tmp_path):
    """A root directory for systemd's tools offline: the units in /etc/systemd/system, the
    host's own units (the targets ours name) and a stand-in at ExecStart='s path (verify
    checks that it is executable)."""
    root = tmp_path / "root"
    shutil.copytree(SYSTEMD, root / "etc/systemd/system", ignore=shutil.ignore_patterns("openexchange", "*.sysusers.conf"))
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    stand_in = root / "usr/local/bin/exchange"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    return root


def verify(root, units):
    """systemd-analyze verify's complaints about `units` ("" when none). It exits 0 on most of
    them (an unknown key, a value it cannot parse): any output is a failure."""
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", f"--root={root}", *units],
                            capture_output=True, text=True)
    return (result.stdout + result.stderr).strip() or ("" if result.returncode == 0 else f"exit {result.returncode}")


def test_systemd_units_load_without_a_complaint(tmp_path):
    assert verify(systemd_root(tmp_path), [unit for unit, _, _ in unit_instances()]) == ""


@pytest.mark.parametrize("breakage", ["CPUAfinity=0 1", "Restart=sometimes", "Type=oneshot"])
def test_systemd_verify_catches_a_broken_unit(tmp_path, breakage):
    """The check above can fail: an unknown key, a bad value, a contradiction (a oneshot that
    restarts always) are each reported."""
    root = systemd_root(tmp_path)
    unit = root / "etc/systemd/system/exchange-matcher@.service"
    unit.write_text(unit.read_text().replace("\n[Install]", f"{breakage}\n\n[Install]"))  # last in [Service]: it wins
    assert "exchange-matcher@" in verify(root, ["exchange-matcher@0-a.service"])


def test_systemd_units_enable_into_openexchange_target(tmp_path):
    root = systemd_root(tmp_path)
    units = [unit for unit, _, _ in unit_instances()]
    subprocess.run(["systemctl", f"--root={root}", "enable", *units], check=True, capture_output=True)
    system = root / "etc/systemd/system"
    assert sorted(os.listdir(system / "openexchange.target.wants")) == sorted(set(units) - {"openexchange.target"})
    assert "openexchange.target" in os.listdir(system / "multi-user.target.wants")


def test_systemd_user_is_made_by_the_sysusers_file(tmp_path):
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", os.path.join(SYSTEMD, "openexchange.sysusers.conf")],
                   check=True, capture_output=True)
    users = {line.split(":")[0] for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()}
    entries = deploy_files.read_unit(DROP_IN)
    assert deploy_files.values(entries, "User") == ["openexchange"] and set(deploy_files.values(entries, "User")) <= users
    assert deploy_files.values(entries, "Group") == ["openexchange"] and set(deploy_files.values(entries, "Group")) <= groups


def test_systemd_units_leave_shared_settings_to_the_drop_in():
    """The drop-in is read after a unit and wins: a setting in both would silently lose the unit's."""
    shared = {(section, key) for section, key, _ in deploy_files.read_unit(DROP_IN) if key not in ACCUMULATING}
    for _, name, _ in services():
        overlap = shared & {(section, key) for section, key, _ in deploy_files.read_unit(os.path.join(SYSTEMD, name))}
        assert not overlap, f"{name} sets {sorted(overlap)}, which the drop-in overrides"


def test_systemd_units_run_the_binary_with_its_flags(binary):
    for unit, name, instance in services():
        entries = unit_entries(name)
        arguments = unit_command(entries)
        assert deploy_files.flag_problems(binary, arguments) == [], unit
        environment = unit_environment(entries, instance)
        [exec_start] = deploy_files.values(entries, "ExecStart")
        assert set(re.findall(r"\$\{(\w+)\}", exec_start)) <= environment.keys(), f"{unit}: a variable no environment file sets"
        if "REPLICA" in environment:
            number = environment.get("SHARD", environment.get("PARTITION"))
            assert f"{number}-{environment['REPLICA']}" == instance, f"{unit}: its environment file names another replica"
        for secret in deploy_files.required_secrets(binary, arguments):
            assert secret + "_FILE" in deploy_files.assignments(entries), f"{unit} does not get {secret}"


def test_systemd_secrets_come_as_credential_files():
    """No secret in a unit or its environment: each *_FILE variable names a file of the
    service's credentials directory (%d) that a LoadCredential= fills."""
    for unit, name, _ in services():
        entries = unit_entries(name)
        credentials = {value.split(":", 1)[0] for value in deploy_files.values(entries, "LoadCredential")}
        for variable, value in deploy_files.assignments(entries).items():
            assert variable not in SECRETS, f"{unit} holds {variable}"
            if variable.removesuffix("_FILE") in SECRETS:
                assert value.startswith("%d/") and value[len("%d/"):] in credentials, f"{unit}: {variable}={value} is no credential"


def test_systemd_matchers_own_a_core_and_may_run_realtime():
    for unit, name, instance in services():
        entries = unit_entries(name)
        arguments = unit_command(entries)
        if name == "exchange-matcher@.service":
            assert option(arguments, "--cpu") and option(arguments, "--realtime-priority"), unit
        if option(arguments, "--realtime-priority"):
            assert deploy_files.values(entries, "AmbientCapabilities") == ["CAP_SYS_NICE"], unit
            assert "CAP_SYS_NICE" in " ".join(deploy_files.values(entries, "CapabilityBoundingSet")), unit
            assert deploy_files.values(entries, "RestrictRealtime") == ["no"], unit
        if option(arguments, "--cpu"):
            cpu = int(unit_environment(entries, instance)[option(arguments, "--cpu").strip("${}")])
            [affinity] = deploy_files.values(entries, "CPUAffinity")
            assert cpu not in cpus(affinity), f"{unit}: the matching thread's core {cpu} is shared with the other threads ({affinity})"


# The container image

def test_image_holds_every_library_the_binary_links(binary):
    """ldd of the built binary, each library mapped to its Debian package: the runtime stage
    installs every one but glibc's; the Swift runtime (no Debian package) is linked into the
    image's binary by --static-swift-stdlib."""
    (builder_from, builder), (runtime_from, runtime) = deploy_files.containerfile_stages(os.path.join(CONTAINER, "Containerfile"))
    assert runtime_from == ["debian:bookworm-slim"] and builder_from[0].endswith("-bookworm"), "both stages on Debian 12"
    [build] = [arguments for instruction, arguments in builder if instruction == "RUN" and "swift build" in arguments]
    assert "swift build -c release" in build and "--product exchange" in build
    installed = deploy_files.apt_installs(runtime)
    release = os.path.join(ROOT, ".build", "release", "exchange")
    missing = []
    for library, package in deploy_files.debian_packages(deploy_files.linked_libraries(release if os.path.exists(release) else binary)).items():
        if package is None:
            assert "/lib/swift/linux/" in library and "--static-swift-stdlib" in build, f"{library}: from no Debian package"
        elif package != "libc6" and package not in installed:
            missing.append(f"{library} ({package})")
    assert missing == [], "the runtime stage does not install these"


def test_image_runs_the_release_build_as_a_user(binary):
    (builder_from, builder), (_, runtime) = deploy_files.containerfile_stages(os.path.join(CONTAINER, "Containerfile"))
    [build] = [arguments for instruction, arguments in builder if instruction == "RUN" and "swift build" in arguments]
    output = re.search(r"\binstall .*?\.build/release/exchange (\S+)", build).group(1)
    assert ("COPY", f"--from={builder_from[-1]} {output} /usr/local/bin/exchange") in runtime
    package = open(os.path.join(ROOT, "Package.swift")).read()
    development = set(re.findall(r'"([\w.+-]+)"', " ".join(re.findall(r"\.apt\(\[([^\]]*)\]\)", package))))
    assert development and development <= deploy_files.apt_installs(builder), "the builder lacks a system library Package.swift links"
    [user] = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert ("COPY", "deploy/container/exchange-health /usr/local/bin/exchange-health") in runtime
    [exposed] = [arguments.split() for instruction, arguments in runtime if instruction == "EXPOSE"]
    ports = {HEALTH_PORT} | {re.search(r"^  --port <port> .*\(default: (\d+)\)", deploy_files.command_help(binary, words)[2], re.M).group(1)
                             for words in (("gateway",), ("marketdata",), ("admin", "serve"))}
    assert set(exposed) == ports


def test_health_check_passes_a_serving_role_that_got_its_token(binary, spawn, tmp_path):
    """The image's health check (and Kubernetes' probes) against a real matcher with an internal token."""
    redis = start_redis(spawn, tmp_path, "redis")
    subprocess.run([binary, "ctl", "init", "--shards", "1", "--partitions", "1", "--redis", f"redis://127.0.0.1:{redis}"],
                   check=True, capture_output=True)
    token = tmp_path / "internal.token"
    token.write_text("health-check-token-0123456789\n")
    clean = {name: value for name, value in os.environ.items() if not name.startswith("EXCHANGE_INTERNAL_TOKEN")}
    ops_port = free_port()
    spawn(binary, "matcher", "--redis", f"redis://127.0.0.1:{redis}", "--shard", "0", "--replica", "a", "--data", str(tmp_path / "data"),
          "--ops-port", str(ops_port), env=dict(clean, EXCHANGE_INTERNAL_TOKEN_FILE=str(token)))

    def health(port, **environment):
        return subprocess.run([os.path.join(CONTAINER, "exchange-health"), str(port)], env=dict(clean, **environment),
                              capture_output=True, timeout=10).returncode

    def answer():
        try:
            return http_json(f"http://127.0.0.1:{ops_port}/health", token="health-check-token-0123456789")[0]
        except OSError:
            return None
    wait_until(lambda: answer() == 200, "the matcher's health")
    assert health(ops_port, EXCHANGE_INTERNAL_TOKEN_FILE=str(token)) == 0
    assert health(ops_port, EXCHANGE_INTERNAL_TOKEN="health-check-token-0123456789") == 0
    assert health(ops_port) == 1, "answered without the token"
    assert health(ops_port, EXCHANGE_INTERNAL_TOKEN="another-token-0123456789") == 1, "answered a wrong token"
    assert health(free_port(), EXCHANGE_INTERNAL_TOKEN_FILE=str(token)) == 1, "healthy with nothing listening"


# Redis and PostgreSQL

def redis_cli(port, *arguments):
    return subprocess.run(["redis-cli", "-p", str(port), *arguments], capture_output=True, text=True, timeout=10).stdout


def start_redis(spawn, tmp_path, name, *options):
    """A redis-server on a free loopback port, data in tmp_path/name; options first (a
    configuration file must be the first argument)."""
    port, directory = free_port(), tmp_path / name
    directory.mkdir()
    server = spawn("redis-server", *options, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--daemonize", "no")
    wait_until(lambda: server.poll() is not None or redis_cli(port, "ping").strip() == "PONG", f"redis-server {name}")
    assert server.poll() is None, f"redis-server {name} refused to start: {server.log.read_text()}"
    return port


def test_redis_profile_fsyncs_every_write_and_needs_a_replica(spawn, tmp_path):
    profile = os.path.join(DEPLOY, "redis", "redis.conf")
    # Diskless sync without waiting 5 s for more replicas to join: this test has one.
    primary = start_redis(spawn, tmp_path, "primary", profile, "--repl-diskless-sync-delay", "0")
    expected = {"appendonly": "yes", "appendfsync": "always", "no-appendfsync-on-rewrite": "no",
                "maxmemory-policy": "noeviction", "min-replicas-to-write": "1", "save": ""}
    assert {name: redis_cli(primary, "config", "get", name).split("\n")[1] for name in expected} == expected
    assert redis_cli(primary, "set", "log", "entry").startswith("NOREPLICAS")
    # The compose trial's health check of its primary: writable, so healthy, once a replica is in sync.
    check = compose()["services"]["redis"]["healthcheck"]["test"][1]
    healthy = lambda: subprocess.run(check.replace("redis-cli", f"redis-cli -p {primary}"), shell=True).returncode == 0
    assert not healthy()
    replica = start_redis(spawn, tmp_path, "replica", profile, "--replicaof", "127.0.0.1", str(primary))
    wait_until(healthy, "a replica in sync")
    assert redis_cli(primary, "set", "log", "entry").strip() == "OK"
    wait_until(lambda: redis_cli(replica, "get", "log").strip() == "entry", "the write on the replica")


def test_sentinel_profile_watches_the_exchange_primary(spawn, tmp_path):
    primary = start_redis(spawn, tmp_path, "primary", os.path.join(DEPLOY, "redis", "redis.conf"))
    text = open(os.path.join(DEPLOY, "redis", "sentinel.conf")).read()
    monitor = re.search(r"^sentinel monitor exchange \S+ \d+ (\d+)$", text, re.M)
    assert monitor and monitor.group(1) == "2", "a primary named exchange, quorum 2"
    # Sentinel rewrites its file: a copy, pointed at this machine's primary instead of the operator's host.
    copy = tmp_path / "sentinel.conf"
    copy.write_text(text.replace(monitor.group(0), f"sentinel monitor exchange 127.0.0.1 {primary} 2"))
    port = free_port()
    spawn("redis-server", str(copy), "--sentinel", "--port", str(port), "--bind", "127.0.0.1")
    wait_until(lambda: redis_cli(port, "ping").strip() == "PONG", "sentinel")

    def master():
        fields = redis_cli(port, "sentinel", "master", "exchange").split("\n")
        return dict(zip(fields[0::2], fields[1::2]))
    wait_until(lambda: master().get("flags") == "master", "sentinel to reach the primary")
    for setting in ("down-after-milliseconds", "failover-timeout", "parallel-syncs"):
        assert master()[setting] == re.search(rf"^sentinel {setting} exchange (\d+)$", text, re.M).group(1)
    assert master()["quorum"] == "2"


def postgres_settings(path):
    """name -> value of a postgresql.conf whose comments are whole lines (quotes removed)."""
    lines = (line.strip() for line in open(path))
    return {name.strip(): value.strip().strip("'") for name, _, value in
            (line.partition("=") for line in lines if line and not line.startswith("#"))}


def test_postgres_fragment_is_what_postgres_reads():
    """postgres -C loads the whole file (an unknown name or a bad value anywhere is fatal) and
    prints one setting: each must read back as written; then as the compose trial runs it."""
    postgres = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))[-1]
    fragment = os.path.join(DEPLOY, "postgres", "postgresql.conf")
    directory = tempfile.mkdtemp(prefix="openexchange-postgres-conf.")
    try:
        shutil.copy(fragment, os.path.join(directory, "postgresql.conf"))
        as_owner = []
        if os.getuid() == 0:  # postgres refuses root: its own user, which must reach the directory
            os.chmod(directory, 0o755)
            shutil.chown(os.path.join(directory, "postgresql.conf"), "postgres")
            as_owner = ["runuser", "-u", "postgres", "--"]

        def read(name, *options):
            result = subprocess.run([*as_owner, postgres, "-D", directory, *options, "-C", name], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            return result.stdout.rstrip("\n")
        settings = postgres_settings(fragment)
        assert {"fsync", "synchronous_commit", "full_page_writes", "wal_level", "synchronous_standby_names", "archive_mode"} <= settings.keys()
        assert {name: read(name) for name in settings} == settings
        options = [argument.replace("/etc/postgresql/openexchange.conf", os.path.join(directory, "postgresql.conf"))
                   for argument in compose()["services"]["postgres"]["command"][1:]]
        assert (read("synchronous_commit", *options), read("synchronous_standby_names", *options)) == ("on", "")
    finally:
        shutil.rmtree(directory)


# Compose

def compose():
    return yaml.safe_load(open(COMPOSE))


def exchange_services(document):
    """name -> (service, the `exchange` commands it runs) of every service on the image."""
    image = document["x-exchange"]["image"]
    return {name: (service, deploy_files.exchange_commands(service["command"]))
            for name, service in document["services"].items() if service.get("image") == image}


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    document = compose()
    assert [error.message for error in validator.iter_errors(document)] == []
    document["services"]["gateway"]["restart"] = 3
    assert list(validator.iter_errors(document)), "the schema checks nothing"


def test_compose_trial_runs_the_binary_with_its_flags(binary):
    document = compose()
    commands = exchange_services(document)
    roles = {deploy_files.command_words(arguments) for _, runs in commands.values() for arguments in runs}
    assert EVERY_ROLE <= roles
    for name, (service, runs) in commands.items():
        for arguments in runs:
            assert deploy_files.flag_problems(binary, arguments) == [], name
        arguments = runs[-1]  # what the service runs (after a script's checks)
        words = deploy_files.command_words(arguments)
        if words not in (("migrate",), ("ctl", "init")):
            assert option(arguments, "--ops-port") == HEALTH_PORT, f"{name}: the image's health check asks port {HEALTH_PORT}"
        for secret in deploy_files.required_secrets(binary, arguments):
            path = service["environment"][secret + "_FILE"]
            assert path.startswith("/run/secrets/") and path.split("/")[-1] in service["secrets"], f"{name}: {secret}"
            assert path.split("/")[-1] in document["secrets"]


def test_compose_trial_has_a_primary_and_a_standby_per_shard_and_partition():
    commands = exchange_services(compose())
    [init] = [arguments for _, runs in commands.values() for arguments in runs if deploy_files.command_words(arguments) == ("ctl", "init")]
    for role, number, count in (("matcher", "--shard", "--shards"), ("clearing", "--partition", "--partitions")):
        replicas = [(service, arguments) for service, runs in commands.values() for arguments in runs
                    if deploy_files.command_words(arguments) == (role,)]
        placed = sorted((option(arguments, number), option(arguments, "--replica")) for _, arguments in replicas)
        assert placed == [(str(index), replica) for index in range(int(option(init, count))) for replica in "ab"], role
        # Each replica keeps its snapshots in a volume of its own.
        volumes = [volume.split(":")[0] for service, arguments in replicas for volume in service["volumes"]
                   if volume.split(":")[1] == option(arguments, "--data")]
        assert len(volumes) == len(set(volumes)) == len(replicas), role


# Kubernetes

def kubernetes_objects():
    """(file name, object) of every manifest but kustomization.yaml."""
    return [(os.path.basename(path), document) for path in sorted(glob.glob(os.path.join(KUBERNETES, "*.yaml")))
            if not path.endswith("kustomization.yaml") for document in yaml.safe_load_all(open(path)) if document]


def containers():
    """(name, workload, pod spec, container, the arguments of the `exchange` command it runs) of
    every container of every Deployment, StatefulSet and Job."""
    return [(f"{document['kind']} {document['metadata']['name']}", document, document["spec"]["template"]["spec"], container,
             deploy_files.exchange_commands(container.get("command", []) + container.get("args", []))[-1])
            for _, document in kubernetes_objects() if document["kind"] in ("Deployment", "StatefulSet", "Job")
            for container in document["spec"]["template"]["spec"]["containers"]]


def test_kubernetes_manifests_are_valid_kubernetes_objects():
    for name, document in kubernetes_objects():
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
                pytest.fail(f"{name}: {document['kind']} {document['metadata']['name']} on Kubernetes {version}: {error.message}")
    broken = dict(kubernetes_objects()[0][1], spec={"replicas": "two"})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    kustomization = yaml.safe_load(open(os.path.join(KUBERNETES, "kustomization.yaml")))
    assert sorted(kustomization["resources"]) == sorted({name for name, _ in kubernetes_objects()})


def test_kubernetes_secret_holds_placeholders_only():
    [secret] = [document for _, document in kubernetes_objects() if document["kind"] == "Secret"]
    assert "data" not in secret and all("REPLACE-ME" in value for value in secret["stringData"].values())


def test_kubernetes_has_a_primary_and_a_standby_per_shard_and_partition_on_two_nodes():
    objects = [document for _, document in kubernetes_objects()]
    services = {document["metadata"]["name"]: document for document in objects if document["kind"] == "Service"}
    budgets = [document for document in objects if document["kind"] == "PodDisruptionBudget"]
    placed = {"matcher": [], "clearing": []}
    for name, workload, pod, _, arguments in containers():
        if workload["kind"] != "StatefulSet":
            continue
        spec = workload["spec"]
        placed[arguments[0]].append(option(arguments, "--shard") or option(arguments, "--partition"))
        assert spec["replicas"] == 2 and option(arguments, "--replica") == "$(POD_NAME)", name
        terms = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert any(term["topologyKey"] == "kubernetes.io/hostname" and term["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
                   for term in terms), f"{name}: its two replicas may share a node"
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(), name
        headless = services[spec["serviceName"]]["spec"]
        assert headless["clusterIP"] == "None" and headless["selector"] == spec["selector"]["matchLabels"], name
        assert [budget["spec"]["maxUnavailable"] for budget in budgets
                if budget["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]] == [1], name
    [init] = [arguments for _, _, _, _, arguments in containers() if deploy_files.command_words(arguments) == ("ctl", "init")]
    for role, count in (("matcher", "--shards"), ("clearing", "--partitions")):
        assert sorted(placed[role]) == [str(number) for number in range(int(option(init, count)))], f"one {role} StatefulSet each"


def test_kubernetes_containers_run_the_binary_with_its_flags(binary):
    [config] = [document for _, document in kubernetes_objects() if document["kind"] == "ConfigMap"]
    for name, _, _, container, arguments in containers():
        argv = container.get("command", []) + container.get("args", [])
        for command in deploy_files.exchange_commands(argv):
            assert deploy_files.flag_problems(binary, command) == [], name
        environment = {variable["name"] for variable in container.get("env", [])}
        known = environment | (config["data"].keys() if container.get("envFrom") else set())
        used = {reference for pair in re.findall(r"\$\((\w+)\)|\$\{?(\w+)", " ".join(argv)) for reference in pair if reference}
        assert used <= known, f"{name}: {used - known} is set nowhere"
        for secret in deploy_files.required_secrets(binary, arguments):
            assert secret + "_FILE" in environment, f"{name} does not get {secret}"
    assert EVERY_ROLE <= {deploy_files.command_words(arguments) for *_, arguments in containers()}


def test_kubernetes_secret_files_are_mounted_where_roles_read_them():
    for name, _, pod, container, _ in containers():
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        secrets = [volume for volume in pod.get("volumes", []) if "secret" in volume]
        files = {(path, item["path"]) for volume in secrets
                 for path, mounted in mounts.items() if mounted == volume["name"] for item in volume["secret"]["items"]}
        for variable in container.get("env", []):
            if variable["name"].removesuffix("_FILE") in SECRETS:
                assert os.path.split(variable["value"]) in files, f"{name}: {variable['value']} is no mounted secret"
        # Secret files are root's, group-readable: the role reads them through the pod's fsGroup.
        assert not secrets or pod["securityContext"].get("fsGroup") == pod["securityContext"]["runAsGroup"], name


def test_kubernetes_roles_are_probed_and_bounded():
    for name, workload, _, container, arguments in containers():
        if workload["kind"] == "Job":
            continue
        assert option(arguments, "--ops-port") == HEALTH_PORT, f"{name}: its probes ask port {HEALTH_PORT}"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"] == ["exchange-health"], f"{name}: {probe}"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys() & container["resources"]["limits"].keys(), name
