"""Wallet drill: a client-test cluster (2 shards, 2 clearing partitions, primary and standby
each, recorder, gateway) with `exchange wallet` on a real EVM (py-evm behind eth-tester),
traders depositing on chain and withdrawing through binance-connector, while the drill

  1. kills the wallet with SIGKILL mid-deposit-flow and starts it again,
  2. restarts it with EXCHANGE_WALLET_FAULT=exit-after-sign: it dies between storing a signed
     withdrawal and broadcasting it; then starts it normally,
  3. shuts Redis down mid-flow and starts it again on the same AOF.

Then the chain is mined until everything settles, and each run must show: every deposit
credited exactly once (per user, units credited = wei sent / 10^10); every completed
withdrawal on chain exactly once (per recipient, wei received = units withdrawn x 10^10; the
hot wallet sent exactly as many transactions as withdrawals completed); nothing left frozen or
unsettled; each trader's balance = credited - withdrawn - fees; `exchange audit clearing
--postgres` passes. Run by chaos/wallet-drill.sh (which builds the binary and the venv)."""
import argparse
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "clients"))

from binance.error import ClientError, ServerError  # noqa: E402
from binance.spot import Spot  # noqa: E402

from cluster import Cluster  # noqa: E402
from evm_rpc import EVMNode  # noqa: E402
from wallet_node import Wallet, wait_for  # noqa: E402

WEI_PER_UNIT = 10**10  # ETH at clearing scale 8


def psql(cluster, sql):
    return subprocess.run(["psql", cluster.postgres, "-Atc", sql], capture_output=True, text=True, check=True).stdout.strip()


def units(decimal_text):
    whole, _, fraction = decimal_text.partition(".")
    return int(whole) * 10**8 + int((fraction + "00000000")[:8])


