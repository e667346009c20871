/// One candle of one interval: the trades whose time falls in `[openTime, closeTime]`.
///
/// Units: prices in ticks, volumes in lots, quote volumes in tick·lots (multiply by
/// tickSize × stepSize for the quote asset), times in ms since the Unix epoch.
/// Invariant: `low <= open, close <= high`; `tradeCount == lastTradeID - firstTradeID + 1`
/// when the symbol's trades are numbered without gaps.
public struct Candle: Sendable, Hashable {
    public var openTime: Int64
    /// The last millisecond of the candle (the next candle's open time − 1).
    public var closeTime: Int64
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var close: Int64
    public var volumeLots: Int128 = 0
    public var quoteTickLots: Int128 = 0
    public var takerBuyLots: Int128 = 0
    public var takerBuyQuoteTickLots: Int128 = 0
    public var tradeCount: Int = 0
    public var firstTradeID: UInt64
    public var lastTradeID: UInt64

    public init(
        openTime: Int64, closeTime: Int64, open: Int64, high: Int64, low: Int64, close: Int64, volumeLots: Int128, quoteTickLots: Int128,
        takerBuyLots: Int128, takerBuyQuoteTickLots: Int128, tradeCount: Int, firstTradeID: UInt64, lastTradeID: UInt64
    ) {
        (self.openTime, self.closeTime, self.open, self.high, self.low, self.close) = (openTime, closeTime, open, high, low, close)
        (self.volumeLots, self.quoteTickLots, self.takerBuyLots, self.takerBuyQuoteTickLots) = (volumeLots, quoteTickLots, takerBuyLots, takerBuyQuoteTickLots)
        (self.tradeCount, self.firstTradeID, self.lastTradeID) = (tradeCount, firstTradeID, lastTradeID)
    }

    /// A candle holding only `trade`.
    public init(interval: KlineInterval, trade: MarketTrade) {
        openTime = interval.openTime(containing: trade.timeMilliseconds)
        closeTime = interval.nextOpenTime(after: openTime) - 1
        (open, high, low, close) = (trade.priceTicks, trade.priceTicks, trade.priceTicks, trade.priceTicks)
        firstTradeID = trade.id
        lastTradeID = trade.id
        add(trade)
    }

    /// Adds a trade of this candle's time range.
    public mutating func add(_ trade: MarketTrade) {
        if tradeCount > 0 {
            high = max(high, trade.priceTicks)
            low = min(low, trade.priceTicks)
            close = trade.priceTicks
            lastTradeID = trade.id
        }
        volumeLots += Int128(trade.lots)
        quoteTickLots += trade.tickLots
        if !trade.buyerIsMaker {
            takerBuyLots += Int128(trade.lots)
            takerBuyQuoteTickLots += trade.tickLots
        }
        tradeCount += 1
    }

    /// Merges a later candle of a finer interval into this one.
    mutating func absorb(_ later: Candle) {
        high = max(high, later.high)
        low = min(low, later.low)
        close = later.close
        lastTradeID = later.lastTradeID
        volumeLots += later.volumeLots
        quoteTickLots += later.quoteTickLots
        takerBuyLots += later.takerBuyLots
        takerBuyQuoteTickLots += later.takerBuyQuoteTickLots
        tradeCount += later.tradeCount
    }
}

/// The candles of one symbol and interval, oldest first, at most `capacity` of them (the oldest
/// are dropped). Only intervals with trades have a candle (Binance's klines skip empty ones too).
public struct CandleSeries: Sendable {
    public let interval: KlineInterval
    public private(set) var candles: BoundedRing<Candle>

    public init(interval: KlineInterval, capacity: Int) {
        self.interval = interval
        candles = BoundedRing(capacity: capacity)
    }

    /// The newest candle, which holds the latest trade.
    public var latest: Candle? { candles.last }

    /// Adds a trade (trades come in time order; an earlier time goes into the newest candle).
    public mutating func add(_ trade: MarketTrade) {
        if let latest, trade.timeMilliseconds <= latest.closeTime {
            candles[candles.count - 1].add(trade)
        } else {
            candles.append(Candle(interval: interval, trade: trade))
        }
    }

    /// The candles with `openTime` in `from...to` (either bound optional), oldest first, at
    /// most `limit` of them: the oldest ones from `from` on if it is given, else the newest.
    public func candles(from: Int64?, to: Int64?, limit: Int) -> [Candle] {
        var selected: [Candle] = []
        for candle in candles {
            if let from, candle.openTime < from { continue }
            if let to, candle.openTime > to { break }
            selected.append(candle)
            if from != nil, selected.count == limit { break }
        }
        return selected.count > limit ? Array(selected.suffix(limit)) : selected
    }
}
