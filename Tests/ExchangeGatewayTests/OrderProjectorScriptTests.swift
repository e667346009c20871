import ExchangeAccess
import ExchangeRedis
import Foundation
import Testing

@testable import ExchangeGateway

/// The projector's apply script against the real Redis: what an operation list does to the view.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OrderProjectorScriptTests {
    @Test("a clearing freeze's operations remove its record's unsettled mark and its place among its worker's marked orders, and write nothing where there is no record; the cursor moves once")
    func unmark() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        var ids = SnowflakeGenerator(worker: 3)
        let (recorded, unrecorded) = (ids.next(nowMilliseconds: 1_800_000_000_000), ids.next(nowMilliseconds: 1_800_000_000_000))
        let marked = GatewayKeys.unsettledOrders(ofWorker: 3)
        _ = try await redis.send(["HSET", GatewayKeys.order(recorded), "u", "1", "st", "NEW", OrderRecord.unsettledField, "1"])
        _ = try await redis.send(["SADD", marked, String(recorded), "77"])
        let operations = OrderViewProjection.unsettledMarkRemoval(recorded) + OrderViewProjection.unsettledMarkRemoval(unrecorded)
        let arguments = ["clr:{0}:out", "3-1", String(operations.count)] + operations.flatMap(\.arguments)
        for _ in 0..<2 { _ = try await OrderProjector.applyScript.run(on: redis, keys: [GatewayKeys.cursor], arguments: arguments) }
        #expect(try await redis.send(["HEXISTS", GatewayKeys.order(recorded), OrderRecord.unsettledField]).integer == 0)
        #expect(try await redis.send(["HGETALL", GatewayKeys.order(recorded)]).array?.compactMap(\.string) == ["u", "1", "st", "NEW"])
        #expect(try await redis.send(["SMEMBERS", marked]).array?.compactMap(\.string) == ["77"])
        #expect(try await redis.send(["EXISTS", GatewayKeys.order(unrecorded)]).integer == 0, "flow-file orders get no records")
        #expect(try await redis.send(["HGET", GatewayKeys.cursor, "clr:{0}:out"]).string == "3-1")
        // A record written again at the same entry (the cursor is past it) keeps its mark: nothing is applied twice.
        _ = try await redis.send(["HSET", GatewayKeys.order(recorded), OrderRecord.unsettledField, "1"])
        _ = try await OrderProjector.applyScript.run(on: redis, keys: [GatewayKeys.cursor], arguments: arguments)
        #expect(try await redis.send(["HEXISTS", GatewayKeys.order(recorded), OrderRecord.unsettledField]).integer == 1)
    }
}
