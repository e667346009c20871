import ArgumentParser
import ExchangeClearingPartition
import ExchangeClusterTools
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeLogging
import ExchangeOps
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// What every replica role (`matcher`, `clearing`) takes besides its log's id.
struct ReplicaOptions: ParsableArguments {
    @Option(help: "This replica's stable name (unique per shard or partition).") var replica: String
    @Option(help: "Directory for this replica's snapshots.") var data: String
    @Option(help: "Lease duration in milliseconds; renewed every third of it.") var leaseMilliseconds: Int = 300
    @Option(help: "Snapshot every this many applied entries.") var snapshotEntries: UInt64 = 100_000
    @Option(help: "...or every this many seconds.") var snapshotSeconds: Int = 60
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed; default: the role's).") var opsPort: Int?
    @Option(help: "Pin the state machine's thread to this CPU (Linux).") var cpu: Int?
    @Option(help: "While primary, run the state machine's and the loop's threads under SCHED_FIFO at this priority, 1 to 99 (Linux; needs CAP_SYS_NICE, else logged and ignored).")
    var realtimePriority: Int32?
    @Option(help: "Input entries read and applied per step, at most (a step also stops at about 512 KiB of entries): the outputs of a step are appended together, so this bounds how long the first waits behind a backlog.")
    var readBatchEntries: Int = 1_024
    @Flag(help: "As primary, after each published snapshot, trim the input and output logs below what every replica, every consumer of the output (recorder, gateways) and the retention still need (collect then needs the snapshot).")
    var trimLog = false
    @Option(help: "With --trim-log: consumers (comma-separated) that must have reported a position before anything is trimmed.")
    var requiredConsumers = "recorder"
    @Option(help: "With --trim-log: output entries younger than this many seconds stay (readers that report no position: gateways' waiters, market data's ticker window, the wallet).")
    var outputRetentionSeconds = 3_600

    func validate() throws {
        if let cpu, cpu < 0 || cpu >= ProcessInfo.processInfo.processorCount {
            throw ValidationError("--cpu must be between 0 and \(ProcessInfo.processInfo.processorCount - 1)")
        }
        guard leaseMilliseconds >= 30 else { throw ValidationError("--lease-milliseconds must be at least 30") }
        guard snapshotEntries > 0, snapshotSeconds > 0 else { throw ValidationError("snapshot intervals must be positive") }
        guard outputRetentionSeconds >= 0 else { throw ValidationError("--output-retention-seconds must not be negative") }
        if let realtimePriority, !(1...99).contains(realtimePriority) {
            throw ValidationError("--realtime-priority must be between 1 and 99")
        }
        guard (1...65_536).contains(readBatchEntries) else { throw ValidationError("--read-batch-entries must be between 1 and 65536") }
        guard !replica.isEmpty, !replica.contains(":") else { throw ValidationError("--replica must be a non-empty name without ':'") }
    }
}

/// `exchange matcher --shard S --replica NAME --redis URL --data DIR`
struct Matcher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one replica of a matching shard: primary or hot standby, decided by the shard's lease.",
        discussion: """
            Applies me:{S}:in in order; as primary appends each trade's legs and each order's end \
            or amend to the clearing logs of the users concerned (tagged with the position, so \
            repeats are skipped), then the input's events to me:{S}:out with a fenced append. \
            --without-clearing skips the first step (matching-only benchmarks). Snapshots into DIR every --snapshot-entries entries or \
            --snapshot-seconds seconds and recovers from the newest valid one. Stops on SIGINT or \
            SIGTERM. The state machine runs on its own thread (pinned with --cpu) that does no \
            I/O and gets batches through a bounded queue. The ops port (default 8082) serves \
            /health (200 while the replica reports, JSON) and /metrics (Prometheus text).
            """
    )

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The shard this replica serves.") var shard: UInt32
    @OptionGroup var replicaOptions: ReplicaOptions
    @Flag(help: "Do not send trades, ends and amends to clearing (a matching-only cluster: nothing settles).")
    var withoutClearing = false

    var replica: ReplicaCommand<MatchingShardMachine> {
        ReplicaCommand(
            role: "matcher", label: ("shard", shard), keys: .matchingShard(shard), defaultOpsPort: 8082,
            forwards: withoutClearing ? nil : .matchingShard(shard), redisOptions: redisOptions, options: replicaOptions)
    }

    func run() async throws { try await replica.run() }
}

