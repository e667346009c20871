import ExchangeRedis
import ExchangeReplication
import Foundation
import Testing

@Suite struct LogTrimPlanTests {
    static let retention = StreamID(milliseconds: 1_000_000, sequence: 0)
    static func id(_ milliseconds: UInt64) -> StreamID { StreamID(milliseconds: milliseconds, sequence: 0) }

    @Test("nothing is trimmed without a published snapshot, or before every required consumer has reported")
    func holds() {
        let recorder = LogTrimPlan.Consumer(name: "recorder", taken: Self.id(50), takenPosition: 50)
        #expect(LogTrimPlan.plan(
            published: 0, replicaSnapshots: [], consumers: [recorder], required: [], firstOutputAfterPublished: nil, lastOutput: Self.id(90),
            retentionFloor: Self.retention) == .nothing)
        #expect(LogTrimPlan.plan(
            published: 80, replicaSnapshots: [], consumers: [recorder], required: ["recorder", "gateway"], firstOutputAfterPublished: Self.id(81),
            lastOutput: Self.id(90), retentionFloor: Self.retention) == .nothing)
    }

    @Test("the input keeps what replicas' snapshots and consumers' inputs need; the output what consumers, the published snapshot and the retention need")
    func floors() {
        let consumers = [
            LogTrimPlan.Consumer(name: "recorder", taken: Self.id(70), takenPosition: 70),
            LogTrimPlan.Consumer(name: "gateway", taken: Self.id(60), takenPosition: 60),
        ]
        func plan(snapshots: [LogPosition] = [], consumers: [LogTrimPlan.Consumer], anchor: StreamID? = Self.id(81), retention: StreamID = Self.retention) -> LogTrimPlan {
            LogTrimPlan.plan(
                published: 80, replicaSnapshots: snapshots, consumers: consumers, required: ["recorder"], firstOutputAfterPublished: anchor,
                lastOutput: Self.id(90), retentionFloor: retention)
        }
        #expect(plan(consumers: consumers) == LogTrimPlan(inputThrough: 60, outputBelow: Self.id(60)))
        #expect(plan(snapshots: [40, 85], consumers: consumers) == LogTrimPlan(inputThrough: 40, outputBelow: Self.id(60)))
        let ahead = [LogTrimPlan.Consumer(name: "recorder", taken: Self.id(90), takenPosition: 90)]
        #expect(plan(consumers: ahead) == LogTrimPlan(inputThrough: 80, outputBelow: Self.id(81)), "the outputs after the published snapshot stay")
        #expect(plan(consumers: ahead, anchor: nil) == LogTrimPlan(inputThrough: 80, outputBelow: Self.id(90)), "the last output stays")
        #expect(plan(consumers: ahead, retention: Self.id(20)) == LogTrimPlan(inputThrough: 80, outputBelow: Self.id(20)), "young outputs stay")
        let gone = [LogTrimPlan.Consumer(name: "recorder", taken: Self.id(5), takenPosition: nil)]
        #expect(plan(consumers: gone).inputThrough == 0, "a consumer whose entry is gone holds the input")
        #expect(LogTrimPlan.plan(
            published: 80, replicaSnapshots: [], consumers: ahead, required: [], firstOutputAfterPublished: nil, lastOutput: nil,
            retentionFloor: Self.retention) == LogTrimPlan(inputThrough: 80, outputBelow: nil))
    }
}

/// `ReplicaLogStore.trim` and `firstOutput(afterPosition:)` against the test Redis, on a log of
/// 3,000 inputs and outputs written directly (many outputs share a millisecond).
@Suite(.serialized) struct LogTrimmingTests {
    let count = 3_000

    func makeLog() async throws -> ReplicaLogStore? {
        guard let url = TestRedis.url else { return nil }
        let store = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "test:trim:{\(UUID().uuidString)}"), client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        for chunk in stride(from: 1, through: count, by: 500) {
            var commands: [[String]] = []
            for position in chunk..<(chunk + 500) {
                commands.append(["XADD", store.keys.input, "\(position)-1", "d", "in", "t", "0"])
                commands.append(["XADD", store.keys.output, "*", "p", "\(position)", "e", "1", "t", "0", "d", "out"])
            }
            _ = try await store.client.pipeline(commands)
        }
        return store
    }

    func firstPositions(_ store: ReplicaLogStore) async throws -> (input: LogPosition?, output: LogPosition?) {
        (try await store.readInput(after: 0, count: 1).first?.position, try await store.readOutputs(after: .zero, count: 1).first?.position)
    }

    func outputID(_ store: ReplicaLogStore, position: LogPosition) async throws -> StreamID {
        try #require(try await store.firstOutput(afterPosition: position - 1)).id
    }

    @Test("firstOutput(afterPosition:) finds the output after any position by bisection")
    func firstOutput() async throws {
        guard let store = try await makeLog() else { return }
        defer { store.client.shutdown() }
        for position in [0, 1, 2, 777, 1_500, 2_998, 2_999] as [LogPosition] {
            #expect(try await store.firstOutput(afterPosition: position)?.position == position + 1)
        }
        #expect(try await store.firstOutput(afterPosition: LogPosition(count)) == nil)
        _ = try await store.client.pipeline([["DEL", store.keys.input, store.keys.output]])
    }

    @Test("trim: held until the required consumer reports; then down to the oldest need; young outputs stay under a retention")
    func trims() async throws {
        guard let store = try await makeLog() else { return }
        defer { store.client.shutdown() }
        let retention = Duration.seconds(3_600)
        #expect(try await store.trim(published: 2_000, required: ["recorder"], retention: .zero) == .nothing)
        #expect(try await firstPositions(store) == (1, 1))

        try await ReplicaLogStore.reportConsumed(by: "recorder", [(store.keys, try await outputID(store, position: 2_500))], on: store.client)
        try await ReplicaLogStore.reportConsumed(by: "gateway", [(store.keys, try await outputID(store, position: 1_200))], on: store.client)
        // The outputs are seconds old at most: a retention of an hour keeps every one.
        _ = try await store.trim(published: 2_000, required: ["recorder"], retention: retention)
        #expect(try await firstPositions(store) == (1_201, 1))
        // Without retention, the gateway's position holds both logs.
        _ = try await store.trim(published: 2_000, required: ["recorder"], retention: .zero)
        #expect(try await firstPositions(store) == (1_201, 1_200))
        // The gateway catches up: the published snapshot holds them now.
        try await ReplicaLogStore.reportConsumed(by: "gateway", [(store.keys, try await outputID(store, position: 2_990))], on: store.client)
        _ = try await store.trim(published: 2_000, required: ["recorder", "gateway"], retention: .zero)
        #expect(try await firstPositions(store) == (2_001, 2_001))
        _ = try await store.client.pipeline([["DEL", store.keys.input, store.keys.output, store.keys.consumers]])
    }
}
