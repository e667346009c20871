"""`exchange wallet` on the session cluster against a real EVM (py-evm behind eth-tester, over
JSON-RPC), driven by unmodified clients: binance-connector for deposit addresses, histories and
refusals, ccxt for a withdrawal, the admin API for approvals. A deposit sent on chain is
credited after N blocks; a withdrawal lands with the right amount at the whitelisted address;
killing the wallet between signing and broadcasting still yields exactly one transfer."""
import asyncio
import json
import secrets
import signal
import time
from decimal import Decimal

import pytest
import websockets
from binance.error import ClientError
from binance.spot import Spot

from cluster import binance_client
from evm_rpc import EVMNode
from staff import totp
from wallet_node import CONFIRMATIONS, ETHER, Wallet, wait_for


@pytest.fixture(scope="module")
def node():
    node = EVMNode().start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def wallet(cluster, node, tmp_path_factory):
    wallet = Wallet(cluster, node, str(tmp_path_factory.mktemp("wallet")))
    wallet.start()
    yield wallet
    if "wallet" in cluster.processes:
        wallet.stop()


@pytest.fixture(scope="module")
def trader(cluster):
    trader = cluster.new_trader({}, permissions=("read", "trade", "withdraw"))
    trader["spot"] = Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base)
    return trader


def balance(spot, asset="ETH"):
    entry = {b["asset"]: b for b in spot.account()["balances"]}.get(asset, {"free": "0", "locked": "0"})
    return entry["free"], entry["locked"]


def whitelist(cluster, trader, address):
    status, body = cluster.api("POST", "/api/v1/me/withdrawal-addresses", {"coin": "ETH", "address": address, "label": "mine"},
                               token=trader["token"])
    assert status == 200 and body["address"] == address.lower(), body


def withdrawal(spot, id):
    return next(w for w in spot.withdraw_history(coin="ETH") if w["id"] == id)


def test_a_deposit_is_credited_after_n_blocks(wallet, node, trader):
    spot = trader["spot"]
    address = spot.deposit_address(coin="ETH")["address"]
    assert address == spot.deposit_address(coin="ETH")["address"], "one address per user and asset"
    assert address != spot.deposit_address(coin="ETH")["address"].upper()
    tx = node.send(node.funded_accounts[1], address, 3 * 10**17)
    seen = wait_for(lambda: [d for d in spot.deposit_history(coin="ETH") if d["txId"] == tx], "the deposit to be seen")
    assert seen[0]["status"] == 0 and seen[0]["confirmTimes"] == f"0/{CONFIRMATIONS}", seen
    assert balance(spot)[0] in ("0", "0.00000000"), "not credited before its confirmations"
    node.mine(CONFIRMATIONS - 1)
    done = wait_for(lambda: [d for d in spot.deposit_history(coin="ETH") if d["txId"] == tx and d["status"] == 1], "the credit")
    assert done[0]["amount"] == "0.30000000" and done[0]["coin"] == "ETH" and done[0]["address"] == address
    assert balance(spot) == ("0.30000000", "0.00000000")
    node.mine(5)
    time.sleep(1)
    assert balance(spot) == ("0.30000000", "0.00000000"), "credited once"


def test_a_withdrawal_through_ccxt_lands_at_the_whitelisted_address(cluster, wallet, node, trader):
    spot = trader["spot"]
    recipient = node.funded_accounts[3]
    whitelist(cluster, trader, recipient)
    before = node.balance(recipient)
    free_before = float(balance(spot)[0])
    exchange = binance_client(cluster.base, trader["apiKey"], trader["secret"])
    exchange.load_markets()
    result = exchange.withdraw("ETH", 0.1, recipient)
    id = result["id"]
    done = wait_for(lambda: withdrawal(spot, id)["status"] == 6 and withdrawal(spot, id), "the withdrawal to complete", mine=node)
    assert done["amount"] == "0.10000000" and done["transactionFee"] == "0.00100000" and done["txId"].startswith("0x")
    assert node.balance(recipient) - before == 10**17, "the amount, once, at the address"
    assert abs(float(balance(spot)[0]) - (free_before - 0.101)) < 1e-9 and balance(spot)[1] == "0.00000000"
    fetched = {w["id"]: w for w in exchange.fetch_withdrawals("ETH")}
    assert fetched[id]["status"] == "ok" and fetched[id]["amount"] == 0.1


