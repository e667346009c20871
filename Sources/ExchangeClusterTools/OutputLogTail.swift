import ExchangeRedis
import ExchangeReplication
import Foundation
import Synchronization

/// Tails output logs while a benchmark runs and notes when each entry became readable. One
/// reader per log, each on a connection of its own (`XREAD BLOCK` holds it).
///
/// Times are microseconds since the Unix epoch on this host's clock, the clock Redis stamps
/// input entries with (field `t`) when it runs on the same host: append-to-output latencies
/// are differences of the two.
final class OutputLogTail: Sendable {
    /// One output entry: the input position it answers, when it was read, and its weight
    /// (what the benchmark counts in it, e.g. commands).
    struct Seen: Sendable {
        var position: LogPosition
        /// When Redis appended it (its time) and when this reader got it (this host's clock).
        var appendedAtMicroseconds: UInt64
        var receivedAtMicroseconds: UInt64
        var weight: Int
    }

    private let done = StopFlag()
    private let readers: [(key: String, task: Task<[Seen], any Error>)]

    /// Starts tailing each `(key, after)` output stream after stream id `after`; `weight`
    /// turns an entry's payload into its weight.
    init(endpoint: RedisEndpoint, logs: [(key: String, after: StreamID)], weight: @escaping @Sendable ([UInt8]) throws -> Int) {
        let done = self.done
        readers = logs.map { log in
            (log.key, Task {
                let reader = RedisClient(configuration: .init(endpoint: endpoint))
                defer { reader.shutdown() }
                var after = log.after
                var seen: [Seen] = []
                while !done.isSet {
                    let page = try await reader.xread([(log.key, after)], count: 2_000, block: .milliseconds(100))[log.key] ?? []
                    let receivedAt = Self.microsecondsSinceEpoch()
                    for entry in try page.map(OutputEntry.init) {
                        seen.append(Seen(
                            position: entry.position, appendedAtMicroseconds: entry.appendedAtMicroseconds, receivedAtMicroseconds: receivedAt,
                            weight: try weight(entry.payload)))
                    }
                    if let last = page.last { after = last.id }
                }
                return seen
            })
        }
    }

    /// Stops the readers once they had `grace` to catch up; returns what each log's reader saw,
    /// oldest first, by key.
    func finish(grace: Duration = .milliseconds(150)) async throws -> [String: [Seen]] {
        try await Task.sleep(for: grace)
        done.set()
        var seen: [String: [Seen]] = [:]
        for reader in readers { seen[reader.key] = try await reader.task.value }
        return seen
    }

    static func microsecondsSinceEpoch() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000_000) }
}

/// A flag one task sets and others poll.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
