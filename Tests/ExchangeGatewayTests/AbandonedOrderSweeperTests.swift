import ExchangeAccess
import ExchangeCore
import ExchangeRedis
import Foundation
import Logging
import Testing

@testable import ExchangeGateway

/// Orders an instance admitted and abandoned (it stopped before learning whether their appends
/// landed), settled against the real Redis: never before the shared projection has passed
/// every input log's end as it was when the worker id was acquired; then those clearing
/// answered stand and the others are forgotten.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct AbandonedOrderSweeperTests {
    static let user: UserID = 7

    /// Appends an output entry answering input `position` of partition 0 and moves the shared
    /// projection's cursor onto it, as the projector does once it has applied the entry.
    static func project(_ position: Int, on redis: RedisClient) async throws {
        let output = ReplicaLogKeys.clearingPartition(0).output
        let id = try #require(try await redis.send(["XADD", output, "*", "p", String(position), "e", "1", "t", "0", "d", "-"]).string)
        _ = try await redis.send(["HSET", GatewayKeys.cursor, output, id])
    }

    @Test("a new holder of a worker id settles what earlier holders left marked: nothing until the projection passes the logs' ends at its acquisition; then the order clearing answered stands, the other is forgotten")
    func newHolderSettles() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        var ids = SnowflakeGenerator(worker: 0)
        let now = UInt64(WallClock.milliseconds())
        let (answered, abandoned) = (ids.next(nowMilliseconds: now), ids.next(nowMilliseconds: now))
        try await OrderSubmitterTests.writeRecord(redis, id: answered, user: Self.user, client: "answered")
        try await OrderSubmitterTests.writeRecord(redis, id: abandoned, user: Self.user, client: "abandoned")
        // Partition 0's log ends at 3 (the answered order is in one of its entries); the
        // projection has applied the outputs of 1 and 2. Partition 1's log is empty.
        let store = ReplicaLogStore(keys: .clearingPartition(0), client: redis)
        for byte: UInt8 in 1...3 { _ = try await store.appendInput([[byte]], producer: "another") }
        for position in 1...2 { try await Self.project(position, on: redis) }
        let submitter = try await OrderSubmitterTests.start(on: redis)
        #expect(submitter.worker == 0)
        let sweeping = Task { await submitter.sweeper.run() }
        defer { sweeping.cancel() }
        try await Task.sleep(for: .milliseconds(1_500))
        for id in [answered, abandoned] {
            #expect(try await redis.send(["HGET", GatewayKeys.order(id), OrderRecord.unsettledField]).string == "1", "nothing settled before the projection passed 3")
        }
        // Clearing answers `answered` at position 3: the projector removes its mark and moves on.
        _ = try await redis.send(["HDEL", GatewayKeys.order(answered), OrderRecord.unsettledField])
        _ = try await redis.send(["SREM", GatewayKeys.unsettledOrders(of: answered), String(answered)])
        try await Self.project(3, on: redis)
        try await OrderSubmitterTests.waitUntil { try await redis.send(["EXISTS", GatewayKeys.order(abandoned)]).integer == 0 }
        #expect(try await redis.send(["HGET", GatewayKeys.order(answered), "c"]).string == "answered")
        #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "answered"]).string == String(answered))
        #expect(try await redis.send(["HEXISTS", GatewayKeys.clientOrderIDs(Self.user), "abandoned"]).integer == 0, "a retry places anew")
        #expect(try await redis.send(["SISMEMBER", GatewayKeys.userOpenOrders(Self.user), String(abandoned)]).integer == 0)
        #expect(try await redis.send(["ZSCORE", GatewayKeys.userOrders(Self.user), String(abandoned)]).string == nil)
        #expect(try await redis.send(["EXISTS", GatewayKeys.unsettledOrders(ofWorker: 0)]).integer == 0)
    }

    @Test("a snapshot of more orders than one pipeline or script takes is settled in chunks")
    func largeSnapshot() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        var ids = SnowflakeGenerator(worker: 5)
        let now = UInt64(WallClock.milliseconds())
        let orders = (0..<4_500).map { _ in ids.next(nowMilliseconds: now) }
        for start in stride(from: 0, to: orders.count, by: 800) {
            _ = try await redis.pipeline(orders[start..<min(start + 800, orders.count)].flatMap { id in
                [["HSET", GatewayKeys.order(id), "u", String(Self.user), "c", "c\(id)", "st", "NEW", OrderRecord.unsettledField, "1"],
                 ["SADD", GatewayKeys.unsettledOrders(of: id), String(id)]]
            })
        }
        let sweeper = AbandonedOrderSweeper(client: redis, partitionCount: 2, scanInterval: .seconds(30), logger: Logger(label: "test"))
        #expect(try await sweeper.settle(.init(worker: 5, orders: orders, inputEnds: [0, 0])))
        // Counted by name, not by DBSIZE: an earlier suite's background work may still write its own keys.
        #expect(try await redis.send(["EXISTS"] + orders.map { GatewayKeys.order($0) }).integer == 0, "every record is gone")
        #expect(try await redis.send(["EXISTS", GatewayKeys.unsettledOrders(ofWorker: 5)]).integer == 0, "and the set")
    }

    @Test("a scan snapshots a worker id nobody holds with marked orders only when the previous scan found it so too, under a lease it lets go at once, and settles it; a held worker id's orders are left to their holder")
    func scanOfUnheldWorkers() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        let now = UInt64(WallClock.milliseconds())
        var unheldIDs = SnowflakeGenerator(worker: 5)
        var heldIDs = SnowflakeGenerator(worker: 6)
        let (unheld, held) = (unheldIDs.next(nowMilliseconds: now), heldIDs.next(nowMilliseconds: now))
        try await OrderSubmitterTests.writeRecord(redis, id: unheld, user: Self.user, client: "unheld")
        try await OrderSubmitterTests.writeRecord(redis, id: held, user: Self.user, client: "held")
        _ = try await redis.send(["SET", GatewayKeys.worker(6), "a live instance", "PX", "60000"])
        let sweeper = AbandonedOrderSweeper(client: redis, partitionCount: 2, scanInterval: .milliseconds(100), logger: Logger(label: "test"))
        // First seen unheld: left alone (its holder may only have lapsed, and renew soon).
        let seen = try await sweeper.scanUnheldWorkers(seenBefore: [])
        #expect(seen == [5])
        #expect(try await redis.send(["EXISTS", GatewayKeys.workerGeneration(5)]).integer == 0, "not acquired yet")
        // Still unheld at the next scan: acquired for the snapshot, and let go.
        #expect(try await sweeper.scanUnheldWorkers(seenBefore: seen) == [5])
        #expect(try await redis.send(["EXISTS", GatewayKeys.worker(5)]).integer == 0, "the scan's lease is let go")
        #expect(try await redis.send(["GET", GatewayKeys.workerGeneration(5)]).string == "1", "its acquisition counted: worker 5's last holder cannot take it back")
        // Both logs are empty: nothing of worker 5's can be in them.
        let sweeping = Task { await sweeper.run() }
        defer { sweeping.cancel() }
        try await OrderSubmitterTests.waitUntil { try await redis.send(["EXISTS", GatewayKeys.order(unheld)]).integer == 0 }
        #expect(try await redis.send(["EXISTS", GatewayKeys.unsettledOrders(ofWorker: 5)]).integer == 0)
        #expect(try await redis.send(["HEXISTS", GatewayKeys.clientOrderIDs(Self.user), "unheld"]).integer == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await redis.send(["HGET", GatewayKeys.order(held), OrderRecord.unsettledField]).string == "1")
        #expect(try await redis.send(["SISMEMBER", GatewayKeys.unsettledOrders(ofWorker: 6), String(held)]).integer == 1)
        #expect(try await redis.send(["GET", GatewayKeys.worker(6)]).string == "a live instance")
    }
}
