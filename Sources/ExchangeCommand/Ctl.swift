import ArgumentParser
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeOps
import ExchangeRedis
import Foundation

/// Options every command that talks to Redis takes.
struct RedisOptions: ParsableArguments {
    @Option(help: "The cluster's Redis, redis://[[user]:password@]host[:port] (or the password in the file EXCHANGE_REDIS_PASSWORD_FILE names).")
    var redis: String = "redis://127.0.0.1:6379"

    /// Where `--redis` points; its password, when the URL has none, from the file that
    /// EXCHANGE_REDIS_PASSWORD_FILE names (its first line: how `exchange up` hands it to the
    /// processes it starts, out of their command lines).
    func endpoint(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RedisEndpoint {
        var endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint(url: redis)
        } catch {
            throw ValidationError("\(error)")
        }
        if endpoint.password == nil, let path = environment["EXCHANGE_REDIS_PASSWORD_FILE"], !path.isEmpty {
            guard let password = SecretFile.read(path) else {
                throw ValidationError("cannot read the Redis password file \(path) (EXCHANGE_REDIS_PASSWORD_FILE)")
            }
            endpoint.password = password
        }
        return endpoint
    }

    func client() throws -> RedisClient {
        RedisClient(configuration: .init(endpoint: try endpoint()))
    }
}

/// Runs an async command body, printing any error as one line on stderr with exit code 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        logProgress("error: \(error)")
        throw ExitCode(1)
    }
}

/// `exchange ctl ...`: cluster control.
struct Ctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cluster control: the cluster map (shards, ring, pins) and the replicas' status.",
        subcommands: [
            CtlInit.self, CtlRing.self, CtlPin.self, CtlAddShard.self, CtlMove.self, CtlRebalance.self, CtlStatus.self, CtlEpochStart.self, CtlAsset.self, CtlSymbol.self,
            CtlDeposit.self,
        ]
    )
}

struct CtlInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create the cluster map (version 1).")

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "Matching shards.") var shards: Int
    @Option(help: "Clearing partitions (fixed for the cluster's life).") var partitions: Int = 8
    @Option(help: "Virtual nodes per shard on the ring (at least 100).") var virtualNodes: Int = 128

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let map = try ClusterMap(shardCount: shards, partitionCount: partitions, virtualNodesPerShard: virtualNodes)
            do {
                try await ClusterMapStore(client: client).replace(with: map)
            } catch ClusterMapStoreError.versionConflict(let stored, _) {
                throw ValidationError("a cluster map (version \(stored)) already exists")
            }
            print("cluster map version \(map.version): \(shards) shards, \(partitions) partitions, \(virtualNodes) virtual nodes per shard")
        }
    }
}

struct CtlRing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring", abstract: "Show where symbols are placed (pins first, then the ring).")

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "Symbols to place; none prints the map.") var symbols: [String] = []

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
            let ring = map.ring
            if symbols.isEmpty {
                print("version \(map.version), shards \(map.shards.map(\.id)), \(map.virtualNodesPerShard) virtual nodes per shard, \(map.partitionCount) partitions")
                for (symbol, shard) in map.pins.sorted(by: { $0.key < $1.key }) { print("pin \(symbol) -> shard \(shard)") }
            }
            for symbol in symbols {
                let shard = map.shard(for: symbol, ring: ring)
                print("\(symbol) -> shard \(shard)\(map.pins[symbol] != nil ? " (pinned)" : "")")
            }
        }
    }
}

struct CtlPin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pin", abstract: "Pin a symbol to a shard in the cluster map (where a new registration goes; `ctl move` moves a live book and pins it).")

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "The symbol.") var symbol: String
    @Argument(help: "The shard.") var shard: UInt32

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let map = try await ClusterMapStore(client: client).update { try $0.pinning(symbol, to: shard) }
            print("cluster map version \(map.version): \(symbol) -> shard \(shard)")
        }
    }
}

struct CtlAddShard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-shard",
        abstract: "Add a shard to the ring, and say which symbols the ring now gives it (start its matchers, then `ctl rebalance` moves them).")

    @OptionGroup var redisOptions: RedisOptions

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let map = try await ClusterMapStore(client: client).update { $0.addingShard() }
            let shard = map.shards.last!.id
            // The new shard learns where existing symbols live, to name their owner.
            try await SymbolRegistry(client: client).announceAll(to: shard)
            print("cluster map version \(map.version): shards \(map.shards.map(\.id))")
            let moves = try await SymbolMover(client: client).ringMoves().filter { $0.to == shard }
            print("the ring gives shard \(shard) \(moves.count) symbol\(moves.count == 1 ? "" : "s")\(moves.isEmpty ? "" : ": " + moves.map(\.symbol).joined(separator: " "))")
            if !moves.isEmpty { print("start shard \(shard)'s matchers, then run `exchange ctl rebalance` to move them with their books") }
        }
    }
}

struct CtlStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Per shard and clearing partition: input length, output watermark, epoch, and each live replica's role, position, lag and last snapshot.")

    @OptionGroup var redisOptions: RedisOptions

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
            print("cluster map version \(map.version)")
            for shard in map.shards {
                try await printStatus(of: ReplicaLogStore(keys: .matchingShard(shard.id), client: client), named: "shard \(shard.id)")
            }
            for partition in 0..<UInt32(map.partitionCount) {
                try await printStatus(of: ReplicaLogStore(keys: .clearingPartition(partition), client: client), named: "partition \(partition)")
            }
        }
    }

    func printStatus(of store: ReplicaLogStore, named name: String) async throws {
        let length = try await store.inputLength()
        let observation = try await store.observe()
        print("\(name): input \(length), output watermark \(observation.watermark), epoch \(observation.epoch), lease \(observation.holder ?? "none")")
        for replica in try await store.replicaStatuses() {
            let lag = length >= replica.appliedPosition ? length - replica.appliedPosition : 0
            print("  \(replica.name): \(replica.role), epoch \(replica.epoch), applied \(replica.appliedPosition), lag \(lag), last snapshot \(replica.lastSnapshotPosition)")
        }
        // What trimming left, and the consumers' positions that hold it.
        let firstInput = try await store.readInput(after: 0, count: 1).first?.position
        let firstOutput = try await store.readOutputs(after: .zero, count: 1).first?.position
        let consumers = try await store.consumerPositions().sorted { $0.key < $1.key }.map { "\($0.key) at \($0.value)" }
        print("  logs hold inputs from \(firstInput.map(String.init) ?? "-"), outputs from input \(firstOutput.map(String.init) ?? "-"); "
            + "consumers: \(consumers.isEmpty ? "none reported" : consumers.joined(separator: ", "))")
    }
}

struct CtlEpochStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epoch-start",
        abstract: "Print when a shard's or partition's primary of EPOCH first emitted (Redis clock, ms since the Unix epoch); for drills.")

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The shard.") var shard: UInt32?
    @Option(help: "...or the clearing partition.") var partition: UInt32?
    @Option(help: "The epoch.") var epoch: UInt64

    func validate() throws {
        guard (shard == nil) != (partition == nil) else { throw ValidationError("give --shard or --partition") }
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        let keys: ReplicaLogKeys = shard.map { .matchingShard($0) } ?? .clearingPartition(partition!)
        try await runReportingErrors {
            guard let id = try await ReplicaLogStore(keys: keys, client: client).firstOutputID(ofEpoch: epoch) else {
                throw ExitCode(3)
            }
            print(id.milliseconds)
        }
    }
}
