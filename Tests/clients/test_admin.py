"""The admin service against the live session cluster: the RBAC matrix walked over every
endpoint and role, staff sessions and second factors, trading pairs, user support, and the
audit log (search, CSV export, chain)."""
import csv
import io
import time
import urllib.error
import urllib.request

from cluster import http_json
from staff import signed, totp

# Written out here, independently of StaffPolicy: what each role may do.
READ_ONLY = {"listStaff", "listPairs", "listHalts", "searchUsers", "viewUser", "viewUserOrders", "viewUserBalances", "viewLoginHistory",
             "searchAuditLog", "exportAuditLog", "viewCluster", "listWithdrawals", "listWalletCases"}
ALLOWED = {
    "Operator": {"listPairs", "addPair", "changePair", "setPairStatus", "listHalts", "haltMarkets", "resumeMarkets", "viewCluster",
                 "listWithdrawals", "approveWithdrawal", "rejectWithdrawal", "listWalletCases", "resolveWalletCase"},
    "Support": {"searchUsers", "viewUser", "viewUserOrders", "viewUserBalances", "viewLoginHistory", "lockUser", "unlockUser",
                "forceLogout", "disableAPIKey"},
    "Auditor": READ_ONLY,
}


def concrete(path):
    """A route's path with parameters naming nothing that exists."""
    return path.replace(":id", "987654321").replace(":symbol", "NOSUCHPAIR").replace(":key", "k" * 64)


def test_rbac_matrix_every_role_and_endpoint(cluster):
    status, routes = http_json(cluster.admin_base + "/api/v1/admin/routes")
    assert status == 200 and len(routes) >= 24
    actions = {route["action"] for route in routes}
    tokens = {"SuperAdmin": cluster.staff_login(), **{role: cluster.new_staff(role) for role in ALLOWED}}
    for route in routes:
        path, method, action = concrete(route["path"]), route["method"], route["action"]
        status, body = cluster.admin(method, path, {} if method != "GET" else None)
        assert status == 401, f"{method} {path} without a session: {status} {body}"
        for role, token in tokens.items():
            allowed = role == "SuperAdmin" or action in ALLOWED[role]
            status, body = cluster.admin(method, path, {} if method != "GET" else None, token=token)
            assert status < 500, f"{role} {method} {path}: {status} {body}"
            if allowed:
                assert status != 403, f"{role} may {action} ({method} {path}) but got {body}"
            else:
                assert status == 403 and body["code"] == -4001, f"{role} may not {action} ({method} {path}) but got {status} {body}"
    # Every action of the policy has an endpoint.
    assert actions >= set().union(*ALLOWED.values())


