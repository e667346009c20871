import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderPath
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import Synchronization

/// The order path between logs, run by each primary on its own outputs (see
/// `OutputForwarder`): a clearing partition's forwarded orders go to their shards' input
/// logs; a shard's trades, order ends and amends go to the clearing logs of the users
/// concerned. `OrderPathRouting` decides what goes where.
///
/// Exactly once: every append is tagged with its source output's input position under the
/// source's producer name (`clr-P`, `me-S`), so the target log skips a repeat; clearing
/// inputs also carry (producer, position) and clearing drops repeats itself. Appends to one
/// target from one source are in source order: one call per batch, and the runtime starts a
/// batch only when the previous one was acknowledged.
///
/// Routing reads the cluster map and the symbol registry (cached; a symbol the cache does not
/// know is looked up again once, and the registry's version is checked at most every
/// `placementCheckInterval`, so a moved symbol is followed within that). A command routed to
/// a shard its symbol just left is refused there (`symbolMoved`), never lost.
///
/// A shard's handed-over book goes to its new owner with `SymbolRegistry.placeTakeOver`
/// (exactly once per hand-over, tagged with its position), which also places the symbol there.
/// The hand-over's output entry then keeps the book out (an empty block): the new owner's
/// input log holds it, and the old owner's output log is read by every clearing replica, the
/// recorder, the gateways and market data, none of which use it (a 100,000-order book is
/// 1.2 MB, which each of them read at the moment of the move).
public final class OrderPathForwarder: OutputForwarder {
    /// How stale the placements a partition routes by may be.
    static let placementCheckInterval: Duration = .milliseconds(2)

    /// Whose outputs this forwarder carries.
    public enum Source: Sendable, Equatable {
        case clearingPartition(PartitionID)
        case matchingShard(ShardID)
    }

    public let source: Source
    let client: RedisClient
    private let cache = Mutex<(map: ClusterMap?, placements: [String: ShardID])>((nil, [:]))
    /// The registry version the placements were read at, and when it was last checked.
    private let placementsChecked = Mutex<(version: UInt64, at: ContinuousClock.Instant)?>(nil)

    public init(source: Source, client: RedisClient) {
        self.source = source
        self.client = client
    }

    /// The producer name of this source's appends.
    var producer: String {
        switch source {
        case .clearingPartition(let partition): ClearingInput.partitionProducerPrefix + String(partition)
        case .matchingShard(let shard): ClearingInput.shardProducerPrefix + String(shard)
        }
    }

    /// Entries for one target log, in order, each with its tag and traces.
    struct TargetEntries {
        var payloads: [[UInt8]] = []
        var tags: [String] = []
        var traces: [EntryTraces] = []

        /// Appends an entry forwarded from `output`, carrying the traces of the orders of
        /// `commands` (read only when `output` has traces).
        mutating func append<Command>(_ payload: [UInt8], from output: EmittedOutput, commands: [Command], orderID: (Command) -> OrderID?) {
            payloads.append(payload)
            tags.append(String(output.position))
            guard !output.traces.isEmpty else { return traces.append(.none) }
            let orders = Set(commands.compactMap(orderID))
            traces.append(output.traces.filter { orders.contains($0) })
        }
    }

    public func forward(_ outputs: [EmittedOutput]) async throws -> [EmittedOutput] {
        let targets: [ReplicaLogKeys: TargetEntries]
        var handOvers: [(takeOver: ShardInput.TakeOver, to: ShardID)] = []
        var logged = outputs
        switch source {
        case .clearingPartition: targets = try await clearingTargets(outputs)
        case .matchingShard(let shard): (targets, handOvers, logged) = try shardTargets(outputs, of: shard, map: try await map())
        }
        let batches = targets.filter { !$0.value.payloads.isEmpty }.map {
            ReplicaLogStore.InputBatch(keys: $0.key, payloads: $0.value.payloads, tags: $0.value.tags, traces: $0.value.traces)
        }
        if !batches.isEmpty {
            // Every target in one round trip.
            _ = try await ReplicaLogStore.appendInputs(batches, producer: producer, on: client)
        }
        for handOver in handOvers {
            _ = try await SymbolRegistry(client: client).placeTakeOver(
                handOver.takeOver, on: handOver.to, producer: producer, tag: handOver.takeOver.fromPosition)
        }
        return logged
    }

    /// The cluster map (its partition count never changes, so it is read once).
    func map() async throws -> ClusterMap {
        if let map = cache.withLock({ $0.map }) { return map }
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        cache.withLock { $0.map = map }
        return map
    }