def test_large_withdrawals_wait_for_staff_and_a_refusal_releases_the_freeze(cluster, wallet, node, trader):
    spot = trader["spot"]
    cluster.run("ctl", "deposit", str(trader["userId"]), "ETH", "10", "--redis", cluster.redis)
    recipient = node.funded_accounts[4]
    whitelist(cluster, trader, recipient)
    first, second = cluster.new_staff("Operator"), cluster.new_staff("Operator")
    support = cluster.new_staff("Support")

    one = spot.withdraw(coin="ETH", amount="2", address=recipient)["id"]
    assert withdrawal(spot, one)["status"] == 2, "awaiting approval"
    status, body = cluster.admin("POST", f"withdrawals/{one}/approve", token=support)
    assert status == 403, body
    status, body = cluster.admin("POST", f"withdrawals/{one}/approve", token=first)
    assert status == 200 and body["state"] in ("APPROVED", "PROCESSING"), body
    wait_for(lambda: withdrawal(spot, one)["status"] == 6, "the approved withdrawal to complete", mine=node)

    two = spot.withdraw(coin="ETH", amount="6", address=recipient)["id"]
    assert cluster.admin("POST", f"withdrawals/{two}/approve", token=first)[0] == 200
    status, body = cluster.admin("POST", f"withdrawals/{two}/approve", token=first)
    assert status == 409 and "someone else" in body["msg"], body
    assert withdrawal(spot, two)["status"] == 2, "one approval is not enough from 5 ETH"
    assert cluster.admin("POST", f"withdrawals/{two}/approve", token=second)[0] == 200
    wait_for(lambda: withdrawal(spot, two)["status"] == 6, "the twice-approved withdrawal to complete", mine=node)
    # Status 6 comes once clearing applied the completion; the account's view follows its output.
    wait_for(lambda: Decimal(balance(spot)[1]) == 0, "the completed withdrawals to leave nothing locked", timeout=5)

    locked_before = balance(spot)[1]
    three = spot.withdraw(coin="ETH", amount="1.5", address=recipient)["id"]
    assert balance(spot)[1] != locked_before, "frozen while it waits"
    status, body = cluster.admin("POST", f"withdrawals/{three}/reject", {"reason": "unusual pattern"}, token=first)
    assert status == 200 and body["state"] == "FAILED", body
    wait_for(lambda: balance(spot)[1] == locked_before, "the freeze to be released")
    assert withdrawal(spot, three)["status"] == 3
    status, pending = cluster.admin("GET", "withdrawals?state=PENDING", token=first)
    assert status == 200 and all(w["id"] not in (int(one), int(two), int(three)) for w in pending)
    status, audit = cluster.admin("GET", "audit?action=wallet.withdrawal.reject", token=cluster.staff_login())
    assert status == 200 and audit[0]["target"] == f"withdrawal:{three}", audit