def test_staff_sessions_roles_and_second_factor(cluster):
    root = cluster.staff_login()
    email, password = f"ops-{time.time_ns()}@openexchange.test", "staff password 2"
    status, member = cluster.admin("POST", "staff", {"email": email, "password": password, "role": "Operator"}, token=root)
    assert status == 201 and member["role"] == "Operator"
    assert cluster.admin("POST", "staff", {"email": email, "password": password, "role": "Operator"}, token=root)[0] == 409
    for bad in ({"email": "x", "password": password, "role": "Operator"}, {"email": "a@b.c", "password": "short", "role": "Operator"},
                {"email": "b@b.c", "password": password, "role": "King"}, {"email": "c@b.c", "role": "Auditor"}):
        status, body = cluster.admin("POST", "staff", bad, token=root)
        assert status == 400 and body["msg"], (bad, body)
    token = cluster.staff_login(email, password)
    assert cluster.admin("GET", "pairs", token=token)[0] == 200

    # A second factor: enrolled, then required, each code good once.
    status, setup = cluster.admin("POST", "me/second-factor", token=token)
    assert status == 200 and setup["uri"].startswith("otpauth://totp/")
    assert cluster.admin("POST", "me/second-factor/confirm", {"code": "000000" if totp(setup["secret"]) != "000000" else "111111"}, token=token)[0] == 401
    code = totp(setup["secret"])
    assert cluster.admin("POST", "me/second-factor/confirm", {"code": code}, token=token)[0] == 200
    status, body = cluster.admin("POST", "sessions", {"email": email, "password": password})
    assert status == 401 and body["code"] == -3008
    status, body = cluster.admin("POST", "sessions", {"email": email, "password": password, "totp": code})
    assert status == 401 and body["code"] == -3009, "a code is good once"
    status, session = cluster.admin("POST", "sessions", {"email": email, "password": password, "totp": totp(setup["secret"], step_offset=1)})
    assert status == 200, session

    # A role change ends the account's sessions; so does disabling it; nobody changes themselves.
    time.sleep(1.1)  # sessions are compared by their issue second
    status, changed = cluster.admin("PUT", f"staff/{member['staffId']}/role", {"role": "Auditor"}, token=root)
    assert status == 200 and changed["role"] == "Auditor"
    assert cluster.admin("GET", "pairs", token=session["accessToken"])[0] == 401
    status, me = cluster.admin("GET", "me", token=root)
    assert cluster.admin("PUT", f"staff/{me['staffId']}/disabled", {"disabled": True}, token=root)[0] == 400
    assert cluster.admin("PUT", f"staff/{member['staffId']}/disabled", {"disabled": True}, token=root)[0] == 200
    status, body = cluster.admin("POST", "sessions", {"email": email, "password": password, "totp": totp(setup["secret"], step_offset=-1)})
    assert status == 401 and body["code"] == -3003
    # Logout revokes the token used.
    other = cluster.new_staff("Auditor")
    assert cluster.admin("POST", "sessions/logout", {}, token=other)[0] == 200
    assert cluster.admin("GET", "me", token=other)[0] == 401


def test_pairs_add_fees_status_and_bad_input(cluster):
    token = cluster.new_staff("Operator")
    symbol = f"AX{time.time_ns() % 100000}USDT"
    good = {"symbol": symbol, "baseAsset": f"AX{time.time_ns() % 100000}"[:10], "baseScale": 8, "quoteAsset": "USDT", "tickSize": "0.01",
            "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000", "minNotional": "1", "makerFeeBps": 5, "takerFeeBps": 15}
    bad_inputs = [
        dict(good, symbol="bad symbol!"), dict(good, tickSize="0"), dict(good, tickSize="abc"), dict(good, stepSize="-1"),
        dict(good, minQty="0.0005"), dict(good, makerFeeBps=5000), dict(good, takerFeeBps="15"), dict(good, quoteAsset="NOPE"),
        dict(good, baseScale=None), dict(good, quoteScale=2), dict(good, tickSize="0.000000001"), {k: v for k, v in good.items() if k != "makerFeeBps"},
    ]
    for bad in bad_inputs:
        bad = {k: v for k, v in bad.items() if v is not None}
        status, body = cluster.admin("POST", "pairs", bad, token=token)
        assert status == 400 and body["code"] == -3001 and body["msg"], (bad, status, body)
    status, pairs = cluster.admin("GET", "pairs", token=token)
    assert symbol not in [p["symbol"] for p in pairs], "a refused pair left nothing behind"
    status, pair = cluster.admin("POST", "pairs", good, token=token)
    assert status == 201 and pair["status"] == "TRADING" and pair["makerFeeBps"] == 5, pair
    assert cluster.admin("POST", "pairs", good, token=token)[0] == 409
    info = http_json(cluster.base + f"/api/v3/exchangeInfo?symbol={symbol}")[1]
    assert info["symbols"][0]["status"] == "TRADING"

    status, pair = cluster.admin("PUT", f"pairs/{symbol}", {"makerFeeBps": 7, "takerFeeBps": 9}, token=token)
    assert status == 200 and (pair["makerFeeBps"], pair["takerFeeBps"], pair["minQtyLots"], pair["maxQtyLots"]) == (7, 9, 1, 1000000)
    status, pair = cluster.admin("PUT", f"pairs/{symbol}", {"minQty": "0.01", "maxQty": "5", "minNotional": "2"}, token=token)
    assert status == 200 and (pair["minQtyLots"], pair["maxQtyLots"], pair["minNotional"], pair["makerFeeBps"]) == (10, 5000, "2", 7), pair
    for bad in ({}, {"unknown": 1}, {"makerFeeBps": -1}, {"minQty": "10"}, {"minQty": "0.0005"}, {"maxQty": "0"}, {"minNotional": "-1"}, {"minNotional": "0.0000001"},
                {"takerFeeBps": "9"}):
        status, body = cluster.admin("PUT", f"pairs/{symbol}", bad, token=token)
        assert status == 400 and body["msg"], (bad, body)
    status, unchanged = cluster.admin("GET", "pairs", token=token)
    assert next(p for p in unchanged if p["symbol"] == symbol) == pair, "refused changes left it as it was"
    assert cluster.admin("PUT", "pairs/NOSUCH", {"makerFeeBps": 1}, token=token)[0] == 404
    for status_name in ("BREAK", "HALT", "TRADING"):
        status, pair = cluster.admin("PUT", f"pairs/{symbol}/status", {"status": status_name}, token=token)
        assert status == 200 and pair["status"] == status_name
    assert cluster.admin("PUT", f"pairs/{symbol}/status", {"status": "OPEN"}, token=token)[0] == 400


