import ExchangeRedis
import ExchangeReplication

extension ReplicaLogStore {
    /// Every input entry after `after`, oldest first (tools only: O(log size) memory).
    func allTaggedInput(after: LogPosition = 0) async throws -> [TaggedInputEntry] {
        var entries: [TaggedInputEntry] = []
        var after = after
        while true {
            let page = try await readTaggedInput(after: after, count: 5_000)
            guard let last = page.last else { return entries }
            entries += page
            after = last.entry.position
        }
    }

    /// Whether the output watermark has reached the end of the input log.
    func isCaughtUp() async throws -> Bool {
        try await observe().watermark >= inputLength()
    }

    /// The stream id of the last output entry, `.zero` if none.
    func lastOutputID() async throws -> StreamID {
        try await client.xrevrange(keys.output, before: nil, count: 1).first?.id ?? .zero
    }

    /// Waits until every log in `logs` has emitted the outputs of its whole input log, seen
    /// in `pollsInARow` polls in a row; throws `CaughtUpTimeout` after `timeout`.
    ///
    /// More than one poll in a row when primaries forward along the order path: a log caught
    /// up has grown its targets already, but one poll can read a target before it grew.
    static func waitUntilCaughtUp(_ logs: [ReplicaLogKeys], client: RedisClient, timeout: Duration, pollsInARow: Int = 1) async throws {
        let deadline = ContinuousClock.now + timeout
        var streak = 0
        while streak < pollsInARow {
            guard ContinuousClock.now < deadline else { throw CaughtUpTimeout(timeout: timeout) }
            var complete = true
            for keys in logs where complete { complete = try await ReplicaLogStore(keys: keys, client: client).isCaughtUp() }
            streak = complete ? streak + 1 : 0
            if streak < pollsInARow { try await Task.sleep(for: .milliseconds(2)) }
        }
    }
}

/// Logs still moving after a wait's timeout (are their replicas running?).
public struct CaughtUpTimeout: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "the logs were still moving after \(timeout) (are their replicas running?)" }
}
