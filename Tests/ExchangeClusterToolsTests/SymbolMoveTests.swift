import ExchangeClearingPartition
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
import ExchangeTesting
import Foundation
import Testing

/// Live symbol moves on the order path of `OrderPathTests` (same suite: the cluster-wide keys
/// are shared, so these run one at a time with the others).
extension OrderPathTests {
    /// Matchers for shards 0 and 1 (`shard0Replicas` replicas on shard 0, one on shard 1) and
    /// one clearing replica per partition, all forwarding along the order path.
    struct MoveCluster {
        var shard0: [(runtime: ReplicaRuntime<MatchingShardMachine>, task: Task<Void, any Error>)] = []
        var tasks: [Task<Void, any Error>] = []

        func stop() {
            tasks.forEach { $0.cancel() }
            shard0.forEach { $0.task.cancel() }
        }
    }

    func startMoveCluster(shard0Replicas: [String], directory: String) throws -> MoveCluster {
        var cluster = MoveCluster()
        for name in shard0Replicas {
            let matcher = try runtime(MatchingShardMachine.self, name, keys: .matchingShard(0), forwarding: .matchingShard(0), directory: directory)
            cluster.shard0.append((matcher, Task { try await matcher.run() }))
        }
        let other = try runtime(MatchingShardMachine.self, "a", keys: .matchingShard(1), forwarding: .matchingShard(1), directory: directory)
        cluster.tasks.append(Task { try await other.run() })
        for partition in PartitionID(0)...1 {
            let clearing = try runtime(ClearingPartitionMachine.self, "a", keys: .clearingPartition(partition), forwarding: .clearingPartition(partition), directory: directory)
            cluster.tasks.append(Task { try await clearing.run() })
        }
        return cluster
    }