def test_pair_status_and_fees_reach_trading(cluster):
    token = cluster.new_staff("Operator")
    buyer, seller = cluster.new_trader({"USDT": "100000"}), cluster.new_trader({"ETH": "10"})
    status, _ = cluster.admin("PUT", "pairs/ETHUSDT/status", {"status": "HALT"}, token=token)
    assert status == 200
    try:
        deadline = time.time() + 5
        while http_json(cluster.base + "/api/v3/exchangeInfo?symbol=ETHUSDT")[1]["symbols"][0]["status"] != "HALT":
            assert time.time() < deadline
            time.sleep(0.1)
        status, body = signed(cluster.base, "POST", "/api/v3/order", seller, symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                              quantity="1", price="2000")
        assert status == 400 and body["code"] == -2010, body
    finally:
        assert cluster.admin("PUT", "pairs/ETHUSDT/status", {"status": "TRADING"}, token=token)[0] == 200
    # A raised minimum quantity is refused from now on (the gateway reads the listing, matching its own filters).
    assert cluster.admin("PUT", "pairs/ETHUSDT", {"minQty": "0.5"}, token=token)[0] == 200
    try:
        deadline = time.time() + 5
        while True:  # the gateway reads listings at most a second old
            status, body = signed(cluster.base, "POST", "/api/v3/order", seller, symbol="ETHUSDT", side="SELL", type="LIMIT",
                                  timeInForce="GTC", quantity="0.1", price="2000")
            if status == 200:
                signed(cluster.base, "DELETE", "/api/v3/order", seller, symbol="ETHUSDT", orderId=body["orderId"])
            if body.get("code") == -1013 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert status == 400 and body["code"] == -1013, body
    finally:
        assert cluster.admin("PUT", "pairs/ETHUSDT", {"minQty": "0.0001"}, token=token)[0] == 200
    # Fees changed through clearing are what the next trade pays.
    assert cluster.admin("PUT", "pairs/ETHUSDT", {"makerFeeBps": 0, "takerFeeBps": 50}, token=token)[0] == 200
    try:
        deadline = time.time() + 5
        while True:
            status, body = signed(cluster.base, "POST", "/api/v3/order", seller, symbol="ETHUSDT", side="SELL", type="LIMIT",
                                  timeInForce="GTC", quantity="1", price="2000")
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert status == 200, body
        status, taken = signed(cluster.base, "POST", "/api/v3/order", buyer, symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="IOC",
                               quantity="1", price="2000", newOrderRespType="FULL")
        assert status == 200 and taken["status"] == "FILLED", taken
        # The taker (buyer) receives 1 ETH and clearing takes 50 bps of it: what the ledger holds.
        deadline = time.time() + 5
        while True:
            status, account = signed(cluster.base, "GET", "/api/v3/account", buyer)
            eth = next((b["free"] for b in account["balances"] if b["asset"] == "ETH"), None)
            if eth == "0.99500000" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert eth == "0.99500000", account
        # The gateway's own trade record says so too once its listing view caught up (at most a second).
        time.sleep(1.1)
        buyer2, seller2 = cluster.new_trader({"USDT": "100000"}), cluster.new_trader({"ETH": "10"})
        signed(cluster.base, "POST", "/api/v3/order", seller2, symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="2000")
        status, taken = signed(cluster.base, "POST", "/api/v3/order", buyer2, symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="IOC",
                               quantity="1", price="2000", newOrderRespType="FULL")
        assert taken["fills"][0]["commission"] == "0.00500000" and taken["fills"][0]["commissionAsset"] == "ETH", taken
    finally:
        cluster.admin("PUT", "pairs/ETHUSDT", {"makerFeeBps": 10, "takerFeeBps": 20}, token=token)


