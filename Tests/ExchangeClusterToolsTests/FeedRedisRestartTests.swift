import ExchangeCluster
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeTesting
import Foundation
import Testing

/// `exchange feed` across a Redis restart, on a redis-server of its own (AOF, `appendfsync
/// always`): the feed waits Redis out and ends, and the shards' input logs hold every line
/// of the flow once. (The feed's check for moved symbols, every 5 ms, once failed the feed
/// on the first refused connection: chaos/drill.sh restart-redis caught it.)
@Suite(.serialized)
struct FeedRedisRestartTests {
    @Test("a feed paced over 2 s survives Redis shut down and started again on its AOF; every line lands once")
    func feedSurvivesRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("feed-restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try TestRedisServer.freePort()
        try await TestRedisServer.start(port: port, directory: directory)
        defer {
            _ = try? TestRedisServer.cli(port, ["shutdown", "nosave"])
            try? FileManager.default.removeItem(atPath: directory)
        }
        let client = RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: "redis://127.0.0.1:\(port)")))
        defer { client.shutdown() }
        try await ClusterMapStore(client: client).replace(with: try ClusterMap(shardCount: 2, partitionCount: 2))
        let flow = SyntheticOrderFlow.generate(.init(symbolCount: 4, commandCount: 3_000, seed: 5, userCount: 100, targetRestingOrders: 500, activity: .uniform))

        // Long lingers: the feed spends the outage generating and checking placements, not
        // waiting on its one append in flight.
        var feeder = FlowFeeder(client: client)
        feeder.batchLinger = .milliseconds(50)
        let feeding = Task { [feeder] in try await feeder.feed(flow, rate: 1_500) }
        try await Task.sleep(for: .milliseconds(600))
        try TestRedisServer.cli(port, ["shutdown"])
        try await Task.sleep(for: .milliseconds(300))
        try await TestRedisServer.start(port: port, directory: directory)
        try await feeding.value

        var lines: [Int] = []
        for shard in ShardID(0)...1 {
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            // Entries without a note are the symbols' registrations.
            for entry in try await store.readTaggedInput(after: 0, count: 100_000) {
                if let note = entry.note { lines += try FlowLineNote.decode(note) }
            }
        }
        let commandLines = flow.entries.indices.filter { index in
            if case .command(.addSymbol) = flow.entries[index] { return false }
            if case .command = flow.entries[index] { return true }
            return false
        }
        #expect(lines.sorted() == commandLines, "\(lines.count) lines in the logs, \(commandLines.count) commands in the flow")
    }
}