/// `exchange clearing --partition P --replica NAME --redis URL --data DIR`
struct Clearing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one replica of a clearing partition: primary or hot standby, decided by the partition's lease.",
        discussion: """
            Applies clr:{P}:in in order (funds of the users the cluster map places on P); as \
            primary forwards the orders it accepted to their shards' input logs (tagged with the \
            position, so repeats are skipped), then appends each input's ledger transactions and \
            other events to clr:{P}:out with a fenced append. The same replica runtime as `exchange matcher`: snapshots, \
            recovery, bootstrap, lease and fencing, and the ops port (default 8083).
            """
    )

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The partition this replica serves.") var partition: UInt32
    @OptionGroup var replicaOptions: ReplicaOptions

    var replica: ReplicaCommand<ClearingPartitionMachine> {
        ReplicaCommand(
            role: "clearing", label: ("partition", partition), keys: .clearingPartition(partition),
            defaultOpsPort: 8083, forwards: .clearingPartition(partition), redisOptions: redisOptions, options: replicaOptions)
    }

    func run() async throws { try await replica.run() }
}

/// Runs one replica of `Machine` until SIGINT or SIGTERM, with its ops port.
struct ReplicaCommand<Machine: ReplicatedStateMachine>: RoleCommand {
    /// The role's name in logs: "matcher", "clearing".
    let role: String
    /// The Prometheus label and JSON field naming the log: ("shard", 0).
    let label: (name: String, value: UInt32)
    let keys: ReplicaLogKeys
    let defaultOpsPort: Int
    /// Whose outputs the primary carries on along the order path; nil: none.
    let forwards: OrderPathForwarder.Source?
    let redisOptions: RedisOptions
    let options: ReplicaOptions

    /// Where this replica is, in logs and metrics: [("shard", "0"), ("replica", "a")].
    var dimensions: [(String, String)] { [(label.name, String(label.value)), ("replica", options.replica)] }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: role, location: dimensions)
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let dimensions = self.dimensions
        let endpoint = try redisOptions.endpoint()
        let lease = Duration.milliseconds(options.leaseMilliseconds)
        let latest = Mutex<(report: ReplicaReport, at: ContinuousClock.Instant)?>(nil)
        let exporter = ReplicaMetricsExporter(dimensions: dimensions)
        var configuration = ReplicaRuntime<Machine>.Configuration(
            name: options.replica,
            protocolConfiguration: .init(
                leaseDuration: lease, renewalInterval: lease / 3,
                snapshotIntervalEntries: options.snapshotEntries, snapshotInterval: .seconds(options.snapshotSeconds)),
            snapshotDirectory: options.data, readBatchEntries: options.readBatchEntries, cpu: options.cpu,
            realtimePriority: options.realtimePriority,
            trimming: options.trimLog
                ? LogTrimming(
                    requiredConsumers: Set(options.requiredConsumers.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }.filter { !$0.isEmpty }),
                    outputRetention: .seconds(options.outputRetentionSeconds))
                : nil)
        configuration.metricDimensions = dimensions
        let runtime = ReplicaRuntime<Machine>(
            configuration: configuration, endpoint: endpoint, keys: keys,
            forwarder: forwards.map { source in { OrderPathForwarder(source: source, client: $0) } },
            logger: logger,
            onMetrics: { report in
                latest.withLock { $0 = (report, .now) }
                exporter.record(report)
            })
        let label = self.label, replica = options.replica
        let ops = OpsEndpoint.application(
            port: options.opsPort ?? defaultOpsPort, registry: registry, logger: logger,
            health: {
                // Reports older than three status intervals mean the replica is stuck or dead.
                let report = latest.withLock { $0 }
                let fresh = report.flatMap { $0.at.duration(to: .now) < .milliseconds(750) ? $0.report : nil }
                return ReplicaOps.health(report: fresh, label: label, replica: replica)
            },
            onListening: { logger.info("ops port \($0)") })
        return RoleServices(services: [ops, ReplicaService(runtime: runtime)])
    }
}

/// A replica's runtime as a `Service`: runs until the group shuts down (then cancelled: the
/// runtime stops between steps) or until it fails.
struct ReplicaService<Machine: ReplicatedStateMachine>: Service {
    let runtime: ReplicaRuntime<Machine>

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            do {
                try await runtime.run()
            } catch is CancellationError {}
        }
    }
}

/// A replica's `/health`.
enum ReplicaOps {
    /// 200 with the replica's role, epoch, position and lag while it reports; 503 before.
    static func health(report: ReplicaReport?, label: (name: String, value: UInt32), replica: String) -> OpsEndpoint.Health {
        guard let report else { return .init(ready: false, json: #"{"status":"starting"}"#) }
        return .init(
            ready: true,
            json: "{\"status\":\"ok\",\"\(label.name)\":\(label.value),\"replica\":\"\(replica)\",\"role\":\"\(report.role)\",\"epoch\":\(report.epoch),\"applied\":\(report.appliedPosition),\"lag\":\(report.lagEntries)}")
    }
}
