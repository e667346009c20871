import ExchangeCore

/// Durations counted in fixed buckets, the way a Prometheus histogram exports them: what a
/// replica reports of its steps, so an operator sees where a primary's time goes (applying, or
/// the round trips of its appends) without a profiler.
public struct DurationHistogram: Sendable, Equatable {
    /// Bucket upper bounds in microseconds, increasing. A duration lands in the first bucket
    /// whose bound it does not exceed, or in the last one (+Inf) if it exceeds them all.
    public static let boundsMicroseconds: [UInt64] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000]

    /// Durations per bucket, not cumulative: one per bound, then the +Inf bucket.
    public private(set) var counts = [UInt64](repeating: 0, count: boundsMicroseconds.count + 1)
    /// The sum of every duration recorded, in microseconds (negative ones count as 0).
    public private(set) var sumMicroseconds: UInt64 = 0

    public init() {}

    /// Durations recorded.
    public var count: UInt64 { counts.reduce(0, &+) }

    public mutating func record(_ duration: Duration) {
        let microseconds = UInt64(max(0, duration.wholeMicroseconds))
        counts[Self.boundsMicroseconds.firstIndex { microseconds <= $0 } ?? Self.boundsMicroseconds.count] &+= 1
        sumMicroseconds &+= microseconds
    }

    /// Prometheus text lines of histogram `name` (in seconds) with `labels` (`key="value",...`):
    /// its TYPE, the cumulative buckets, the sum and the count.
    public func prometheusLines(name: String, labels: String) -> [String] {
        var lines = ["# TYPE \(name) histogram"]
        var cumulative: UInt64 = 0
        for (bound, count) in zip(Self.boundsMicroseconds.map(Self.seconds) + ["+Inf"], counts) {
            cumulative &+= count
            lines.append("\(name)_bucket{\(labels),le=\"\(bound)\"} \(cumulative)")
        }
        lines.append("\(name)_sum{\(labels)} \(Self.seconds(sumMicroseconds))")
        lines.append("\(name)_count{\(labels)} \(cumulative)")
        return lines
    }

    /// `microseconds` as decimal seconds, exactly (no binary floating point): 2500 -> "0.0025".
    static func seconds(_ microseconds: UInt64) -> String {
        let fraction = String(microseconds % 1_000_000)
        let digits = String(repeating: "0", count: 6 - fraction.count) + fraction
        let trimmed = digits.reversed().drop { $0 == "0" }.reversed()
        return "\(microseconds / 1_000_000)" + (trimmed.isEmpty ? "" : "." + String(trimmed))
    }
}
