import ExchangeRedis
import ExchangeReplication
import Testing

@Suite(.enabled(if: TestRedis.isConfigured, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct ReplicaLogStoreTests {
    func store() throws -> ReplicaLogStore {
        ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(TestRedis.namespace()){0}"), client: try TestRedis.client())
    }

    @Test("input positions are dense and ordered across concurrent appenders; payloads are binary-safe")
    func denseInput() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        let firsts = try await withThrowingTaskGroup(of: LogPosition.self) { group in
            for writer in 0..<20 {
                group.addTask { try await store.appendInput([[0, UInt8(writer), 0xFF], [1, UInt8(writer)]]) }
            }
            return try await group.reduce(into: [LogPosition]()) { $0.append($1) }
        }
        #expect(firsts.sorted() == Array(stride(from: LogPosition(1), through: 39, by: 2)))
        let entries = try await store.readInput(after: 0, count: 100)
        #expect(entries.map(\.position) == Array(1...40))
        #expect(entries[0].payload.first == 0 && entries[0].payload.last == 0xFF)
        #expect(entries.allSatisfy { $0.timestampMicroseconds > 1_700_000_000_000_000 })
        #expect(try await store.readInput(after: 38, count: 100).map(\.position) == [39, 40])
    }

    @Test("trace metadata travels beside input and output payloads (field c), untouched payloads beside it")
    func traceMetadata() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        let traces = EntryTraces([.init(orderID: 42, traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])
        _ = try await store.appendInput([[1], [2]], traces: [traces, .none])
        let entries = try await store.readInput(after: 0, count: 10)
        #expect(entries.map(\.traces) == [traces, .none])
        #expect(entries.map(\.payload) == [[1], [2]])
        _ = try await store.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        let prefetched = try await store.appendOutputs(
            [.init(position: 1, payload: [10], traces: traces), .init(position: 2, payload: [20])], epoch: 1, readingInputAfter: 0, count: 10)
        #expect(prefetched.map(\.traces) == [traces, .none])
        let outputs = try await store.readOutputs(after: .zero, count: 10)
        #expect(outputs.map(\.traces) == [traces, .none] && outputs.map(\.payload) == [[10], [20]])
        #expect(try await store.observe().watermark == 2)
    }

    @Test("lease: one holder at a time, epochs bump, a deposed holder cannot renew or append")
    func leaseAndFencing() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        #expect(try await store.acquireLease(holder: "a", epoch: 1, duration: .milliseconds(200)) == .acquired(epoch: 1, watermark: 0))
        guard case .held(holder: "a", epoch: 1, _) = try await store.acquireLease(holder: "b", epoch: 2, duration: .seconds(1)) else {
            Issue.record("b took a held lease")
            return
        }
        try await store.appendOutputs([.init(position: 1, payload: [10]), .init(position: 2, payload: [20])], epoch: 1)
        #expect(try await store.renewLease(holder: "a", epoch: 1, duration: .milliseconds(200)).renewed)
        // a stops renewing (a pause past the lease); b takes over at epoch 2.
        try await Task.sleep(for: .milliseconds(300))
        let observed = try await store.observe()
        #expect(observed.holder == nil && observed.epoch == 1 && observed.watermark == 2)
        #expect(try await store.acquireLease(holder: "b", epoch: 2, duration: .seconds(5)) == .acquired(epoch: 2, watermark: 2))
        // a wakes up: its renewal and its append are refused.
        let renewal = try await store.renewLease(holder: "a", epoch: 1, duration: .milliseconds(200))
        #expect(!renewal.renewed && renewal.holder == "b" && renewal.epoch == 2)
        await #expect(throws: FencedAppendError.fenced(currentEpoch: 2)) { try await store.appendOutputs([.init(position: 3, payload: [30])], epoch: 1) }
        // b continues exactly after the watermark; a gap or a repeat is refused.
        await #expect(throws: FencedAppendError.gap(watermark: 2)) { try await store.appendOutputs([.init(position: 2, payload: [21])], epoch: 2) }
        try await store.appendOutputs([.init(position: 3, payload: [31])], epoch: 2)
        let outputs = try await store.readOutputs(after: .zero, count: 10)
        #expect(outputs.map(\.position) == [1, 2, 3])
        #expect(outputs.map(\.epoch) == [1, 1, 2])
        #expect(outputs.map(\.payload) == [[10], [20], [31]])
    }

    @Test("a bidder whose view of the epoch lags still gets the next epoch when the lease is free")
    func laggingBidder() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        #expect(try await store.acquireLease(holder: "a", epoch: 1, duration: .milliseconds(50)) == .acquired(epoch: 1, watermark: 0))
        try await Task.sleep(for: .milliseconds(100))
        // c last saw epoch 0 and bids 1: epoch 1 is taken, so it gets 2 (a fresh fencing token).
        #expect(try await store.acquireLease(holder: "c", epoch: 1, duration: .seconds(1)) == .acquired(epoch: 2, watermark: 0))
        await #expect(throws: FencedAppendError.fenced(currentEpoch: 2)) { try await store.appendOutputs([.init(position: 1, payload: [1])], epoch: 1) }
    }

    @Test("an append whose positions are not consecutive is refused whole")
    func nonConsecutiveAppend() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        _ = try await store.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        await #expect(throws: FencedAppendError.gap(watermark: 0)) { try await store.appendOutputs([.init(position: 1, payload: [1]), .init(position: 3, payload: [3])], epoch: 1) }
        #expect(try await store.observe().watermark == 0)
    }

    @Test("the output watermark is kept beside the log at its epoch; a log appended to without it (an older build, another epoch) is read from its last entry")
    func outputWatermarkKey() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        _ = try await store.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        try await store.appendOutputs([.init(position: 1, payload: [1]), .init(position: 2, payload: Array(repeating: 7, count: 1 << 20))], epoch: 1)
        #expect(try await store.client.send(["GET", store.keys.outputWatermark]).string == "2:1")
        #expect(try await store.observe().watermark == 2)
        // As an older version left it: entries, no mark.
        _ = try await store.client.send(["DEL", store.keys.outputWatermark])
        #expect(try await store.observe().watermark == 2)
        await #expect(throws: FencedAppendError.gap(watermark: 2)) { try await store.appendOutputs([.init(position: 2, payload: [2])], epoch: 1) }
        try await store.appendOutputs([.init(position: 3, payload: [3])], epoch: 1)
        #expect(try await store.client.send(["GET", store.keys.outputWatermark]).string == "3:1")
        // A primary of a build that keeps no mark (a rolling upgrade) appends at the next epoch:
        // the mark, set at epoch 1, is not trusted then.
        _ = try await store.client.send(["SET", store.keys.epoch, "2"])
        _ = try await store.client.send(["XADD", store.keys.output, "*", "p", "4", "e", "2", "t", "0", "d", "x"])
        #expect(try await store.observe().watermark == 4)
        await #expect(throws: FencedAppendError.gap(watermark: 4)) { try await store.appendOutputs([.init(position: 4, payload: [4])], epoch: 2) }
        try await store.appendOutputs([.init(position: 5, payload: [5])], epoch: 2)
        #expect(try await store.client.send(["GET", store.keys.outputWatermark]).string == "5:2")
        // A log deleted under its mark starts over at 0, as an empty log always did.
        _ = try await store.client.send(["DEL", store.keys.output])
        #expect(try await store.observe().watermark == 0)
        try await store.appendOutputs([.init(position: 1, payload: [1])], epoch: 2)
        #expect(try await store.observe().watermark == 1)
    }

    @Test("producers' tags are independent: one producer's retry never hides another's entries")
    func producerTags() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        #expect(try await store.appendInput([[1], [2]], tags: ["10", "11"], producer: "p") == 1)
        #expect(try await store.appendInput([[3]], tags: ["5"], producer: "q") == 3)
        #expect(try await store.appendInput([[2]], tags: ["11"], producer: "p") == 0)
        #expect(try await store.inputLength() == 3)
    }

    @Test("a skipped retry tells its own earlier attempt from another holder's higher tag by the entry itself")
    func landedInputs() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        _ = try await store.appendInput([[1, 2]], tags: ["10"], producer: "gw-0")
        // Another holder of the same producer name, further on, then 2,500 entries of others (growing pages).
        _ = try await store.appendInput([[3]], tags: ["20"], producer: "gw-0")
        for chunk in 0..<5 { _ = try await store.appendInput(Array(repeating: [UInt8(chunk)], count: 500)) }
        // A retry of tag 10 is skipped (20 is higher) although it got in; tag 15 never did.
        #expect(try await store.appendInput([[1, 2]], tags: ["10"], producer: "gw-0") == 0)
        func search(_ wanted: [(tag: String, payload: [UInt8])], notBefore: UInt64 = 0) async throws -> (Set<String>, Bool) {
            let result = try await store.landedInputs(wanted, notBeforeMicroseconds: notBefore)
            return (result.found, result.complete)
        }
        #expect(try await search([("10", [1, 2]), ("15", [9])]) == (["10"], true), "the whole log, from position 1")
        #expect(try await search([("10", [9])]) == ([], true), "same tag, other bytes: not this attempt")
        // Entries older than the bound are not searched: the answer is not complete.
        #expect(try await search([("10", [1, 2])], notBefore: UInt64.max) == ([], false))
        // A log trimmed within the range searched cannot say an entry is not there.
        _ = try await store.client.send(["XTRIM", store.keys.input, "MINID", "3"])
        #expect(try await search([("10", [1, 2])]) == ([], false))
        #expect(try await search([("20", [3])]) == ([], false), "trimmed away with position 2")
        // An entry that proves the wanted ones newer ends the search before the trimmed start:
        // here gw-0's tag 22 for a wanted tag 25 that is not in the log.
        _ = try await store.appendInput([[5]], tags: ["22"], producer: "gw-0")
        _ = try await store.appendInput([[4]], tags: ["30"], producer: "gw-0")
        #expect(try await search([("25", [9])]) == ([], false), "without the proof: back to the trimmed start")
        let proof = try await store.landedInputs([("25", [9]), ("30", [4])], notBeforeMicroseconds: 0) { entry in
            entry.tag.flatMap { UInt64($0) }.map { $0 < 25 } ?? false
        }
        #expect(proof.found == ["30"] && proof.complete)
    }

    @Test("a fence raises a producer's last tag, never lowers it, and answers the last tag its first fence found")
    func fenceTag() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        #expect(try await store.fenceTag(3, producer: "gw-0") == nil, "no tag yet")
        _ = try await store.appendInput([[1]], tags: ["10"], producer: "gw-0")
        #expect(try await store.fenceTag(15, producer: "gw-0") == 10, "below 15: an entry tagged 15 never landed")
        #expect(try await store.fenceTag(15, producer: "gw-0") == 10, "a repeated fence answers the same")
        #expect(try await store.appendInput([[2]], tags: ["15"], producer: "gw-0") == 0, "a late attempt is skipped")
        #expect(try await store.appendInput([[3]], tags: ["16"], producer: "gw-0") > 0)
        #expect(try await store.fenceTag(12, producer: "gw-0") == 16)
        #expect(try await store.client.send(["GET", store.keys.lastTag(producer: "gw-0")]).string == "16", "never lowered")
        #expect(try await store.fenceTag(1, producer: "other") == nil, "producers apart")
    }

    @Test("appendInputs appends to several logs in one call, each batch with its tags; a repeat is skipped")
    func appendToSeveralLogs() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let namespace = TestRedis.namespace()
        let first = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(namespace){0}"), client: client)
        let second = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(namespace){1}"), client: client)
        let batches = [
            ReplicaLogStore.InputBatch(keys: first.keys, payloads: [[1], [2]], tags: ["7", "8"]),
            ReplicaLogStore.InputBatch(keys: second.keys, payloads: [[3]], tags: ["8"], notes: [[9]]),
        ]
        #expect(try await ReplicaLogStore.appendInputs(batches, producer: "p", on: client) == [1, 1])
        #expect(try await ReplicaLogStore.appendInputs(batches, producer: "p", on: client) == [0, 0])
        #expect(try await first.readInput(after: 0, count: 10).map(\.payload) == [[1], [2]])
        #expect(try await second.readTaggedInput(after: 0, count: 10).map(\.note) == [[9]])
    }
}

