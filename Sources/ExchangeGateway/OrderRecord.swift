import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI

/// An order as the gateway keeps it in Redis (`gw:o:{id}`): its terms as the trader gave
/// them, and its state as the projection last saw it. Amounts are integers (ticks, lots,
/// quote units).
struct OrderRecord: Sendable, Equatable {
    var orderID: OrderID
    var userID: UserID
    var symbol: String
    /// Binance's words: BUY/SELL, LIMIT/MARKET/LIMIT_MAKER, GTC/IOC/FOK.
    var side: String
    var type: String
    var timeInForce: String
    var priceTicks: Int64
    var quantityLots: Int64
    /// A market order's `quoteOrderQty`, in quote units; 0 when none.
    var quoteOrderUnits: Int64
    var clientOrderID: String
    var selfTradePrevention: String
    var timeMilliseconds: Int64
    var status: String
    var executedLots: Int64
    var cumulativeQuoteUnits: Int64
    var updateTimeMilliseconds: Int64
    /// Field `un`: nothing has shown yet that its placement is in the clearing log. Written
    /// with the record (the order id joining its worker id's set, `GatewayKeys.unsettledOrders`);
    /// removed, with the order from the set, by the projector once clearing answered the order
    /// (froze its funds or refused it), or by the `AppendSettler` once it found the entry. An
    /// order proven never appended loses its record instead (`AppendSettler.forget`, also what
    /// the `AbandonedOrderSweeper` does). A retry with the same client order id is not answered
    /// with this order while it is set.
    var isUnsettled = false
    static let unsettledField = "un"

    static let finalStatuses: Set<String> = ["FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"]
    var isFinal: Bool { Self.finalStatuses.contains(status) }

    /// The hash fields of a new record.
    var fields: [String] {
        (isUnsettled ? [Self.unsettledField, "1"] : []) + ["u", String(userID), "s", symbol, "sd", side, "ty", type, "tif", timeInForce, "p", String(priceTicks), "q", String(quantityLots),
         "qq", String(quoteOrderUnits), "c", clientOrderID, "stp", selfTradePrevention, "t", String(timeMilliseconds), "st", status,
         "ex", String(executedLots), "cq", String(cumulativeQuoteUnits), "ut", String(updateTimeMilliseconds)]
    }

    /// A record from `HGETALL`'s flat field list; nil when a field is missing or malformed.
    init?(orderID: OrderID, hash: [String]) {
        var values: [String: String] = [:]
        for index in stride(from: 0, to: hash.count - 1, by: 2) { values[hash[index]] = hash[index + 1] }
        guard let user = values["u"].flatMap({ UInt64($0) }), let symbol = values["s"], let side = values["sd"], let type = values["ty"],
              let timeInForce = values["tif"], let price = values["p"].flatMap({ Int64($0) }), let quantity = values["q"].flatMap({ Int64($0) }),
              let quote = values["qq"].flatMap({ Int64($0) }), let client = values["c"], let time = values["t"].flatMap({ Int64($0) }),
              let status = values["st"], let executed = values["ex"].flatMap({ Int64($0) }), let cumulative = values["cq"].flatMap({ Int64($0) }),
              let update = values["ut"].flatMap({ Int64($0) }) else { return nil }
        self.init(
            orderID: orderID, userID: user, symbol: symbol, side: side, type: type, timeInForce: timeInForce, priceTicks: price,
            quantityLots: quantity, quoteOrderUnits: quote, clientOrderID: client, selfTradePrevention: values["stp"] ?? "NONE",
            timeMilliseconds: time, status: status, executedLots: executed, cumulativeQuoteUnits: cumulative, updateTimeMilliseconds: update)
        isUnsettled = values[Self.unsettledField] != nil
    }

    init(
        orderID: OrderID, userID: UserID, symbol: String, side: String, type: String, timeInForce: String, priceTicks: Int64,
        quantityLots: Int64, quoteOrderUnits: Int64, clientOrderID: String, selfTradePrevention: String, timeMilliseconds: Int64,
        status: String, executedLots: Int64, cumulativeQuoteUnits: Int64, updateTimeMilliseconds: Int64
    ) {
        self.orderID = orderID
        self.userID = userID
        self.symbol = symbol
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.priceTicks = priceTicks
        self.quantityLots = quantityLots
        self.quoteOrderUnits = quoteOrderUnits
        self.clientOrderID = clientOrderID
        self.selfTradePrevention = selfTradePrevention
        self.timeMilliseconds = timeMilliseconds
        self.status = status
        self.executedLots = executedLots
        self.cumulativeQuoteUnits = cumulativeQuoteUnits
        self.updateTimeMilliseconds = updateTimeMilliseconds
    }

    /// Binance's order object. `transact` gives the POST form (`transactTime` instead of
    /// `time`/`updateTime`).
    func json(listing: MarketListing, spec: SymbolSpec, transact: Bool = false) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("symbol", .string(symbol)), ("orderId", .unsigned(orderID)), ("orderListId", -1), ("clientOrderId", .string(clientOrderID)),
        ]
        if transact { members.append(("transactTime", .integer(updateTimeMilliseconds))) }
        members += [
            ("price", .string(BinanceDecimal.pad(spec.decimal(Price(ticks: priceTicks)), scale: listing.quoteScale))),
            ("origQty", .string(BinanceDecimal.pad(spec.decimal(Quantity(lots: quantityLots)), scale: listing.baseScale))),
            ("executedQty", .string(BinanceDecimal.pad(spec.decimal(Quantity(lots: executedLots)), scale: listing.baseScale))),
            ("origQuoteOrderQty", .string(BinanceDecimal.text(units: quoteOrderUnits, scale: listing.quoteScale))),
            ("cummulativeQuoteQty", .string(BinanceDecimal.text(units: cumulativeQuoteUnits, scale: listing.quoteScale))),
            ("status", .string(status)), ("timeInForce", .string(timeInForce)), ("type", .string(type)), ("side", .string(side)),
        ]
        if !transact {
            members += [("time", .integer(timeMilliseconds)), ("updateTime", .integer(updateTimeMilliseconds)), ("isWorking", .bool(!isFinal))]
        }
        members += [("workingTime", .integer(timeMilliseconds)), ("selfTradePreventionMode", .string(selfTradePrevention))]
        return members
    }
}
