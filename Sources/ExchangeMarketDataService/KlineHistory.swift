import ExchangeMarketData
import Logging
import PostgresNIO

/// Candles older than what a market-data instance holds in memory, aggregated from the
/// trades the recorder wrote (`exchange_order.trades`, with their `time_ms`) by the same
/// UTC alignment as `KlineInterval`.
struct KlineHistory: Sendable {
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
            else { throw KlineHistoryError.malformedSum(symbol) }
            candles.append(Candle(
                openTime: open, closeTime: interval.nextOpenTime(after: open) - 1, open: first, high: high, low: low, close: last,
                volumeLots: volume, quoteTickLots: quote, takerBuyLots: takerVolume, takerBuyQuoteTickLots: takerQuote, tradeCount: Int(count),
                firstTradeID: UInt64(bitPattern: firstID), lastTradeID: UInt64(bitPattern: lastID)))
        }
        return ascending ? candles : candles.reversed()
    }
}

enum KlineHistoryError: Error, CustomStringConvertible {
    case malformedSum(String)

    var description: String {
        switch self {
        case .malformedSum(let symbol): "a trade sum of \(symbol) that is not an integer"
        }
    }
}