@Suite(.enabled(if: TestRedis.isConfigured, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OutputWaitTests {
    @Test("awaitOutputs returns what several logs hold after their own ids, and waits for the first new one")
    func awaitOutputsAcrossLogs() async throws {
        let namespace = TestRedis.namespace()
        let client = try TestRedis.client()
        let waitClient = try TestRedis.client()
        defer { client.shutdown(); waitClient.shutdown() }
        let first = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(namespace){0}"), client: client)
        let second = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(namespace){1}"), client: client)
        _ = try await first.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        _ = try await second.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        try await first.appendOutputs([.init(position: 1, payload: [1]), .init(position: 2, payload: [2])], epoch: 1)
        let afterFirst = try await first.readOutputs(after: .zero, count: 1)[0].id

        // Entries there already come back at once, each log after its own id.
        let ready = try await ReplicaLogStore.awaitOutputs(
            [(first.keys, afterFirst), (second.keys, .zero)], count: 10, block: .seconds(1), on: waitClient)
        #expect(ready[first.keys]?.map(\.position) == [2] && ready[first.keys]?.map(\.payload) == [[2]])
        #expect(ready[second.keys] == nil)

        // Nothing new: empty after the block time.
        let lastFirst = ready[first.keys]![0].id
        let started = ContinuousClock.now
        let none = try await ReplicaLogStore.awaitOutputs(
            [(first.keys, lastFirst), (second.keys, .zero)], count: 10, block: .milliseconds(50), on: waitClient)
        #expect(none.isEmpty)
        #expect(started.duration(to: .now) >= .milliseconds(40))

        // A wait wakes on the first append to any of the logs.
        let waiting = Task {
            try await ReplicaLogStore.awaitOutputs([(first.keys, lastFirst), (second.keys, .zero)], count: 10, block: .seconds(1), on: waitClient)
        }
        try await Task.sleep(for: .milliseconds(50))
        try await second.appendOutputs([.init(position: 1, payload: [7])], epoch: 1)
        let woken = try await waiting.value
        #expect(woken[second.keys]?.map(\.payload) == [[7]] && woken[first.keys] == nil)
    }

    @Test("awaitNextOutput wakes on an append made after it started, and times out without one")
    func awaitNextOutput() async throws {
        let client = try TestRedis.client()
        let waitClient = try TestRedis.client()
        defer { client.shutdown(); waitClient.shutdown() }
        let store = ReplicaLogStore(keys: ReplicaLogKeys(prefix: "\(TestRedis.namespace()){0}"), client: client)
        _ = try await store.acquireLease(holder: "a", epoch: 1, duration: .seconds(5))
        try await store.appendOutputs([.init(position: 1, payload: [1])], epoch: 1)
        // An output from before the wait does not count.
        #expect(try await store.awaitNextOutput(block: .milliseconds(50), on: waitClient) == false)
        let waiting = Task { try await store.awaitNextOutput(block: .seconds(1), on: waitClient) }
        try await Task.sleep(for: .milliseconds(50))
        try await store.appendOutputs([.init(position: 2, payload: [2])], epoch: 1)
        #expect(try await waiting.value == true)
    }
}

extension ReplicaLogStoreTests {
    @Test("a published snapshot comes back whole across chunks; an older one never replaces it and leaves nothing staged")
    func publishedSnapshot() async throws {
        let store = try store()
        defer { store.client.shutdown() }
        #expect(try await store.publishedSnapshot() == nil)
        // Two full chunks and a partial one, every byte value.
        let size = ReplicaLogStore.snapshotChunkBytes * 2 + 1_000
        let first = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await store.publishSnapshot(at: 500, bytes: first)
        var published = try #require(try await store.publishedSnapshot())
        #expect(published.position == 500 && published.bytes == first)
        #expect(try await store.client.send(["LLEN", store.keys.publishedSnapshotChunks]).integer == 3)

        try await store.publishSnapshot(at: 400, bytes: [1, 2, 3])
        try await store.publishSnapshot(at: 500, bytes: [4, 5, 6])
        published = try #require(try await store.publishedSnapshot())
        #expect(published.position == 500 && published.bytes == first)
        let staged = try await store.client.send(["KEYS", store.keys.prefix + ":snapshot:staging:*"]).array ?? []
        #expect(staged.isEmpty, "refused publications drop what they staged")

        try await store.publishSnapshot(at: 900, bytes: [7, 8, 9])
        published = try #require(try await store.publishedSnapshot())
        #expect(published.position == 900 && published.bytes == [7, 8, 9])
        #expect(try await store.client.send(["TTL", store.keys.publishedSnapshotChunks]).integer == -1, "published chunks do not expire")
    }
}
