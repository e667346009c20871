import ExchangeClearing
import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderPath
import ExchangeRedis
import ExchangeReplication

/// `exchange relay`: carries the order path between logs. Clearing partitions' forwarded
/// orders go to their shards' input logs; shards' trades, order ends and amends go to the
/// clearing logs of the users concerned (`OrderPathRouting` decides what goes where).
///
/// Exactly once: every append is tagged with its source entry's input position under the
/// source's producer name (`clr-P`, `me-S`), so the target log skips a repeat; clearing
/// inputs also carry (producer, position) and clearing drops repeats itself. A checkpoint per
/// source (`relay:SOURCE`, the last output stream id relayed) is advanced after the appends,
/// so a restarted relay, or two relays at once, only repeat work, never lose or double it.
public struct OrderPathRelay: Sendable {
    public let client: RedisClient
    /// Source output entries read per step.
    public var pageEntries = 500

    public init(client: RedisClient) { self.client = client }

    static func checkpointKey(_ keys: ReplicaLogKeys) -> String { "relay:\(keys.prefix)" }

    /// The sources whose output log has entries after the relay's checkpoint.
    public func sourcesBehind() async throws -> [ReplicaLogKeys] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let sources = (0..<PartitionID(map.partitionCount)).map(ReplicaLogKeys.clearingPartition) + map.shards.map { .matchingShard($0.id) }
        var behind: [ReplicaLogKeys] = []
        for source in sources where try await !page(of: source, count: 1).isEmpty { behind.append(source) }
        return behind
    }

    /// Relays until cancelled; idles `pause` when there was nothing to move.
    public func run(pause: Duration = .milliseconds(1), log: @Sendable (String) -> Void = { _ in }) async throws {
        var placements: [String: ShardID] = [:]
        while !Task.isCancelled {
            let moved: Int
            do {
                moved = try await step(placements: &placements)
            } catch let error as RedisError {
                log("relay: \(error)")
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            if moved == 0 { try await Task.sleep(for: pause) }
        }
    }

    /// One pass over every source; returns how many source entries it relayed.
    public func step(placements: inout [String: ShardID]) async throws -> Int {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        var moved = 0
        for partition in 0..<PartitionID(map.partitionCount) {
            moved += try await relayClearing(partition, map: map, placements: &placements)
        }
        for shard in map.shards.map(\.id) {
            moved += try await relayShard(shard, map: map)
        }
        return moved
    }

    /// Output entries of `keys` after the checkpoint.
    func page(of keys: ReplicaLogKeys, count: Int? = nil) async throws -> [(id: StreamID, position: LogPosition, epoch: Epoch, payload: [UInt8])] {
        let checkpoint = try await client.send(["GET", Self.checkpointKey(keys)]).string.flatMap(StreamID.init) ?? .zero
        return try await ReplicaLogStore(keys: keys, client: client).readOutputs(after: checkpoint, count: count ?? pageEntries)
    }

    func advance(_ keys: ReplicaLogKeys, to id: StreamID) async throws {
        _ = try await client.send(["SET", Self.checkpointKey(keys), id.description])
    }

    /// Appends per-target payloads, each tagged with its source position, in target order.
    func append(_ payloads: [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])], producer: String) async throws {
        for (keys, batch) in payloads.sorted(by: { $0.key.prefix < $1.key.prefix }) where !batch.payloads.isEmpty {
            _ = try await ReplicaLogStore(keys: keys, client: client).appendInput(batch.payloads, tags: batch.tags, producer: producer)
        }
    }

    func relayClearing(_ partition: PartitionID, map: ClusterMap, placements: inout [String: ShardID]) async throws -> Int {
        let source = ReplicaLogKeys.clearingPartition(partition)
        let entries = try await page(of: source)
        guard let last = entries.last else { return 0 }
        let producer = "clr-\(partition)"
        var targets: [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])] = [:]
        for entry in entries {
            let events = try ClearingLogCodec.decodeEvents(entry.payload)
            var routed = OrderPathRouting.shardCommands(of: events) { placements[$0] }
            if !routed.unroutable.isEmpty {
                // A symbol registered since the cache was filled: refresh once.
                placements = try await SymbolRegistry(client: client).all().mapValues(\.shard)
                routed = OrderPathRouting.shardCommands(of: events) { placements[$0] }
            }
            for (shard, batch) in routed.batches {
                targets[.matchingShard(shard), default: ([], [])].payloads.append(batch.input.encoded())
                targets[.matchingShard(shard), default: ([], [])].tags.append(String(entry.position))
            }
            let ends = OrderPathRouting.unroutableEnds(routed.unroutable) { map.partition(for: $0) }
            for (target, commands) in ends {
                let input = ClearingInput(producer: ProducerID(producer), position: entry.position, commands: commands)
                targets[.clearingPartition(target), default: ([], [])].payloads.append(ClearingLogCodec.encode(input))
                targets[.clearingPartition(target), default: ([], [])].tags.append(String(entry.position))
            }
        }
        try await append(targets, producer: producer)
        try await advance(source, to: last.id)
        return entries.count
    }

    func relayShard(_ shard: ShardID, map: ClusterMap) async throws -> Int {
        let source = ReplicaLogKeys.matchingShard(shard)
        let entries = try await page(of: source)
        guard let last = entries.last else { return 0 }
        let producer = "me-\(shard)"
        var targets: [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])] = [:]
        for entry in entries {
            let outcomes = try ShardOutput.decode(entry.payload)
            for (partition, commands) in OrderPathRouting.clearingCommands(of: outcomes, partitionOf: { map.partition(for: $0) }) {
                let input = ClearingInput(producer: ProducerID(producer), position: entry.position, commands: commands)
                targets[.clearingPartition(partition), default: ([], [])].payloads.append(ClearingLogCodec.encode(input))
                targets[.clearingPartition(partition), default: ([], [])].tags.append(String(entry.position))
            }
        }
        try await append(targets, producer: producer)
        try await advance(source, to: last.id)
        return entries.count
    }
}
