import ExchangeCluster
import ExchangeClusterStore
import ExchangeOps
import ExchangeRedis
import Foundation

/// What `exchange up` is asked for.
public struct LaunchConfiguration: Sendable {
    public var plan = LaunchPlan.Options()
    /// Shards and partitions of a new cluster map (an existing map decides otherwise).
    public var shards = 2
    public var partitions = 2
    /// Everything `up` keeps: Redis's AOF, PostgreSQL's data, snapshots, logs, secrets.
    public var dataDirectory: String
    /// An external Redis or PostgreSQL; nil: `up` runs its own on `redisPort` / `postgresPort`.
    public var redisURL: String?
    public var postgresURL: String?
    public var redisPort = 16_379
    public var postgresPort = 15_432
    /// The `exchange` binary the roles run (this one).
    public var executable: String
    /// List BTCUSDT and ETHUSDT and make a funded demo user with a trading key, once.
    public var demo = true
    /// How long a group of roles may take to answer its health checks.
    public var healthTimeout: Duration = .seconds(90)

    public init(dataDirectory: String, executable: String) {
        self.dataDirectory = dataDirectory
        self.executable = executable
    }
}

/// `exchange up`: brings the whole system up on this host, keeps its roles running, and
/// stops everything in order when asked.
///
/// Invariants: every process it starts is its child and is stopped and reaped before `run`
/// returns, whether it returns after a signal, a failed start, or an error; roles stop front
/// to back (`LaunchPlan.stopGroups`), then PostgreSQL, then Redis. A role that exits on its
/// own is restarted after a backoff (1 s doubling to 30 s; reset after a minute of running).
public final class Launcher: Sendable {
    public let configuration: LaunchConfiguration
    /// Progress lines for the operator (stderr).
    let say: @Sendable (String) -> Void
    let supervisor: RoleSupervisor
    private let servers = ServerSet()

    public init(configuration: LaunchConfiguration, say: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.say = say
        supervisor = RoleSupervisor(executable: configuration.executable, logDirectory: configuration.dataDirectory + "/logs", say: say)
    }

    var logDirectory: String { configuration.dataDirectory + "/logs" }

    /// Brings the system up, prints `banner` once it is ready, supervises until `stop`
    /// yields, then stops everything. Throws (after stopping what it started) if it could not
    /// come up.
    public func run(until stop: @escaping @Sendable () async -> Void, banner: @escaping @Sendable (Ready) -> Void) async throws {
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                await stop()
                return nil
            }
            group.addTask {
                do {
                    let ready = try await self.start()
                    banner(ready)
                    try await self.supervisor.supervise()
                    return .success(())
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failure(error)
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .success(())
        }
        await shutdown()
        try outcome.get()
    }

    /// The first SuperAdmin `up` makes (its password in `secrets/admin.password`).
    public static let adminEmail = "admin@openexchange.local"

    /// What the banner shows once everything answers.
    public struct Ready: Sendable {
        public var redis: String
        public var postgres: String
        public var gateway: String
        public var marketData: String
        /// The admin pages and API, and the first SuperAdmin's login (password in its file).
        public var admin: String
        public var adminEmail: String
        public var adminPasswordFile: String
        public var demo: DemoAccount.Credentials?
        public var plan: LaunchPlan
        public var dataDirectory: String
        /// The internal token's file; the Redis password's, when Redis asks for one.
        public var internalTokenFile: String
        public var redisPasswordFile: String?
    }

