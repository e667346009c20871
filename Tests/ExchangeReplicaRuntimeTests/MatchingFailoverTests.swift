import ExchangeCore
import ExchangeMatcher
import ExchangeMatching
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeTesting
import Foundation
import Testing

/// Two replicas of one matching shard over a real Redis: whatever happens to the primary,
/// the output log holds every input's events exactly once, equal to a single engine's.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct MatchingFailoverTests {
    typealias Runtime = ReplicaRuntime<MatchingShardMachine>

    let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!
    let keys = ReplicaLogKeys(prefix: "test:\(UUID().uuidString):me:{0}")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("failover-\(UUID().uuidString)").path
    static let protocolConfiguration = ReplicaStateMachine.Configuration(
        leaseDuration: .milliseconds(300), renewalInterval: .milliseconds(60),
        snapshotIntervalEntries: 500, snapshotInterval: .seconds(5))

    /// A replica wired as `exchange matcher` runs one (its loop's thread owns its connections).
    func runtime(
        _ name: String, trims: Bool = false, requiredConsumers: Set<String> = [], endpoint: RedisEndpoint? = nil,
        protocolConfiguration: ReplicaStateMachine.Configuration = Self.protocolConfiguration
    ) throws -> Runtime {
        Runtime(
            configuration: .init(
                name: name, protocolConfiguration: protocolConfiguration, snapshotDirectory: directory + "/" + name,
                trimming: trims ? LogTrimming(requiredConsumers: requiredConsumers, outputRetention: .zero) : nil),
            endpoint: try endpoint ?? RedisEndpoint(url: url), keys: keys)
    }

    /// Entries of a random flow, one command each, with the events a single engine gives for each.
    func flow(count: Int, seed: UInt64) -> (commands: [[UInt8]], expected: [[MatchingEvent]], digest: UInt64) {
        var generator = RandomCommandGenerator(seed: seed, symbolCount: 3)
        let commands = (generator.symbolCommands + (0..<count).map { _ in generator.next() }).map { command in
            var batch = ShardInputBatch()
            batch.append(command, symbol: generator.symbolName(of: command))
            return batch.input.encoded()
        }
        var machine = MatchingShardMachine()
        var expected: [[MatchingEvent]] = []
        for (index, command) in commands.enumerated() {
            let payload = machine.apply(InputEntry(position: LogPosition(index + 1), timestampMicroseconds: 0, payload: command))
            expected.append(try! ShardOutput.decode(payload).flatMap(\.events))
        }
        return (commands, expected, machine.stateDigest)
    }

    /// Appends `commands[range]` to the input log in chunks of 200.
    func append(_ commands: [[UInt8]], _ range: Range<Int>, to store: ReplicaLogStore) async throws {
        for chunk in stride(from: range.lowerBound, to: range.upperBound, by: 200) {
            _ = try await store.appendInput(Array(commands[chunk..<min(chunk + 200, range.upperBound)]))
        }
    }

    func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(what)")
    }

    func primary(of runtimes: [Runtime]) async -> Runtime? {
        for runtime in runtimes where await runtime.role == .primary { return runtime }
        return nil
    }

    /// Checks the output log against the single engine, position by position.
    func checkOutputs(_ store: ReplicaLogStore, expected: [[MatchingEvent]]) async throws {
        var outputs: [[MatchingEvent]] = []
        var after = StreamID.zero
        var positions: [LogPosition] = []
        while true {
            let page = try await store.readOutputs(after: after, count: 1_000)
            guard let last = page.last else { break }
            for entry in page {
                positions.append(entry.position)
                outputs.append(try ShardOutput.decode(entry.payload).flatMap(\.events))
            }
            after = last.id
        }
        #expect(positions == Array(1...LogPosition(expected.count)), "every input's output exactly once, in order")
        #expect(outputs == expected)
    }

    @Test("a replica whose input log lost entries it applied stops instead of diverging")
    func inputLogLost() async throws {
        let (commands, _, _) = flow(count: 100, seed: 3)
        let a = try runtime("a")
        let task = Task { try await a.run() }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            task.cancel()
        }
        defer { watchdog.cancel() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await append(commands, 0..<commands.count, to: producer)
        try await waitFor("a to apply everything") { await a.appliedPosition == LogPosition(commands.count) }
        // Redis comes back without the log's entries (an AOF fsynced every second, say), and
        // producers go on appending from position 1 again.
        _ = try await producer.client.send(["DEL", keys.input, keys.sequence])
        _ = try await producer.appendInput([commands[0]])
        await #expect(throws: ReplicaRuntimeError.inputLogLost(length: 1, applied: LogPosition(commands.count))) { try await task.value }
    }

    @Test("Redis's replica freezes for 3 s (three leases) while appends wait for it: the primary keeps its lease and epoch, and every output lands once")
    func replicaStall() async throws {
        let redisDirectory = NSTemporaryDirectory() + "replica-stall-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: redisDirectory, withIntermediateDirectories: true)
        let (master, replica) = (try TestRedisServer.freePort(), try TestRedisServer.freePort())
        defer {
            try? TestRedisServer.send(SIGCONT, port: replica, directory: redisDirectory)
            for port in [master, replica] { try? TestRedisServer.cli(port, ["shutdown", "nosave"]) }
            try? FileManager.default.removeItem(atPath: redisDirectory)
        }
        try await TestRedisServer.start(port: master, directory: redisDirectory)
        try await TestRedisServer.start(port: replica, directory: redisDirectory, arguments: ["--replicaof", "127.0.0.1", "\(master)"])
        let (commands, expected, _) = flow(count: 3_000, seed: 11)
        // A lease of 1 s, as the default topology's: this debug build applies 1,000 entries in
        // about 200 ms, and a wait for the replica lasts a renewal interval (250 ms) on top.
        let a = try runtime(
            "a", endpoint: RedisEndpoint(host: "127.0.0.1", port: master, acknowledgingReplicas: 1),
            protocolConfiguration: .init(leaseDuration: .seconds(1), renewalInterval: .milliseconds(250), snapshotIntervalEntries: 500, snapshotInterval: .seconds(5)))
        let task = Task { try await a.run() }
        defer { task.cancel() }
        // The producer does not wait for the replica: its inputs go on arriving during the stall.
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: master))))
        defer { producer.client.shutdown() }
        try await waitFor("a to lead") { await a.role == .primary }
        let epoch = await a.epoch
        try await append(commands, 0..<1_000, to: producer)
        try await waitFor("a to apply the first 1,000") { await a.appliedPosition == 1_000 }
        try TestRedisServer.send(SIGSTOP, port: replica, directory: redisDirectory)
        try await append(commands, 1_000..<2_000, to: producer)
        try await Task.sleep(for: .seconds(3))
        try TestRedisServer.send(SIGCONT, port: replica, directory: redisDirectory)
        try await append(commands, 2_000..<commands.count, to: producer)
        try await waitFor("the outputs of every input") { try await producer.observe().watermark == LogPosition(commands.count) }
        try await checkOutputs(producer, expected: expected)
        #expect(await a.role == .primary)
        #expect(await a.unacknowledgedAppends > 0, "the stall was met, and ridden out")
        let stepDown = await a.lastStepDown
        #expect(await a.epoch == epoch, "no step-down, no failover (it stepped down: \(String(describing: stepDown)))")
        #expect(try await producer.observe().epoch == epoch)
    }

    @Test("kill -9 of the primary under load: the standby takes over, outputs stay exactly once")
    func killPrimary() async throws {
        let (commands, expected, digest) = flow(count: 3_000, seed: 7)
        let a = try runtime("a")
        let b = try runtime("b")
        let taskA = Task { try await a.run() }
        let taskB = Task { try await b.run() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await primary(of: [a, b]) != nil }
        // Feed the first half, kill the primary, feed the rest.
        let half = commands.count / 2
        try await append(commands, 0..<half, to: producer)
        let first = try #require(await primary(of: [a, b]))
        let survivor = first === a ? b : a
        (first === a ? taskA : taskB).cancel()
        try await append(commands, half..<commands.count, to: producer)
        try await waitFor("the survivor to emit everything") {
            guard await survivor.role == .primary else { return false }
            return try await producer.observe().watermark == LogPosition(commands.count)
        }
        #expect(await survivor.stateDigest == digest)
        #expect(await survivor.epoch >= 2)
        // It timed its steps: applying as standby and primary, appending as primary.
        #expect(await survivor.appendSteps > 0)
        #expect(await survivor.applySteps >= survivor.appendSteps)
        try await checkOutputs(producer, expected: expected)
        (first === a ? taskB : taskA).cancel()
        producer.client.shutdown()
    }

    @Test("a primary paused past its lease steps down when it wakes and rejoins as standby")
    func pausedPrimary() async throws {
        let (commands, expected, digest) = flow(count: 1_500, seed: 11)
        let a = try runtime("a")
        let b = try runtime("b")
        let tasks = [Task { try await a.run() }, Task { try await b.run() }]
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await primary(of: [a, b]) != nil }
        let first = try #require(await primary(of: [a, b]))
        let other = first === a ? b : a
        _ = try await producer.appendInput(Array(commands[0..<500]))
        try await waitFor("the first primary to emit 500") { (try await producer.observe().watermark) == 500 }
        await first.pause(for: .milliseconds(800))
        try await append(commands, 500..<commands.count, to: producer)
        try await waitFor("the other replica to take over and emit everything") {
            guard await other.role == .primary else { return false }
            return try await producer.observe().watermark == LogPosition(commands.count)
        }
        try await waitFor("the woken replica to rejoin as a caught-up standby") {
            guard await first.role == .standby else { return false }
            return await first.appliedPosition == LogPosition(commands.count)
        }
        // Idle when paused, it usually keeps its state; a read still out when the pause caught
        // its loop would make it reload. Either way it stopped for the lapsed lease.
        #expect(await first.lastStepDown?.reason == .leaseLapsed)
        #expect(await first.stateDigest == digest)
        #expect(await other.stateDigest == digest)
        try await checkOutputs(producer, expected: expected)
        tasks.forEach { $0.cancel() }
        producer.client.shutdown()
    }

    @Test("a replica restarted from its snapshot directory catches up to the primary's digest")
    func restartFromSnapshot() async throws {
        let (commands, _, digest) = flow(count: 2_000, seed: 3)
        let a = try runtime("a")
        let taskA = Task { try await a.run() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await a.role == .primary }
        try await append(commands, 0..<commands.count, to: producer)
        try await waitFor("everything emitted") { (try await producer.observe().watermark) == LogPosition(commands.count) }
        let b = try runtime("b")
        let taskB = Task { try await b.run() }
        try await waitFor("b to catch up") { (await b.appliedPosition) == LogPosition(commands.count) }
        taskB.cancel()
        _ = try? await taskB.value
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/b")
        #expect(!files.isEmpty, "b wrote snapshots every 500 entries")
        // A new incarnation of b restores its newest snapshot and replays only the tail.
        let restarted = try runtime("b")
        let taskRestarted = Task { try await restarted.run() }
        try await waitFor("the restarted b to catch up") { (await restarted.appliedPosition) == LogPosition(commands.count) }
        #expect(await restarted.stateDigest == digest)
        #expect(await a.stateDigest == digest)
        taskA.cancel()
        taskRestarted.cancel()
        producer.client.shutdown()
    }

    @Test("a new replica with an empty directory bootstraps from the snapshot the primary published")
    func bootstrapFromPublishedSnapshot() async throws {
        let (commands, _, digest) = flow(count: 1_600, seed: 21)
        let a = try runtime("a")
        let taskA = Task { try await a.run() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await a.role == .primary }
        try await append(commands, 0..<commands.count, to: producer)
        try await waitFor("a snapshot published") { (try await producer.publishedSnapshot()?.position ?? 0) >= 1_000 }
        let published = try #require(try await producer.publishedSnapshot())
        let fresh = try runtime("fresh")
        let taskFresh = Task { try await fresh.run() }
        try await waitFor("the fresh replica to catch up") { (await fresh.appliedPosition) == LogPosition(commands.count) }
        // It started from the published snapshot, not from position 1.
        #expect(await fresh.lastSnapshotPosition >= published.position)
        #expect(await fresh.stateDigest == digest)
        taskA.cancel()
        taskFresh.cancel()
        producer.client.shutdown()
    }

    @Test("a trimming primary drops inputs below the oldest snapshot still needed; a late replica catches up from the published snapshot")
    func trimming() async throws {
        let (commands, _, digest) = flow(count: 2_000, seed: 31)
        let a = try runtime("a", trims: true)
        let taskA = Task { try await a.run() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await a.role == .primary }
        try await append(commands, 0..<commands.count, to: producer)
        // The first entry left (the length + 1 when a snapshot at the end let it trim everything).
        func firstLeft() async throws -> LogPosition {
            if let position = try await producer.readInput(after: 0, count: 1).first?.position { return position }
            return try await producer.inputLength() + 1
        }
        try await waitFor("the log trimmed") { try await firstLeft() > 1 }
        let first = try await firstLeft()
        let published = try #require(try await producer.publishedSnapshot())
        #expect(published.position + 1 >= first, "the published snapshot covers what was trimmed")
        let late = try runtime("late")
        let taskLate = Task { try await late.run() }
        try await waitFor("the late replica to catch up") { (await late.appliedPosition) == LogPosition(commands.count) }
        #expect(await late.stateDigest == digest)
        taskA.cancel()
        taskLate.cancel()
        producer.client.shutdown()
    }

    @Test("a trimming primary trims nothing before the required consumer reports, then keeps the outputs it has not taken and their inputs")
    func trimmingHeldByAConsumer() async throws {
        let (commands, _, _) = flow(count: 3_000, seed: 37)
        let a = try runtime("a", trims: true, requiredConsumers: ["recorder"])
        let taskA = Task { try await a.run() }
        let producer = ReplicaLogStore(keys: keys, client: RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url))))
        try await waitFor("a primary") { await a.role == .primary }
        try await append(commands, 0..<1_500, to: producer)
        try await waitFor("snapshots past the first half") {
            let applied = await a.appliedPosition
            let published = try await producer.publishedSnapshot()?.position ?? 0
            return applied >= 1_500 && published >= 1_000
        }
        #expect(try await producer.readInput(after: 0, count: 1).first?.position == 1, "nothing trimmed before the recorder reports")
        let taken = try #require(try await producer.firstOutput(afterPosition: 699))
        try await ReplicaLogStore.reportConsumed(by: "recorder", [(keys, taken.id)], on: producer.client)
        try await append(commands, 1_500..<commands.count, to: producer)
        // Trims come with snapshots: keep entries coming (a repeated symbol listing, refused and
        // harmless) until they reach the recorder's position. A trim may stop short of it (the
        // replica's published status can still name an older snapshot), never go past it.
        var first: LogPosition?
        var furthest: LogPosition = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            first = try await producer.readInput(after: 0, count: 1).first?.position
            furthest = max(furthest, first ?? 0)
            if first == 701 { break }
            _ = try await producer.appendInput([commands[0]])
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(furthest <= 701, "never trimmed past the recorder's position")
        let published = try await producer.publishedSnapshot()?.position
        let consumers = try await producer.consumerPositions()
        #expect(first == 701, "trimmed to the recorder's position (published snapshot \(String(describing: published)), consumers \(consumers))")
        #expect(try await producer.readOutputs(after: .zero, count: 1).first?.position == 700)
        taskA.cancel()
        producer.client.shutdown()
    }
}
