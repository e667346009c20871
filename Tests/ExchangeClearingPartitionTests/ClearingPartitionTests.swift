import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCore
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeTesting
import Foundation
import Testing

/// The clearing partition machine, alone and on the replica runtime against a real Redis.
@Suite(.serialized)
struct ClearingPartitionTests {
    static let usdt = AssetCode("USDT")!
    static let btc = AssetCode("BTC")!

    /// Inputs of a funded partition: assets, a symbol, deposits, then orders and withdrawals,
    /// one producer each, some inputs repeated.
    static func inputs(count: Int) throws -> [[UInt8]] {
        let symbol = try ClearingSymbol(
            name: "BTCUSDT", base: AssetSpec(code: btc, scale: 8), quote: AssetSpec(code: usdt, scale: 8),
            tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
            minimumNotional: DecimalNumber(parsing: "1"), makerFeeBasisPoints: 10, takerFeeBasisPoints: 20)
        var inputs = [ClearingInput(producer: ProducerID("admin"), position: 1, commands: [
            .addAsset(try AssetSpec(code: btc, scale: 8)), .addAsset(try AssetSpec(code: usdt, scale: 8)), .addSymbol(symbol),
        ])]
        for index in 0..<count {
            let user = UInt64(index % 7)
            let position = UInt64(index / 2 + 1)
            let command: ClearingCommand = switch index % 4 {
            case 0: .deposit(user: user, asset: usdt, amount: 1_000_000_000, reference: UInt64(index))
            case 1: .place(ClearingOrder(orderID: UInt64(index), userID: user, symbol: "BTCUSDT", side: .buy, type: .limit,
                                         timeInForce: .goodTillCanceled, price: Price(ticks: 100_000), quantity: Quantity(lots: 5)))
            case 2: .orderEnded(orderID: UInt64(index - 1), userID: user)
            default: .holdWithdrawal(id: UInt64(index), user: user, asset: usdt, amount: 10)
            }
            // Odd indexes reuse the previous position of producer p1: dropped as repeats.
            inputs.append(ClearingInput(producer: ProducerID(index % 2 == 0 ? "p0" : "p1"), position: position, commands: [command]))
        }
        return inputs.map(ClearingLogCodec.encode)
    }

    @Test("the machine applies inputs, drops malformed ones whole, and snapshots to the same digest")
    func machine() throws {
        var machine = ClearingPartitionMachine()
        for (index, payload) in try Self.inputs(count: 200).enumerated() {
            let events = try ClearingLogCodec.decodeEvents(machine.apply(InputEntry(position: LogPosition(index + 1), timestampMicroseconds: 0, payload: payload)))
            #expect(!events.isEmpty)
            try machine.state.checkInvariants()
        }
        #expect(machine.state.balance(of: 0, Self.usdt).available > 0)
        let digest = machine.stateDigest
        #expect(try ClearingLogCodec.decodeEvents(machine.apply(InputEntry(position: 999, timestampMicroseconds: 0, payload: [1, 2]))) == [])
        #expect(machine.malformedEntries == 1 && machine.stateDigest != digest)
        var sink = InMemorySnapshotSink()
        try machine.writeSnapshot(to: &sink)
        var source = InMemorySnapshotSource(bytes: sink.bytes, chunkBytes: 7)
        let restored = try ClearingPartitionMachine.restore(from: &source)
        #expect(restored.stateDigest == machine.stateDigest)
    }

    @Test("a standby's apply without output reaches the primary's state, malformed entries included")
    func withoutOutput() throws {
        var primary = ClearingPartitionMachine()
        var standby = ClearingPartitionMachine()
        for (index, payload) in try (Self.inputs(count: 200) + [[1, 2]]).enumerated() {
            let entry = InputEntry(position: LogPosition(index + 1), timestampMicroseconds: 0, payload: payload)
            _ = primary.apply(entry)
            standby.applyWithoutOutput(entry)
        }
        #expect(standby.stateDigest == primary.stateDigest && standby.malformedEntries == 1)
    }

    @Test(
        "two replicas over Redis: kill the primary mid-stream; outputs exactly once, equal to one machine's",
        .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
    func failover() async throws {
        let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!
        let keys = ReplicaLogKeys(prefix: "test:\(UUID().uuidString):clr:{0}")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clearing-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func client() throws -> RedisClient { RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))) }
        let runtimes = try ["a", "b"].map { name in
            ReplicaRuntime<ClearingPartitionMachine>(
                configuration: .init(
                    name: name,
                    protocolConfiguration: .init(leaseDuration: .milliseconds(300), renewalInterval: .milliseconds(60), snapshotIntervalEntries: 300, snapshotInterval: .seconds(5)),
                    snapshotDirectory: directory + "/" + name),
                store: ReplicaLogStore(keys: keys, client: try client()), waitClient: try client())
        }
        var tasks = runtimes.map { runtime in Task { try await runtime.run() } }
        let producer = ReplicaLogStore(keys: keys, client: try client())
        defer { producer.client.shutdown() }
        let inputs = try Self.inputs(count: 1_200)
        var expected: [[UInt8]] = []
        var reference = ClearingPartitionMachine()
        for (index, payload) in inputs.enumerated() {
            expected.append(reference.apply(InputEntry(position: LogPosition(index + 1), timestampMicroseconds: 0, payload: payload)))
        }
        func primary() async -> Int? {
            for (index, runtime) in runtimes.enumerated() where await runtime.role == .primary { return index }
            return nil
        }
        func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("timed out waiting for \(what)")
        }
        try await waitFor("a primary") { await primary() != nil }
        let half = inputs.count / 2
        for chunk in stride(from: 0, to: half, by: 100) { _ = try await producer.appendInput(Array(inputs[chunk..<min(chunk + 100, half)])) }
        let first = try #require(await primary())
        tasks[first].cancel()
        for chunk in stride(from: half, to: inputs.count, by: 100) {
            _ = try await producer.appendInput(Array(inputs[chunk..<min(chunk + 100, inputs.count)]))
        }
        try await waitFor("the survivor to emit everything") {
            try await producer.observe().watermark == LogPosition(inputs.count)
        }
        let survivor = runtimes[1 - first]
        #expect(await survivor.role == .primary)
        #expect(await survivor.stateDigest == reference.stateDigest)
        var outputs: [(LogPosition, [UInt8])] = []
        var after = StreamID.zero
        while true {
            let page = try await producer.readOutputs(after: after, count: 1_000)
            guard let last = page.last else { break }
            outputs += page.map { ($0.position, $0.payload) }
            after = last.id
        }
        #expect(outputs.map(\.0) == Array(1...LogPosition(inputs.count)), "every input's output exactly once, in order")
        #expect(outputs.map(\.1) == expected)
        tasks.forEach { $0.cancel() }
        tasks.removeAll()
    }
}
