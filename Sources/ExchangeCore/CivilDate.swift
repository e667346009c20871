/// Proleptic Gregorian calendar arithmetic on day numbers since 1970-01-01 (UTC), and the
/// ISO 8601 text of an instant. Pure integer arithmetic, valid for any Int64 day number whose
/// year fits.
public enum CivilDate {
    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number since 1970-01-01 (`civil_from_days`).
    public static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
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

    /// `2026-12-05T19:50:32.123Z` for `milliseconds` since 1970-01-01T00:00:00Z.
    public static func iso8601(milliseconds: Int64) -> String {
        let dayMilliseconds: Int64 = 86_400_000
        let quotient = milliseconds / dayMilliseconds
        let day = milliseconds % dayMilliseconds < 0 ? quotient - 1 : quotient
        let within = milliseconds - day * dayMilliseconds
        let (year, month, dayOfMonth) = civil(days: day)
        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(dayOfMonth, 2))T\(padded(within / 3_600_000, 2)):"
            + "\(padded(within / 60_000 % 60, 2)):\(padded(within / 1_000 % 60, 2)).\(padded(within % 1_000, 3))Z"
    }
}