def test_support_locks_logs_out_and_helps_users(cluster):
    support, root = cluster.new_staff("Support"), cluster.staff_login()
    trader = cluster.new_trader({"USDT": "100"})
    status, found = cluster.admin("GET", f"users?q={trader['email'][:14]}", token=support)
    assert status == 200 and trader["userId"] in [u["userId"] for u in found]
    status, user = cluster.admin("GET", f"users/{trader['userId']}", token=support)
    assert status == 200 and user["email"] == trader["email"] and user["apiKeys"][0]["apiKey"] == trader["apiKey"]
    assert "secret" not in str(user).lower() or "secretKey" not in user
    for part in ("orders", "balances", "logins"):
        status, rows = cluster.admin("GET", f"users/{trader['userId']}/{part}", token=support)
        assert status == 200 and isinstance(rows, list), (part, rows)
    assert cluster.admin("GET", "users/123/orders", token=support)[0] == 404
    assert cluster.admin("GET", "users/abc", token=support)[0] == 404

    # Lock: login, the session and the API key all refused; unlock restores login.
    assert signed(cluster.base, "GET", "/api/v3/account", trader)[0] == 200
    time.sleep(1.1)
    assert cluster.admin("POST", f"users/{trader['userId']}/lock", {}, token=support)[0] == 200
    status, body = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})
    assert status == 403 and body["code"] == -3004
    assert cluster.api("GET", "/api/v1/me", token=trader["token"])[0] == 401
    time.sleep(2.2)  # the gateway caches a key for 2 s
    status, body = signed(cluster.base, "GET", "/api/v3/account", trader)
    assert status in (400, 401) and body["code"] == -2015, body
    assert cluster.admin("POST", f"users/{trader['userId']}/unlock", {}, token=support)[0] == 200
    status, session = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})
    assert status == 200

    # Force logout ends the new session too.
    time.sleep(1.1)
    assert cluster.admin("POST", f"users/{trader['userId']}/logout", {}, token=support)[0] == 200
    assert cluster.api("GET", "/api/v1/me", token=session["accessToken"])[0] == 401
    assert cluster.api("POST", "/api/v1/sessions/refresh", {"refreshToken": session["refreshToken"]})[0] == 401

    # A second factor the trader lost: Support may not reset it, a SuperAdmin may.
    status, session = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})
    status, setup = cluster.api("POST", "/api/v1/me/totp", token=session["accessToken"])
    assert status == 200, setup
    assert cluster.api("POST", "/api/v1/me/totp/confirm", {"code": totp(setup["secret"])}, token=session["accessToken"])[0] == 200
    status, body = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})
    assert status == 401 and body["code"] == -3008
    status, body = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1", "totp": "12345"})
    assert status == 401 and body["code"] == -3009
    assert cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1",
                                                   "totp": totp(setup["secret"], step_offset=1)})[0] == 200
    assert cluster.admin("POST", f"users/{trader['userId']}/reset-second-factor", {}, token=support)[0] == 403
    assert cluster.admin("POST", f"users/{trader['userId']}/reset-second-factor", {}, token=root)[0] == 200
    assert cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})[0] == 200

    # Disabling a key stops it.
    assert cluster.admin("POST", f"users/{trader['userId']}/api-keys/{trader['apiKey']}/disable", {}, token=support)[0] == 200
    assert cluster.admin("POST", f"users/{trader['userId']}/api-keys/{'z' * 64}/disable", {}, token=support)[0] == 404
    time.sleep(2.2)
    assert signed(cluster.base, "GET", "/api/v3/account", trader)[1]["code"] == -2015


