import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplication
import Foundation
import Synchronization

/// `exchange bench cluster`: feeds a generated flow into a running cluster and measures, from
/// the outside, commands per second from the first append to the last output seen, and the
/// latency of each command from its append (its input entry's Redis time) to its output
/// being readable (a tailing reader's clock; same host, same clock). Commands share their
/// entry's latency: each counts once.
public struct ClusterBenchmark: Sendable {
    public struct Result: Sendable {
        public var commands: Int
        public var seconds: Double
        public var commandsPerSecond: Double { Double(commands) / seconds }
        /// Append-to-output latencies in microseconds, one per command.
        public var latenciesMicroseconds: [UInt64]
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

    static func microsecondsSinceEpoch() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000_000) }

    /// Feeds `flow` (at `rate` commands/s if given) and waits until every shard has emitted
    /// everything, or `timeout`.
    public func run(_ flow: OrderFlow, rate: Double?, timeout: Duration = .seconds(600)) async throws -> Result {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let shards = map.shards.map(\.id)
        // Symbols are registered, and their entries applied, before the clock starts: the
        // figures are those of commands.
        let placements = try await feeder.registerSymbols(of: flow)
        try await waitUntilApplied(shards: shards, timeout: timeout)
        var starts: [ShardID: (length: LogPosition, outputID: StreamID)] = [:]
        for shard in shards {
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            let lastOutput = try await client.xrevrange(store.keys.output, before: nil, count: 1).first?.id ?? .zero
            starts[shard] = (try await store.inputLength(), lastOutput)
        }
        let started = ContinuousClock.now
        let endpoint = self.endpoint
        let done = StopFlag()
        let readerStarts = starts
        // One tailing reader per shard, each on its own connection (XREAD BLOCK holds it).
        let readers = shards.map { shard in
            Task { () -> [(position: LogPosition, receivedAt: UInt64, commands: Int)] in
                let reader = RedisClient(configuration: .init(endpoint: endpoint))
                defer { reader.shutdown() }
                let key = ReplicaLogKeys.matchingShard(shard).output
                var after = readerStarts[shard]!.outputID
                var seen: [(LogPosition, UInt64, Int)] = []
                while !done.isSet {
                    let page = try await reader.xread([(key, after)], count: 2_000, block: .milliseconds(100))[key] ?? []
                    let receivedAt = Self.microsecondsSinceEpoch()
                    for entry in page {
                        guard let position = entry.value("p").flatMap({ LogPosition(String(decoding: $0, as: UTF8.self)) }),
                              let payload = entry.value("d") else { continue }
                        seen.append((position, receivedAt, try ShardOutput.count(of: payload)))
                    }
                    if let last = page.last { after = last.id }
                }
                return seen
            }
        }
        try await feeder.feed(flow, rate: rate, placements: placements)
        try await waitUntilApplied(shards: shards, timeout: timeout)
        let finished = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(150))
        done.set()
        var latencies: [UInt64] = []
        var commands = 0
        for (index, shard) in shards.enumerated() {
            let seen = try await readers[index].value
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            var appendedAt: [LogPosition: UInt64] = [:]
            var after = starts[shard]!.length
            while true {
                let page = try await store.readInput(after: after, count: 5_000)
                guard let last = page.last else { break }
                for entry in page { appendedAt[entry.position] = entry.timestampMicroseconds }
                after = last.position
            }
            for (position, receivedAt, count) in seen {
                guard let appended = appendedAt[position] else { continue }
                latencies.append(contentsOf: repeatElement(receivedAt > appended ? receivedAt - appended : 0, count: count))
                commands += count
            }
        }
        let elapsed = started.duration(to: finished).components
        return Result(
            commands: commands, seconds: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18,
            latenciesMicroseconds: latencies)
    }
}

extension ClusterBenchmark {
    /// Waits until every shard has emitted the outputs of its whole input log, or `timeout`.
    func waitUntilApplied(shards: [ShardID], timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var complete = true
            for shard in shards {
                let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
                if try await store.observe().watermark < store.inputLength() { complete = false }
            }
            if complete { return }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// A flag one task sets and others poll.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
