import ExchangeCluster
import ExchangeClusterStore
import ExchangeBench
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplication
import Foundation

/// `exchange bench cluster`: feeds a generated flow into a running cluster and measures, from
/// the outside, commands per second from the first append to the last output seen, and the
/// latency of each command from its append (its input entry's Redis time) to its output:
/// appended (the output entry's Redis time: visible from then on), and read by a tailing
/// client (the reader's clock; same host, same clock), which adds the reader's own wake-up.
/// Commands share their entry's latency: each counts once.
public struct ClusterBenchmark: Sendable {
    public struct Result: Sendable {
        public var commands: Int
        public var seconds: Double
        public var commandsPerSecond: Double { Double(commands) / seconds }
        /// Append to output appended, in microseconds, one per command.
        public var latenciesMicroseconds: [UInt64]
        /// Append to output read by the tailing client, in microseconds, one per command.
        public var readLatenciesMicroseconds: [UInt64]
        /// One per output entry seen: its append time, latency to output appended and command count.
        public var samples: [LatencyOverTime.Sample]
    }

    public let client: RedisClient
    public let endpoint: RedisEndpoint
    /// Feeds the measured flow (its entry size is part of what is measured).
    public let feeder: FlowFeeder

    public init(client: RedisClient, endpoint: RedisEndpoint, feeder: FlowFeeder) {
        self.client = client
        self.endpoint = endpoint
        self.feeder = feeder
    }

    /// A flow that only rests: `orders` GTC limits over the generated symbols, far from every
    /// mid (buys at 1...4,000 ticks, sells from 40,000), ids from 10^12 so they never meet the
    /// measured flow's. For measuring with large books.
    public static func restingFlow(symbolCount: Int, orders: Int, seed: UInt64) -> OrderFlow {
        let specs = SyntheticOrderFlow.symbols(count: symbolCount)
        var flow = OrderFlow(symbols: specs, entries: specs.map { .command(.addSymbol(AddSymbol(spec: $0))) })
        var random = SeededRandom(seed: seed)
        for index in 0..<orders {
            let buy = random.chance(0.5)
            let offset = Int64(random.next() % 4_000)
            flow.entries.append(.command(.place(PlaceOrder(
                orderID: 1_000_000_000_000 + OrderID(index), userID: 1 + random.next() % 1_000,
                symbolID: SymbolID(UInt32(index % symbolCount)), side: buy ? .buy : .sell, type: .limit,
                timeInForce: .goodTillCanceled, price: Price(ticks: buy ? 1 + offset : 40_000 + offset),
                quantity: Quantity(lots: 1 + Int64(random.next() % 100))))))
        }
        return flow
    }

    /// Feeds `flow` (at `rate` commands/s if given) and waits until every shard has emitted
    /// everything, or `timeout`.
    public func run(_ flow: OrderFlow, rate: Double?, timeout: Duration = .seconds(600)) async throws -> Result {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let shards = map.shards.map(\.id)
        // Symbols are registered, and their entries applied, before the clock starts: the
        // figures are those of commands.
        let placements = try await feeder.registerSymbols(of: flow)
        try await ReplicaLogStore.waitUntilCaughtUp(shards.map(ReplicaLogKeys.matchingShard), client: client, timeout: timeout)
        var starts: [ShardID: (length: LogPosition, outputID: StreamID)] = [:]
        for shard in shards {
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            starts[shard] = (try await store.inputLength(), try await store.lastOutputID())
        }
        let started = ContinuousClock.now
        let tail = OutputLogTail(
            endpoint: endpoint, logs: shards.map { (ReplicaLogKeys.matchingShard($0).output, starts[$0]!.outputID) },
            weight: { try ShardOutput.count(of: $0) })
        try await feeder.feed(flow, rate: rate, placements: placements)
        try await ReplicaLogStore.waitUntilCaughtUp(shards.map(ReplicaLogKeys.matchingShard), client: client, timeout: timeout)
        let finished = ContinuousClock.now
        let seenByLog = try await tail.finish()
        var latencies: [UInt64] = []
        var readLatencies: [UInt64] = []
        var samples: [LatencyOverTime.Sample] = []
        var commands = 0
        for shard in shards {
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            var appendedAt: [LogPosition: UInt64] = [:]
            for tagged in try await store.allTaggedInput(after: starts[shard]!.length) {
                appendedAt[tagged.entry.position] = tagged.entry.timestampMicroseconds
            }
            for seen in seenByLog[ReplicaLogKeys.matchingShard(shard).output] ?? [] {
                guard let appended = appendedAt[seen.position] else { continue }
                let latency = seen.appendedAtMicroseconds.saturatingSubtract(appended)
                latencies.append(contentsOf: repeatElement(latency, count: seen.weight))
                readLatencies.append(contentsOf: repeatElement(seen.receivedAtMicroseconds.saturatingSubtract(appended), count: seen.weight))
                samples.append(.init(appendedAt: appended, latency: latency, weight: seen.weight))
                commands += seen.weight
            }
        }
        let elapsed = started.duration(to: finished)
        return Result(
            commands: commands, seconds: elapsed.secondsValue,
            latenciesMicroseconds: latencies, readLatenciesMicroseconds: readLatencies, samples: samples)
    }
}