    private func start() async throws -> Ready {
        let data = configuration.dataDirectory
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let environment = supervisor.environment
        let secrets = try ClusterSecrets.ensure(in: data + "/secrets")
        let internalToken = try ClusterSecrets.read(secrets.internalTokenFile)
        supervisor.addEnvironment([
            "EXCHANGE_MASTER_KEY_FILE=\(secrets.masterKeyFile)", "EXCHANGE_TOKEN_KEY_FILE=\(secrets.tokenKeyFile)",
            "EXCHANGE_INTERNAL_TOKEN_FILE=\(secrets.internalTokenFile)",
        ])
        supervisor.setInternalToken(try InternalToken(internalToken))

        // `redis` is what the roles are given (no password); `up`'s own clients use `endpoint`.
        let redis: String
        let endpoint: RedisEndpoint
        var redisPasswordFile: String?
        if let url = configuration.redisURL {
            endpoint = try RedisEndpoint(url: url)
            redis = endpoint.withoutCredentials.description
            if endpoint.username != nil { throw LaunchError("up does not pass a Redis ACL user on to the roles: use requirepass") }
            if let password = endpoint.password {
                // Off the roles' command lines: they read it from a file, as from `up`'s own Redis.
                let file = secrets.redisPasswordFile
                guard FileManager.default.createFile(atPath: file, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
                else { throw LaunchError("cannot write \(file)") }
                redisPasswordFile = file
            }
        } else {
            try FileManager.default.createDirectory(atPath: data + "/redis", withIntermediateDirectories: true)
            let password = try ClusterSecrets.read(secrets.redisPasswordFile)
            say("up: starting Redis on 127.0.0.1:\(configuration.redisPort) (AOF in \(data)/redis, password in \(secrets.redisPasswordFile))")
            servers.setRedis(try await LocalRedis.start(
                port: configuration.redisPort, directory: data + "/redis", password: password, configurationFile: data + "/secrets/redis.conf",
                logPath: logDirectory + "/redis.log", environment: environment))
            redis = "redis://127.0.0.1:\(configuration.redisPort)"
            endpoint = RedisEndpoint(host: "127.0.0.1", port: configuration.redisPort, password: password)
            redisPasswordFile = secrets.redisPasswordFile
        }
        if let redisPasswordFile { supervisor.addEnvironment(["EXCHANGE_REDIS_PASSWORD_FILE=\(redisPasswordFile)"]) }

        let postgres: String
        if let url = configuration.postgresURL {
            postgres = url
        } else {
            let server = try LocalPostgres(directory: data + "/postgres", port: configuration.postgresPort)
            say("up: starting PostgreSQL on 127.0.0.1:\(configuration.postgresPort) (data in \(server.directory))")
            servers.setPostgres(server)
            try await server.start(logDirectory: logDirectory, environment: environment)
            postgres = server.url
        }
        try Task.checkCancellation()
        try await supervisor.tool(["migrate", "--postgres", postgres])
        let adminPasswordFile = try ClusterSecrets.ensureStaffPassword(in: data + "/secrets")
        supervisor.addEnvironment(["EXCHANGE_STAFF_PASSWORD_FILE=\(adminPasswordFile)"])
        try await supervisor.tool(["admin", "add-staff", Self.adminEmail, "--role", "SuperAdmin", "--if-absent", "--postgres", postgres])

        if configuration.plan.walletRPC != nil {
            let wallet = try await ClusterSecrets.ensureWallet(in: data + "/secrets") { try await supervisor.tool($0) }
            supervisor.addEnvironment(["EXCHANGE_WALLET_KEY_FILE=\(wallet.hotKey)", "EXCHANGE_WALLET_XPUB_FILE=\(wallet.xpub)"])
        }
        let map = try await clusterMap(redis: redis, endpoint: endpoint)
        if configuration.demo { try await DemoAccount.listMarkets(redis: redis, endpoint: endpoint, supervisor: supervisor) }
        let plan = try LaunchPlan(
            options: configuration.plan, shardIDs: map.shards.map(\.id), partitionCount: map.partitionCount,
            redis: redis, postgres: postgres, dataDirectory: data)
        guard FileManager.default.createFile(atPath: data + "/prometheus-targets.json", contents: Data(plan.prometheusTargets.utf8)) else {
            throw LaunchError("cannot write \(data)/prometheus-targets.json")
        }
        for group in plan.startGroups {
            say("up: starting \(group.map(\.name).joined(separator: ", "))")
            try await supervisor.start(group)
            try await supervisor.waitHealthy(group, timeout: configuration.healthTimeout)
        }
        let scheme = configuration.plan.tls == nil ? "http" : "https"
        let gateway = "\(scheme)://\(configuration.plan.host):\(configuration.plan.gatewayPort)"
        let demo = configuration.demo
            ? try await DemoAccount.ensure(file: data + "/demo-account.json", gateway: gateway, redis: redis, supervisor: supervisor) : nil
        return Ready(
            redis: redis, postgres: postgres, gateway: gateway,
            marketData: "\(scheme)://\(configuration.plan.host):\(configuration.plan.marketDataPort)",
            admin: "\(scheme)://\(configuration.plan.host):\(configuration.plan.adminPort)", adminEmail: Self.adminEmail,
            adminPasswordFile: adminPasswordFile, demo: demo, plan: plan, dataDirectory: data,
            internalTokenFile: secrets.internalTokenFile, redisPasswordFile: redisPasswordFile)
    }

    /// The stored cluster map, created first with `shards` and `partitions` if there is none.
    private func clusterMap(redis: String, endpoint: RedisEndpoint) async throws -> ClusterMap {
        let client = RedisClient(configuration: .init(endpoint: endpoint))
        defer { client.shutdown() }
        let store = ClusterMapStore(client: client)
        if let map = try await store.load() {
            if map.shards.count != configuration.shards || map.partitionCount != configuration.partitions {
                say("up: the cluster map already lists \(map.shards.count) shards and \(map.partitionCount) partitions: running those")
            }
            return map
        }
        try await supervisor.tool(["ctl", "init", "--shards", "\(configuration.shards)", "--partitions", "\(configuration.partitions)", "--redis", redis])
        guard let map = try await store.load() else { throw LaunchError("ctl init wrote no cluster map") }
        return map
    }

    /// Stops the roles in order, then PostgreSQL, then Redis; each at most once.
    private func shutdown() async {
        await supervisor.stopAll()
        let environment = supervisor.environment
        if let postgres = servers.takePostgres() {
            say("up: stopping PostgreSQL")
            await postgres.stop(logDirectory: logDirectory, environment: environment)
        }
        if let redis = servers.takeRedis() {
            say("up: stopping Redis")
            await redis.stop()
        }
        say("up: stopped")
    }
}
