import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI

/// One event of a user's data stream as the projection records it (`gw:ue:{user}`, field
/// `ev`), with the order's hash or the balances appended by the apply script. Text, `;`
/// separated (a `TradeRecord`'s text is `|` separated):
///
/// - `x;EXECUTION;ORDER;TIME;TRADE` an execution report (`NEW`, `TRADE`, `CANCELED`,
///   `EXPIRED`, `TRADE_PREVENTION`), the trade's `TradeRecord` text for `TRADE`, else empty;
/// - `b;ASSET;UNITS;TIME` a deposit or withdrawal (`balanceUpdate`);
/// - `pos` the user's balances after an entry (`outboundAccountPosition`).
struct UserEvent: Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        case execution(String, orderID: OrderID, trade: TradeRecord?)
        case balanceUpdate(asset: String, units: Int64)
        case accountPosition
    }

    var kind: Kind
    var timeMilliseconds: Int64

    init(execution: String, orderID: OrderID, timeMilliseconds: Int64, trade: TradeRecord? = nil) {
        kind = .execution(execution, orderID: orderID, trade: trade)
        self.timeMilliseconds = timeMilliseconds
    }

    init(balanceUpdateOf asset: String, amount: Int64, timeMilliseconds: Int64) {
        kind = .balanceUpdate(asset: asset, units: amount)
        self.timeMilliseconds = timeMilliseconds
    }

    var text: String {
        switch kind {
        case .execution(let execution, let orderID, let trade):
            ["x", execution, String(orderID), String(timeMilliseconds), trade?.text ?? ""].joined(separator: ";")
        case .balanceUpdate(let asset, let units): ["b", asset, String(units), String(timeMilliseconds)].joined(separator: ";")
        case .accountPosition: "pos"
        }
    }

    /// Parses `text`; an account position takes its time from the stream entry.
    init?(text: String, entryTimeMilliseconds: Int64) {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "x":
            guard parts.count == 5, let orderID = OrderID(parts[2]), let time = Int64(parts[3]) else { return nil }
            let trade = parts[4].isEmpty ? nil : TradeRecord(text: parts[4])
            guard parts[4].isEmpty || trade != nil else { return nil }
            kind = .execution(parts[1], orderID: orderID, trade: trade)
            timeMilliseconds = time
        case "b":
            guard parts.count == 4, let units = Int64(parts[2]), let time = Int64(parts[3]) else { return nil }
            kind = .balanceUpdate(asset: parts[1], units: units)
            timeMilliseconds = time
        case "pos":
            kind = .accountPosition
            timeMilliseconds = entryTimeMilliseconds
        default:
            return nil
        }
    }

    /// Binance's `executionReport` (shared/formats/binance-api.md §7) of an execution event,
    /// with the order as it stood right after it.
    static func executionReport(
        _ execution: String, order: OrderRecord, trade: TradeRecord?, timeMilliseconds: Int64, listing: MarketListing, spec: SymbolSpec,
        assetScales: [String: Int]
    ) -> JSONValue {
        let price = { (ticks: Int64) in BinanceDecimal.pad(spec.decimal(Price(ticks: ticks)), scale: listing.quoteScale) }
        let quantity = { (lots: Int64) in BinanceDecimal.pad(spec.decimal(Quantity(lots: lots)), scale: listing.baseScale) }
        let quote = { (units: Int64) in BinanceDecimal.text(units: units, scale: listing.quoteScale) }
        let status = execution == "NEW" ? "NEW" : order.status
        return .object([
            ("e", "executionReport"), ("E", .integer(timeMilliseconds)), ("s", .string(order.symbol)), ("c", .string(order.clientOrderID)),
            ("S", .string(order.side)), ("o", .string(order.type)), ("f", .string(order.timeInForce)), ("q", .string(quantity(order.quantityLots))),
            ("p", .string(price(order.priceTicks))), ("P", "0.00000000"), ("F", "0.00000000"), ("g", -1),
            ("C", .string(execution == "CANCELED" ? order.clientOrderID : "")), ("x", .string(execution)), ("X", .string(status)),
            ("r", "NONE"), ("i", .unsigned(order.orderID)), ("l", .string(quantity(trade?.quantityLots ?? 0))),
            ("z", .string(quantity(execution == "NEW" ? 0 : order.executedLots))), ("L", .string(price(trade?.priceTicks ?? 0))),
            ("n", .string(BinanceDecimal.text(units: trade?.commissionUnits ?? 0, scale: trade.flatMap { assetScales[$0.commissionAsset] } ?? 8))),
            ("N", trade.map { .string($0.commissionAsset) } ?? .null), ("T", .integer(timeMilliseconds)),
            ("t", trade.map { .unsigned($0.tradeID) } ?? -1), ("I", .unsigned(order.orderID)), ("w", .bool(!order.isFinal)),
            ("m", .bool(trade?.isMaker ?? false)), ("M", false), ("O", .integer(order.timeMilliseconds)),
            ("Z", .string(quote(execution == "NEW" ? 0 : order.cumulativeQuoteUnits))), ("Y", .string(quote(trade?.quoteUnits ?? 0))),
            ("Q", .string(quote(order.quoteOrderUnits))), ("W", .integer(order.timeMilliseconds)), ("V", .string(order.selfTradePrevention)),
        ])
    }

    /// Binance's `outboundAccountPosition`: `balances` as (asset, available, frozen) units.
    static func accountPosition(_ balances: [(asset: String, available: Int64, frozen: Int64)], timeMilliseconds: Int64, assetScales: [String: Int]) -> JSONValue {
        .object([
            ("e", "outboundAccountPosition"), ("E", .integer(timeMilliseconds)), ("u", .integer(timeMilliseconds)),
            ("B", .array(balances.map { balance in
                let scale = assetScales[balance.asset] ?? 8
                return .object([
                    ("a", .string(balance.asset)), ("f", .string(BinanceDecimal.text(units: balance.available, scale: scale))),
                    ("l", .string(BinanceDecimal.text(units: balance.frozen, scale: scale))),
                ])
            })),
        ])
    }

    /// Binance's `balanceUpdate`.
    static func balanceUpdate(asset: String, units: Int64, timeMilliseconds: Int64, assetScales: [String: Int]) -> JSONValue {
        .object([
            ("e", "balanceUpdate"), ("E", .integer(timeMilliseconds)), ("a", .string(asset)),
            ("d", .string(BinanceDecimal.text(units: units, scale: assetScales[asset] ?? 8))), ("T", .integer(timeMilliseconds)),
        ])
    }
}