def test_audit_log_search_csv_and_chain(cluster):
    root, auditor = cluster.staff_login(), cluster.new_staff("Auditor")
    trader = cluster.new_trader({})
    assert cluster.admin("POST", f"users/{trader['userId']}/logout", {}, token=root)[0] == 200
    status, records = cluster.admin("GET", f"audit?action=user.force_logout&target=user:{trader['userId']}", token=auditor)
    assert status == 200 and len(records) == 1
    record = records[0]
    assert record["actor"] == cluster.admin_email and record["actorKind"] == "staff" and record["ip"] == "127.0.0.1"
    status, records = cluster.admin("GET", "audit?action=staff.create", token=auditor)
    assert status == 200 and records and all(r["action"] == "staff.create" for r in records)
    status, records = cluster.admin("GET", f"audit?target=user:{trader['userId']}", token=auditor)
    assert {"user.register", "api_key.create", "user.force_logout"} <= {r["action"] for r in records} or \
        {"user.force_logout"} <= {r["action"] for r in records}
    for bad in ("audit?limit=0", "audit?limit=x", "audit?from=-5", "audit?before=abc"):
        status, body = cluster.admin("GET", bad, token=auditor)
        assert status == 400 and body["code"] == -3001, (bad, body)

    request = urllib.request.Request(cluster.admin_base + "/api/v1/admin/audit.csv?action=staff.create")
    request.add_header("Authorization", "Bearer " + auditor)
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.read().decode())))
    assert rows[0] == ["id", "time", "actor_kind", "actor", "action", "target", "ip", "before", "after"]
    assert len(rows) > 1 and all(row[4] == "staff.create" for row in rows[1:])

    status, verdict = cluster.admin("GET", "audit/verify", token=auditor)
    assert status == 200 and verdict["intact"] is True and verdict["rows"] > 0, verdict
    assert cluster.admin("GET", "audit", token=cluster.new_staff("Support"))[0] == 403


def test_bad_input_on_every_admin_endpoint_is_a_clear_error_and_changes_nothing(cluster):
    root = cluster.staff_login()
    status, routes = http_json(cluster.admin_base + "/api/v1/admin/routes")
    before = {part: cluster.admin("GET", part, token=root)[1] for part in ("staff", "pairs", "halts")}
    audit_before = cluster.admin("GET", "audit?limit=1", token=root)[1][0]["id"]
    bodies = [b"not json", b"[1, 2]", b'{"email": 5, "role": [], "symbol": {}, "scope": 7, "status": null, "disabled": "yes"}',
              b'{"symbol": "' + b"A" * 5000 + b'", "scope": "symbol"}', b"\xff\xfe", b'{"makerFeeBps": 1.5, "takerFeeBps": true}']
    for route in routes:
        if route["method"] == "GET":
            continue
        path = route["path"].replace(":id", "1").replace(":symbol", "BTCUSDT").replace(":key", "k" * 64)
        if route["path"].startswith("users/"):
            path = route["path"].replace(":id", "987654321").replace(":key", "k" * 64)
        for body in bodies:
            request = urllib.request.Request(cluster.admin_base + "/api/v1/admin/" + path, method=route["method"], data=body)
            request.add_header("Authorization", "Bearer " + root)
            try:
                with urllib.request.urlopen(request) as response:
                    status, text = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, text = error.code, error.read()
            assert status in (400, 404, 413), f"{route['method']} {path} with {body[:40]!r}: {status} {text[:200]!r}"
            assert b'"msg"' in text
    after = {part: cluster.admin("GET", part, token=root)[1] for part in ("staff", "pairs", "halts")}
    assert after == before, "nothing half-written"
    assert cluster.admin("GET", "audit?limit=1", token=root)[1][0]["id"] == audit_before, "no action was recorded"
