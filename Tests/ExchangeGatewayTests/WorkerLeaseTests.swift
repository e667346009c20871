import ExchangeCluster
import ExchangeRedis
import Foundation
import Logging
import Testing

@testable import ExchangeGateway

/// The gateway's snowflake worker lease against the real Redis: a lease that lapsed (as it
/// does when Redis fails over or is out of reach for longer than the lease) is taken back
/// while nobody acquired it since; once someone has, the old holder appends nothing more and
/// stops, since that one may issue the same ids.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct WorkerLeaseTests {
    @Test("a lapsed worker lease is taken back; a lease held by another instance stops the submitter")
    func lapseAndConflict() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        let submitter = try await OrderSubmitterTests.start(on: redis)
        let key = GatewayKeys.worker(submitter.worker)
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
        _ = try await redis.send(["DEL", key])
    }

    @Test("once another acquires the worker id (here a sweep, which lets it go at once), the old holder's appends are refused and it cannot take the lease back")
    func cutOffByAnAcquisition() async throws {
        try await OrderSubmitterTests.withSubmitter { redis, submitter in
            let keys = ReplicaLogKeys.clearingPartition(0)
            try await submitter.submit(.init(command: .cancel(orderID: 1, userID: 7), partition: 0))
            #expect(try await ReplicaLogStore(keys: keys, client: redis).inputLength() == 1)
            // The lease lapses, and a sweep acquires and releases it before the holder renews.
            _ = try await redis.send(["DEL", GatewayKeys.worker(submitter.worker)])
            let generation = try #require(try await WorkerLease.acquire(submitter.worker, token: "sweep", duration: .seconds(10), on: redis))
            #expect(generation == submitter.leaseGeneration + 1)
            try await WorkerLease.release(submitter.worker, token: "sweep", on: redis)
            #expect(try await redis.send(["EXISTS", GatewayKeys.worker(submitter.worker)]).integer == 0)
            await #expect(throws: OrderSubmitterError.superseded) {
                try await submitter.submit(.init(command: .cancel(orderID: 2, userID: 7), partition: 0))
            }
            #expect(try await ReplicaLogStore(keys: keys, client: redis).inputLength() == 1, "nothing appended without the lease")
            let renewal = try await WorkerLease.renew(
                submitter.worker, token: submitter.leaseToken, generation: submitter.leaseGeneration, duration: .seconds(30), on: redis)
            #expect(renewal == .lost)
            #expect(try await redis.send(["EXISTS", GatewayKeys.worker(submitter.worker)]).integer == 0, "not taken back")
        }
    }
}
