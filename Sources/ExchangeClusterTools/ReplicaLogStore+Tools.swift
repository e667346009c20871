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

    /// Waits until every log in `logs` has emitted the outputs of its whole input log, or `timeout`.
    static func waitUntilCaughtUp(_ logs: [ReplicaLogKeys], client: RedisClient, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var complete = true
            for keys in logs where try await !ReplicaLogStore(keys: keys, client: client).isCaughtUp() { complete = false }
            if complete { return }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
