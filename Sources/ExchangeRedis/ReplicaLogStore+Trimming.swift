import ExchangeCore
import ExchangeReplication

extension ReplicaLogStore {
    /// Reports, for each log, the last output entry `consumer` has durably taken (one round
    /// trip): the primaries never trim below it.
    public static func reportConsumed(by consumer: String, _ taken: [(keys: ReplicaLogKeys, id: StreamID)], on client: RedisClient) async throws {
        guard !taken.isEmpty else { return }
        for reply in try await client.pipeline(taken.map { ["HSET", $0.keys.consumers, consumer, $0.id.description] }) {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }

    /// What each consumer reported: name → the last output entry it took.
    public func consumerPositions() async throws -> [String: StreamID] {
        let fields = try await client.send(["HGETALL", keys.consumers]).array ?? []
        var positions: [String: StreamID] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            if let name = fields[index].string, let id = fields[index + 1].string.flatMap(StreamID.init) { positions[name] = id }
        }
        return positions
    }

    /// The output entry with id `id`, if the log still holds it.
    func outputEntry(_ id: StreamID) async throws -> OutputEntry? {
        try await client.xrange(keys.output, after: id.predecessor, count: 1)
            .first.map(OutputEntry.init).flatMap { $0.id == id ? $0 : nil }
    }

    /// The first output entry answering an input after `position` (nil if none yet), by a
    /// binary search over the ids' milliseconds, then a scan within the last millisecond:
    /// output entries are appended in input order, so positions grow with ids.
    public func firstOutput(afterPosition position: LogPosition) async throws -> OutputEntry? {
        guard let first = try await readOutputs(after: .zero, count: 1).first else { return nil }
        if first.position > position { return first }
        guard let last = try await client.xrevrange(keys.output, before: nil, count: 1).first.map(OutputEntry.init),
              last.position > position else { return nil }
        // Invariant: `low` answers an input at or below `position`; every entry at or after
        // `upper` milliseconds answers one after it.
        var low = first
        var upper = last.id.milliseconds
        while upper - low.id.milliseconds > 1 {
            let middle = low.id.milliseconds + (upper - low.id.milliseconds) / 2
            guard let probe = try await readOutputs(after: StreamID(milliseconds: middle, sequence: 0).predecessor, count: 1).first else { break }
            if probe.position <= position { low = probe } else { upper = middle }
        }
        var after = low.id
        while true {
            let page = try await readOutputs(after: after, count: 512)
            if let found = page.first(where: { $0.position > position }) { return found }
            guard let end = page.last else { return nil }
            after = end.id
        }
    }

    /// Trims the input and output logs as far as `LogTrimPlan` allows, with the published
    /// snapshot at `published`: what live replicas, the consumers (all of `required` must
    /// have reported) and the retention still need stays. Returns the plan carried out. The
    /// trims do not wait for Redis's replicas: one a failover loses is redone at the next.
    @discardableResult
    public func trim(published: LogPosition, required: Set<String>, retention: Duration) async throws -> LogTrimPlan {
        var consumers: [LogTrimPlan.Consumer] = []
        for (name, taken) in try await consumerPositions() {
            consumers.append(.init(name: name, taken: taken, takenPosition: try await outputEntry(taken)?.position))
        }
        let nowMilliseconds = try await client.serverMicroseconds() / 1000
        let retentionFloor = StreamID(milliseconds: nowMilliseconds - min(nowMilliseconds, UInt64(max(0, retention.wholeMilliseconds))), sequence: 0)
        let plan = LogTrimPlan.plan(
            published: published, replicaSnapshots: try await replicaStatuses().map(\.lastSnapshotPosition), consumers: consumers,
            required: required, firstOutputAfterPublished: try await firstOutput(afterPosition: published)?.id,
            lastOutput: try await client.xrevrange(keys.output, before: nil, count: 1).first?.id, retentionFloor: retentionFloor)
        if plan.inputThrough > 0 {
            _ = try await client.xtrim(keys.input, minimumID: StreamID(milliseconds: plan.inputThrough + 1, sequence: 0), awaitingReplicas: false)
        }
        if let below = plan.outputBelow { _ = try await client.xtrim(keys.output, minimumID: below, awaitingReplicas: false) }
        return plan
    }
}

extension StreamID {
    /// The id just before this one (`XRANGE (predecessor` starts at this id).
    var predecessor: StreamID {
        if sequence > 0 { return StreamID(milliseconds: milliseconds, sequence: sequence - 1) }
        if milliseconds > 0 { return StreamID(milliseconds: milliseconds - 1, sequence: .max) }
        return self
    }
}
