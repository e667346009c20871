import ExchangeCore

/// One trade as the market sees it: no order or user ids.
///
/// Units: `priceTicks` in the symbol's tick size, `lots` in its step size, `timeMilliseconds`
/// since the Unix epoch (the output entry's append time in Redis).
public struct MarketTrade: Sendable, Hashable {
    /// The symbol's trade id: 1, 2, 3… in the order the shard matched them.
    public var id: UInt64
    public var priceTicks: Int64
    public var lots: Int64
    public var timeMilliseconds: Int64
    /// Whether the resting (maker) order was the buy: the taker sold.
    public var buyerIsMaker: Bool

    public init(id: UInt64, priceTicks: Int64, lots: Int64, timeMilliseconds: Int64, buyerIsMaker: Bool) {
        self.id = id
        self.priceTicks = priceTicks
        self.lots = lots
        self.timeMilliseconds = timeMilliseconds
        self.buyerIsMaker = buyerIsMaker
    }

    public init(_ trade: TradeExecuted, timeMilliseconds: Int64) {
        self.init(
            id: trade.tradeID, priceTicks: trade.price.ticks, lots: trade.quantity.lots, timeMilliseconds: timeMilliseconds,
            buyerIsMaker: trade.takerSide == .sell)
    }

    /// `price × quantity` in tick·lot units (exact: both factors are below 2^63).
    public var tickLots: Int128 { Int128(priceTicks) * Int128(lots) }
}

/// Consecutive trades of one taker order at one price, as Binance's `aggTrades` reports them.
///
/// Invariant: `firstTradeID <= lastTradeID`, the ids between them are exactly the trades
/// aggregated. The aggregate's id is its first trade's id: unique, increasing, and the same
/// on every market-data instance.
public struct AggregateTrade: Sendable, Hashable {
    public var priceTicks: Int64
    public var lots: Int64
    public var firstTradeID: UInt64
    public var lastTradeID: UInt64
    public var timeMilliseconds: Int64
    public var buyerIsMaker: Bool

    public var id: UInt64 { firstTradeID }

    public init(priceTicks: Int64, lots: Int64, firstTradeID: UInt64, lastTradeID: UInt64, timeMilliseconds: Int64, buyerIsMaker: Bool) {
        self.priceTicks = priceTicks
        self.lots = lots
        self.firstTradeID = firstTradeID
        self.lastTradeID = lastTradeID
        self.timeMilliseconds = timeMilliseconds
        self.buyerIsMaker = buyerIsMaker
    }

    /// One trade as aggregation sees it: a recorded trade (`exchange_order.trades`) or an
    /// executed one.
    public struct Member: Sendable, Equatable {
        public var tradeID: UInt64
        public var takerOrderID: OrderID
        public var takerSide: OrderSide
        public var priceTicks: Int64
        public var lots: Int64
        public var timeMilliseconds: Int64

        public init(tradeID: UInt64, takerOrderID: OrderID, takerSide: OrderSide, priceTicks: Int64, lots: Int64, timeMilliseconds: Int64) {
            self.tradeID = tradeID
            self.takerOrderID = takerOrderID
            self.takerSide = takerSide
            self.priceTicks = priceTicks
            self.lots = lots
            self.timeMilliseconds = timeMilliseconds
        }
    }

    /// Groups `trades` (one command's, in order) into aggregates: a new one starts at every
    /// change of taker order or price. Quantities of one taker fit `Int64` (they are at most
    /// its order's quantity).
    public static func aggregating(_ trades: [TradeExecuted], timeMilliseconds: Int64) -> [AggregateTrade] {
        aggregating(trades.map {
            Member(
                tradeID: $0.tradeID, takerOrderID: $0.takerOrderID, takerSide: $0.takerSide, priceTicks: $0.price.ticks, lots: $0.quantity.lots,
                timeMilliseconds: timeMilliseconds)
        })
    }

    /// Groups trades in trade-id order into aggregates: one runs over consecutive trade ids
    /// of one taker order at one price, and takes its first trade's id and time.
    public static func aggregating(_ trades: some Sequence<Member>) -> [AggregateTrade] {
        var result: [AggregateTrade] = []
        var lastTaker: OrderID?
        for trade in trades {
            if let last = result.last, lastTaker == trade.takerOrderID, last.priceTicks == trade.priceTicks, trade.tradeID == last.lastTradeID + 1 {
                result[result.count - 1].lots += trade.lots
                result[result.count - 1].lastTradeID = trade.tradeID
            } else {
                result.append(AggregateTrade(
                    priceTicks: trade.priceTicks, lots: trade.lots, firstTradeID: trade.tradeID, lastTradeID: trade.tradeID,
                    timeMilliseconds: trade.timeMilliseconds, buyerIsMaker: trade.takerSide == .sell))
            }
            lastTaker = trade.takerOrderID
        }
        return result
    }
}
