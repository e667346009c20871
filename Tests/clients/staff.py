"""Helpers of the admin tests: TOTP codes (RFC 6238, as an authenticator app computes them)
and signed Binance requests with a plain HTTP client."""
import base64
import hashlib
import hmac
import struct
import time
import urllib.parse

from cluster import http_json


def totp(secret_base32, at=None, step_offset=0):
    """The 6-digit code of `secret_base32` at `at` (default now), `step_offset` steps away."""
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    counter = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def signed(base, method, path, trader, **params):
    """A signed /api/v3 request of `trader` (its apiKey and secret); returns (status, body)."""
    params = dict(params, timestamp=int(time.time() * 1000), recvWindow=10000)
    query = urllib.parse.urlencode(params)
    signature = hmac.new(trader["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    return http_json(f"{base}{path}?{query}&signature={signature}", method, headers={"X-MBX-APIKEY": trader["apiKey"]})
