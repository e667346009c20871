import ArgumentParser
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeOps
import Foundation
import Synchronization

/// `exchange matcher --shard S --replica NAME --redis URL --data DIR`
struct Matcher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one replica of a matching shard: primary or hot standby, decided by the shard's lease.",
        discussion: """
            Applies me:{S}:in in order; as primary appends each input's events to me:{S}:out with a \
            fenced append. Snapshots into DIR every --snapshot-entries entries or \
            --snapshot-seconds seconds and recovers from the newest valid one. Stops on SIGINT or \
            SIGTERM. The state machine runs on its own thread (pinned with --cpu) that does no \
            I/O and gets batches through a bounded queue. The ops port serves /health (200 while \
            the replica reports, JSON) and /metrics (Prometheus text).
            """
    )

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The shard this replica serves.") var shard: UInt32
    @Option(help: "This replica's stable name (unique per shard).") var replica: String
    @Option(help: "Directory for this replica's snapshots.") var data: String
    @Option(help: "Lease duration in milliseconds; renewed every third of it.") var leaseMilliseconds: Int = 300
    @Option(help: "Snapshot every this many applied entries.") var snapshotEntries: UInt64 = 100_000
    @Option(help: "...or every this many seconds.") var snapshotSeconds: Int = 60
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort: Int = 8082
    @Option(help: "Pin the matching thread to this CPU (Linux).") var cpu: Int?
    @Flag(help: "As primary, trim the input log below the oldest snapshot still needed (collect and a full audit then need the snapshot).") var trimLog = false

    func validate() throws {
        if let cpu, cpu < 0 || cpu >= ProcessInfo.processInfo.processorCount {
            throw ValidationError("--cpu must be between 0 and \(ProcessInfo.processInfo.processorCount - 1)")
        }
        guard leaseMilliseconds >= 30 else { throw ValidationError("--lease-milliseconds must be at least 30") }
        guard snapshotEntries > 0, snapshotSeconds > 0 else { throw ValidationError("snapshot intervals must be positive") }
        guard !replica.isEmpty, !replica.contains(":") else { throw ValidationError("--replica must be a non-empty name without ':'") }
    }

    func run() async throws {
        let client = try redisOptions.client()
        let waitClient = try redisOptions.client()
        let lease = Duration.milliseconds(leaseMilliseconds)
        let latest = Mutex<(metrics: ReplicaRuntime<MatchingShardMachine>.Metrics, at: ContinuousClock.Instant)?>(nil)
        let shard = self.shard, replica = self.replica
        let ops: OpsServer
        do {
            ops = try OpsServer(port: opsPort) { path in
                // Reports older than three status intervals mean the replica is stuck or dead.
                let report = latest.withLock { $0 }
                let fresh = report.flatMap { $0.at.duration(to: .now) < .milliseconds(750) ? $0.metrics : nil }
                return MatcherOps.respond(path: path, metrics: fresh, shard: shard, replica: replica)
            }
        } catch {
            logProgress("matcher: ops port: \(error)")
            throw ExitCode(1)
        }
        logProgress("matcher shard \(shard) replica \(replica): ops port \(ops.port)")
        let runtime = ReplicaRuntime<MatchingShardMachine>(
            configuration: .init(
                name: replica,
                protocolConfiguration: .init(
                    leaseDuration: lease, renewalInterval: lease / 3,
                    snapshotIntervalEntries: snapshotEntries, snapshotInterval: .seconds(snapshotSeconds)),
                snapshotDirectory: data, cpu: cpu, trimsInputLog: trimLog),
            store: ReplicaLogStore(keys: .matchingShard(shard), client: client),
            waitClient: waitClient,
            log: { logProgress("matcher shard \(shard): \($0)") },
            onMetrics: { metrics in latest.withLock { $0 = (metrics, .now) } })
        let task = Task {
            do {
                try await runtime.run()
            } catch is CancellationError {
            } catch {
                // A replica that cannot go on (a full disk, say) must not linger looking alive.
                logProgress("matcher shard \(shard): stopped by \(error)")
                Foundation.exit(1)
            }
        }
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        await signals.wait()
        logProgress("matcher shard \(shard): stopping")
        task.cancel()
        _ = await task.value
        ops.shutdown()
        client.shutdown()
        waitClient.shutdown()
    }
}

/// Suspends until one of `signals` arrives (handled through a dispatch source, not a C handler).
final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(signals: [Int32]) {
        var continuation: AsyncStream<Int32>.Continuation!
        stream = AsyncStream { continuation = $0 }
        let sink = continuation!
        sources = signals.map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { sink.yield(signal) }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in stream { return }
    }
}

/// The matcher's ops endpoints.
enum MatcherOps {
    static func respond(path: String, metrics: ReplicaRuntime<MatchingShardMachine>.Metrics?, shard: UInt32, replica: String) -> OpsServer.Response {
        switch path {
        case "/health":
            guard let metrics else { return .init(status: 503, contentType: "application/json", body: "{\"status\":\"starting\"}") }
            return .init(
                status: 200, contentType: "application/json",
                body: "{\"status\":\"ok\",\"shard\":\(shard),\"replica\":\"\(replica)\",\"role\":\"\(metrics.role)\",\"epoch\":\(metrics.epoch),\"applied\":\(metrics.appliedPosition),\"lag\":\(metrics.lagEntries)}")
        case "/metrics":
            guard let metrics else { return .init(status: 200, body: "") }
            let labels = "shard=\"\(shard)\",replica=\"\(replica)\""
            var lines = [
                "# TYPE exchange_replica_role gauge",
            ]
            for role in ["recovering", "standby", "candidate", "catchingUp", "primary", "fenced"] {
                lines.append("exchange_replica_role{\(labels),role=\"\(role)\"} \("\(metrics.role)" == role ? 1 : 0)")
            }
            lines += [
                "# TYPE exchange_replica_epoch gauge", "exchange_replica_epoch{\(labels)} \(metrics.epoch)",
                "# TYPE exchange_replica_applied_position gauge", "exchange_replica_applied_position{\(labels)} \(metrics.appliedPosition)",
                "# TYPE exchange_replica_lag_entries gauge", "exchange_replica_lag_entries{\(labels)} \(metrics.lagEntries)",
                "# TYPE exchange_replica_outputs_total counter", "exchange_replica_outputs_total{\(labels)} \(metrics.outputsAppended)",
                "# TYPE exchange_replica_snapshot_position gauge", "exchange_replica_snapshot_position{\(labels)} \(metrics.lastSnapshotPosition)",
                "# TYPE exchange_replica_snapshot_duration_seconds gauge",
                "exchange_replica_snapshot_duration_seconds{\(labels)} \(seconds(metrics.lastSnapshotDuration))",
            ]
            if let age = metrics.snapshotAge {
                lines += ["# TYPE exchange_replica_snapshot_age_seconds gauge", "exchange_replica_snapshot_age_seconds{\(labels)} \(seconds(age))"]
            }
            return .init(status: 200, contentType: "text/plain; version=0.0.4", body: lines.joined(separator: "\n") + "\n")
        default:
            return .init(status: 404, body: "not found: /health, /metrics\n")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
