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
/// Appends to one target from one source are in source order: one call per batch, and a
/// batch starts only when the previous one is acknowledged.
public struct OrderPathRelay: Sendable {
    public let client: RedisClient
    /// Source output entries read per step.
    public var pageEntries = 500

    public init(client: RedisClient) { self.client = client }

    static func checkpointKey(_ keys: ReplicaLogKeys) -> String { "relay:\(keys.prefix)" }

    /// The sources whose output log has entries after the relay's checkpoint.
    public func sourcesBehind() async throws -> [ReplicaLogKeys] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        var behind: [ReplicaLogKeys] = []
        for source in Self.sources(of: map) where try await !page(of: source, count: 1).isEmpty { behind.append(source) }
        return behind
    }

    /// The logs the relay reads: every partition's and shard's output log.
    static func sources(of map: ClusterMap) -> [ReplicaLogKeys] {
        (0..<PartitionID(map.partitionCount)).map(ReplicaLogKeys.clearingPartition) + map.shards.map { .matchingShard($0.id) }
    }

    /// Relays until cancelled. It waits for output with `XREAD BLOCK` on every source at once
    /// (on a connection of its own, up to `block`), so it moves an entry as soon as it is
    /// appended and costs nothing when idle. Checkpoints are read once and then kept in
    /// memory (read again after a Redis error); the cluster map is read again every
    /// `mapRefresh`, to follow added shards.
    public func run(block: Duration = .milliseconds(100), mapRefresh: Duration = .seconds(1), log: @Sendable (String) -> Void = { _ in }) async throws {
        let waitClient = RedisClient(configuration: client.configuration)
        defer { waitClient.shutdown() }
        var placements: [String: ShardID] = [:]
        var checkpoints: [ReplicaLogKeys: StreamID] = [:]
        var map: (map: ClusterMap, readAt: ContinuousClock.Instant)?
        while !Task.isCancelled {
            do {
                if map == nil || map!.readAt.duration(to: .now) >= mapRefresh {
                    guard let loaded = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
                    map = (loaded, .now)
                }
                let sources = Self.sources(of: map!.map)
                for source in sources where checkpoints[source] == nil { checkpoints[source] = try await checkpoint(of: source) }
                let pages = try await ReplicaLogStore.awaitOutputs(
                    sources.map { ($0, checkpoints[$0]!) }, count: pageEntries, block: block, on: waitClient)
                guard !pages.isEmpty else { continue }
                try await relay(pages, map: map!.map, placements: &placements)
                for (source, entries) in pages { if let last = entries.last { checkpoints[source] = last.id } }
            } catch let error as RedisError {
                log("relay: \(error)")
                checkpoints = [:]
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Relays output entries of several sources: every append at once (they share one
    /// pipeline), then the checkpoints of all sources in one `MSET`.
    func relay(_ pages: [ReplicaLogKeys: [OutputEntry]], map: ClusterMap, placements: inout [String: ShardID]) async throws {
        var appends: [(producer: String, targets: [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])])] = []
        for (source, entries) in pages.sorted(by: { $0.key.prefix < $1.key.prefix }) where !entries.isEmpty {
            if let partition = map.partitionID(of: source) {
                appends.append(("clr-\(partition)", try await clearingTargets(entries, partition: partition, map: map, placements: &placements)))
            } else if let shard = map.shardID(of: source) {
                appends.append(("me-\(shard)", try shardTargets(entries, shard: shard, map: map)))
            }
        }
        let client = self.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (producer, targets) in appends {
                for (keys, batch) in targets where !batch.payloads.isEmpty {
                    group.addTask {
                        _ = try await ReplicaLogStore(keys: keys, client: client).appendInput(batch.payloads, tags: batch.tags, producer: producer)
                    }
                }
            }
            try await group.waitForAll()
        }
        let advanced = pages.compactMap { source, entries in entries.last.map { [Self.checkpointKey(source), $0.id.description] } }
        if !advanced.isEmpty { _ = try await client.send(["MSET"] + advanced.joined()) }
    }

    /// The relay's checkpoint of `source`: the last output stream id it relayed.
    func checkpoint(of source: ReplicaLogKeys) async throws -> StreamID {
        try await client.send(["GET", Self.checkpointKey(source)]).string.flatMap(StreamID.init) ?? .zero
    }

    /// Output entries of `keys` after the checkpoint.
    func page(of keys: ReplicaLogKeys, count: Int? = nil) async throws -> [OutputEntry] {
        try await ReplicaLogStore(keys: keys, client: client).readOutputs(after: checkpoint(of: keys), count: count ?? pageEntries)
    }

    /// Where a partition's output entries go: forwarded orders to their shards, and ends of
    /// orders for symbols no shard holds back to the users' partitions.
    func clearingTargets(
        _ entries: [OutputEntry], partition: PartitionID, map: ClusterMap, placements: inout [String: ShardID]
    ) async throws -> [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])] {
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
        return targets
    }

    /// Where a shard's output entries go: trade legs, order ends and amends to the clearing
    /// partitions of the users concerned.
    func shardTargets(_ entries: [OutputEntry], shard: ShardID, map: ClusterMap) throws -> [ReplicaLogKeys: (payloads: [[UInt8]], tags: [String])] {
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
        return targets
    }
}

extension ClusterMap {
    /// The partition whose keys `keys` are, if any.
    func partitionID(of keys: ReplicaLogKeys) -> PartitionID? {
        (0..<PartitionID(partitionCount)).first { ReplicaLogKeys.clearingPartition($0) == keys }
    }

    /// The shard whose keys `keys` are, if any.
    func shardID(of keys: ReplicaLogKeys) -> ShardID? {
        shards.map(\.id).first { ReplicaLogKeys.matchingShard($0) == keys }
    }
}
