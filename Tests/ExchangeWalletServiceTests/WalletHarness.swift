import ExchangeChain
import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeEthereum
import ExchangePostgres
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeTesting
import ExchangeWallet
import ExchangeWalletService
import ExchangeWalletStore
import Foundation
import Glibc
import Logging
import PostgresNIO

/// What the wallet tests run against: the test Redis (EXCHANGE_TEST_REDIS_URL) or, to restart
/// it, a redis-server of its own (AOF, `appendfsync always`) on a free port, and the test
/// PostgreSQL (EXCHANGE_TEST_POSTGRES_URL), emptied and migrated; a cluster map of 1 shard and 2 clearing
/// partitions whose 2 replicas each run in this process; ETH in clearing at scale 8; the
/// wallet's asset saved; the seeded simulated chain. `close()` stops it all.
final class WalletHarness {
    static let hot = "0x" + String(repeating: "4d", count: 20)
    /// Clearing keeps ETH at 8 decimals: one unit is 10^10 wei.
    static let weiPerUnit: UInt128 = 10_000_000_000
    static let protocolConfiguration = ReplicaStateMachine.Configuration(
        leaseDuration: .seconds(1), renewalInterval: .milliseconds(200), snapshotIntervalEntries: 100, snapshotInterval: .seconds(5))

    let redisURL: String
    /// The port of the redis-server this harness runs; nil on the shared test Redis.
    let ownRedisPort: Int?
    let redis: RedisClient
    let postgres: PostgresClient
    let running: Task<Void, Never>
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wallet-test-\(UUID().uuidString)").path
    /// Clearing replicas per partition: [a, b].
    var clearing: [[Task<Void, any Error>]] = []
    var wallets: [Task<Void, any Error>] = []
    let store: WalletStore
    let adapter: SimulatedChainAdapter
    let asset: WalletAsset
    let logger = Logger(label: "wallet-test")

    init(seed: UInt64, confirmations: UInt64, dropChance: Double, hotFloor: UInt128, policy: WithdrawalPolicy, ownRedis: Bool = false) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if ownRedis {
            let port = try TestRedisServer.freePort()
            ownRedisPort = port
            redisURL = "redis://127.0.0.1:\(port)"
        } else {
            ownRedisPort = nil
            redisURL = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!
        }
        if let port = ownRedisPort { try await TestRedisServer.start(port: port, directory: directory) }
        redis = RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: redisURL)))
        for pattern in ["cluster:*", "me:{*", "clr:{*"] {
            let keys = try await redis.send(["KEYS", pattern]).array?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try await redis.send(["DEL"] + keys) }
        }
        try await ClusterMapStore(client: redis).replace(with: try ClusterMap(shardCount: 1, partitionCount: 2))
        postgres = try PostgresSettings(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"]!).client()
        let postgres = self.postgres
        running = Task { await postgres.run() }
        for schema in ["exchange_user", "exchange_order", "exchange_clearing", "exchange_wallet", "exchange_admin"] {
            try await postgres.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
        try await Migrations.migrate(postgres)
        store = WalletStore(postgres: postgres, logger: logger)
        adapter = SimulatedChainAdapter(SimulatedChain(seed: seed, dropChance: dropChance))
        let master = try ExtendedPrivateKey(seed: Array(repeating: UInt8(truncatingIfNeeded: seed), count: 32))
        asset = WalletAsset(
            asset: "ETH", chain: "simulated", assetIndex: 0, xpub: master.serializedPublicKey!, confirmations: confirmations,
            baseUnitsPerUnit: Self.weiPerUnit, policy: policy, hotAddress: Self.hot, hotFloor: hotFloor)
        clearing = try (PartitionID(0)...1).map { partition in try ["a", "b"].map { try replica(partition, $0) } }
        try await ClearingAdmin(client: redis).addAsset(try AssetSpec(code: AssetCode("ETH")!, scale: 8))
        try await store.save(asset)
    }

    /// Clearing replica `name` of `partition`, wired as `exchange clearing` runs one.
    func replica(_ partition: PartitionID, _ name: String) throws -> Task<Void, any Error> {
        let runtime = ReplicaRuntime<ClearingPartitionMachine>(
            configuration: .init(name: name, protocolConfiguration: Self.protocolConfiguration, snapshotDirectory: "\(directory)/p\(partition)\(name)"),
            endpoint: try RedisEndpoint(url: redisURL), keys: .clearingPartition(partition),
            forwarder: { OrderPathForwarder(source: .clearingPartition(partition), client: $0) })
        return Task { try await runtime.run() }
    }

    /// A wallet instance on the simulated chain (polling every 20 ms, a 600 ms lease).
    func wallet(afterSigning: @escaping @Sendable (UInt64) throws -> Void = { _ in }) -> Task<Void, any Error> {
        let service = WalletService(
            configuration: .init(
                asset: asset, pollInterval: .milliseconds(20), leaseMilliseconds: 600, rebroadcastInterval: .milliseconds(100), afterSigning: afterSigning),
            chain: adapter, signer: SimulatedTransferSigner(address: Self.hot), store: store, redis: redis, logger: logger)
        let task = Task { try await service.run() }
        wallets.append(task)
        return task
    }

    func close() {
        (wallets + clearing.joined()).forEach { $0.cancel() }
        running.cancel()
        redis.shutdown()
        if let port = ownRedisPort { _ = try? TestRedisServer.cli(port, ["shutdown", "nosave"]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Shuts this harness's Redis down (its AOF synced) and starts it again after `downtime`.
    func restartRedis(downtime: Duration) async throws {
        guard let port = ownRedisPort else { return }
        _ = try TestRedisServer.cli(port, ["shutdown"])
        try await Task.sleep(for: downtime)
        try await TestRedisServer.start(port: port, directory: directory)
    }
}
