import ExchangeCore
import ExchangeMarketData
import Logging
import PostgresNIO

/// What a market-data instance no longer (or never) held in memory, from the trades the
/// recorder wrote (`exchange_order.trades`, with their `time_ms`): candles by the same UTC
/// alignment as `KlineInterval`, and aggregate trades by the same grouping as the live ones.
struct TradeHistory: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    /// The SQL bucket of `time_ms` for `interval` (its candle's open time).
    static func bucket(_ interval: KlineInterval) -> String {
        switch interval {
        case .oneWeek:
            let week = 7 * KlineInterval.dayMilliseconds, shift = 3 * KlineInterval.dayMilliseconds
            return "(((time_ms + \(shift)) / \(week)) * \(week) - \(shift))"
        case .oneMonth:
            return "(extract(epoch FROM date_trunc('month', to_timestamp(time_ms / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint"
        default:
            let length = interval.fixedMilliseconds!
            return "((time_ms / \(length)) * \(length))"
        }
    }

    /// Up to `limit` candles of `symbol` opening in `from...to` and before `before`: the
    /// oldest ones when `from` is given, else the newest; oldest first.
    func candles(symbol: String, interval: KlineInterval, from: Int64?, to: Int64?, before: Int64, limit: Int) async throws -> [Candle] {
        let bucket = Self.bucket(interval)
        let ascending = from != nil
        let query: PostgresQuery = """
            SELECT b, (array_agg(price_ticks ORDER BY trade_id))[1], max(price_ticks), min(price_ticks),
                   (array_agg(price_ticks ORDER BY trade_id DESC))[1], sum(quantity_lots)::text,
                   sum(price_ticks::numeric * quantity_lots)::text, count(*),
                   sum(CASE WHEN taker_side = 'buy' THEN quantity_lots ELSE 0 END)::text,
                   sum(CASE WHEN taker_side = 'buy' THEN price_ticks::numeric * quantity_lots ELSE 0 END)::text,
                   min(trade_id), max(trade_id)
            FROM (SELECT *, \(unescaped: bucket) AS b FROM exchange_order.trades
                  WHERE symbol = \(symbol) AND time_ms > 0 AND time_ms < \(before)) AS t
            WHERE b >= \(from ?? 0) AND b <= \(to ?? Int64.max) AND b < \(before)
            GROUP BY b ORDER BY b \(unescaped: ascending ? "ASC" : "DESC") LIMIT \(limit)
            """
        var candles: [Candle] = []
        let rows = try await postgres.query(query, logger: logger)
        for try await (open, first, high, low, last, volume, quote, count, takerVolume, takerQuote, firstID, lastID)
            in rows.decode((Int64, Int64, Int64, Int64, Int64, String, String, Int64, String, String, Int64, Int64).self) {
            guard let volume = Int128(volume), let quote = Int128(quote), let takerVolume = Int128(takerVolume), let takerQuote = Int128(takerQuote)
            else { throw TradeHistoryError.malformedSum(symbol) }
            candles.append(Candle(
                openTime: open, closeTime: interval.nextOpenTime(after: open) - 1, open: first, high: high, low: low, close: last,
                volumeLots: volume, quoteTickLots: quote, takerBuyLots: takerVolume, takerBuyQuoteTickLots: takerQuote, tradeCount: Int(count),
                firstTradeID: UInt64(bitPattern: firstID), lastTradeID: UInt64(bitPattern: lastID)))
        }
        return ascending ? candles : candles.reversed()
    }
}

extension TradeHistory {
    /// Trades read per query while gathering aggregates.
    static let aggregatePageTrades = 2_000

    /// Taker sides as the recorder writes them: as Swift spells them (`buy`, `sell`).
    static let recordedSides = Dictionary(uniqueKeysWithValues: OrderSide.allCases.map { ("\($0)", $0) })

    /// Up to `limit` recorded trades of `symbol` from id `fromID` on and below `before` (nil:
    /// any), oldest first.
    func trades(symbol: String, fromID: UInt64, before: UInt64?, limit: Int) async throws -> [MarketTrade] {
        try await recorded(symbol: symbol, after: Int64(clamping: fromID) - 1, below: before, from: nil, to: nil, limit: limit).map {
            MarketTrade(id: $0.tradeID, priceTicks: $0.priceTicks, lots: $0.lots, timeMilliseconds: $0.timeMilliseconds, buyerIsMaker: $0.takerSide == .sell)
        }
    }

    /// Up to `limit` recorded trades of `symbol` with ids in `after<..<below` and times in
    /// `from...to` (ms), by id.
    private func recorded(symbol: String, after: Int64, below: UInt64?, from: Int64?, to: Int64?, limit: Int) async throws -> [AggregateTrade.Member] {
        let query: PostgresQuery = """
            SELECT trade_id, taker_order_id, taker_side, price_ticks, quantity_lots, time_ms FROM exchange_order.trades
            WHERE symbol = \(symbol) AND trade_id > \(after) AND trade_id < \(below.map { Int64(clamping: $0) } ?? .max)
              AND time_ms >= \(from ?? .min) AND time_ms <= \(to ?? .max)
            ORDER BY trade_id LIMIT \(limit)
            """
        var members: [AggregateTrade.Member] = []
        for try await (id, taker, side, price, lots, time) in try await postgres.query(query, logger: logger).decode((Int64, Int64, String, Int64, Int64, Int64).self) {
            guard let side = Self.recordedSides[side] else { throw TradeHistoryError.malformedSide(symbol, side) }
            members.append(.init(
                tradeID: UInt64(bitPattern: id), takerOrderID: UInt64(bitPattern: taker), takerSide: side, priceTicks: price, lots: lots,
                timeMilliseconds: time))
        }
        return members
    }

    /// Up to `limit` aggregates of `symbol`, oldest first, from the recorded trades with ids
    /// below `before` (nil: any): those from aggregate id `fromID` on (an aggregate that began
    /// before it is left out, as Binance counts `fromId` in aggregates) and with times in
    /// `from...to` (ms).
    func aggregates(symbol: String, fromID: UInt64?, from: Int64?, to: Int64?, before: UInt64?, limit: Int) async throws -> [AggregateTrade] {
        // From the trade before `fromID`: if it belongs to the same aggregate, that one began earlier.
        var after = fromID.map { Int64(clamping: $0) - 2 } ?? -1
        var members: [AggregateTrade.Member] = []
        while true {
            let page = try await recorded(symbol: symbol, after: after, below: before, from: from, to: to, limit: Self.aggregatePageTrades)
            members += page
            after = page.last.map { Int64(bitPattern: $0.tradeID) } ?? after
            let aggregates = AggregateTrade.aggregating(members).filter { $0.id >= fromID ?? 0 }
            // One more than asked for: the last one asked for is whole.
            if aggregates.count > limit || page.count < Self.aggregatePageTrades { return Array(aggregates.prefix(limit)) }
        }
    }
}

enum TradeHistoryError: Error, CustomStringConvertible {
    case malformedSum(String)
    case malformedSide(String, String)

    var description: String {
        switch self {
        case .malformedSum(let symbol): "a trade sum of \(symbol) that is not an integer"
        case .malformedSide(let symbol, let side): "a recorded trade of \(symbol) with taker side \(side)"
        }
    }
}
