#!/usr/bin/env python3
"""Writes the gateway's OpenAPI 3.1 document: docs/openapi.json, and the same text as a Swift
string the gateway serves at /openapi.json (Sources/ExchangeGateway/OpenAPIDocument.swift).
Run it after changing an endpoint: python3 scripts/openapi.py"""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECIMAL = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
INTEGER = {"type": "integer"}
ERROR = {"$ref": "#/components/schemas/Error"}


def error_responses(*statuses):
    return {str(s): {"$ref": "#/components/responses/Error"} for s in statuses}


def ok(schema, status="200"):
    return {status: {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def query(name, schema, required=False, description=""):
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


SIGNED_PARAMETERS = {
    "apiKey": {"name": "X-MBX-APIKEY", "in": "header", "required": True, "schema": {"type": "string"}},
    "timestamp": query("timestamp", INTEGER, True, "milliseconds since the Unix epoch"),
    "recvWindow": query("recvWindow", INTEGER, False, "at most 60000"),
    "signature": query("signature", {"type": "string"}, True, "hex HMAC-SHA256 of the raw query and body"),
}
SIGNED = [{"$ref": f"#/components/parameters/{name}"} for name in SIGNED_PARAMETERS]
SIGNED_ERRORS = error_responses(400, 401, 413, 418, 429, 503)
SYMBOL = query("symbol", {"type": "string"}, True)

ORDER_SCHEMA = {
    "type": "object",
    "required": ["symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty", "cummulativeQuoteQty",
                 "status", "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode"],
    "properties": {
        "symbol": {"type": "string"}, "orderId": INTEGER, "orderListId": INTEGER, "clientOrderId": {"type": "string"},
        "origClientOrderId": {"type": "string"}, "transactTime": INTEGER, "price": DECIMAL, "origQty": DECIMAL, "executedQty": DECIMAL,
        "origQuoteOrderQty": DECIMAL, "cummulativeQuoteQty": DECIMAL,
        "status": {"enum": ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"]},
        "timeInForce": {"enum": ["GTC", "IOC", "FOK"]}, "type": {"enum": ["LIMIT", "LIMIT_MAKER", "MARKET"]}, "side": {"enum": ["BUY", "SELL"]},
        "time": INTEGER, "updateTime": INTEGER, "isWorking": {"type": "boolean"}, "workingTime": INTEGER,
        "selfTradePreventionMode": {"enum": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]},
        "fills": {"type": "array", "items": {"type": "object", "required": ["price", "qty", "commission", "commissionAsset", "tradeId"],
                                             "properties": {"price": DECIMAL, "qty": DECIMAL, "commission": DECIMAL,
                                                            "commissionAsset": {"type": "string"}, "tradeId": INTEGER}}},
    },
    "not": {"required": ["code"]},
}
ORDER = {"$ref": "#/components/schemas/Order"}
ACK = {"type": "object", "required": ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"],
       "properties": {"symbol": {"type": "string"}, "orderId": INTEGER, "orderListId": INTEGER, "clientOrderId": {"type": "string"},
                      "transactTime": INTEGER}}
TRADE = {"type": "object", "required": ["symbol", "id", "orderId", "price", "qty", "quoteQty", "commission", "commissionAsset", "time",
                                        "isBuyer", "isMaker"],
         "properties": {"symbol": {"type": "string"}, "id": INTEGER, "orderId": INTEGER, "orderListId": INTEGER, "price": DECIMAL, "qty": DECIMAL,
                        "quoteQty": DECIMAL, "commission": DECIMAL, "commissionAsset": {"type": "string"}, "time": INTEGER,
                        "isBuyer": {"type": "boolean"}, "isMaker": {"type": "boolean"}, "isBestMatch": {"type": "boolean"}}}
ORDER_PARAMETERS = [
    SYMBOL,
    query("side", {"enum": ["BUY", "SELL"]}, True),
    query("type", {"enum": ["LIMIT", "LIMIT_MAKER", "MARKET"]}, True),
    query("timeInForce", {"enum": ["GTC", "IOC", "FOK"]}),
    query("quantity", DECIMAL),
    query("quoteOrderQty", DECIMAL),
    query("price", DECIMAL),
    query("newClientOrderId", {"type": "string"}),
    query("newOrderRespType", {"enum": ["ACK", "RESULT", "FULL"]}),
    query("selfTradePreventionMode", {"enum": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]}),
]
NAMED_ORDER = [SYMBOL, query("orderId", INTEGER), query("origClientOrderId", {"type": "string"})]
PAGING = [query("startTime", INTEGER), query("endTime", INTEGER), query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})]
BEARER = [{"bearer": []}]
SIGNED_DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
MARKET_ERRORS = error_responses(400, 418, 429, 503)
LEVELS = {"type": "array", "items": {"type": "array", "prefixItems": [DECIMAL, DECIMAL], "minItems": 2, "maxItems": 2}}
TRADES = {"type": "array", "items": {"type": "object", "required": ["id", "price", "qty", "quoteQty", "time", "isBuyerMaker"],
                                     "properties": {"id": INTEGER, "price": DECIMAL, "qty": DECIMAL, "quoteQty": DECIMAL, "time": INTEGER,
                                                    "isBuyerMaker": {"type": "boolean"}, "isBestMatch": {"type": "boolean"}}}}
