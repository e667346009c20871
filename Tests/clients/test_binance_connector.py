"""binance-connector's `Spot` client (unmodified, `base_url` set to the gateway) on a real
cluster: everything in the query string, POST included."""

import pytest
from binance.error import ClientError
from binance.spot import Spot


@pytest.fixture(scope="module")
def spot(cluster):
    trader = cluster.new_trader({"BTC": "2", "USDT": "20000"})
    return Spot(api_key=trader["apiKey"], api_secret=trader["secret"], base_url=cluster.base)


def test_account_and_orders(spot):
    assert spot.time()["serverTime"] > 0
    info = spot.exchange_info(symbol="BTCUSDT")
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
    balances = {b["asset"]: b for b in spot.account()["balances"]}
    assert balances["BTC"]["free"] == "2.00000000" and balances["USDT"]["free"] == "20000.00000000"
    order = spot.new_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.1", price="50000",
                           newClientOrderId="connector-1")
    assert order["status"] == "NEW" and order["clientOrderId"] == "connector-1" and "code" not in order
    assert spot.get_order("BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in spot.get_open_orders("BTCUSDT")] == [order["orderId"]]
    canceled = spot.cancel_order("BTCUSDT", origClientOrderId="connector-1")
    assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == "connector-1"
    assert spot.get_open_orders("BTCUSDT") == []
    assert [o["status"] for o in spot.get_orders("BTCUSDT")] == ["CANCELED"]
    assert spot.my_trades("BTCUSDT") == []


def test_a_cancel_right_after_an_ack_is_never_ahead_of_its_order(spot):
    for _ in range(20):
        ack = spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000",
                             newOrderRespType="ACK")
        assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
        # Read-your-writes: visible at once, and the cancel is ordered after it.
        assert spot.get_order("BTCUSDT", orderId=ack["orderId"])["orderId"] == ack["orderId"]
        assert spot.cancel_order("BTCUSDT", orderId=ack["orderId"])["status"] == "CANCELED"


def test_a_retried_client_order_id_gets_the_first_order(spot):
    """A retry with the same newClientOrderId is answered with the first order once clearing has it
    (the projector removes the record's unsettled mark on the order's freeze), never a second order."""
    first = spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000",
                           newOrderRespType="ACK", newClientOrderId="retried-1")
    again = spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="1000",
                           newOrderRespType="ACK", newClientOrderId="retried-1")
    assert again["orderId"] == first["orderId"] and again["clientOrderId"] == "retried-1"
    assert [o["orderId"] for o in spot.get_open_orders("BTCUSDT") if o["clientOrderId"] == "retried-1"] == [first["orderId"]]
    assert spot.cancel_order("BTCUSDT", origClientOrderId="retried-1")["status"] == "CANCELED"


def test_errors(spot):
    with pytest.raises(ClientError) as error:
        spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.00001", price="1000")
    assert (error.value.status_code, error.value.error_code, error.value.error_message) == (400, -1013, "Filter failure: LOT_SIZE")
    with pytest.raises(ClientError) as error:
        spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="1000")
    assert error.value.error_code == -1013 and error.value.error_message == "Filter failure: NOTIONAL"
    with pytest.raises(ClientError) as error:
        spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="1000")
    assert error.value.error_code == -1102
    with pytest.raises(ClientError) as error:
        spot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1e-05", price="1000")
    assert error.value.error_code == -1100
    with pytest.raises(ClientError) as error:
        spot.new_order(symbol="NOPE", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="1000")
    assert error.value.error_code == -1121
    with pytest.raises(ClientError) as error:
        spot.get_order("BTCUSDT", orderId=1)
    assert (error.value.status_code, error.value.error_code) == (400, -2013)
    with pytest.raises(ClientError) as error:
        spot.account(recvWindow=70000)
    assert error.value.error_code == -1131
    import binance.api
    real = binance.api.get_timestamp
    binance.api.get_timestamp = lambda: real() - 60_000
    try:
        with pytest.raises(ClientError) as error:
            spot.account()
    finally:
        binance.api.get_timestamp = real
    assert error.value.error_code == -1021
