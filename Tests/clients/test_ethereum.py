"""The wallet's chain tools against a real EVM (py-evm behind eth-tester, over JSON-RPC): a
transfer signed with libsecp256k1 by `exchange chain sign` lands with the right amount at the
right address; broadcasting the same stored bytes twice is one transfer; deposits to watched
addresses are found by `exchange chain scan` and confirmed after N blocks. Needs no cluster."""
import json
import os
import secrets
import subprocess

import pytest

from evm_rpc import EVMNode

BINARY = os.environ.get("EXCHANGE_BINARY")


@pytest.fixture()
def node():
    node = EVMNode().start()
    yield node
    node.stop()


def exchange(*args, env=None):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {})))


def test_withdrawal_signed_once_lands_once(node, tmp_path):
    key = secrets.token_hex(32)
    key_file = tmp_path / "hot.key"
    key_file.write_text(key + "\n")
    env = {"EXCHANGE_WALLET_KEY_FILE": str(key_file)}
    # The hot wallet's address, from a first signing attempt's output, then funded by a depositor.
    recipient = "0x" + "35" * 20
    probe = exchange("chain", "sign", "--rpc", node.url, "--to", recipient, "--wei", "1", "--out", str(tmp_path / "probe.tx"), env=env)
    assert probe.returncode == 0, probe.stderr
    hot = probe.stdout.split(" from ")[1].split(" ")[0]
    node.send(node.funded_accounts[0], hot, 10**18)
    os.remove(tmp_path / "probe.tx")

    signed = exchange("chain", "sign", "--rpc", node.url, "--to", recipient, "--wei", str(25 * 10**16), "--out", str(tmp_path / "w1.tx"), env=env)
    assert signed.returncode == 0, signed.stderr
    assert key not in signed.stdout + signed.stderr, "the key never prints"
    assert exchange("chain", "sign", "--rpc", node.url, "--to", recipient, "--wei", "1", "--out", str(tmp_path / "w1.tx"), env=env).returncode != 0, \
        "a stored transaction is never overwritten"
    before = node.balance(recipient)
    for _ in range(2):  # a retry after a crash sends the same bytes: one transfer
        sent = exchange("chain", "broadcast", str(tmp_path / "w1.tx"), "--rpc", node.url)
        assert sent.returncode == 0 and "succeeded" in sent.stdout, sent.stdout + sent.stderr
    assert node.balance(recipient) - before == 25 * 10**16
    assert node.balance(hot) < 10**18 - 25 * 10**16  # the amount and the gas left the hot wallet


def test_bad_input_is_refused_before_anything_is_signed(node, tmp_path):
    env = {"EXCHANGE_WALLET_KEY": secrets.token_hex(32)}
    cases = [
        (["--to", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "--wei", "1"], "checksum"),
        (["--to", "0x1234", "--wei", "1"], "not an Ethereum address"),
        (["--to", "0x" + "35" * 20, "--wei", "1.5"], "whole numbers"),
        (["--to", "0x" + "35" * 20, "--wei=-5"], "whole numbers"),
    ]
    for arguments, message in cases:
        result = exchange("chain", "sign", "--rpc", node.url, *arguments, "--out", str(tmp_path / "x.tx"), env=env)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert not (tmp_path / "x.tx").exists()
    result = exchange("chain", "sign", "--rpc", node.url, "--to", "0x" + "35" * 20, "--wei", "1", "--out", str(tmp_path / "x.tx"),
                      env={"EXCHANGE_WALLET_KEY": "00" * 32})
    assert result.returncode != 0 and "not a valid secp256k1 key" in result.stderr


def test_deposits_found_and_confirmed_after_n_blocks(node):
    watched = "0x" + secrets.token_hex(20)
    stranger = "0x" + secrets.token_hex(20)
    first = node.send(node.funded_accounts[1], watched, 3 * 10**17)
    node.send(node.funded_accounts[1], stranger, 10**17)

    def scan():
        result = exchange("chain", "scan", "--rpc", node.url, "--address", watched, "--confirmations", "3")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    deposits = scan()
    assert [(d["txHash"], d["wei"], d["state"]) for d in deposits] == [(first, str(3 * 10**17), "PENDING")]
    node.mine(2)
    assert scan()[0]["state"] == "CONFIRMED"
    second = node.send(node.funded_accounts[2], watched, 5)
    states = {d["txHash"]: d["state"] for d in scan()}
    assert states == {first: "CONFIRMED", second: "PENDING"}
