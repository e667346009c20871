/// Latency percentiles per interval of a run, for a latency-over-time plot: where a tail comes
/// from (a steady spread, or stalls at some rhythm) shows there and not in one distribution.
public enum LatencyOverTime {
    /// One measured entry: when it was appended (µs, any origin), its latency (µs) and how many
    /// commands it stands for.
    public struct Sample: Sendable, Equatable {
        public var appendedAt: UInt64
        public var latency: UInt64
        public var weight: Int

        public init(appendedAt: UInt64, latency: UInt64, weight: Int) {
            self.appendedAt = appendedAt
            self.latency = latency
            self.weight = weight
        }
    }

    /// Percentiles of one interval in µs, each command weighing once; all 0 for an interval
    /// with no samples.
    public struct Window: Sendable, Equatable {
        public var p50: UInt64
        public var p99: UInt64
        public var max: UInt64

        public init(p50: UInt64, p99: UInt64, max: UInt64) {
            self.p50 = p50
            self.p99 = p99
            self.max = max
        }
    }

    /// Windows of `interval` µs from the earliest append, through the latest.
    public static func windows(_ samples: [Sample], interval: UInt64) -> [Window] {
        precondition(interval > 0, "interval must be positive")
        guard let origin = samples.map(\.appendedAt).min() else { return [] }
        var byWindow: [[(latency: UInt64, weight: Int)]] = []
        for sample in samples where sample.weight > 0 {
            let index = Int((sample.appendedAt - origin) / interval)
            if index >= byWindow.count { byWindow.append(contentsOf: repeatElement([], count: index + 1 - byWindow.count)) }
            byWindow[index].append((sample.latency, sample.weight))
        }
        return byWindow.map { entries in
            let sorted = entries.sorted { $0.latency < $1.latency }
            let total = sorted.reduce(0) { $0 + $1.weight }
            /// The latency below which at least `fraction` of the commands lie.
            func percentile(_ fraction: Double) -> UInt64 {
                let rank = Swift.max(1, Int((Double(total) * fraction).rounded(.up)))
                var seen = 0
                for entry in sorted {
                    seen += entry.weight
                    if seen >= rank { return entry.latency }
                }
                return 0
            }
            return Window(p50: percentile(0.5), p99: percentile(0.99), max: sorted.last?.latency ?? 0)
        }
    }
}