SYMBOLS = [query("symbol", {"type": "string"}), query("symbols", {"type": "string"}, description='JSON array, e.g. ["BTCUSDT","ETHUSDT"]')]
MARKET_LIMIT = lambda default, maximum: query("limit", {"type": "integer", "minimum": 1, "maximum": maximum}, description=f"default {default}")
INTERVALS = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]
KLINES = {"get": {
    "parameters": [SYMBOL, query("interval", {"enum": INTERVALS}, True), query("startTime", INTEGER), query("endTime", INTEGER),
                   MARKET_LIMIT(500, 1000)],
    "responses": ok({"type": "array", "items": {"type": "array", "minItems": 12, "maxItems": 12, "prefixItems": [
        INTEGER, DECIMAL, DECIMAL, DECIMAL, DECIMAL, DECIMAL, INTEGER, DECIMAL, INTEGER, DECIMAL, DECIMAL, {"type": "string"}]}})
    | MARKET_ERRORS}}
TICKER = {"type": "object", "required": ["symbol", "lastPrice", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime",
                                         "closeTime", "firstId", "lastId", "count"],
          "properties": {"symbol": {"type": "string"}, "priceChange": SIGNED_DECIMAL, "priceChangePercent": SIGNED_DECIMAL,
                         "weightedAvgPrice": DECIMAL, "prevClosePrice": DECIMAL, "lastPrice": DECIMAL, "lastQty": DECIMAL,
                         "bidPrice": DECIMAL, "bidQty": DECIMAL, "askPrice": DECIMAL, "askQty": DECIMAL, "openPrice": DECIMAL,
                         "highPrice": DECIMAL, "lowPrice": DECIMAL, "volume": DECIMAL, "quoteVolume": DECIMAL, "openTime": INTEGER,
                         "closeTime": INTEGER, "firstId": INTEGER, "lastId": INTEGER, "count": INTEGER}}
PRICE = {"type": "object", "required": ["symbol", "price"], "properties": {"symbol": {"type": "string"}, "price": DECIMAL}}
BOOK_TICKER = {"type": "object", "required": ["symbol", "bidPrice", "bidQty", "askPrice", "askQty"],
               "properties": {"symbol": {"type": "string"}, "bidPrice": DECIMAL, "bidQty": DECIMAL, "askPrice": DECIMAL, "askQty": DECIMAL}}
LISTEN_KEY = [{"$ref": "#/components/parameters/apiKey"}, query("listenKey", {"type": "string"}, True)]
DEPOSIT = {"type": "object", "required": ["id", "amount", "coin", "network", "status", "address", "txId", "insertTime", "confirmTimes"],
           "properties": {"id": {"type": "string"}, "amount": DECIMAL, "coin": {"type": "string"}, "network": {"type": "string"},
                          "status": {"enum": [0, 1, 6, 7]}, "address": {"type": "string"}, "addressTag": {"type": "string"}, "txId": {"type": "string"},
                          "insertTime": INTEGER, "transferType": INTEGER, "confirmTimes": {"type": "string"}, "state": {"type": "string"}}}
