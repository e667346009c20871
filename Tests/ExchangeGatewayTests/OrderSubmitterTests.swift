import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeRedis
import Foundation
import Logging
import Testing

@testable import ExchangeGateway

/// The gateway's order submitter against the real Redis: whatever arrives while an append is
/// in flight goes in the next batch, each submission exactly once and in order.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OrderSubmitterTests {
    static let user: UserID = 7

    /// A submitter on `redis` (2 partitions), with `settler` (a new one by default) and a
    /// sweeper that scans every 200 ms, neither running.
    static func start(on redis: RedisClient, settler: AppendSettler? = nil) async throws -> OrderSubmitter {
        let logger = Logger(label: "test")
        return try await OrderSubmitter.start(
            client: redis, partitionCount: 2, settler: settler ?? AppendSettler(client: redis, logger: logger),
            sweeper: AbandonedOrderSweeper(client: redis, partitionCount: 2, scanInterval: .milliseconds(200), logger: logger), logger: logger)
    }

    /// A flushed Redis and a running submitter on it, for `body`.
    static func withSubmitter(_ body: (RedisClient, OrderSubmitter) async throws -> Void) async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        let submitter = try await OrderSubmitterTests.start(on: redis)
        let running = Task { await submitter.run() }
        defer { running.cancel() }
        try await body(redis, submitter)
    }

    @Test("concurrent submissions: each is appended exactly once, in increasing positions")
    func concurrentSubmissions() async throws {
        try await Self.withSubmitter { redis, submitter in
            // Cancels (no order records needed): 3 waves of 40 at once over both partitions,
            // each wave finding the previous batch still in flight or done.
            var expected: Set<OrderID> = []
            for wave in 0..<3 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<40 {
                        let orderID = OrderID(wave * 100 + index)
                        expected.insert(orderID)
                        group.addTask {
                            try await submitter.submit(.init(command: .cancel(orderID: orderID, userID: Self.user), partition: PartitionID(index % 2)))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var seen: [OrderID] = []
            for partition: PartitionID in [0, 1] {
                let entries = try await redis.xrange(ReplicaLogKeys.clearingPartition(partition).input, after: StreamID(milliseconds: 0, sequence: 0), count: 1_000)
                let inputs = try entries.map { try ClearingLogCodec.decodeInput(try #require($0.value("d"))) }
                #expect(zip(inputs, inputs.dropFirst()).allSatisfy { $0.position < $1.position }, "positions increase in partition \(partition)")
                for input in inputs {
                    for command in input.commands { if case .cancel(let orderID, _) = command { seen.append(orderID) } }
                }
            }
            #expect(seen.count == expected.count && Set(seen) == expected, "each submission once: \(seen.count) of \(expected.count)")
        }
    }

    @Test("a retry Redis skipped: appended if its entry is in the log since the call began, superseded if another holder's higher tag hid it")
    func skippedRetries() async throws {
        try await Self.withSubmitter { redis, submitter in
            func input(_ partition: PartitionID, _ tag: Int, _ byte: UInt8) -> ReplicaLogStore.InputBatch {
                .init(keys: .clearingPartition(partition), payloads: [[byte]], tags: [String(tag)])
            }
            let started = ContinuousClock.now - .seconds(1)
            let landed = [input(0, 1_000, 1), input(1, 1_001, 2)]
            #expect(try await ReplicaLogStore.appendInputs(landed, producer: submitter.producer, on: redis) == [1, 1])
            // Another holder of the worker id goes further in partition 0.
            _ = try await ReplicaLogStore.appendInputs([input(0, 5_000, 3)], producer: submitter.producer, on: redis)
            let lost = input(0, 1_002, 4)
            let outcomes = await submitter.searchSkipped(landed + [lost], since: started, attempts: 1).sorted { $0.0 < $1.0 }
            #expect(outcomes.map(\.0) == [0, 1, 2])
            #expect(outcomes.map { (try? $0.1.get()) != nil } == [true, true, false])
            if case .failure(let error) = outcomes[2].1 { #expect(error as? OrderSubmitterError == .superseded) }
        }
    }

    /// Writes a gateway's record of order `id` (user `user`, client order id `client`), marked
    /// unsettled, its index entries and its place among its worker id's marked orders, as the
    /// admission does before the append.
    static func writeRecord(_ redis: RedisClient, id: OrderID, user: UserID, client: String) async throws {
        _ = try await redis.pipeline([
            ["HSET", GatewayKeys.order(id), "u", String(user), "c", client, "st", "NEW", OrderRecord.unsettledField, "1"],
            ["HSET", GatewayKeys.clientOrderIDs(user), client, String(id)],
            ["ZADD", GatewayKeys.userOrders(user), "1", String(id)],
            ["SADD", GatewayKeys.userOpenOrders(user), String(id)],
            ["SADD", GatewayKeys.unsettledOrders(of: id), String(id)],
        ])
    }

    @Test("an entry whose every attempt failed: the submitter fails it as unknown and fences its tag before appending again; the settler proves it absent by that fence and forgets its order")
    func unknownAppendSettled() async throws {
        try await Self.withSubmitter { redis, submitter in
            let order = ClearingOrder(
                orderID: 41, userID: Self.user, symbol: "BTCUSDT", side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 100), quantity: Quantity(lots: 1))
            try await Self.writeRecord(redis, id: 41, user: Self.user, client: "retry-me")
            // The partition's input log is not a stream: every attempt fails.
            let keys = ReplicaLogKeys.clearingPartition(0)
            _ = try await redis.send(["SET", keys.input, "not a stream"])
            await #expect(throws: OrderSubmitterError.outcomeUnknown) {
                try await submitter.submit(.init(command: .place(order), partition: 0))
            }
            // The log comes back; the next append to it goes in, after the submitter fenced the
            // unknown tag (the settler has not run yet): the fence found the last tag below it.
            _ = try await redis.send(["DEL", keys.input, keys.sequence])
            try await submitter.submit(.init(command: .cancel(orderID: 99, userID: Self.user), partition: 0))
            let pattern = keys.fencedTag(producer: submitter.producer, tag: 0).dropLast() + "*"
            let fenced = try await redis.send(["KEYS", String(pattern)]).array?.compactMap(\.string) ?? []
            let tag = try #require(fenced.count == 1 ? fenced[0].split(separator: ":").last.flatMap { UInt64($0) } : nil)
            #expect(try await redis.send(["GET", fenced[0]]).string == "-1", "no tag of this producer in that log before")
            #expect(try await ReplicaLogStore(keys: keys, client: redis).inputLength() == 1)
            // The settler proves it absent by the fence, although the log holds a later entry of
            // the producer, and forgets the order.
            let settling = Task { await submitter.settler.run() }
            defer { settling.cancel() }
            try await Self.waitUntil { try await redis.send(["EXISTS", GatewayKeys.order(41)]).integer == 0 }
            try await Self.waitUntil { try await redis.send(["HLEN", AppendSettler.key]).integer == 0 }
            #expect(try await redis.send(["HEXISTS", GatewayKeys.clientOrderIDs(Self.user), "retry-me"]).integer == 0)
            #expect(try await redis.send(["ZSCORE", GatewayKeys.userOrders(Self.user), "41"]).string == nil)
            #expect(try await redis.send(["SISMEMBER", GatewayKeys.userOpenOrders(Self.user), "41"]).integer == 0)
            #expect(try await redis.send(["GET", keys.lastTag(producer: submitter.producer)]).string.flatMap { UInt64($0) }.map { $0 > tag } == true)
        }
    }

    @Test("a new holder of a worker id fences the tags gw:unsettled holds for it and appends above them")
    func newHolderFencesRecordedTags() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        // A previous holder of worker 0 left an entry of partition 1 to settle, tagged far ahead.
        let settler = AppendSettler(client: redis, logger: Logger(label: "test"))
        let ahead = UInt64(WallClock.milliseconds() + 3_600_000) * 1_024
        _ = try await settler.record(
            .init(partition: 1, producer: "gw-0", tag: ahead, payload: Data([1]), placements: [.init(orderID: 61, userID: Self.user)]),
            firstAttempt: .now)
        let submitter = try await OrderSubmitterTests.start(on: redis, settler: settler)
        #expect(submitter.producer == "gw-0")
        let keys = ReplicaLogKeys.clearingPartition(1)
        #expect(try await redis.send(["GET", keys.fencedTag(producer: "gw-0", tag: ahead)]).string == "-1", "fenced before any append")
        let running = Task { await submitter.run() }
        defer { running.cancel() }
        try await submitter.submit(.init(command: .cancel(orderID: 62, userID: Self.user), partition: 1))
        let entry = try #require(try await ReplicaLogStore(keys: keys, client: redis).readTaggedInput(after: 0, count: 10).first)
        #expect(entry.tag.flatMap { UInt64($0) }.map { $0 > ahead } == true, "its tag above the recorded one")
    }

    @Test("settling recorded entries: one that landed keeps its order, absent ones (by the fence, by the producer's older entry) are forgotten, one in a trimmed log stays marked until clearing answers its order")
    func recordedEntriesSettled() async throws {
        try await Self.withSubmitter { redis, submitter in
            let settler = submitter.settler
            func unknown(_ partition: PartitionID, tag: UInt64, byte: UInt8, order: OrderID) -> AppendSettler.UnknownAppend {
                .init(partition: partition, producer: "gw-9", tag: tag, payload: Data([byte]), placements: [.init(orderID: order, userID: Self.user)])
            }
            for (order, client) in [(51, "landed"), (52, "absent"), (53, "trimmed"), (54, "proved")] as [(OrderID, String)] {
                try await Self.writeRecord(redis, id: order, user: Self.user, client: client)
            }
            let landed = unknown(0, tag: 1_000, byte: 1, order: 51)
            let absent = unknown(1, tag: 1_000, byte: 2, order: 52)
            let trimmed = unknown(2, tag: 1_000, byte: 3, order: 53)
            // Its answer was lost, but the entry is there, behind another's.
            _ = try await ReplicaLogStore.appendInputs(
                [.init(keys: .clearingPartition(0), payloads: [[1]], tags: ["1000"])], producer: "gw-9", on: redis)
            _ = try await ReplicaLogStore(keys: .clearingPartition(0), client: redis).appendInput([[7]], producer: "another")
            // gw-9 never appended to partition 1: absent, by the fence alone.
            _ = try await ReplicaLogStore(keys: .clearingPartition(1), client: redis).appendInput([[7]], producer: "another")
            // Partition 2's log held gw-9's tag 1000 (other bytes: another holder of the name), then
            // was trimmed past it: the entry cannot be told from that one, inconclusive.
            let store2 = ReplicaLogStore(keys: .clearingPartition(2), client: redis)
            _ = try await store2.appendInput([[10]], tags: ["1000"], producer: "gw-9")
            for byte: UInt8 in 11...12 { _ = try await store2.appendInput([[byte]], producer: "another") }
            _ = try await redis.send(["XTRIM", ReplicaLogKeys.clearingPartition(2).input, "MINID", "3"])
            // Partition 3's log was trimmed too, and gw-9 went past 1000 there (tag 1001), but it
            // holds gw-9's entry tagged 999, so 1000 cannot be further back: absent, whatever the clocks.
            let proved = unknown(3, tag: 1_000, byte: 4, order: 54)
            let store3 = ReplicaLogStore(keys: .clearingPartition(3), client: redis)
            _ = try await store3.appendInput([[20]], producer: "another")
            _ = try await store3.appendInput(
                [ClearingLogCodec.encode(ClearingInput(producer: ProducerID("gw-9"), position: 999, commands: []))], tags: ["999"], producer: "gw-9")
            _ = try await store3.appendInput([[21]], producer: "another")
            _ = try await store3.appendInput(
                [ClearingLogCodec.encode(ClearingInput(producer: ProducerID("gw-9"), position: 1_001, commands: []))], tags: ["1001"], producer: "gw-9")
            _ = try await redis.send(["XTRIM", ReplicaLogKeys.clearingPartition(3).input, "MINID", "2"])
            for append in [landed, absent, trimmed, proved] { _ = try await settler.record(append, firstAttempt: .now - .seconds(1)) }
            // A fresh instance settles what is recorded when it starts.
            let restarted = AppendSettler(client: redis, logger: Logger(label: "test"))
            #expect(Set(try await restarted.recordedAppends().map(\.field)) == Set([landed, absent, trimmed, proved].map(\.field)))
            let settling = Task { await restarted.run() }
            defer { settling.cancel() }
            try await Self.waitUntil { try await redis.send(["HLEN", AppendSettler.key]).integer == 1 }
            #expect(try await redis.send(["HKEYS", AppendSettler.key]).array?.compactMap(\.string) == [trimmed.field])
            #expect(try await redis.send(["HGET", GatewayKeys.order(51), "c"]).string == "landed")
            #expect(try await redis.send(["HEXISTS", GatewayKeys.order(51), "un"]).integer == 0)
            #expect(try await redis.send(["SMEMBERS", GatewayKeys.unsettledOrders(ofWorker: 0)]).array?.compactMap(\.string) == ["53"], "landed and forgotten orders leave the set")
            #expect(try await redis.send(["EXISTS", GatewayKeys.order(52)]).integer == 0)
            #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "absent"]).string == nil)
            #expect(try await redis.send(["HGET", GatewayKeys.order(53), "un"]).string == "1")
            #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "trimmed"]).string == "53")
            // Clearing answers order 53 (the projector removes its mark): the entry did land, and is settled so.
            _ = try await redis.send(["HDEL", GatewayKeys.order(53), OrderRecord.unsettledField])
            try await Self.waitUntil(within: .seconds(30)) { try await redis.send(["HLEN", AppendSettler.key]).integer == 0 }
            #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "trimmed"]).string == "53")
            #expect(try await redis.send(["EXISTS", GatewayKeys.order(54)]).integer == 0)
        }
    }

    /// Polls `condition` every 20 ms for up to `within`; fails the test if it never holds.
    static func waitUntil(within: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("condition never held")
    }
}
