"""`exchange run --roles`: several roles in one process, one service group. Joined to the
shared cluster as a third matcher replica of shard 0, a third clearing replica of partition
1, a gateway and a market data: each answers (standbys report on their ops ports, the gateway
and the market data serve), the process logs JSON with each line's component, and SIGTERM
stops them all, freeing every port."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from cluster import free_port


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_run_several_roles_in_one_process(cluster):
    data = tempfile.mkdtemp(prefix="openexchange-run.")
    gateway_port, market_port = free_port(), free_port()
    log_path = os.path.join(data, "run.log")
    process = subprocess.Popen(
        [os.environ["EXCHANGE_BINARY"], "run", "--roles", "matcher:0:c,clearing:1:c,gateway,marketdata", "--redis", cluster.redis,
         "--postgres", cluster.postgres, "--data", data, "--gateway-port", str(gateway_port), "--market-data-port", str(market_port),
         "--weight-per-minute", "100000000"],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), env=cluster.env)
    try:
        deadline = time.monotonic() + 60
        while True:
            lines = [json.loads(line) for line in open(log_path) if line.startswith("{")]
            ops = {line["metadata"]["component"]: int(re.match(r"ops port (\d+)", line["message"]).group(1))
                   for line in lines if line["message"].startswith("ops port ")}
            if len(ops) == 4:
                try:
                    if all(get(f"http://127.0.0.1:{port}/health")[0] == 200 for port in ops.values()):
                        break
                except OSError:
                    pass
            assert process.poll() is None and time.monotonic() < deadline, open(log_path).read()[-3000:]
            time.sleep(0.3)
        assert set(ops) == {"matcher-0-c", "clearing-1-c", "gateway", "marketdata"}
        assert all(line["service"] == "openexchange" and line["role"] == "run" for line in lines)
        standby = json.loads(get(f"http://127.0.0.1:{ops['matcher-0-c']}/health")[1])
        assert standby["role"] == "standby" and standby["shard"] == 0 and standby["replica"] == "c"
        assert json.loads(get(f"http://127.0.0.1:{ops['clearing-1-c']}/health")[1])["role"] == "standby"
        assert get(f"http://127.0.0.1:{gateway_port}/api/v3/ping") == (200, "{}")
        status, depth = get(f"http://127.0.0.1:{market_port}/api/v3/depth?symbol=BTCUSDT&limit=5")
        assert status == 200 and "lastUpdateId" in json.loads(depth)
        # The gateway leaves the market data to the marketdata role of the same process.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/api/v3/depth?symbol=BTCUSDT", timeout=5)
            raise AssertionError("the gateway served depth although marketdata runs beside it")
        except urllib.error.HTTPError as error:
            assert error.code == 404
        # One registry for the process: the gateway's ops port shows the replicas' metrics too.
        metrics = get(f"http://127.0.0.1:{ops['gateway']}/metrics")[1]
        assert 'exchange_replica_role{shard="0",replica="c",role="standby"} 1' in metrics
        assert 'exchange_replica_role{partition="1",replica="c",role="standby"} 1' in metrics

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, open(log_path).read()[-3000:]
        for port in [gateway_port, market_port, *ops.values()]:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"port {port} still answers")
            except urllib.error.URLError as error:
                assert isinstance(error.reason, ConnectionRefusedError), (port, error)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