WITHDRAWAL = {"type": "object", "required": ["id", "amount", "transactionFee", "coin", "status", "address", "txId", "applyTime", "network"],
              "properties": {"id": {"type": "string"}, "amount": DECIMAL, "transactionFee": DECIMAL, "coin": {"type": "string"},
                             "status": {"enum": [2, 3, 4, 5, 6]}, "address": {"type": "string"}, "txId": {"type": "string"},
                             "applyTime": {"type": "string"}, "network": {"type": "string"}, "withdrawOrderId": {"type": "string"},
                             "info": {"type": "string"}, "completeTime": {"type": "string"}, "state": {"type": "string"}}}
NATIVE_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 418, 429, 503)


def body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


CREDENTIALS = {"type": "object", "required": ["email", "password"],
               "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}
LOGIN = {"type": "object", "required": ["email", "password"],
         "properties": {"email": {"type": "string"}, "password": {"type": "string"}, "totp": {"type": "string"}}}
SESSION = {"type": "object", "required": ["userId", "accessToken", "tokenType", "expiresIn", "refreshToken"],
           "properties": {"userId": INTEGER, "accessToken": {"type": "string"}, "tokenType": {"const": "Bearer"}, "expiresIn": INTEGER,
                          "refreshToken": {"type": "string"}}}
KEY = {"type": "object", "required": ["apiKey", "label", "permissions", "ipWhitelist"],
       "properties": {"apiKey": {"type": "string"}, "secretKey": {"type": "string"}, "label": {"type": "string"},
                      "permissions": {"type": "array", "items": {"enum": ["read", "trade", "withdraw"]}},
                      "ipWhitelist": {"type": "array", "items": {"type": "string"}}, "enabled": {"type": "boolean"}, "createdAt": INTEGER}}

document = {
    "openapi": "3.1.0",
    "info": {"title": "OpenExchange gateway", "version": "1",
             "description": "Binance Spot compatible /api/v3 subset (market data included unless the gateway runs with --no-market-data) "
                            "and the native /api/v1. Errors are {code, msg}. WebSockets (not described here): /ws, /stream, /ws/v1, "
                            "/ws-api/v3; see docs/api.md."},
    "components": {
        "schemas": {"Error": {"type": "object", "required": ["code", "msg"], "properties": {"code": INTEGER, "msg": {"type": "string"}}},
                    "Order": ORDER_SCHEMA},
        "parameters": SIGNED_PARAMETERS,
        "responses": {"Error": {"description": "Binance error", "content": {"application/json": {"schema": ERROR}}}},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    },
    "paths": {
        "/api/v3/ping": {"get": {"operationId": "ping", "responses": ok({"type": "object"}) | error_responses(418, 429, 503)}},
        "/api/v3/time": {"get": {"operationId": "time", "responses": ok({"type": "object", "required": ["serverTime"],
                                                                          "properties": {"serverTime": INTEGER}}) | error_responses(503)}},
        "/api/v3/exchangeInfo": {"get": {
            "operationId": "exchangeInfo",
            "parameters": [query("symbol", {"type": "string"}), query("symbols", {"type": "string"}, description='JSON array, e.g. ["BTCUSDT"]')],
            "responses": ok({"type": "object", "required": ["timezone", "serverTime", "rateLimits", "symbols"],
                             "properties": {"timezone": {"type": "string"}, "serverTime": INTEGER, "rateLimits": {"type": "array"},
                                            "exchangeFilters": {"type": "array"},
                                            "symbols": {"type": "array", "items": {"type": "object", "required": [
                                                "symbol", "status", "baseAsset", "quoteAsset", "baseAssetPrecision", "quotePrecision",
                                                "orderTypes", "filters"]}}}}) | error_responses(400, 418, 429, 503)}},
        "/api/v3/depth": {"get": {
            "operationId": "depth", "parameters": [SYMBOL, MARKET_LIMIT(100, 5000)],
            "responses": ok({"type": "object", "required": ["lastUpdateId", "bids", "asks"],
                             "properties": {"lastUpdateId": INTEGER, "bids": LEVELS, "asks": LEVELS}}) | MARKET_ERRORS}},
        "/api/v3/trades": {"get": {
            "operationId": "trades", "parameters": [SYMBOL, MARKET_LIMIT(500, 1000)], "responses": ok(TRADES) | MARKET_ERRORS}},
        "/api/v3/historicalTrades": {"get": {
            "operationId": "historicalTrades",
            "parameters": [SYMBOL, query("fromId", INTEGER, description="the first trade id; the newest trades without it"), MARKET_LIMIT(500, 1000)],
            "responses": ok(TRADES) | MARKET_ERRORS}},
        "/api/v3/aggTrades": {"get": {
            "operationId": "aggTrades",
            "parameters": [SYMBOL, query("fromId", INTEGER), query("startTime", INTEGER), query("endTime", INTEGER, description="at most an hour after startTime"),
                           MARKET_LIMIT(500, 1000)],
            "responses": ok({"type": "array", "items": {"type": "object", "required": ["a", "p", "q", "f", "l", "T", "m", "M"],
                                                        "properties": {"a": INTEGER, "p": DECIMAL, "q": DECIMAL, "f": INTEGER, "l": INTEGER,
                                                                       "T": INTEGER, "m": {"type": "boolean"}, "M": {"type": "boolean"}}}})
            | MARKET_ERRORS}},
        "/api/v3/klines": {"get": KLINES["get"] | {"operationId": "klines"}},
        "/api/v3/uiKlines": {"get": KLINES["get"] | {"operationId": "uiKlines"}},
        "/api/v3/ticker/24hr": {"get": {
            "operationId": "ticker24hr", "parameters": SYMBOLS + [query("type", {"enum": ["FULL", "MINI"]})],
            "responses": ok({"anyOf": [TICKER, {"type": "array", "items": TICKER}]}) | MARKET_ERRORS}},
        "/api/v3/ticker/price": {"get": {"operationId": "tickerPrice", "parameters": SYMBOLS,
                                         "responses": ok({"anyOf": [PRICE, {"type": "array", "items": PRICE}]}) | MARKET_ERRORS}},
        "/api/v3/ticker/bookTicker": {"get": {"operationId": "bookTicker", "parameters": SYMBOLS,
                                              "responses": ok({"anyOf": [BOOK_TICKER, {"type": "array", "items": BOOK_TICKER}]}) | MARKET_ERRORS}},
        "/api/v3/userDataStream": {
            "post": {"operationId": "newListenKey", "parameters": [{"$ref": "#/components/parameters/apiKey"}],
                     "responses": ok({"type": "object", "required": ["listenKey"], "properties": {"listenKey": {"type": "string"}}}) | SIGNED_ERRORS},
            "put": {"operationId": "renewListenKey", "parameters": LISTEN_KEY, "responses": ok({"type": "object"}) | SIGNED_ERRORS},
            "delete": {"operationId": "closeListenKey", "parameters": LISTEN_KEY, "responses": ok({"type": "object"}) | SIGNED_ERRORS},
        },
        "/api/v3/account": {"get": {
            "operationId": "account", "parameters": SIGNED,
            "responses": ok({"type": "object", "required": ["balances", "canTrade", "accountType", "updateTime"],
                             "properties": {"balances": {"type": "array", "items": {
                                 "type": "object", "required": ["asset", "free", "locked"],
                                 "properties": {"asset": {"type": "string"}, "free": DECIMAL, "locked": DECIMAL}}}}}) | SIGNED_ERRORS}},
        "/api/v3/order": {
            "post": {"operationId": "newOrder", "parameters": SIGNED + ORDER_PARAMETERS,
                     "responses": ok({"anyOf": [ORDER, ACK]}) | SIGNED_ERRORS},
            "get": {"operationId": "queryOrder", "parameters": SIGNED + NAMED_ORDER, "responses": ok(ORDER) | SIGNED_ERRORS},
            "delete": {"operationId": "cancelOrder", "parameters": SIGNED + NAMED_ORDER + [query("newClientOrderId", {"type": "string"})],
                       "responses": ok(ORDER) | SIGNED_ERRORS},
        },
        "/api/v3/order/test": {"post": {"operationId": "testOrder", "parameters": SIGNED + ORDER_PARAMETERS,
                                        "responses": ok({"type": "object"}) | SIGNED_ERRORS}},
        "/api/v3/openOrders": {
            "get": {"operationId": "openOrders", "parameters": SIGNED + [query("symbol", {"type": "string"})],
                    "responses": ok({"type": "array", "items": ORDER}) | SIGNED_ERRORS},
            "delete": {"operationId": "cancelOpenOrders", "parameters": SIGNED + [SYMBOL],
                       "responses": ok({"type": "array", "items": ORDER}) | SIGNED_ERRORS},
        },
        "/api/v3/allOrders": {"get": {"operationId": "allOrders", "parameters": SIGNED + [SYMBOL, query("orderId", INTEGER)] + PAGING,
                                      "responses": ok({"type": "array", "items": ORDER}) | SIGNED_ERRORS}},
        "/api/v3/myTrades": {"get": {"operationId": "myTrades",
                                     "parameters": SIGNED + [SYMBOL, query("orderId", INTEGER), query("fromId", INTEGER)] + PAGING,
                                     "responses": ok({"type": "array", "items": TRADE}) | SIGNED_ERRORS}},
        "/api/v1/users": {"post": {"operationId": "register", "requestBody": body(CREDENTIALS),
                                   "responses": ok({"type": "object", "required": ["userId", "email"]}, "201") | NATIVE_ERRORS}},
        "/api/v1/sessions": {"post": {"operationId": "login", "requestBody": body(LOGIN), "responses": ok(SESSION) | NATIVE_ERRORS}},
        "/api/v1/sessions/refresh": {"post": {"operationId": "refresh", "requestBody": body({
            "type": "object", "required": ["refreshToken"], "properties": {"refreshToken": {"type": "string"}}}), "responses": ok(SESSION) | NATIVE_ERRORS}},
        "/api/v1/sessions/logout": {"post": {"operationId": "logout", "security": BEARER, "requestBody": body({
            "type": "object", "properties": {"refreshToken": {"type": "string"}}}), "responses": ok({"type": "object"}) | NATIVE_ERRORS}},
        "/api/v1/me": {"get": {"operationId": "me", "security": BEARER, "responses": ok({
            "type": "object", "required": ["userId", "email", "createdAt", "partition"]}) | NATIVE_ERRORS}},
        "/api/v1/me/logins": {"get": {"operationId": "logins", "security": BEARER, "responses": ok({"type": "array", "items": {
            "type": "object", "required": ["time", "ip", "userAgent", "success", "reason"]}}) | NATIVE_ERRORS}},
        "/api/v1/me/totp": {"post": {"operationId": "beginSecondFactor", "security": BEARER, "responses": ok({
            "type": "object", "required": ["secret", "uri"], "properties": {"secret": {"type": "string"}, "uri": {"type": "string"}}}) | NATIVE_ERRORS}},
        "/api/v1/me/totp/confirm": {"post": {"operationId": "confirmSecondFactor", "security": BEARER, "requestBody": body({
            "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}),
            "responses": ok({"type": "object", "required": ["enabled"]}) | NATIVE_ERRORS}},
        "/api/v1/me/api-keys": {
            "post": {"operationId": "createKey", "security": BEARER, "requestBody": body({
                "type": "object", "properties": {"label": {"type": "string"}, "permissions": {"type": "array", "items": {"type": "string"}},
                                                 "ipWhitelist": {"type": "array", "items": {"type": "string"}}}}),
                     "responses": ok(KEY, "201") | NATIVE_ERRORS},
            "get": {"operationId": "listKeys", "security": BEARER, "responses": ok({"type": "array", "items": KEY}) | NATIVE_ERRORS},
        },
        "/sapi/v1/capital/deposit/address": {"get": {
            "operationId": "depositAddress", "parameters": SIGNED + [query("coin", {"type": "string"}, True), query("network", {"type": "string"})],
            "responses": ok({"type": "object", "required": ["address", "coin", "tag", "url"]}) | SIGNED_ERRORS}},
        "/sapi/v1/capital/deposit/hisrec": {"get": {
            "operationId": "depositHistory",
            "parameters": SIGNED + [query("coin", {"type": "string"}), query("status", INTEGER), query("offset", {"type": "integer", "minimum": 0})] + PAGING,
            "responses": ok({"type": "array", "items": DEPOSIT}) | SIGNED_ERRORS}},
        "/sapi/v1/capital/withdraw/apply": {"post": {
            "operationId": "withdraw",
            "parameters": SIGNED + [query("coin", {"type": "string"}, True), query("address", {"type": "string"}, True), query("amount", DECIMAL, True),
                                    query("withdrawOrderId", {"type": "string"}), query("network", {"type": "string"})],
            "responses": ok({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}) | SIGNED_ERRORS}},
        "/sapi/v1/capital/withdraw/history": {"get": {
            "operationId": "withdrawHistory",
            "parameters": SIGNED + [query("coin", {"type": "string"}), query("withdrawOrderId", {"type": "string"}), query("status", INTEGER),
                                    query("offset", {"type": "integer", "minimum": 0})] + PAGING,
            "responses": ok({"type": "array", "items": WITHDRAWAL}) | SIGNED_ERRORS}},
        "/api/v1/me/deposit-address": {"get": {"operationId": "myDepositAddress", "security": BEARER,
                                               "parameters": [query("coin", {"type": "string"}, True)],
                                               "responses": ok({"type": "object", "required": ["coin", "address"]}) | NATIVE_ERRORS}},
        "/api/v1/me/deposits": {"get": {"operationId": "myDeposits", "security": BEARER, "parameters": [query("coin", {"type": "string"})],
                                        "responses": ok({"type": "array", "items": {"type": "object", "required": ["id", "coin", "amount", "state"]}})
                                        | NATIVE_ERRORS}},
        "/api/v1/me/withdrawals": {
            "get": {"operationId": "myWithdrawals", "security": BEARER, "parameters": [query("coin", {"type": "string"})],
                    "responses": ok({"type": "array", "items": {"type": "object", "required": ["id", "coin", "amount", "fee", "state"]}}) | NATIVE_ERRORS},
            "post": {"operationId": "myWithdraw", "security": BEARER, "requestBody": body({
                "type": "object", "required": ["coin", "address", "amount", "totp"],
                "properties": {"coin": {"type": "string"}, "address": {"type": "string"}, "amount": DECIMAL, "clientId": {"type": "string"},
                               "totp": {"type": "string"}}}),
                     "responses": ok({"type": "object", "required": ["id"]}, "201") | NATIVE_ERRORS},
        },
        "/api/v1/me/withdrawal-addresses": {
            "get": {"operationId": "whitelist", "security": BEARER,
                    "responses": ok({"type": "array", "items": {"type": "object", "required": ["coin", "address", "label", "addedAt"]}}) | NATIVE_ERRORS},
            "post": {"operationId": "whitelistAdd", "security": BEARER, "requestBody": body({
                "type": "object", "required": ["coin", "address"],
                "properties": {"coin": {"type": "string"}, "address": {"type": "string"}, "label": {"type": "string"}}}),
                     "responses": ok({"type": "object", "required": ["coin", "address", "added"]}) | NATIVE_ERRORS},
            "delete": {"operationId": "whitelistRemove", "security": BEARER,
                       "parameters": [query("coin", {"type": "string"}, True), query("address", {"type": "string"}, True)],
                       "responses": ok({"type": "object", "required": ["removed"]}) | NATIVE_ERRORS},
        },
        "/api/v1/me/api-keys/{key}": {
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "put": {"operationId": "setKeyEnabled", "security": BEARER, "requestBody": body({
                "type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}}),
                    "responses": ok({"type": "object"}) | NATIVE_ERRORS},
            "delete": {"operationId": "deleteKey", "security": BEARER, "responses": ok({"type": "object"}) | NATIVE_ERRORS},
        },
    },
}

text = json.dumps(document, indent=1, sort_keys=False)
with open(os.path.join(ROOT, "docs/openapi.json"), "w") as f:
    f.write(text + "\n")
swift = f'''// Generated by scripts/openapi.py from the same source as docs/openapi.json; do not edit.

extension Gateway {{
    /// The OpenAPI 3.1 document of every endpoint, served at `/openapi.json`.
    static let openAPIDocument = #"""
{text}
"""#
}}
'''
with open(os.path.join(ROOT, "Sources/ExchangeGateway/OpenAPIDocument.swift"), "w") as f:
    f.write(swift)
print("wrote docs/openapi.json and Sources/ExchangeGateway/OpenAPIDocument.swift")
