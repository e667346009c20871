"""ccxt's `binance` (unmodified, pointed at the gateway as shared/formats/binance-api.md §1 says)
trading on a real cluster: markets, balances, every order type, cancels, queries, errors."""

from decimal import Decimal

import ccxt
import pytest

from cluster import binance_client


def client(cluster, trader):
    return binance_client(cluster.base, trader["apiKey"], trader["secret"])


def balance(exchange, asset):
    total = exchange.fetch_balance()
    return Decimal(str(total[asset]["free"] or 0)), Decimal(str(total[asset]["used"] or 0))


@pytest.fixture(scope="module")
def traders(cluster):
    maker = cluster.new_trader({"BTC": "3", "ETH": "5", "USDT": "100000"})
    taker = cluster.new_trader({"BTC": "1", "USDT": "50000"})
    return client(cluster, maker), client(cluster, taker)


def test_markets_and_balances(traders):
    maker, _ = traders
    markets = maker.load_markets()
    market = markets["BTC/USDT"]
    assert market["active"] and market["spot"]
    assert market["precision"]["price"] == 0.01 and market["precision"]["amount"] == 0.0001
    assert market["limits"]["cost"]["min"] == 5
    assert balance(maker, "BTC") == (Decimal("3"), Decimal("0"))
    assert balance(maker, "USDT") == (Decimal("100000"), Decimal("0"))


