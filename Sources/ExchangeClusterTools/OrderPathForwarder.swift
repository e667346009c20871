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
/// Routing reads the cluster map and the symbol registry. Clearing routes an output by its
/// position through each symbol's placement history (`SymbolRegistry.Routing`), not by the
/// placement current when it forwards, so every attempt at an output (a retry, a deposed
/// primary and its successor) sends it to the same shard. The registry is cached: appends
/// routed by it are guarded by its change token and version, and one a change refused is
/// routed again by the registry read anew, which needs no guard. A command routed to a shard
/// its symbol just left is refused there (`symbolMoved`, retryable), never lost.
///
/// A shard's handed-over book goes to its new owner with `SymbolRegistry.placeTakeOver`
/// (exactly once per hand-over, tagged with its position), which also places the symbol there.
/// The hand-over's output entry then keeps the book out (an empty block): the new owner's
/// input log holds it, and the old owner's output log is read by every clearing replica, the
/// recorder, the gateways and market data, none of which use it (a 100,000-order book is
/// 1.2 MB, which each of them read at the moment of the move).
public final class OrderPathForwarder: OutputForwarder {
    /// Whose outputs this forwarder carries.
    public enum Source: Sendable, Equatable {
        case clearingPartition(PartitionID)
        case matchingShard(ShardID)
    }

    public let source: Source
    let client: RedisClient
    private let cache = Mutex<(map: ClusterMap?, routing: SymbolRegistry.Routing?)>((nil, nil))

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
        let map = try await map()
        switch source {
        case .clearingPartition(let partition):
            try await forwardClearing(outputs, of: partition, map: map)
            return outputs
        case .matchingShard(let shard):
            let (targets, handOvers, logged) = try shardTargets(outputs, of: shard, map: map)
            let batches = Self.inputBatches(targets)
            if !batches.isEmpty {
                // Every target in one round trip.
                _ = try await ReplicaLogStore.appendInputs(batches, producer: producer, on: client)
            }
            for handOver in handOvers {
                _ = try await SymbolRegistry(client: client).placeTakeOver(
                    handOver.takeOver, on: handOver.to, producer: producer, tag: handOver.takeOver.fromPosition,
                    partitionCount: map.partitionCount)
            }
            return logged
        }
    }

    /// The non-empty target entries as appends.
    static func inputBatches(_ targets: [ReplicaLogKeys: TargetEntries]) -> [ReplicaLogStore.InputBatch] {
        targets.filter { !$0.value.payloads.isEmpty }.map {
            ReplicaLogStore.InputBatch(keys: $0.key, payloads: $0.value.payloads, tags: $0.value.tags, traces: $0.value.traces)
        }
    }

    /// Appends what a partition's outputs send to shards (and back to partitions), every target
    /// in one round trip. Routed by the cached registry, the appends are guarded by its change
    /// token and version. After a refusal (or with nothing cached) the registry is read anew,
    /// after these outputs' inputs were appended, so it routes them as every later reading
    /// would (`SymbolRegistry.Routing.readThrough`): every batch is routed by it and appended
    /// unguarded. Batches that got in are skipped by their tags, and route the same (a change
    /// made after an output's forward got in does not apply to it).
    ///
    /// A reading whose partition sequence is below these outputs (Redis lost inputs in a
    /// failover) routes nothing: it throws, and the runtime's reload finds the log shortened.
    func forwardClearing(_ outputs: [EmittedOutput], of partition: PartitionID, map: ClusterMap) async throws {
        guard let last = outputs.last?.position else { return }
        if let cached = cache.withLock({ $0.routing }) {
            let batches = Self.inputBatches(try clearingTargets(outputs, routing: cached, map: map))
            if batches.isEmpty { return }
            let appended = try await ReplicaLogStore.appendInputs(batches, producer: producer, guard: cached.appendGuard, on: client)
            if !appended.contains(.failure(.notHolder)) { return }
        }
        let routing = try await SymbolRegistry(client: client).routing(for: partition)
        cache.withLock { $0.routing = routing }
        guard last <= routing.readThrough else {
            throw RedisError.unexpectedReply("partition \(partition)'s input log ends at \(routing.readThrough), below output \(last)")
        }
        let batches = Self.inputBatches(try clearingTargets(outputs, routing: routing, map: map))
        if !batches.isEmpty { _ = try await ReplicaLogStore.appendInputs(batches, producer: producer, on: client) }
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
    func clearingTargets(_ outputs: [EmittedOutput], routing: SymbolRegistry.Routing, map: ClusterMap) throws -> [ReplicaLogKeys: TargetEntries] {
        var targets: [ReplicaLogKeys: TargetEntries] = [:]
        for output in outputs {
            let events = try ClearingLogCodec.decodeEvents(output.payload)
            let routed = OrderPathRouting.shardCommands(of: events) { routing.shard(of: $0, position: output.position) }
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