    /// Where a partition's outputs go: forwarded orders to their shards, and ends of orders
    /// for symbols no shard holds back to the users' partitions.
    func clearingTargets(_ outputs: [EmittedOutput]) async throws -> [ReplicaLogKeys: TargetEntries] {
        let map = try await map()
        var placements = try await currentPlacements()
        var targets: [ReplicaLogKeys: TargetEntries] = [:]
        for output in outputs {
            let events = try ClearingLogCodec.decodeEvents(output.payload)
            var routed = OrderPathRouting.shardCommands(of: events) { placements[$0] }
            if !routed.unroutable.isEmpty {
                // A symbol registered since the cache was filled: read the registry once.
                placements = try await reloadPlacements()
                routed = OrderPathRouting.shardCommands(of: events) { placements[$0] }
            }
            for (shard, batch) in routed.batches {
                targets[.matchingShard(shard), default: TargetEntries()].append(
                    batch.input.encoded(), from: output, commands: batch.commands, orderID: \.orderID)
            }
            let ends = OrderPathRouting.unroutableEnds(routed.unroutable) { map.partition(for: $0) }
            for (target, commands) in ends {
                let input = ClearingInput(producer: ProducerID(producer), position: output.position, commands: commands)
                targets[.clearingPartition(target), default: TargetEntries()].append(
                    ClearingLogCodec.encode(input), from: output, commands: commands, orderID: \.orderID)
            }
        }
        return targets
    }

    /// The placements to route by: the cache, read again when the registry's version moved
    /// (checked at most every `placementCheckInterval`).
    func currentPlacements() async throws -> [String: ShardID] {
        let now = ContinuousClock.now
        if let checked = placementsChecked.withLock({ $0 }), checked.at.duration(to: now) < Self.placementCheckInterval {
            return cache.withLock { $0.placements }
        }
        let version = try await SymbolRegistry(client: client).version()
        if let checked = placementsChecked.withLock({ $0 }), checked.version == version {
            placementsChecked.withLock { $0 = (version, now) }
            return cache.withLock { $0.placements }
        }
        return try await reloadPlacements()
    }

    /// Reads every placement (and the version they were read at) into the cache.
    func reloadPlacements() async throws -> [String: ShardID] {
        let registry = SymbolRegistry(client: client)
        let now = ContinuousClock.now
        let version = try await registry.version()
        let placements = try await registry.all().mapValues(\.shard)
        cache.withLock { $0.placements = placements }
        placementsChecked.withLock { $0 = (version, now) }
        return placements
    }

    /// Where a shard's outputs go: trade legs, order ends and amends to the clearing
    /// partitions of the users concerned; the books it handed over (or refused) to the
    /// shards that are to hold them; and a `continueMove` to itself while a move goes on. Also
    /// `outputs` as the log keeps them: without the books handed over.
    func shardTargets(
        _ outputs: [EmittedOutput], of shard: ShardID, map: ClusterMap
    ) throws -> (targets: [ReplicaLogKeys: TargetEntries], handOvers: [(takeOver: ShardInput.TakeOver, to: ShardID)], logged: [EmittedOutput]) {
        var targets: [ReplicaLogKeys: TargetEntries] = [:]
        var handOvers: [(takeOver: ShardInput.TakeOver, to: ShardID)] = []
        var logged = outputs
        for (index, output) in outputs.enumerated() {
            let outcomes = try ShardOutput.decode(output.payload)
            if let kept = ShardOutput.loggedForm(of: outcomes) { logged[index].payload = ShardOutput.encode(kept) }
            for outcome in outcomes {
                switch outcome {
                case .handedOver(let handedOver):
                    handOvers.append((ShardInput.TakeOver(
                        symbol: handedOver.symbol, from: shard, fromPosition: output.position, lastUpdateID: handedOver.lastUpdateID,
                        book: handedOver.book), handedOver.to))
                case .moveContinues:
                    // The next step of the move, on this shard's own log (once per output:
                    // the tag is its position).
                    targets[.matchingShard(shard), default: TargetEntries()].append(
                        ShardInput.continueMove.encoded(), from: output, commands: [OrderID](), orderID: { $0 })
                case .events, .misrouted, .tookOver:
                    continue
                }
            }
            for (partition, commands) in OrderPathRouting.clearingCommands(of: outcomes, partitionOf: { map.partition(for: $0) }) {
                let input = ClearingInput(producer: ProducerID(producer), position: output.position, commands: commands)
                targets[.clearingPartition(partition), default: TargetEntries()].append(
                    ClearingLogCodec.encode(input), from: output, commands: commands, orderID: \.orderID)
            }
        }
        return (targets, handOvers, logged)
    }
}
