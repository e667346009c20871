/// A symbol's rolling 24-hour statistics, Binance's `ticker/24hr`, computed from its
/// one-minute candles: the window is the 1,440 minutes ending with the current one (so it is
/// up to 59,999 ms longer than 24 h, as Binance documents for its own rolling windows).
///
/// Units: prices in ticks, volumes in lots, quote volume in tick·lots, times in ms.
public struct TickerStatistics: Sendable, Hashable {
    public static let windowMinutes: Int64 = 1_440

    /// The window's trades as one candle; nil when the window has no trade.
    public var window: Candle?
    /// The last trade's price and quantity (possibly older than the window); 0 before any trade.
    public var lastPriceTicks: Int64
    public var lastLots: Int64
    /// The close of the last minute before the window (0 if unknown).
    public var previousCloseTicks: Int64
    /// The window's first millisecond and `now`.
    public var openTime: Int64
    public var closeTime: Int64

    /// The statistics at `now` from `minutes` (a one-minute series covering at least the
    /// window and, for `previousCloseTicks`, one minute before it) and the symbol's last trade.
    public init(minutes: CandleSeries, lastTrade: MarketTrade?, now: Int64) {
        precondition(minutes.interval == .oneMinute)
        closeTime = now
        openTime = KlineInterval.oneMinute.openTime(containing: now) - (Self.windowMinutes - 1) * KlineInterval.minuteMilliseconds
        lastPriceTicks = lastTrade?.priceTicks ?? 0
        lastLots = lastTrade?.lots ?? 0
        previousCloseTicks = 0
        window = nil
        for candle in minutes.candles {
            if candle.openTime < openTime {
                previousCloseTicks = candle.close
            } else if window == nil {
                window = candle
            } else {
                window!.absorb(candle)
            }
        }
    }

    public var openTicks: Int64 { window?.open ?? lastPriceTicks }
    public var highTicks: Int64 { window?.high ?? lastPriceTicks }
    public var lowTicks: Int64 { window?.low ?? lastPriceTicks }
    public var volumeLots: Int128 { window?.volumeLots ?? 0 }
    public var quoteTickLots: Int128 { window?.quoteTickLots ?? 0 }
    public var tradeCount: Int { window?.tradeCount ?? 0 }
    /// The window's first and last trade ids, -1 without trades (Binance's convention).
    public var firstTradeID: Int64 { window.map { Int64($0.firstTradeID) } ?? -1 }
    public var lastTradeID: Int64 { window.map { Int64($0.lastTradeID) } ?? -1 }
    public var priceChangeTicks: Int64 { lastPriceTicks - openTicks }

    /// The price change in percent with 3 decimals, as `units × 10^-3`, truncated toward zero;
    /// 0 when the open is 0.
    public var priceChangePercentThousandths: Int128 {
        guard openTicks != 0 else { return 0 }
        return Int128(priceChangeTicks) * 100_000 / Int128(openTicks)
    }

    /// The volume-weighted average price in ticks × 10^-`digits`, truncated; 0 without volume,
    /// nil if the scaled quote volume exceeds 128 bits.
    public func weightedAveragePrice(digits: Int) -> Int128? {
        guard volumeLots > 0 else { return 0 }
        var scaled = quoteTickLots
        for _ in 0..<digits {
            let (product, overflow) = scaled.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            scaled = product
        }
        return scaled / volumeLots
    }
}