def run_once(binary, run, seconds, log):
    rng = random.Random(run)
    cluster = Cluster(binary).start()
    node = EVMNode().start()
    result = {"run": run, "faults": [], "passed": False}
    try:
        wallet = Wallet(cluster, node, tempfile.mkdtemp(prefix="wallet-drill.", dir=cluster.dir))
        started = time.monotonic()
        wallet.start()
        result["faults"].append({"fault": "first start", "activeAfterSeconds": round(time.monotonic() - started, 2)})
        traders = []
        for index in range(5):
            trader = cluster.new_trader({}, permissions=("read", "trade", "withdraw"))
            trader["spot"] = Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base)
            trader["deposit"] = trader["spot"].deposit_address(coin="ETH")["address"]
            trader["recipient"] = "0x" + bytes(rng.getrandbits(8) for _ in range(20)).hex()
            status, body = cluster.api("POST", "/api/v1/me/withdrawal-addresses", {"coin": "ETH", "address": trader["recipient"]},
                                       token=trader["token"])
            assert status == 200, body
            trader["sentWei"] = 0
            traders.append(trader)
        counts = {"deposits": 0, "withdrawalsAccepted": 0, "refused": {}, "unavailable": 0}
        faults = [(0.2, "kill -9 wallet"), (0.45, "wallet dies after signing"), (0.7, "restart Redis")]
        begin = time.monotonic()
        while time.monotonic() - begin < seconds or faults:  # a slow fault delays the next; every fault happens
            elapsed = (time.monotonic() - begin) / seconds
            if faults and elapsed >= faults[0][0]:
                fault = faults.pop(0)[1]
                log(f"run {run}: {fault}")
                started = time.monotonic()
                if fault == "kill -9 wallet":
                    wallet.stop(signal.SIGKILL)
                    wallet.start()
                elif fault == "wallet dies after signing":
                    wallet.stop()
                    wallet.start(fault="exit-after-sign")
                    # Withdrawals keep coming from the load below; the next signing kills it.
                    fault_started = time.monotonic()
                    while cluster.processes["wallet"].poll() is None and time.monotonic() - fault_started < 60:
                        trader = rng.choice(traders)
                        try:
                            trader["spot"].withdraw(coin="ETH", amount="0.01", address=trader["recipient"])
                            counts["withdrawalsAccepted"] += 1
                        except ClientError as error:
                            counts["refused"][str(error.error_code)] = counts["refused"].get(str(error.error_code), 0) + 1
                        node.mine(1)
                        time.sleep(0.2)
                    assert cluster.processes["wallet"].wait(timeout=5) == -signal.SIGKILL, "the wallet died at its fault point"
                    cluster.processes.pop("wallet")
                    signed = psql(cluster, "SELECT count(*) FROM exchange_wallet.withdrawals WHERE state = 'PROCESSING' AND broadcasts = 0")
                    result["signedNotBroadcastAtCrash"] = int(signed)
                    wallet.start()
                else:
                    cluster.restart_redis(down_seconds=1.0)
                result["faults"].append({"fault": fault, "recoveredAfterSeconds": round(time.monotonic() - started, 2)})
            trader = rng.choice(traders)
            roll = rng.random()
            try:
                if roll < 0.45:
                    wei = rng.randint(1, 500) * 10**15
                    node.send(node.funded_accounts[1 + rng.randrange(5)], trader["deposit"], wei)
                    trader["sentWei"] += wei
                    counts["deposits"] += 1
                elif roll < 0.65:
                    node.mine(1)
                else:
                    amount = f"{rng.randint(10, 300) / 1000:.3f}"
                    trader["spot"].withdraw(coin="ETH", amount=amount, address=trader["recipient"])
                    counts["withdrawalsAccepted"] += 1
            except ClientError as error:
                counts["refused"][str(error.error_code)] = counts["refused"].get(str(error.error_code), 0) + 1
            except (ServerError, OSError):
                counts["unavailable"] += 1  # Redis down: the gateway answers 5xx; nothing was acknowledged
            time.sleep(0.03)
        result["load"] = counts

        def unsettled():
            return int(psql(cluster, """
                SELECT (SELECT count(*) FROM exchange_wallet.deposits WHERE state IN ('PENDING', 'CONFIRMED', 'CREDITED'))
                  + (SELECT count(*) FROM exchange_wallet.withdrawals WHERE state NOT IN ('COMPLETED', 'FAILED'))
                  + (SELECT count(*) FROM exchange_wallet.outbox WHERE state IN ('QUEUED', 'SENT'))"""))
        settle_started = time.monotonic()
        wait_for(lambda: unsettled() == 0, "every deposit and withdrawal to settle", timeout=180, mine=node)
        result["settledAfterSeconds"] = round(time.monotonic() - settle_started, 1)

        checks = []
        deposits_by_user = dict(tuple(map(int, line.split("|"))) for line in psql(cluster, """
            SELECT user_id, sum(units) FROM exchange_wallet.deposits WHERE state = 'COMPLETED' GROUP BY user_id""").splitlines() if line)
        deposit_rows = int(psql(cluster, "SELECT count(*) FROM exchange_wallet.deposits"))
        checks.append(("every deposit sent is one deposit row, all COMPLETED", deposit_rows == counts["deposits"]
                       and psql(cluster, "SELECT count(*) FROM exchange_wallet.deposits WHERE state <> 'COMPLETED'") == "0"))
        checks.append(("credited = sent on chain, per user", all(
            deposits_by_user.get(t["userId"], 0) * WEI_PER_UNIT == t["sentWei"] for t in traders)))
        withdrawn = {}
        for line in psql(cluster, "SELECT user_id, address, amount, fee, tx_hash FROM exchange_wallet.withdrawals WHERE state = 'COMPLETED'").splitlines():
            user, address, amount, fee, tx = line.split("|")
            entry = withdrawn.setdefault(int(user), {"amount": 0, "fee": 0, "txs": []})
            entry["amount"] += int(amount)
            entry["fee"] += int(fee)
            entry["txs"].append(tx)
        completed = sum(len(w["txs"]) for w in withdrawn.values())
        checks.append(("each recipient received exactly what completed", all(
            node.balance(t["recipient"]) == withdrawn.get(t["userId"], {"amount": 0})["amount"] * WEI_PER_UNIT for t in traders)))
        checks.append(("the hot wallet sent one transaction per completed withdrawal", node.nonce(wallet.hot) == completed))
        checks.append(("no failed withdrawal was ever broadcast",
                       psql(cluster, "SELECT count(*) FROM exchange_wallet.withdrawals WHERE state = 'FAILED' AND broadcasts > 0") == "0"))
        balances_ok = True
        for trader in traders:
            free, locked = next(((b["free"], b["locked"]) for b in trader["spot"].account()["balances"] if b["asset"] == "ETH"), ("0", "0"))
            w = withdrawn.get(trader["userId"], {"amount": 0, "fee": 0})
            balances_ok &= units(free) == deposits_by_user.get(trader["userId"], 0) - w["amount"] - w["fee"] and units(locked) == 0
        checks.append(("each balance = credited - withdrawn - fees, nothing frozen", balances_ok))
        audit = None
        for _ in range(600):
            audit = cluster.run("audit", "clearing", "--redis", cluster.redis, "--postgres", cluster.postgres, check=False)
            if audit.returncode == 0 or "recorder is behind" not in audit.stdout + audit.stderr:
                break
            time.sleep(0.1)
        checks.append(("exchange audit clearing --postgres", audit.returncode == 0))
        if audit.returncode != 0:
            log(audit.stdout + audit.stderr)
        result["checks"] = {name: ok for name, ok in checks}
        result["withdrawalsCompleted"] = completed
        result["withdrawalsFailed"] = int(psql(cluster, "SELECT count(*) FROM exchange_wallet.withdrawals WHERE state = 'FAILED'"))
        result["passed"] = all(ok for _, ok in checks)
        return result
    finally:
        if not result["passed"]:
            os.environ["KEEP_CLUSTER_DIR"] = "1" if os.environ.get("KEEP_DRILL") else ""
            if os.environ.get("KEEP_DRILL"):
                log(f"run {run}: kept {cluster.dir}")
            else:
                os.environ.pop("KEEP_CLUSTER_DIR", None)
        node.stop()
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20, help="load per run, the faults at 20%%, 45%% and 70%% of it")
    parser.add_argument("--report", help="directory for report.json and report.md")
    arguments = parser.parse_args()
    binary = os.environ["EXCHANGE_BINARY"]

    def log(text):
        print(text, file=sys.stderr, flush=True)
    results = []
    for run in range(1, arguments.runs + 1):
        log(f"wallet drill run {run}/{arguments.runs}: {arguments.seconds:.0f} s of deposits and withdrawals with 3 faults")
        try:
            result = run_once(binary, run, arguments.seconds, log)
        except Exception as error:  # a run that could not finish fails; the others still run
            result = {"run": run, "passed": False, "error": repr(error)}
        results.append(result)
        log(f"wallet drill run {run}: {'PASSED' if result['passed'] else 'FAILED'} {json.dumps(result)}")
    if arguments.report:
        os.makedirs(arguments.report, exist_ok=True)
        with open(os.path.join(arguments.report, "report.json"), "w") as f:
            json.dump(results, f, indent=1)
        lines = [f"# Wallet drill, {datetime.date.today()}", "", "`chaos/wallet-drill.sh --runs "
                 f"{arguments.runs} --seconds {arguments.seconds:g}`", "",
                 "| run | deposits | withdrawals completed / failed | refused (code: n) | 5xx while Redis was down | wallet kill -9: active again after | "
                 "died after signing (signed, not sent) | Redis restart | settled after | checks |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            if "load" not in r:
                lines.append(f"| {r['run']} | | | | | | | | | FAILED: {r.get('error', '')} |")
                continue
            faults = {f["fault"]: f for f in r["faults"]}
            lines.append(
                f"| {r['run']} | {r['load']['deposits']} | {r['withdrawalsCompleted']} / {r['withdrawalsFailed']} | "
                f"{', '.join(f'{k}: {v}' for k, v in sorted(r['load']['refused'].items()))} | {r['load']['unavailable']} | "
                f"{faults['kill -9 wallet']['recoveredAfterSeconds']} s | {faults['wallet dies after signing']['recoveredAfterSeconds']} s "
                f"({r.get('signedNotBroadcastAtCrash')}) | {faults['restart Redis']['recoveredAfterSeconds']} s | {r['settledAfterSeconds']} s | "
                f"{'all passed' if r['passed'] else 'FAILED: ' + ', '.join(k for k, v in r['checks'].items() if not v)} |")
        lines += ["", "Checks of every run: " + "; ".join(results[0].get("checks", {}).keys()) + "."]
        with open(os.path.join(arguments.report, "report.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
    sys.exit(0 if all(r["passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
