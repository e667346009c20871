import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI

/// A `POST /api/v3/order` checked against the contract and the symbol's filters, turned into
/// what clearing takes. Pure: no I/O; every refusal is the contract's error.
struct OrderRequest: Sendable {
    /// Whether `text` matches Binance's client order id pattern, `^[.A-Z:/a-z0-9_-]{1,36}$`.
    static func isValidClientOrderID(_ text: String) -> Bool {
        (1...36).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || ".:/_-".utf8.contains(byte)
        }
    }
    /// Prices above this are refused (and `exchangeInfo` says so).
    static let maximumPrice = DecimalNumber(units: 1_000_000_000, scale: 0)

    enum ResponseType: String, Sendable { case ack = "ACK", result = "RESULT", full = "FULL" }

    var order: ClearingOrder
    var record: OrderRecord
    var responseType: ResponseType

    /// Checks `parameters` for `user` on `listing`; `orderID` and `nowMilliseconds` are the
    /// new order's id and time.
    init(parameters: RequestParameters, listing: MarketListing, user: UserID, orderID: OrderID, nowMilliseconds: Int64) throws(BinanceError) {
        guard let spec = try? listing.spec(), let clearing = try? listing.clearingSymbol() else { throw .invalidSymbol }
        guard listing.status == .trading else { throw .marketClosed }
        let side: OrderSide
        switch try parameters.required("side") {
        case "BUY": side = .buy
        case "SELL": side = .sell
        default: throw .invalidSide
        }
        let typeText = try parameters.required("type")
        let type: OrderType
        var timeInForce: TimeInForce
        var timeInForceText: String
        switch typeText {
        case "LIMIT":
            type = .limit
            switch try parameters.required("timeInForce") {
            case "GTC": timeInForce = .goodTillCanceled
            case "IOC": timeInForce = .immediateOrCancel
            case "FOK": timeInForce = .fillOrKill
            default: throw .invalidTimeInForce
            }
            timeInForceText = parameters["timeInForce"]!
        case "LIMIT_MAKER":
            type = .limit
            timeInForce = .postOnly
            timeInForceText = "GTC"
            if parameters["timeInForce"] != nil { throw .notRequired("timeInForce") }
        case "MARKET":
            type = .market
            timeInForce = .immediateOrCancel
            timeInForceText = "GTC"
            if parameters["timeInForce"] != nil { throw .notRequired("timeInForce") }
            if parameters["price"] != nil { throw .notRequired("price") }
        default:
            throw .invalidOrderType
        }
        let selfTradePrevention: SelfTradePrevention
        let stpText = parameters["selfTradePreventionMode"] ?? "NONE"
        switch stpText {
        case "NONE": selfTradePrevention = .none
        case "EXPIRE_TAKER": selfTradePrevention = .expireTaker
        case "EXPIRE_MAKER": selfTradePrevention = .expireMaker
        case "EXPIRE_BOTH": selfTradePrevention = .expireBoth
        default: throw .invalidParameter("selfTradePreventionMode", "expected NONE, EXPIRE_TAKER, EXPIRE_MAKER or EXPIRE_BOTH.")
        }
        let clientOrderID = parameters["newClientOrderId"] ?? "ox-\(orderID)"
        guard Self.isValidClientOrderID(clientOrderID) else {
            throw .invalidParameter("newClientOrderId", "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        }
        switch parameters["newOrderRespType"] {
        case nil: responseType = .full
        case let text?:
            guard let value = ResponseType(rawValue: text) else { throw .invalidParameter("newOrderRespType", "expected ACK, RESULT or FULL.") }
            responseType = value
        }

        var price = Price.absent
        if type == .limit {
            guard let priceText = parameters["price"] else { throw .mandatory("price") }
            let decimal = try parameters.decimal("price")!
            guard decimal <= Self.maximumPrice else { throw .filterFailure("PRICE_FILTER") }
            do { price = try spec.price(parsing: Substring(priceText)) } catch { throw .filterFailure("PRICE_FILTER") }
        }
        var quantity = Quantity.zero
        var quoteBudget: Int64?
        let quantityText = parameters["quantity"]
        if type == .market, parameters["quoteOrderQty"] != nil {
            if quantityText != nil { throw .invalidParameter("quantity", "send either quantity or quoteOrderQty, not both.") }
            let decimal = try parameters.decimal("quoteOrderQty")!
            guard side == .buy else {
                throw BinanceError(code: -1013, message: "Filter failure: quoteOrderQty is supported for MARKET BUY orders only.")
            }
            guard let units = (try? AssetSpec(code: clearing.quote, scale: listing.quoteScale))?.units(of: decimal), units > 0 else {
                throw .filterFailure("NOTIONAL")
            }
            guard units >= clearing.minimumNotionalUnits else { throw .filterFailure("NOTIONAL") }
            quoteBudget = units
            quantity = Quantity(lots: listing.maximumQuantityLots)
        } else {
            guard let quantityText else { throw .mandatory("quantity") }
            _ = try parameters.decimal("quantity")
            do { quantity = try spec.quantity(parsing: Substring(quantityText)) } catch { throw .filterFailure("LOT_SIZE") }
            guard quantity >= spec.minimumQuantity, quantity <= spec.maximumQuantity else { throw .filterFailure("LOT_SIZE") }
            if type == .limit {
                guard let notional = clearing.quoteUnits(ticks: price.ticks, lots: quantity.lots) else { throw .filterFailure("NOTIONAL") }
                guard notional >= clearing.minimumNotionalUnits else { throw .filterFailure("NOTIONAL") }
            }
        }
        order = ClearingOrder(
            orderID: orderID, userID: user, symbol: listing.symbol, side: side, type: type, timeInForce: timeInForce, price: price,
            quantity: quantity, selfTradePrevention: selfTradePrevention, quoteBudget: quoteBudget)
        record = OrderRecord(
            orderID: orderID, userID: user, symbol: listing.symbol, side: side == .buy ? "BUY" : "SELL", type: typeText,
            timeInForce: timeInForceText, priceTicks: price.ticks, quantityLots: quoteBudget == nil ? quantity.lots : 0,
            quoteOrderUnits: quoteBudget ?? 0, clientOrderID: clientOrderID, selfTradePrevention: stpText, timeMilliseconds: nowMilliseconds,
            status: "NEW", executedLots: 0, cumulativeQuoteUnits: 0, updateTimeMilliseconds: nowMilliseconds)
        // Until its append is known to have landed (see `OrderRecord.isUnsettled`).
        record.isUnsettled = true
    }
}
