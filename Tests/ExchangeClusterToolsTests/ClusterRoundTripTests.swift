import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import Foundation
import Testing

/// A whole cluster in one process on the test Redis: 2 shards x 2 replicas, a shared example
/// flow fed through `FlowFeeder`, `ClusterCollector` equal to the expected output, and
/// `ShardAuditor` clean. Uses the cluster-wide keys (`cluster:*`, `me:{0}`, `me:{1}`), so it
/// clears them first and is the only suite that touches them.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct ClusterRoundTripTests {
    let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!
    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/formats/examples")

    func client() throws -> RedisClient { RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))) }

    func clearClusterKeys(_ client: RedisClient) async throws {
        for pattern in ["cluster:*", "me:{0}:*", "me:{1}:*", "me:{2}:*"] {
            let keys = try await client.send(["KEYS", pattern]).array?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try await client.send(["DEL"] + keys) }
        }
    }

    @Test("feed, two replicated shards, collect: equal to the replay of the flow; audit clean", arguments: ["five-symbols", "stp-mixed"])
    func roundTrip(example: String) async throws {
        let client = try client()
        defer { client.shutdown() }
        try await clearClusterKeys(client)
        try await ClusterMapStore(client: client).replace(with: try ClusterMap(shardCount: 2, partitionCount: 2))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var tasks: [Task<Void, any Error>] = []
        for shard in ShardID(0)...1 {
            for name in ["a", "b"] {
                let runtime = ReplicaRuntime<MatchingShardMachine>(
                    configuration: .init(
                        name: name,
                        protocolConfiguration: .init(leaseDuration: .milliseconds(300), renewalInterval: .milliseconds(60), snapshotIntervalEntries: 3_000, snapshotInterval: .seconds(5)),
                        snapshotDirectory: "\(directory)/\(shard)\(name)"),
                    store: ReplicaLogStore(keys: .matchingShard(shard), client: try self.client()),
                    // As `exchange matcher` runs: the primary reads with XREAD BLOCK.
                    waitClient: try self.client())
                tasks.append(Task { try await runtime.run() })
            }
        }
        defer { tasks.forEach { $0.cancel() } }
        let flow = try ReplayTool.loadFlow(Self.examples.appendingPathComponent("\(example).flow").path)
        try await FlowFeeder(client: client).feed(flow)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            var complete = true
            for shard in ShardID(0)...1 {
                let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
                if try await store.observe().watermark != store.inputLength() { complete = false }
            }
            if complete { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let expected = try String(contentsOfFile: Self.examples.appendingPathComponent("\(example).expected").path, encoding: .utf8)
        #expect(try await ClusterCollector(client: client).collect() == expected)
        // Wait for every replica to publish its digest at the end of its log.
        let digestDeadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < digestDeadline {
            var reported = 0
            for shard in ShardID(0)...1 {
                let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
                let length = try await store.inputLength()
                reported += try await store.replicaStatuses().filter { $0.digestPosition == length }.count
            }
            if reported == 4 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let reports = try await ShardAuditor(client: client).audit()
        #expect(reports.count == 2)
        for report in reports {
            #expect(report.problems.isEmpty, "shard \(report.shard): \(report.problems)")
            #expect(report.outputs == report.inputs && report.inputs > 0)
            // Both replicas reported a digest at the end of the log, and the audit compared them.
            #expect(report.replicas.filter { $0.digestPosition == LogPosition(report.inputs) && $0.digest != nil }.count == 2)
        }
        // A retried batch (same tags) is appended once.
        let store = ReplicaLogStore(keys: .matchingShard(0), client: client)
        let length = try await store.inputLength()
        let tag = String(Int64.max - 1)
        let cancel = ShardInput.commands(symbols: ["BTCUSDT"], commands: [.cancel(CancelOrder(orderID: 1, userID: 1, symbolID: SymbolID(0)))]).encoded()
        #expect(try await store.appendInput([cancel], tags: [tag]) == length + 1)
        #expect(try await store.appendInput([cancel], tags: [tag]) == 0)
        #expect(try await store.inputLength() == length + 1)
        try await checkMisrouting(client)
    }

    /// Sends a command for a symbol registered on one shard to the other: it answers with
    /// the owner and applies nothing.
    func checkMisrouting(_ client: RedisClient) async throws {
        let placements = try await SymbolRegistry(client: client).all()
        let (name, placement) = try #require(placements.min { $0.key < $1.key })
        let wrong: ShardID = placement.shard == 0 ? 1 : 0
        let store = ReplicaLogStore(keys: .matchingShard(wrong), client: client)
        let position = try await store.appendInput([ShardInput.commands(symbols: [name], commands: [
            .place(PlaceOrder(orderID: 99_999_999, userID: 1, symbolID: SymbolID(0), side: .buy, type: .limit,
                              timeInForce: .goodTillCanceled, price: Price(ticks: 1), quantity: Quantity(lots: 1))),
        ]).encoded()])
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, try await store.observe().watermark < position {
            try await Task.sleep(for: .milliseconds(20))
        }
        let output = try #require(try await client.xrevrange(store.keys.output, before: nil, count: 1).first?.value("d"))
        #expect(try ShardOutput.decode(output) == [.misrouted(symbol: name, owner: placement.shard)])
    }
}

