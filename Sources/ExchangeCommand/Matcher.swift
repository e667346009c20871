import ArgumentParser
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import Foundation

/// `exchange matcher --shard S --replica NAME --redis URL --data DIR`
struct Matcher: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one replica of a matching shard: primary or hot standby, decided by the shard's lease.",
        discussion: """
            Applies me:{S}:in in order; as primary appends each input's events to me:{S}:out with a \
            fenced append. Snapshots into DIR every --snapshot-entries entries or \
            --snapshot-seconds seconds and recovers from the newest valid one. Stops on SIGINT or \
            SIGTERM. Not built yet: --cpu pinning and the ops port (/health, /metrics).
            """
    )

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The shard this replica serves.") var shard: UInt32
    @Option(help: "This replica's stable name (unique per shard).") var replica: String
    @Option(help: "Directory for this replica's snapshots.") var data: String
    @Option(help: "Lease duration in milliseconds; renewed every third of it.") var leaseMilliseconds: Int = 300
    @Option(help: "Snapshot every this many applied entries.") var snapshotEntries: UInt64 = 100_000
    @Option(help: "...or every this many seconds.") var snapshotSeconds: Int = 60

    func validate() throws {
        guard leaseMilliseconds >= 30 else { throw ValidationError("--lease-milliseconds must be at least 30") }
        guard snapshotEntries > 0, snapshotSeconds > 0 else { throw ValidationError("snapshot intervals must be positive") }
        guard !replica.isEmpty, !replica.contains(":") else { throw ValidationError("--replica must be a non-empty name without ':'") }
    }

    func run() async throws {
        let client = try redisOptions.client()
        let lease = Duration.milliseconds(leaseMilliseconds)
        let runtime = ReplicaRuntime<MatchingShardMachine>(
            configuration: .init(
                name: replica,
                protocolConfiguration: .init(
                    leaseDuration: lease, renewalInterval: lease / 3,
                    snapshotIntervalEntries: snapshotEntries, snapshotInterval: .seconds(snapshotSeconds)),
                snapshotDirectory: data),
            store: ReplicaLogStore(keys: .matchingShard(shard), client: client),
            log: { logProgress("matcher shard \(shard): \($0)") })
        let task = Task { try await runtime.run() }
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        await signals.wait()
        logProgress("matcher shard \(shard): stopping")
        task.cancel()
        _ = try? await task.value
        client.shutdown()
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
