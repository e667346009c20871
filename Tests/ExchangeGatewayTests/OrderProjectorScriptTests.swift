import ExchangeRedis
import Foundation
import Testing

@testable import ExchangeGateway

/// The projector's apply script against the real Redis: what an operation list does to the view.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OrderProjectorScriptTests {
    @Test("a clearing freeze's operation removes its record's unsettled mark, and writes nothing where there is no record; the cursor moves once")
    func unmark() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        _ = try await redis.send(["HSET", GatewayKeys.order(5), "u", "1", "st", "NEW", OrderRecord.unsettledField, "1"])
        let operations = [OrderViewProjection.unsettledMarkRemoval(5), OrderViewProjection.unsettledMarkRemoval(6)]
        let arguments = ["clr:{0}:out", "3-1", String(operations.count)] + operations.flatMap(\.arguments)
        for _ in 0..<2 { _ = try await OrderProjector.applyScript.run(on: redis, keys: [GatewayKeys.cursor], arguments: arguments) }
        #expect(try await redis.send(["HEXISTS", GatewayKeys.order(5), OrderRecord.unsettledField]).integer == 0)
        #expect(try await redis.send(["HGETALL", GatewayKeys.order(5)]).array?.compactMap(\.string) == ["u", "1", "st", "NEW"])
        #expect(try await redis.send(["EXISTS", GatewayKeys.order(6)]).integer == 0, "flow-file orders get no records")
        #expect(try await redis.send(["HGET", GatewayKeys.cursor, "clr:{0}:out"]).string == "3-1")
        // A record written again at the same entry (the cursor is past it) keeps its mark: nothing is applied twice.
        _ = try await redis.send(["HSET", GatewayKeys.order(5), OrderRecord.unsettledField, "1"])
        _ = try await OrderProjector.applyScript.run(on: redis, keys: [GatewayKeys.cursor], arguments: arguments)
        #expect(try await redis.send(["HEXISTS", GatewayKeys.order(5), OrderRecord.unsettledField]).integer == 1)
    }
}