def test_bad_requests_are_refused_and_freeze_or_send_nothing(cluster, wallet, node, trader):
    spot = trader["spot"]
    good = node.funded_accounts[3]
    whitelist(cluster, trader, good)
    stranger = "0x" + secrets.token_hex(20)
    before = (balance(spot), len(spot.withdraw_history()), node.balance(stranger))
    cases = [
        (dict(coin="ETH", amount="0.1", address=stranger), -4013, "whitelist"),
        (dict(coin="ETH", amount="0.1", address="0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"), -1100, "checksum"),
        (dict(coin="DOGE", amount="0.1", address=good), -1100, "coin"),
        (dict(coin="ETH", amount="0.001", address=good), -4006, "minimum of 0.01000000 ETH"),
        (dict(coin="ETH", amount="25", address=good), -4017, "daily limit"),
        (dict(coin="ETH", amount="0.000000001", address=good), -1100, "amount"),
    ]
    for params, code, message in cases:
        with pytest.raises(ClientError) as refused:
            spot.withdraw(**params)
        assert refused.value.error_code == code and message in refused.value.error_message, (params, refused.value.error_message)
    assert (balance(spot), len(spot.withdraw_history()), node.balance(stranger)) == before, "nothing frozen, stored or sent"

    # Filters and removals that are not an asset code or hold a NUL: -1100, never a 5xx.
    for params in (dict(coin="et\x00h"), dict(coin="eth"), dict(coin="ETH", withdrawOrderId="a\x00b")):
        with pytest.raises(ClientError) as refused:
            spot.withdraw_history(**params)
        assert refused.value.error_code == -1100, (params, refused.value.error_message)
    for query in ("coin=ETH&address=0x%00", "coin=E%00TH&address=" + good):
        status, body = cluster.api("DELETE", "/api/v1/me/withdrawal-addresses?" + query, token=trader["token"])
        assert status == 400 and body["code"] == -1100, (query, body)

    poor = cluster.new_trader({}, permissions=("read", "trade", "withdraw"))
    poor_spot = Spot(api_key=poor["apiKey"], api_secret=poor["secret"], base_url=cluster.base)
    whitelist(cluster, poor, good)
    with pytest.raises(ClientError) as refused:
        poor_spot.withdraw(coin="ETH", amount="0.5", address=good)
    assert refused.value.error_code == -2010 and refused.value.error_message == "Account has insufficient balance for requested action."
    assert balance(poor_spot) == ("0", "0")

    reader = cluster.new_trader({"ETH": "1"}, permissions=("read",))
    with pytest.raises(ClientError) as refused:
        Spot(api_key=reader["apiKey"], api_secret=reader["secret"], base_url=cluster.base).withdraw(coin="ETH", amount="0.1", address=good)
    assert refused.value.error_code == -2015


def test_a_wallet_killed_between_signing_and_broadcast_still_sends_exactly_once(cluster, wallet, node, trader):
    spot = trader["spot"]
    recipient = "0x" + secrets.token_hex(20)
    whitelist(cluster, trader, recipient)
    wallet.stop()
    wallet.start(fault="exit-after-sign")
    nonce_before = node.nonce(wallet.hot)
    id = spot.withdraw(coin="ETH", amount="0.05", address=recipient)["id"]
    crashed = cluster.processes["wallet"]
    assert crashed.wait(timeout=60) == -signal.SIGKILL, "the fault point killed the wallet after signing"
    cluster.processes.pop("wallet")
    stored = withdrawal(spot, id)
    assert stored["status"] == 4 and stored["txId"].startswith("0x"), "signed and stored, not sent"
    assert node.balance(recipient) == 0
    assert node.nonce(wallet.hot) == nonce_before, "nothing reached the node"
    wallet.start()
    done = wait_for(lambda: withdrawal(spot, id)["status"] == 6 and withdrawal(spot, id), "the rebroadcast withdrawal to complete", mine=node)
    assert done["txId"] == stored["txId"], "the same transaction, not a new one"
    assert node.balance(recipient) == 5 * 10**16, "one transfer"
    assert node.nonce(wallet.hot) == nonce_before + 1


