import CoreMetrics
import Synchronization

/// A swift-metrics counter that follows a running total kept elsewhere (an atomic a hot path
/// already bumps, a runtime's report): `observe(total)` raises the counter by what the total
/// gained since the last observation. The hot path pays nothing for metrics.
///
/// Invariant: the counter never decreases; a total lower than the last one observed (a
/// restarted source) starts a new baseline without counting.
public final class ObservedCounter: Sendable {
    private let counter: Counter
    private let last = Mutex<UInt64?>(nil)

    /// - Parameter factory: the metrics backend; the process's bootstrapped one by default.
    public init(label: String, dimensions: [(String, String)] = [], factory: any MetricsFactory = MetricsSystem.factory) {
        counter = Counter(label: label, dimensions: dimensions, factory: factory)
    }

    /// Raises the counter to follow `total`. The first observation counts it all.
    public func observe(_ total: UInt64) {
        let gained = last.withLock { last -> UInt64 in
            defer { last = total }
            guard let previous = last else { return total }
            return total > previous ? total - previous : 0
        }
        if gained > 0 { counter.increment(by: Int64(clamping: gained)) }
    }
}