def test_limit_orders_trade_and_settle(traders):
    maker, taker = traders
    sell = maker.create_order("BTC/USDT", "limit", "sell", 0.5, 30000)
    assert sell["status"] == "open" and sell["filled"] == 0
    assert balance(maker, "BTC") == (Decimal("2.5"), Decimal("0.5"))
    buy = taker.create_order("BTC/USDT", "limit", "buy", 0.2, 30100)
    # A taker buy at 30100 trades at the maker's 30000; FULL response: final at once.
    assert buy["status"] == "closed" and buy["filled"] == 0.2 and buy["average"] == 30000
    assert buy["fee"]["currency"] == "BTC" and Decimal(str(buy["fee"]["cost"])) == Decimal("0.0004")
    # Taker: -6000 USDT, +0.2 BTC less 20 bps; maker: 0.2 BTC out, +6000 USDT less 10 bps.
    assert balance(taker, "BTC") == (Decimal("1.1996"), Decimal("0"))
    assert balance(taker, "USDT") == (Decimal("44000"), Decimal("0"))
    assert balance(maker, "USDT") == (Decimal("105994"), Decimal("0"))
    assert balance(maker, "BTC") == (Decimal("2.5"), Decimal("0.3"))
    fetched = maker.fetch_order(sell["id"], "BTC/USDT")
    assert fetched["status"] == "open" and fetched["filled"] == 0.2 and fetched["remaining"] == 0.3
    assert [o["id"] for o in maker.fetch_open_orders("BTC/USDT")] == [sell["id"]]
    trades = taker.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1 and trades[0]["order"] == buy["id"] and trades[0]["side"] == "buy" and trades[0]["takerOrMaker"] == "taker"
    assert trades[0]["price"] == 30000 and trades[0]["amount"] == 0.2 and Decimal(str(trades[0]["cost"])) == Decimal("6000")
    maker_trades = maker.fetch_my_trades("BTC/USDT")
    assert maker_trades[0]["takerOrMaker"] == "maker" and Decimal(str(maker_trades[0]["fee"]["cost"])) == Decimal("6")
    canceled = maker.cancel_order(sell["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert balance(maker, "BTC") == (Decimal("2.8"), Decimal("0"))
    assert maker.fetch_open_orders("BTC/USDT") == []
    assert {o["id"]: o["status"] for o in maker.fetch_orders("BTC/USDT")}[sell["id"]] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        maker.cancel_order(sell["id"], "BTC/USDT")


def test_ioc_fok_post_only_and_market(traders):
    maker, taker = traders
    resting = maker.create_order("ETH/USDT", "limit", "sell", 1, 2000)
    ioc = taker.create_order("ETH/USDT", "limit", "buy", 1.5, 2000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and ioc["filled"] == 1
    fok = taker.create_order("ETH/USDT", "limit", "buy", 1, 2000, {"timeInForce": "FOK"})
    assert fok["status"] == "expired" and fok["filled"] == 0
    maker.create_order("ETH/USDT", "limit", "sell", 1, 2100)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        taker.create_order("ETH/USDT", "limit", "buy", 0.5, 2100, {"postOnly": True})
    post = taker.create_order("ETH/USDT", "limit", "buy", 0.5, 1900, {"postOnly": True})
    assert post["status"] == "open"
    market = taker.create_order("ETH/USDT", "market", "buy", 0.25)
    assert market["status"] == "closed" and market["filled"] == 0.25 and market["average"] == 2100
    assert maker.fetch_order(resting["id"], "ETH/USDT")["status"] == "closed"
    market_sell = maker.create_order("ETH/USDT", "market", "sell", 0.1)
    assert market_sell["status"] == "closed" and market_sell["average"] == 1900
    # The unfilled rest of a market order expires.
    thin = maker.create_order("ETH/USDT", "market", "sell", 1)
    assert thin["status"] == "expired" and thin["filled"] == 0.4


def test_ends_release_their_freeze_before_the_answer(cluster):
    """Read your writes on the release path: a cancel, an IOC that finds nothing and a post-only
    that would cross each answer only once clearing's release is in the balance view (clearing
    hears of an end after the matcher, so a read right after could see the funds still locked)."""
    trader = client(cluster, cluster.new_trader({"BTC": "1", "USDT": "10000"}))
    for _ in range(15):
        resting = trader.create_order("BTC/USDT", "limit", "buy", 0.01, 20000)
        assert balance(trader, "USDT") == (Decimal("9800"), Decimal("200"))
        assert trader.cancel_order(resting["id"], "BTC/USDT")["status"] == "canceled"
        assert balance(trader, "USDT") == (Decimal("10000"), Decimal("0"))
        ioc = trader.create_order("BTC/USDT", "limit", "sell", 0.01, 90000, {"timeInForce": "IOC"})
        assert ioc["status"] == "expired" and ioc["filled"] == 0
        assert balance(trader, "BTC") == (Decimal("1"), Decimal("0"))
    trader.create_order("BTC/USDT", "limit", "buy", 0.01, 20000)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        trader.create_order("BTC/USDT", "limit", "sell", 0.01, 20000, {"postOnly": True})
    assert balance(trader, "BTC") == (Decimal("1"), Decimal("0"))
    trader.create_order("BTC/USDT", "limit", "buy", 0.01, 19000)
    trader.create_order("BTC/USDT", "limit", "sell", 0.01, 90000)
    canceled = trader.cancel_all_orders("BTC/USDT")
    assert sorted(o["price"] for o in canceled) == [19000, 20000, 90000] and {o["status"] for o in canceled} == {"canceled"}
    assert balance(trader, "USDT") == (Decimal("10000"), Decimal("0"))
    assert balance(trader, "BTC") == (Decimal("1"), Decimal("0"))


def test_errors(cluster, traders):
    maker, taker = traders
    with pytest.raises(ccxt.InsufficientFunds):
        taker.create_order("BTC/USDT", "limit", "buy", 100, 30000)
    with pytest.raises(ccxt.InvalidOrder):
        taker.create_order("BTC/USDT", "limit", "buy", 0.1, 30000.005, {"price": "30000.005"})
    with pytest.raises(ccxt.BadSymbol):
        taker.fetch_order("1", "BTC/USDT", {"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.OrderNotFound):
        taker.fetch_order("12345", "BTC/USDT")
    forged = client(cluster, {"apiKey": maker.apiKey, "secret": "0" * 64})
    with pytest.raises(ccxt.AuthenticationError):
        forged.fetch_balance()
    unknown = client(cluster, {"apiKey": "f" * 64, "secret": "0" * 64})
    with pytest.raises(ccxt.AuthenticationError):
        unknown.fetch_balance()


def test_client_order_id_is_idempotent(traders):
    _, taker = traders
    first = taker.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "retry-me-1"})
    again = taker.create_order("BTC/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "retry-me-1"})
    assert again["id"] == first["id"]
    assert [o["id"] for o in taker.fetch_open_orders("BTC/USDT") if o["clientOrderId"] == "retry-me-1"] == [first["id"]]
    assert taker.fetch_order(None, "BTC/USDT", {"origClientOrderId": "retry-me-1"})["id"] == first["id"]
    taker.cancel_all_orders("BTC/USDT")
    assert taker.fetch_open_orders("BTC/USDT") == []
