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

    /// A flushed Redis and a running submitter on it, for `body`.
    static func withSubmitter(_ body: (RedisClient, OrderSubmitter) async throws -> Void) async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        let submitter = try await OrderSubmitter.start(client: redis, partitionCount: 2, logger: Logger(label: "test"))
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
            if case .failure(let error) = outcomes[2].1 { #expect(error is OrderSubmitterError) }
        }
    }
}
