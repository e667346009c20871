import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangePostgres
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import Foundation
import PostgresNIO
import Testing

/// The whole order path in one process on the test Redis: 2 shards and 2 clearing
/// partitions x 2 replicas whose primaries forward along the order path, a shared example
/// flow fed through clearing; the clearing primary of one partition is killed mid-way; `ClearingAuditor` finds every check
/// holding. Uses the cluster-wide keys, so it clears them first.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OrderPathTests {
    let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!

    func client() throws -> RedisClient { RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))) }

    /// A 1 s lease: six replicas of a debug build share this process and two cores with the
    /// feeder, and a stall of a few hundred ms (seen on a slow host) let a lease lapse and a
    /// second failover happen, which the epoch check below counts.
    static let protocolConfiguration = ReplicaStateMachine.Configuration(
        leaseDuration: .seconds(1), renewalInterval: .milliseconds(200), snapshotIntervalEntries: 100, snapshotInterval: .seconds(5))

    /// A replica whose primary forwards along the order path as `source`, wired as the
    /// `exchange matcher` and `exchange clearing` commands run one.
    func runtime<Machine: ReplicatedStateMachine>(
        _: Machine.Type, _ name: String, keys: ReplicaLogKeys, forwarding source: OrderPathForwarder.Source, directory: String
    ) throws -> ReplicaRuntime<Machine> {
        ReplicaRuntime<Machine>(
            configuration: .init(name: name, protocolConfiguration: Self.protocolConfiguration, snapshotDirectory: directory + "/" + keys.prefix + name),
            endpoint: try RedisEndpoint(url: url), keys: keys, forwarder: { OrderPathForwarder(source: source, client: $0) })
    }

    /// Waits (up to a minute) until every log's outputs caught up with its inputs, twice in a
    /// row (a primary forwards before it emits, so a caught-up log has grown its targets
    /// already); whether they did.
    func isQuiet(
        _ client: RedisClient, logs: [ReplicaLogKeys] = [.matchingShard(0), .matchingShard(1), .clearingPartition(0), .clearingPartition(1)]
    ) async throws -> Bool {
        var quiet = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while quiet < 2, ContinuousClock.now < deadline {
            var complete = true
            for keys in logs {
                let store = ReplicaLogStore(keys: keys, client: client)
                if try await store.observe().watermark != store.inputLength() { complete = false }
            }
            quiet = complete ? quiet + 1 : 0
            try await Task.sleep(for: .milliseconds(200))
        }
        return quiet == 2
    }

    /// Clears the cluster-wide keys and writes a map of 2 shards and 2 partitions.
    func resetCluster(_ client: RedisClient) async throws {
        for pattern in ["cluster:*", "me:{*", "clr:{*"] {
            let keys = try await client.send(["KEYS", pattern]).array?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try await client.send(["DEL"] + keys) }
        }
        try await ClusterMapStore(client: client).replace(with: try ClusterMap(shardCount: 2, partitionCount: 2))
    }

    @Test("through clearing and back, with a clearing primary killed: the audit proves no money made or lost")
    func orderPath() async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("order-path-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var tasks: [Task<Void, any Error>] = []
        defer { tasks.forEach { $0.cancel() } }
        for shard in ShardID(0)...1 {
            let matcher = try runtime(MatchingShardMachine.self, "a", keys: .matchingShard(shard), forwarding: .matchingShard(shard), directory: directory)
            tasks.append(Task { try await matcher.run() })
        }
        var clearing: [[ReplicaRuntime<ClearingPartitionMachine>]] = []
        var clearingTasks: [[Task<Void, any Error>]] = []
        for partition in PartitionID(0)...1 {
            let replicas = try ["a", "b"].map {
                try runtime(ClearingPartitionMachine.self, $0, keys: .clearingPartition(partition), forwarding: .clearingPartition(partition), directory: directory)
            }
            clearing.append(replicas)
            clearingTasks.append(replicas.map { replica in Task { try await replica.run() } })
        }
        defer { clearingTasks.joined().forEach { $0.cancel() } }

        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/formats/examples")
        let flow = try ReplayTool.loadFlow(examples.appendingPathComponent("five-symbols.flow").path)
        var half = flow
        half.entries = Array(flow.entries.prefix(flow.entries.count / 2))
        var rest = flow
        rest.entries = Array(flow.entries.dropFirst(flow.entries.count / 2))
        try await ClearingFlowFeeder(client: client).feed(half)
        // Kill partition 0's primary (as kill -9 would: nothing flushed) while the rest is fed.
        var killed = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !killed, ContinuousClock.now < deadline {
            for (index, replica) in clearing[0].enumerated() where await replica.role == .primary {
                clearingTasks[0][index].cancel()
                killed = true
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(killed, "partition 0 had a primary")
        try await ClearingFlowFeeder(client: client).feed(rest)

        #expect(try await isQuiet(client), "the cluster went quiet")
        let checks = try await ClearingAuditor(client: client).audit()
        #expect(checks.count == 5)
        for check in checks { #expect(check.passed, "\(check.name): \(check.details)") }
        let epochs = try await client.send(["GET", ReplicaLogKeys.clearingPartition(0).epoch]).string
        #expect(epochs == "2", "partition 0 failed over once")
        let trades = try #require(checks.last?.details.first)
        #expect(!trades.hasPrefix("0 trades"), "the flow traded: \(trades)")
        if let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"] {
            try await recordIntoPostgres(url: url, redis: client)
        }
    }

    /// A clearing output forwarding one limit buy of user 7 (1 lot at 10 ticks).
    static func forwardedBuy(orderID: OrderID, symbol: String) -> [UInt8] {
        let order = ClearingOrder(
            orderID: orderID, userID: 7, symbol: symbol, side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 10), quantity: Quantity(lots: 1))
        return ClearingLogCodec.encode([.forward(order, tickLotBudget: 0)])
    }

    @Test("a deposed primary and its successor forward the same outputs: the target gets them once, in order")
    func forwardingIsIdempotent() async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let spec = SyntheticOrderFlow.symbols(count: 1)[0]
        _ = try await SymbolRegistry(client: client).register(spec, on: 1, otherShards: [0], partitionCount: 2)
        func output(orderID: OrderID) -> [UInt8] { Self.forwardedBuy(orderID: orderID, symbol: spec.name) }
        // The inputs the outputs answer (no replica reads them).
        _ = try await ReplicaLogStore(keys: .clearingPartition(0), client: client).appendInput((1...6).map { [UInt8($0)] })
        let shard = ReplicaLogStore(keys: .matchingShard(1), client: client)
        let before = try await shard.inputLength()
        let deposed = OrderPathForwarder(source: .clearingPartition(0), client: client)
        let successor = OrderPathForwarder(source: .clearingPartition(0), client: client)
        _ = try await deposed.forward([.init(position: 4, payload: output(orderID: 40)), .init(position: 5, payload: output(orderID: 50))])
        _ = try await successor.forward([.init(position: 4, payload: output(orderID: 40)), .init(position: 5, payload: output(orderID: 50))])
        _ = try await successor.forward([.init(position: 5, payload: output(orderID: 50))])
        _ = try await successor.forward([.init(position: 6, payload: output(orderID: 60))])
        let entries = try await shard.readInput(after: before, count: 10)
        let placed = try entries.map { entry -> OrderID? in
            guard case .commands(let symbols, let commands) = try ShardInput.decode(entry.payload), symbols == [spec.name],
                  case .place(let order) = commands.first else { return nil }
            return order.orderID
        }
        #expect(placed == [40, 50, 60])
    }

    @Test("an output forwarded before a move and again after it reaches the same shard; a stale router routes again")
    func routingSurvivesMoves() async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let spec = SyntheticOrderFlow.symbols(count: 1)[0]
        let registry = SymbolRegistry(client: client)
        _ = try await registry.register(spec, on: 0, otherShards: [1], partitionCount: 2)
        // As if registered before histories were kept: its first move records where it was from the start.
        _ = try await client.send(["HDEL", "cluster:placement-history", spec.name])
        func output(_ position: LogPosition) -> EmittedOutput {
            EmittedOutput(position: position, payload: Self.forwardedBuy(orderID: OrderID(position * 10), symbol: spec.name))
        }
        // Partition 0 took in three entries (what they hold does not matter: no replica reads them).
        let partition = ReplicaLogStore(keys: .clearingPartition(0), client: client)
        _ = try await partition.appendInput([[1], [2], [3]])
        let deposed = OrderPathForwarder(source: .clearingPartition(0), client: client)
        _ = try await deposed.forward([output(3)])
        // The symbol moves to shard 1 while output 3 is on its way (as shard 0's forwarder places it).
        let takeOver = ShardInput.TakeOver(symbol: spec.name, from: 0, fromPosition: 1, lastUpdateID: 0, book: [])
        _ = try await registry.placeTakeOver(takeOver, on: 1, producer: "me-0", tag: 1, partitionCount: 2)
        let history = try await client.send(["HGET", "cluster:placement-history", spec.name]).string
        #expect(history == "0@0,0;1@3,0")
        // The successor forwards output 3 again: to shard 0, where it already is.
        let successor = OrderPathForwarder(source: .clearingPartition(0), client: client)
        _ = try await successor.forward([output(3)])
        // Output 4 came after the move: the deposed router's guard fails on its stale registry, and it routes again.
        _ = try await partition.appendInput([[4]])
        _ = try await deposed.forward([output(4)])
        _ = try await successor.forward([output(4)])
        func placed(on shard: ShardID) async throws -> [OrderID] {
            try await ReplicaLogStore(keys: .matchingShard(shard), client: client).readInput(after: 0, count: 100).compactMap { entry in
                guard case .commands(_, let commands) = try ShardInput.decode(entry.payload), case .place(let order) = commands.first else { return nil }
                return order.orderID
            }
        }
        #expect(try await placed(on: 0) == [30])
        #expect(try await placed(on: 1) == [40])
        // A move back by a build that kept no history (the placement and the version change, the
        // history and the change token do not): a cached router notices, and routes by the placement.
        _ = try await client.send(["HSET", "cluster:symbols", spec.name, "0:9"])
        _ = try await client.send(["INCR", "cluster:symbols:version"])
        _ = try await partition.appendInput([[5]])
        _ = try await successor.forward([output(5)])
        #expect(try await placed(on: 0) == [30, 50])
        // The next move starts the history again from where clearing routed meanwhile.
        _ = try await registry.placeTakeOver(
            .init(symbol: spec.name, from: 0, fromPosition: 2, lastUpdateID: 0, book: []), on: 1, producer: "me-0", tag: 2, partitionCount: 2)
        #expect(try await client.send(["HGET", "cluster:placement-history", spec.name]).string == "0@0,0;1@5,0")
    }

    @Test("a forwarded entry carries the traces of the orders it holds, and only those")
    func forwardingCarriesTraces() async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let specs = SyntheticOrderFlow.symbols(count: 2)
        _ = try await SymbolRegistry(client: client).register(specs[0], on: 0, otherShards: [1], partitionCount: 2)
        _ = try await SymbolRegistry(client: client).register(specs[1], on: 1, otherShards: [0], partitionCount: 2)
        func order(_ orderID: OrderID, _ symbol: String) -> ClearingEvent {
            .forward(ClearingOrder(
                orderID: orderID, userID: 7, symbol: symbol, side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 10), quantity: Quantity(lots: 1)), tickLotBudget: 0)
        }
        _ = try await ReplicaLogStore(keys: .clearingPartition(0), client: client).appendInput((1...9).map { [UInt8($0)] })
        let traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let before = (try await ReplicaLogStore(keys: .matchingShard(0), client: client).inputLength(),
                      try await ReplicaLogStore(keys: .matchingShard(1), client: client).inputLength())
        let output = EmittedOutput(
            position: 9, payload: ClearingLogCodec.encode([order(1, specs[0].name), order(2, specs[1].name), order(3, specs[1].name)]),
            traces: EntryTraces([.init(orderID: 2, traceParent: traceParent)]))
        _ = try await OrderPathForwarder(source: .clearingPartition(0), client: client).forward([output])
        let first = try await ReplicaLogStore(keys: .matchingShard(0), client: client).readInput(after: before.0, count: 10)
        let second = try await ReplicaLogStore(keys: .matchingShard(1), client: client).readInput(after: before.1, count: 10)
        #expect(first.count == 1 && first[0].traces.isEmpty)
        #expect(second.count == 1 && second[0].traces == EntryTraces([.init(orderID: 2, traceParent: traceParent)]))
    }

    /// The recorder projects the logs in small batches, stops half way, and a new recorder
    /// finishes: PostgreSQL's ledger and balances then equal the partitions', with no row
    /// lost or written twice; one more pass writes nothing.
    func recordIntoPostgres(url: String, redis: RedisClient) async throws {
        let postgres = try PostgresSettings(url: url).client()
        let running = Task { await postgres.run() }
        defer { running.cancel() }
        for schema in ["exchange_user", "exchange_order", "exchange_clearing", "exchange_wallet", "exchange_admin"] {
            try await postgres.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
        try await Migrations.migrate(postgres)
        var first = Recorder(redis: redis, postgres: postgres)
        first.pageEntries = 7
        var names: [SymbolPlacement: String] = [:]
        for _ in 0..<5 {
            // Pages of 7 are filled half way through the logs: the recorder goes on without a batch window.
            #expect(try await first.step(names: &names).filledPage)
        }
        #expect(try await first.lag().values.contains { $0 > 0 }, "stopped half way")
        var second = Recorder(redis: redis, postgres: postgres)
        second.pageEntries = 50
        var fresh: [SymbolPlacement: String] = [:]
        var last = Recorder.Progress(filledPage: true)
        while last.entries > 0 || last.filledPage { last = try await second.step(names: &fresh) }
        #expect(try await second.lag().values.allSatisfy { $0 == 0 })
        #expect(try await second.step(names: &fresh) == Recorder.Progress())
        let checks = try await ClearingAuditor(client: redis).audit(postgres: postgres)
        for check in checks { #expect(check.passed, "\(check.name): \(check.details)") }
        #expect(checks.count == 7)
        var trades = 0
        for try await count in try await postgres.query("SELECT count(*) FROM exchange_order.trades").decode(Int.self) { trades = count }
        let settled = try #require(checks.first { $0.name.hasPrefix("every trade settled") }?.details.first)
        #expect(settled.hasPrefix("\(trades) trades"), "PostgreSQL holds every trade once: \(trades); \(settled)")
    }
}
