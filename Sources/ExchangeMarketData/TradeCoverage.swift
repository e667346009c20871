/// Since when a market-data instance holds every trade of a symbol: candles opening earlier
/// (or dropped from its rings) come from the recorded history instead.
public struct TradeCoverage: Sendable, Hashable {
    /// Milliseconds since the Unix epoch.
    public var since: Int64
    /// Whether trades before `since` exist that memory lacks (a warm-up from a snapshot that
    /// began within the history): then the candle holding `since` is partial. False when
    /// `since` is the first trade of the log or of the symbol.
    public var startsMidHistory: Bool

    public init(since: Int64, startsMidHistory: Bool) {
        self.since = since
        self.startsMidHistory = startsMidHistory
    }

    /// The open time of the first candle of `series` that memory holds whole.
    public func firstWholeCandle(of series: CandleSeries) -> Int64 {
        let interval = series.interval
        var boundary = interval.openTime(containing: since)
        if startsMidHistory, boundary < since { boundary = interval.nextOpenTime(after: boundary) }
        if series.candles.hasDropped, let first = series.candles.first { boundary = max(boundary, first.openTime) }
        return boundary
    }
}