    /// `body` with a client on a fresh cluster (`resetCluster`) and its replicas running
    /// (`startMoveCluster`), stopped and removed after.
    func withMoveCluster(shard0Replicas: [String], _ body: (RedisClient, MoveCluster) async throws -> Void) async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moves-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try startMoveCluster(shard0Replicas: shard0Replicas, directory: directory)
        defer { cluster.stop() }
        try await body(client, cluster)
    }

    /// A flow of 4 symbols over 200 users whose books hold a few hundred orders each.
    static let moveFlow = SyntheticOrderFlow.generate(.init(
        symbolCount: 4, commandCount: 6_000, seed: 11, userCount: 200, targetRestingOrders: 1_500, activity: .uniform))

    static func split(_ flow: OrderFlow, at share: Double) -> (OrderFlow, OrderFlow) {
        var first = flow
        first.entries = Array(flow.entries.prefix(Int(Double(flow.entries.count) * share)))
        var rest = flow
        rest.entries = Array(flow.entries.dropFirst(first.entries.count))
        return (first, rest)
    }

    /// The audits every move test ends with: the shards' logs replay to their outputs, the
    /// clearing audit holds, and the recorder writes it all to PostgreSQL (when configured).
    func auditAfterMoves(_ client: RedisClient) async throws {
        #expect(try await isQuiet(client), "the cluster went quiet")
        for report in try await ShardAuditor(client: client).audit() {
            #expect(report.problems.isEmpty, "shard \(report.shard): \(report.problems.prefix(3))")
        }
        let checks = try await ClearingAuditor(client: client).audit()
        for check in checks { #expect(check.passed, "\(check.name): \(check.details)") }
        if let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"] {
            try await recordIntoPostgres(url: url, redis: client)
        }
    }

    @Test("every symbol moves to the other shard with its book while a flow trades through clearing: audits clean, history kept")
    func liveMoves() async throws {
        try await withMoveCluster(shard0Replicas: ["a"]) { client, _ in
            let (first, rest) = Self.split(Self.moveFlow, at: 0.4)
            try await ClearingFlowFeeder(client: client).feed(first)
            #expect(try await isQuiet(client))
            let before = try await SymbolRegistry(client: client).all()
            #expect(Set(before.values.map(\.shard)) == [0, 1], "the ring spread the symbols over both shards")

            // Move every symbol to the other shard while the rest of the flow is fed.
            let moves = Task {
                var reports: [SymbolMover.Report] = []
                for (symbol, placement) in before.sorted(by: { $0.key < $1.key }) {
                    reports.append(try await SymbolMover(client: client).move(symbol, to: 1 - placement.shard, pin: true))
                }
                return reports
            }
            try await ClearingFlowFeeder(client: client).feed(rest)
            let reports = try await moves.value
            #expect(reports.count == before.count)
            #expect(reports.contains { $0.restingOrders > 100 }, "books moved: \(reports.map(\.restingOrders))")
            let after = try await SymbolRegistry(client: client).all()
            for (symbol, placement) in before { #expect(after[symbol]?.shard == 1 - placement.shard, "\(symbol) is on its new shard") }
            let names = try await SymbolRegistry(client: client).names()
            #expect(names.count == 2 * before.count, "the registry keeps the old placements' names")
            let map = try #require(try await ClusterMapStore(client: client).load())
            for (symbol, placement) in after { #expect(map.pins[symbol] == placement.shard, "\(symbol) is pinned where it went") }
            try await auditAfterMoves(client)
            // The moved books traded on their new shards: trades there name the new local ids.
            var tradedAfterMove = 0
            for shard in ShardID(0)...1 {
                for output in try await ReplicaLogStore(keys: .matchingShard(shard), client: client).readOutputs(after: .zero, count: 100_000) {
                    for case .events(let events) in try ShardOutput.decode(output.payload) {
                        for case .traded(let trade) in events where after.values.contains(SymbolPlacement(shard: shard, localID: trade.symbolID)) {
                            tradedAfterMove += 1
                        }
                    }
                }
            }
            #expect(tradedAfterMove > 0, "the moved symbols traded on their new shards")
        }
    }

    @Test("a move survives the source shard's primary being killed as it hands the book over")
    func moveDuringPrimaryKill() async throws {
        try await withMoveCluster(shard0Replicas: ["a", "b"]) { client, cluster in
            let (first, rest) = Self.split(Self.moveFlow, at: 0.5)
            try await ClearingFlowFeeder(client: client).feed(first)
            #expect(try await isQuiet(client))
            let symbol = try #require(try await SymbolRegistry(client: client).all().filter { $0.value.shard == 0 }.keys.sorted().first)
            let source = ReplicaLogStore(keys: .matchingShard(0), client: client)
            let inputBefore = try await source.inputLength()
            let move = Task { try await SymbolMover(client: client).move(symbol, to: 1, pin: true) }
            // Kill shard 0's primary (as kill -9 would) as soon as the hand-over is in its log.
            let deadline = ContinuousClock.now + .seconds(10)
            var killed = false
            while !killed, ContinuousClock.now < deadline {
                if try await source.inputLength() > inputBefore {
                    for replica in cluster.shard0 where await replica.runtime.role == .primary {
                        replica.task.cancel()
                        killed = true
                    }
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(killed, "shard 0 had a primary to kill")
            try await ClearingFlowFeeder(client: client).feed(rest)
            let report = try await move.value
            #expect(report.from == 0 && report.to == 1 && report.restingOrders > 0)
            #expect(try await SymbolRegistry(client: client).all()[symbol]?.shard == 1)
            try await auditAfterMoves(client)
            // Quiet means the standby has taken over (the killed primary's lease had to lapse first).
            let epoch = try await client.send(["GET", ReplicaLogKeys.matchingShard(0).epoch]).string
            #expect(epoch == "2", "shard 0 failed over once")
        }
    }
    @Test("a book of several steps moves whole while another symbol trades, and the move goes on when the source primary is killed between two of its steps")
    func steppedMoveDuringPrimaryKill() async throws {
        let client = try client()
        defer { client.shutdown() }
        try await resetCluster(client)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moves-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The shards only: the book is placed straight on shard 0's log, not through clearing.
        var shard0: [(runtime: ReplicaRuntime<MatchingShardMachine>, task: Task<Void, any Error>)] = []
        for name in ["a", "b"] {
            let matcher = try runtime(MatchingShardMachine.self, name, keys: .matchingShard(0), forwarding: .matchingShard(0), directory: directory)
            shard0.append((matcher, Task { try await matcher.run() }))
        }
        let other = try runtime(MatchingShardMachine.self, "a", keys: .matchingShard(1), forwarding: .matchingShard(1), directory: directory)
        let otherTask = Task { try await other.run() }
        defer {
            otherTask.cancel()
            shard0.forEach { $0.task.cancel() }
        }
        let registry = SymbolRegistry(client: client)
        for name in ["BIGUSDT", "SMALLUSDT"] {
            _ = try await registry.register(
                try SymbolSpec(name: name, tickSize: try DecimalNumber(parsing: "0.01"), stepSize: try DecimalNumber(parsing: "0.001")),
                on: 0, otherShards: [1], partitionCount: 2)
        }
        let source = ReplicaLogStore(keys: .matchingShard(0), client: client)
        let count = MatchingShardMachine.takeOverStepOrders + 1_000
        var payloads: [[UInt8]] = []
        var batch = ShardInputBatch()
        for (index, order) in restingBookOrders(count: count, levels: 200).enumerated() {
            batch.append(.place(order), symbol: "BIGUSDT")
            if batch.count == 4_096 || index == count - 1 {
                payloads.append(batch.input.encoded())
                batch.removeAll()
            }
        }
        _ = try await source.appendInput(payloads)
        #expect(try await isQuiet(client, logs: [.matchingShard(0), .matchingShard(1)]))

        let inputBefore = try await source.inputLength()
        let move = Task { try await SymbolMover(client: client).move("BIGUSDT", to: 1, pin: true) }
        // Kill shard 0's primary (as kill -9 would) once the hand-over and its first
        // `continueMove` are in its log: the book is partly written out. SMALLUSDT trades on.
        let deadline = ContinuousClock.now + .seconds(20)
        var killed = false
        var orderID: OrderID = 1 << 40
        while !killed, ContinuousClock.now < deadline {
            let appended = try await source.readInput(after: inputBefore, count: 1_000)
            if appended.contains(where: { (try? ShardInput.decode($0.payload)) == .continueMove }) {
                for replica in shard0 where await replica.runtime.role == .primary {
                    replica.task.cancel()
                    killed = true
                }
            }
            let small = ShardInput.commands(symbols: ["SMALLUSDT"], commands: [.place(PlaceOrder(
                orderID: orderID, userID: 77, symbolID: SymbolID(0), side: orderID % 2 == 0 ? .buy : .sell, type: .limit,
                timeInForce: .goodTillCanceled, price: Price(ticks: 100), quantity: Quantity(lots: 1)))])
            _ = try await source.appendInput([small.encoded()])
            orderID += 1
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(killed, "shard 0 had a primary to kill")
        let report = try await move.value
        #expect(report.restingOrders == count)
        #expect(try await registry.all()["BIGUSDT"]?.shard == 1)
        // The steps are `continueMove` entries of each shard's log, each appended once (the
        // new primary forwarded the outputs the killed one had not appended again: skipped).
        let steps = try await source.readInput(after: inputBefore, count: 100_000).filter { (try? ShardInput.decode($0.payload)) == .continueMove }
        #expect(steps.count == count / MatchingShardMachine.handOverStepOrders, "\(steps.count) steps out")
        let target = ReplicaLogStore(keys: .matchingShard(1), client: client)
        let stepsIn = try await target.readInput(after: 0, count: 100_000).filter { (try? ShardInput.decode($0.payload)) == .continueMove }
        #expect(stepsIn.count == count / MatchingShardMachine.takeOverStepOrders, "\(stepsIn.count) steps in")
        #expect(try await isQuiet(client, logs: [.matchingShard(0), .matchingShard(1)]))
        for report in try await ShardAuditor(client: client).audit() {
            #expect(report.problems.isEmpty, "shard \(report.shard): \(report.problems.prefix(3))")
        }
        let answers = try await target.readOutputs(after: .zero, count: 100_000).flatMap { try ShardOutput.decode($0.payload) }
        #expect(answers.contains { if case .tookOver(let tookOver) = $0 { tookOver.symbol == "BIGUSDT" && tookOver.bookPosition != nil } else { false } })
        // The book crossed Redis once: in the new owner's input log, not in the old owner's output log.
        let handedOver = try await source.readOutputs(after: .zero, count: 100_000).flatMap { try ShardOutput.decode($0.payload) }.compactMap {
            if case .handedOver(let handedOver) = $0 { handedOver } else { nil }
        }
        #expect(handedOver.count == 1 && handedOver.allSatisfy { $0.book.isEmpty && $0.restingOrders == count })
        let takeOvers = try await target.readInput(after: 0, count: 100_000).compactMap { entry -> ShardInput.TakeOver? in
            if case .takeOver(let takeOver)? = try? ShardInput.decode(entry.payload) { takeOver } else { nil }
        }
        #expect(takeOvers.count == 1 && takeOvers.allSatisfy { !$0.book.isEmpty })
        // At least one failover (a debug build's steps of 16,384 orders are long enough to
        // let the lease lapse again now and then).
        let epoch = try await client.send(["GET", ReplicaLogKeys.matchingShard(0).epoch]).string
        #expect((epoch.flatMap { Int($0) } ?? 0) >= 2, "shard 0 failed over: epoch \(epoch ?? "none")")
    }
}
