import ExchangeCore

/// Everything the market shows of one symbol, derived from its shard's output events alone:
/// the depth book with its diff chains, recent trades and aggregates, candles of every
/// interval, and the last trade. A sans-I/O state machine: time is an input (the output
/// entry's append time), nothing is read from a clock.
public struct SymbolMarket: Sendable {
    /// Trades and aggregates kept for `trades` / `aggTrades` (Binance's maximum `limit`).
    public static let recentCapacity = 1_000
    /// One-minute candles kept: the ticker's window, one more for its previous close, and
    /// `klines`' maximum `limit`.
    public static let minuteCapacity = Int(TickerStatistics.windowMinutes) + 1
    public static let candleCapacity = 1_000

    /// The depth speeds Binance streams offer: every 100 ms and every 1,000 ms.
    public enum DepthSpeed: Sendable, Hashable, CaseIterable {
        case fast, slow
        public var milliseconds: Int { self == .fast ? 100 : 1_000 }
    }

    /// What one output entry changed, for the streams that publish at once.
    public struct Change: Sendable {
        public var trades: [MarketTrade] = []
        public var aggregates: [AggregateTrade] = []
        public var depthChanged = false
        /// The best bid or ask (price or quantity) changed: a `bookTicker` event.
        public var bestChanged = false
    }

    public private(set) var book: DepthBook
    public private(set) var diffs: [DepthSpeed: DepthDiffChain]
    public private(set) var recentTrades = BoundedRing<MarketTrade>(capacity: recentCapacity)
    public private(set) var recentAggregates = BoundedRing<AggregateTrade>(capacity: recentCapacity)
    public private(set) var series: [KlineInterval: CandleSeries]
    public private(set) var lastTrade: MarketTrade?
    /// Whether trades came since the last `takeTickerChange()` (tickers and klines to publish).
    public private(set) var tradedSinceTick = false

    /// A symbol whose book is empty at update id `updateID`.
    public init(updateID: UInt64) {
        book = DepthBook(updateID: updateID)
        diffs = [.fast: DepthDiffChain(after: updateID), .slow: DepthDiffChain(after: updateID)]
        var series: [KlineInterval: CandleSeries] = [:]
        for interval in KlineInterval.allCases {
            series[interval] = CandleSeries(interval: interval, capacity: interval == .oneMinute ? Self.minuteCapacity : Self.candleCapacity)
        }
        self.series = series
    }

    /// A symbol restored from a snapshot's book at update id `updateID`.
    public init(updateID: UInt64, bids: [DepthBook.Level], asks: [DepthBook.Level]) {
        self.init(updateID: updateID)
        for level in bids { book.set(side: .buy, priceTicks: level.priceTicks, lots: level.lots, updateID: updateID) }
        for level in asks { book.set(side: .sell, priceTicks: level.priceTicks, lots: level.lots, updateID: updateID) }
    }

    /// Applies this symbol's events of one output entry (its input position `updateID`,
    /// appended at `timeMilliseconds`).
    public mutating func apply(_ events: [MatchingEvent], updateID: UInt64, timeMilliseconds: Int64) -> Change {
        var change = Change()
        let bestBefore = (book.best(.buy), book.best(.sell))
        var executed: [TradeExecuted] = []
        for event in events {
            switch event {
            case .traded(let trade): executed.append(trade)
            case .levelChanged(let level):
                book.set(side: level.side, priceTicks: level.price.ticks, lots: level.totalQuantity.lots, updateID: updateID)
                for speed in DepthSpeed.allCases {
                    diffs[speed]!.record(side: level.side, priceTicks: level.price.ticks, lots: level.totalQuantity.lots, updateID: updateID)
                }
                change.depthChanged = true
            default: continue
            }
        }
        if !executed.isEmpty {
            let time = max(timeMilliseconds, lastTrade?.timeMilliseconds ?? .min)
            change.trades = executed.map { MarketTrade($0, timeMilliseconds: time) }
            change.aggregates = AggregateTrade.aggregating(executed, timeMilliseconds: time)
            record(change.trades, aggregates: change.aggregates)
        }
        change.bestChanged = change.depthChanged && (book.best(.buy), book.best(.sell)) != bestBefore
        return change
    }

    /// Records trades from before the book's snapshot (warming up tickers and candles): the
    /// book and its diffs are untouched.
    public mutating func replayTrades(_ trades: [TradeExecuted], timeMilliseconds: Int64) {
        let time = max(timeMilliseconds, lastTrade?.timeMilliseconds ?? .min)
        record(trades.map { MarketTrade($0, timeMilliseconds: time) }, aggregates: AggregateTrade.aggregating(trades, timeMilliseconds: time))
    }

    private mutating func record(_ trades: [MarketTrade], aggregates: [AggregateTrade]) {
        for trade in trades {
            recentTrades.append(trade)
            for interval in KlineInterval.allCases { series[interval]!.add(trade) }
        }
        for aggregate in aggregates { recentAggregates.append(aggregate) }
        lastTrade = trades.last ?? lastTrade
        tradedSinceTick = tradedSinceTick || !trades.isEmpty
    }

    /// The diff accumulated for `speed` since its last publication, if any.
    public mutating func publishDiff(_ speed: DepthSpeed) -> DepthDiffChain.Diff? { diffs[speed]!.publish() }

    /// Whether trades came since the last call (and resets the flag).
    public mutating func takeTickerChange() -> Bool {
        defer { tradedSinceTick = false }
        return tradedSinceTick
    }

    /// The rolling 24-hour statistics at `now` (ms).
    public func ticker(now: Int64) -> TickerStatistics {
        TickerStatistics(minutes: series[.oneMinute]!, lastTrade: lastTrade, now: now)
    }
}
