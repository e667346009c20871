/// Paces a feed at `rate` lines per second, in steps: a feeder that ran a step ahead of the
/// schedule sleeps until the line is due. Feeders append in batches of about a step anyway
/// (their linger), so sleeping per step rather than per few lines changes little in what
/// Redis sees and saves the feeder most of its wake-ups, CPU that the replicas it measures
/// share.
struct FeedPacer {
    let rate: Double
    let step: Duration
    let start = ContinuousClock.now

    init(rate: Double, step: Duration) {
        self.rate = rate
        self.step = step
    }

    /// Waits until line `line` (from 0) is due, if it is more than a step ahead.
    func pace(line: Int) async throws {
        let due = start + .seconds(Double(line) / rate)
        if due > .now + step { try await Task.sleep(until: due, clock: .continuous) }
    }
}
