"""The audit log records traders' security events through the gateway (sign-up, logins and
refused logins, API key changes) with their address, and `exchange audit log` verifies its
hash chain against the real PostgreSQL."""

import subprocess


def audit_rows(cluster, actor):
    out = subprocess.run(["psql", cluster.postgres, "-Atc",
                          f"SELECT action, target, ip FROM exchange_admin.audit_log WHERE actor = '{actor}' ORDER BY id"],
                         capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("|")) for line in out.splitlines()]


def test_security_events_are_chained_in_the_audit_log(cluster):
    trader = cluster.new_trader({})
    status, _ = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "wrong password 1"})
    assert status == 401
    status, _ = cluster.api("PUT", f"/api/v1/me/api-keys/{trader['apiKey']}", {"enabled": False}, token=trader["token"])
    assert status == 200
    status, _ = cluster.api("DELETE", f"/api/v1/me/api-keys/{trader['apiKey']}", token=trader["token"])
    assert status == 200

    user = f"user:{trader['userId']}"
    rows = audit_rows(cluster, user)
    assert [action for action, _, _ in rows] == ["user.register", "login", "api_key.create", "api_key.disable", "api_key.delete"], rows
    assert all(ip == "127.0.0.1" for _, _, ip in rows)
    assert rows[2][1] == trader["apiKey"]
    assert audit_rows(cluster, f"email:{trader['email']}") == [("login.refused", f"email:{trader['email']}", "127.0.0.1")]
    # The secret never reaches the log.
    dump = subprocess.run(["psql", cluster.postgres, "-Atc", "SELECT after_json FROM exchange_admin.audit_log"],
                          capture_output=True, text=True, check=True).stdout
    assert trader["secret"] not in dump and trader["apiKey"] in dump

    verified = cluster.run("audit", "log", "--postgres", cluster.postgres)
    assert verified.stdout.startswith("ok   audit log: ") and "chain intact" in verified.stdout