def test_a_session_withdraws_only_with_its_second_factor(cluster, wallet, node):
    """The native API: a logged-in session sees its deposit address and histories, and
    withdraws only with an enabled second factor and a fresh code."""
    trader = cluster.new_trader({"ETH": "1"})
    token = trader["token"]
    recipient = node.funded_accounts[5]
    whitelist(cluster, trader, recipient)
    status, address = cluster.api("GET", "/api/v1/me/deposit-address?coin=ETH", token=token)
    assert status == 200 and address["address"].startswith("0x"), address
    request = {"coin": "ETH", "address": recipient, "amount": "0.2"}
    status, body = cluster.api("POST", "/api/v1/me/withdrawals", request, token=token)
    assert status == 401 and body["code"] == -3008, body
    status, body = cluster.api("POST", "/api/v1/me/withdrawals", dict(request, totp="123456"), token=token)
    assert status == 403 and body["code"] == -3010, "no second factor enabled: no withdrawal from a session"
    status, setup = cluster.api("POST", "/api/v1/me/totp", token=token)
    assert cluster.api("POST", "/api/v1/me/totp/confirm", {"code": totp(setup["secret"])}, token=token)[0] == 200
    status, body = cluster.api("POST", "/api/v1/me/withdrawals", dict(request, totp="000000"), token=token)
    assert status == 401 and body["code"] == -3009, body
    code = totp(setup["secret"], step_offset=1)
    before = node.balance(recipient)
    status, body = cluster.api("POST", "/api/v1/me/withdrawals", dict(request, totp=code, clientId="s-1"), token=token)
    assert status == 201, body
    status, again = cluster.api("POST", "/api/v1/me/withdrawals", dict(request, totp=code, clientId="s-2"), token=token)
    assert status == 401 and again["code"] == -3009, "a code is good once"

    def completed():
        status, withdrawals = cluster.api("GET", "/api/v1/me/withdrawals", token=token)
        return status == 200 and [w for w in withdrawals if w["id"] == body["id"] and w["state"] == "COMPLETED"]
    done = wait_for(completed, "the session's withdrawal to complete", mine=node)
    assert done[0]["amount"] == "0.20000000" and done[0]["clientId"] == "s-1"
    assert node.balance(recipient) - before == 2 * 10**17
    status, deposits = cluster.api("GET", "/api/v1/me/deposits", token=token)
    assert status == 200 and deposits == []


def test_deposits_and_withdrawals_reach_the_user_data_stream(cluster, wallet, node):
    """A deposit credited, a withdrawal's freeze and a refused withdrawal's release each reach
    the trader's user data stream (/ws/<listenKey>) as Binance's balanceUpdate."""
    trader = cluster.new_trader({}, permissions=("read", "trade", "withdraw"))
    spot = Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base)
    recipient = "0x" + secrets.token_hex(20)
    whitelist(cluster, trader, recipient)
    listen_key = spot.new_listen_key()["listenKey"]
    operator = cluster.new_staff("Operator")

    async def watch():
        async with websockets.connect(cluster.base.replace("http://", "ws://") + "/ws/" + listen_key) as socket:
            await asyncio.sleep(0.3)

            async def next_update():
                while True:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 30))
                    if event["e"] == "balanceUpdate":
                        return event
            address = spot.deposit_address(coin="ETH")["address"]
            await asyncio.to_thread(node.send, node.funded_accounts[2], address, 2 * ETHER)
            mining = asyncio.create_task(asyncio.to_thread(wait_for, lambda: balance(spot)[0] == "2.00000000", "the credit", 60, node))
            credited = await next_update()
            await mining
            assert credited["a"] == "ETH" and credited["d"] == "2.00000000", credited
            withdrawal = await asyncio.to_thread(spot.withdraw, coin="ETH", amount="1.5", address=recipient)
            frozen = await next_update()
            assert frozen["d"] == "-1.50100000", "amount + fee leave the free balance"
            status, body = await asyncio.to_thread(cluster.admin, "POST", f"withdrawals/{withdrawal['id']}/reject", {"reason": "test"}, operator)
            assert status == 200, body
            released = await next_update()
            assert released["d"] == "1.50100000", "the refusal gives them back"

    asyncio.run(watch())
