"""schemathesis against the live gateway and its own /openapi.json: generated requests (signed
for the signed endpoints, with a bearer token for the native ones) never get a 5xx, and every
response conforms to the document (status, content type, schema)."""

import hashlib
import hmac
import time
import urllib.parse

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance


@pytest.fixture(scope="module")
def trader(cluster):
    return cluster.new_trader({"BTC": "1", "USDT": "100000"})


@pytest.fixture(scope="module")
def gateway_schema(cluster):
    return schemathesis.openapi.from_url(cluster.base + "/openapi.json")


schema = schemathesis.pytest.from_fixture("gateway_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_conforms(case, trader, cluster):
    if case.path.startswith(("/api/v3/", "/sapi/")) and case.query is not None and "signature" in case.query:
        # Sign what was generated, as a client would: the query as it will be sent.
        query = {k: v for k, v in case.query.items() if k not in ("signature", "timestamp")}
        query["timestamp"] = int(time.time() * 1000)
        raw = urllib.parse.urlencode(query, doseq=True)
        query["signature"] = hmac.new(trader["secret"].encode(), raw.encode(), hashlib.sha256).hexdigest()
        case.query = query
        case.headers = dict(case.headers or {}, **{"X-MBX-APIKEY": trader["apiKey"]})
    if case.path.startswith("/api/v1/me"):
        case.headers = dict(case.headers or {}, Authorization="Bearer " + trader["token"])
    elif case.path.endswith("/logout"):
        # A session of its own: logging out revokes the token used, which the other calls need.
        status, session = cluster.api("POST", "/api/v1/sessions", {"email": trader["email"], "password": "correct horse 1"})
        assert status == 200, session
        case.headers = dict(case.headers or {}, Authorization="Bearer " + session["accessToken"])
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance])
