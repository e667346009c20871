import ExchangeCore

/// A candle interval, as Binance names it (`1m` … `1M`).
///
/// Candles are aligned in UTC: fixed intervals on multiples of their length since the Unix
/// epoch, weeks on Mondays 00:00, months on the first of the month 00:00.
public enum KlineInterval: String, CaseIterable, Sendable, Hashable {
    case oneMinute = "1m", threeMinutes = "3m", fiveMinutes = "5m", fifteenMinutes = "15m", thirtyMinutes = "30m"
    case oneHour = "1h", twoHours = "2h", fourHours = "4h", sixHours = "6h", eightHours = "8h", twelveHours = "12h"
    case oneDay = "1d", threeDays = "3d", oneWeek = "1w", oneMonth = "1M"

    public static let minuteMilliseconds: Int64 = 60_000
    public static let dayMilliseconds: Int64 = 86_400_000

    /// The length of a fixed interval in milliseconds; nil for months.
    public var fixedMilliseconds: Int64? {
        let minutes: Int64
        switch self {
        case .oneMinute: minutes = 1
        case .threeMinutes: minutes = 3
        case .fiveMinutes: minutes = 5
        case .fifteenMinutes: minutes = 15
        case .thirtyMinutes: minutes = 30
        case .oneHour: minutes = 60
        case .twoHours: minutes = 120
        case .fourHours: minutes = 240
        case .sixHours: minutes = 360
        case .eightHours: minutes = 480
        case .twelveHours: minutes = 720
        case .oneDay: minutes = 1_440
        case .threeDays: minutes = 4_320
        case .oneWeek: minutes = 10_080
        case .oneMonth: return nil
        }
        return minutes * Self.minuteMilliseconds
    }

    /// The open time (ms since the Unix epoch) of the candle holding `milliseconds`.
    public func openTime(containing milliseconds: Int64) -> Int64 {
        switch self {
        case .oneWeek:
            // The epoch was a Thursday: Mondays are 3 days before a multiple of 7 days.
            let week = 7 * Self.dayMilliseconds, shift = 3 * Self.dayMilliseconds
            return Self.floor(milliseconds + shift, week) - shift
        case .oneMonth:
            let (year, month, _) = CivilDate.civil(days: Self.floor(milliseconds, Self.dayMilliseconds) / Self.dayMilliseconds)
            return CivilDate.days(year: year, month: month, day: 1) * Self.dayMilliseconds
        default:
            return Self.floor(milliseconds, fixedMilliseconds!)
        }
    }

    /// The open time of the candle after the one opening at `openTime`.
    public func nextOpenTime(after openTime: Int64) -> Int64 {
        guard self == .oneMonth else { return openTime + fixedMilliseconds! }
        let (year, month, _) = CivilDate.civil(days: openTime / Self.dayMilliseconds)
        return CivilDate.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) * Self.dayMilliseconds
    }

    static func floor(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor < 0 ? quotient - 1 : quotient) * divisor
    }
}
