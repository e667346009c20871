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
            let (year, month, _) = Self.civil(days: Self.floor(milliseconds, Self.dayMilliseconds) / Self.dayMilliseconds)
            return Self.days(year: year, month: month, day: 1) * Self.dayMilliseconds
        default:
            return Self.floor(milliseconds, fixedMilliseconds!)
        }
    }

    /// The open time of the candle after the one opening at `openTime`.
    public func nextOpenTime(after openTime: Int64) -> Int64 {
        guard self == .oneMonth else { return openTime + fixedMilliseconds! }
        let (year, month, _) = Self.civil(days: openTime / Self.dayMilliseconds)
        return Self.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) * Self.dayMilliseconds
    }

    static func floor(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor < 0 ? quotient - 1 : quotient) * divisor
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number since 1970-01-01 (`civil_from_days`).
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
