import ExchangeRedis
import Foundation
import Logging
import Testing

@testable import ExchangeGateway

/// The gateway's snowflake worker lease against the real Redis: a lease that lapsed (as it
/// does when Redis fails over or is out of reach for longer than the lease) is taken back;
/// one another instance holds stops the submitter, which must not issue that worker's ids.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct WorkerLeaseTests {
    @Test("a lapsed worker lease is taken back; a lease held by another instance stops the submitter")
    func lapseAndConflict() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        let submitter = try await OrderSubmitter.start(
            client: redis, partitionCount: 2, settler: AppendSettler(client: redis, logger: Logger(label: "test")), logger: Logger(label: "test"))
        let key = GatewayKeys.worker(submitter.worker)
        defer { Task { _ = try? await redis.send(["DEL", key]) } }
        let keeping = Task { try await submitter.keepLease(renewEvery: .milliseconds(20)) }
        // The lease lapsed: the key is gone, as after a Redis failover that lost its renewals.
        _ = try await redis.send(["DEL", key])
        var holder: String?
        for _ in 0..<100 where holder != submitter.leaseToken {
            try await Task.sleep(for: .milliseconds(20))
            holder = try await redis.send(["GET", key]).string
        }
        #expect(holder == submitter.leaseToken, "the lapsed lease was taken back")
        // Another instance took it meanwhile: this one stops.
        _ = try await redis.send(["SET", key, "another instance", "PX", "60000"])
        // Bounded: a submitter that did not notice would renew forever (cancelled, it returns).
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            keeping.cancel()
        }
        defer { watchdog.cancel() }
        await #expect(throws: OrderSubmitterError.self) { try await keeping.value }
        #expect(try await redis.send(["GET", key]).string == "another instance", "the other instance keeps its lease")
    }
}
