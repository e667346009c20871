"""The wallet role beside a client-test cluster and a real EVM (py-evm behind eth-tester): its
keys made as an operator makes them, started, stopped and killed by the tests and the wallet
drill (chaos/wallet_drill.py)."""
import os
import secrets
import signal
import time

from eth_keys import keys

ETHER = 10**18
CONFIRMATIONS = 3


def wait_for(predicate, what, timeout=60, mine=None):
    """Polls `predicate` until it returns a truthy value (mining a block each time with `mine`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if mine:
            mine.mine(1)
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Wallet:
    """The wallet role of a cluster (`cluster.Cluster`) on `node` (`evm_rpc.EVMNode`): a deposit
    seed by `exchange chain keygen` (only its xpub reaches the wallet), a hot key in a file, the
    hot wallet funded with 50 ETH."""

    def __init__(self, cluster, node, tmp):
        self.cluster, self.node = cluster, node
        seed = os.path.join(tmp, "deposit.seed")
        self.xpub = cluster.run("chain", "keygen", "--out", seed).stdout.strip()
        hot_key = secrets.token_bytes(32)
        self.key_file = os.path.join(tmp, "hot.key")
        with open(self.key_file, "w") as f:
            f.write(hot_key.hex() + "\n")
        self.hot = keys.PrivateKey(hot_key).public_key.to_checksum_address()
        node.send(node.funded_accounts[0], self.hot, 50 * ETHER)

    def start(self, fault=None):
        """Starts the wallet and waits until it is the active instance."""
        log = os.path.join(self.cluster.dir, "wallet.log")
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        env = {"EXCHANGE_WALLET_KEY_FILE": self.key_file, **({"EXCHANGE_WALLET_FAULT": fault} if fault else {})}
        self.cluster.spawn("wallet", "wallet", "--redis", self.cluster.redis, "--postgres", self.cluster.postgres, "--rpc", self.node.url,
                           "--xpub", self.xpub, "--asset", "ETH", "--confirmations", str(CONFIRMATIONS), "--start-block", "0",
                           "--poll-milliseconds", "100", "--minimum", "0.01", "--fee", "0.001", "--auto-approve-below", "1",
                           "--two-approvals-from", "5", "--daily-limit", "20", "--whitelist-cooling-seconds", "0", "--ops-port", "0",
                           env_extra=env)

        def active():
            with open(log) as f:
                f.seek(offset)
                return '"wallet active"' in f.read()
        wait_for(active, "the wallet to become active")

    def stop(self, sig=signal.SIGTERM):
        self.cluster.kill("wallet", sig)
