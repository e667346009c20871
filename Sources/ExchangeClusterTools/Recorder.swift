import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangePostgres
import ExchangeRedis
import ExchangeReplication
import Logging
import PostgresNIO

/// `exchange recorder`: projects every output log into PostgreSQL (shards' into orders,
/// order events and trades; clearing partitions' into the ledger and balances).
///
/// Each batch (up to `pageEntries` output entries of one log) is one PostgreSQL transaction
/// that also moves the log's recorded position (`exchange_admin.stream_positions`, locked
/// for the transaction): a restart, a crash or a second recorder neither loses nor
/// duplicates a row.
///
/// A pass that filled no page is followed by `batchWindow` of waiting, so that the next one
/// carries what arrived meanwhile: under a steady flow the recorder writes a few batches per
/// window, not a transaction per log for each entry (which, at 1,000 commands/s, cost the
/// recorder and PostgreSQL half a core between them). Nothing waits on the recorder to
/// answer a trader (the gateway serves orders and trades from its own view until they are
/// recorded), so its lag grows by at most the window.
public struct Recorder: Sendable {
    public let redis: RedisClient
    public let postgres: PostgresClient
    public var pageEntries = 500
    /// The wait after a pass that filled no page (zero: none).
    public var batchWindow: Duration
    /// For failed passes and PostgreSQL's own logging (injected; silent by default).
    let logger: Logger

    public init(
        redis: RedisClient, postgres: PostgresClient, batchWindow: Duration = .milliseconds(20),
        logger: Logger = Logger(label: "exchange.recorder", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.redis = redis
        self.postgres = postgres
        self.batchWindow = batchWindow
        self.logger = logger
    }

    /// What one pass wrote.
    public struct Progress: Sendable, Equatable {
        public var entries = 0
        public var rows = 0
        /// Whether some log filled its page (more may be waiting: no batch window follows).
        public var filledPage = false

        public init(entries: Int = 0, rows: Int = 0, filledPage: Bool = false) {
            self.entries = entries
            self.rows = rows
            self.filledPage = filledPage
        }

        mutating func add(_ other: Progress) {
            entries += other.entries
            rows += other.rows
            filledPage = filledPage || other.filledPage
        }
    }

    /// Records until cancelled; `onPass` sees each pass's progress. Failed passes (PostgreSQL
    /// or Redis away) are retried after a pause; nothing is written twice. After a pass that
    /// found nothing it waits, up to `idleWait`, for an output log to grow (see
    /// `waitForOutput`; below the Redis I/O timeout), so an idle recorder costs nothing; then,
    /// as after any pass that filled no page, `batchWindow`.
    public func run(idleWait: Duration = .milliseconds(500), onPass: @Sendable (Progress) -> Void = { _ in }) async throws {
        let waitClient = RedisClient(configuration: redis.configuration)
        defer { waitClient.shutdown() }
        var names: [SymbolPlacement: String] = [:]
        var reported = ContinuousClock.now - .seconds(1)
        while !Task.isCancelled {
            do {
                let progress = try await step(names: &names)
                onPass(progress)
                if ContinuousClock.now - reported >= .seconds(1) {
                    try await reportPositions()
                    reported = ContinuousClock.now
                }
                if progress.entries == 0 { try await waitForOutput(block: idleWait, on: waitClient) }
                if !progress.filledPage, batchWindow > .zero { try await Task.sleep(for: batchWindow) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("pass failed: \(String(reflecting: error))")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Tells the primaries what PostgreSQL holds of each output log (consumer `recorder`), so
    /// they trim nothing the recorder has not committed.
    func reportPositions() async throws {
        let recorded = try await StreamPositions.all(postgres, logger: logger)
        let taken = try await streams().compactMap { stream in
            recorded[stream.keys.output].flatMap { StreamID($0.lastID) }.map { (stream.keys, $0) }
        }
        try await ReplicaLogStore.reportConsumed(by: "recorder", taken, on: redis)
    }

    /// Waits on `waitClient` until some output log has entries past the position PostgreSQL
    /// recorded for it, or `block`.
    func waitForOutput(block: Duration, on waitClient: RedisClient) async throws {
        let recorded = try await StreamPositions.all(postgres, logger: logger)
        let logs = try await streams().map { stream in
            (stream.keys, recorded[stream.keys.output].flatMap { StreamID($0.lastID) } ?? .zero)
        }
        _ = try await ReplicaLogStore.awaitOutputs(logs, count: 1, block: block, on: waitClient)
    }

    /// The logs to record: every shard's and partition's output log.
    func streams() async throws -> [(keys: ReplicaLogKeys, shard: ShardID?, partition: PartitionID?)] {
        guard let map = try await ClusterMapStore(client: redis).load() else { throw ClusterMapStoreError.notInitialized }
        return map.shards.map { (ReplicaLogKeys.matchingShard($0.id), $0.id, nil) }
            + (0..<PartitionID(map.partitionCount)).map { (ReplicaLogKeys.clearingPartition($0), nil, $0) }
    }

    /// One batch from every log.
    public func step(names: inout [SymbolPlacement: String]) async throws -> Progress {
        var progress = Progress()
        for stream in try await streams() {
            if let shard = stream.shard {
                progress.add(try await recordShard(shard, keys: stream.keys, names: &names))
            } else if let partition = stream.partition {
                progress.add(try await recordPartition(partition, keys: stream.keys))
            }
        }
        return progress
    }

    func recordPartition(_ partition: PartitionID, keys: ReplicaLogKeys) async throws -> Progress {
        let store = ReplicaLogStore(keys: keys, client: redis)
        let logger = self.logger
        let pageEntries = self.pageEntries
        return try await postgres.withTransaction(logger: logger) { connection in
            guard let recorded = try await StreamPositions.lock(keys.output, on: connection, logger: logger) else { return Progress() }
            let entries = try await store.readOutputs(after: StreamID(recorded.lastID) ?? .zero, count: pageEntries)
            guard let last = entries.last else { return Progress() }
            var projection = LedgerProjection(partition: partition)
            for entry in entries { projection.add(try ClearingLogCodec.decodeEvents(entry.payload)) }
            try await projection.write(on: connection, logger: logger)
            try await StreamPositions.store(keys.output, lastID: last.id.description, position: Int64(last.position), on: connection, logger: logger)
            return Progress(entries: entries.count, rows: projection.rowCount, filledPage: entries.count == pageEntries)
        }
    }

    func recordShard(_ shard: ShardID, keys: ReplicaLogKeys, names: inout [SymbolPlacement: String]) async throws -> Progress {
        let store = ReplicaLogStore(keys: keys, client: redis)
        let logger = self.logger
        let known = names
        let pageEntries = self.pageEntries
        let registry = SymbolRegistry(client: redis)
        let (progress, updated) = try await postgres.withTransaction(logger: logger) { connection -> (Progress, [SymbolPlacement: String]) in
            guard let recorded = try await StreamPositions.lock(keys.output, on: connection, logger: logger) else { return (Progress(), known) }
            var entries = try await store.readOutputs(after: StreamID(recorded.lastID) ?? .zero, count: pageEntries)
            var outcomes = try entries.map { try ShardOutput.decode($0.payload) }
            if outcomes.contains(where: { !HandOverOrder.takeOvers($0).isEmpty }) {
                // A moved symbol's events from here on wait until its old owner's are recorded.
                let positions = try await StreamPositions.all(on: connection, logger: logger)
                let waiting = HandOverOrder.firstWaiting(outcomes) { from in
                    LogPosition(positions[ReplicaLogKeys.matchingShard(from).output]?.position ?? 0)
                }
                if let waiting {
                    entries.removeSubrange(waiting...)
                    outcomes.removeSubrange(waiting...)
                }
            }
            guard let last = entries.last else { return (Progress(), known) }
            var names = known
            // A symbol registered since the names were read: read them again.
            let used = outcomes.joined().flatMap(\.events).compactMap { event -> SymbolID? in
                switch event {
                case .accepted(let accepted): accepted.order.symbolID
                case .traded(let trade): trade.symbolID
                default: nil
                }
            }
            if used.contains(where: { names[SymbolPlacement(shard: shard, localID: $0)] == nil }) {
                names = try await registry.names()
            }
            var projection = OrderProjection(shard: shard)
            for (entry, entryOutcomes) in zip(entries, outcomes) {
                projection.add(entryOutcomes, position: entry.position, timeMilliseconds: Int64(entry.appendedAtMicroseconds / 1_000)) {
                    names[SymbolPlacement(shard: shard, localID: $0)] ?? "shard \(shard) symbol \($0)"
                }
            }
            try await projection.write(on: connection, logger: logger)
            try await StreamPositions.store(keys.output, lastID: last.id.description, position: Int64(last.position), on: connection, logger: logger)
            // A page cut at a waiting take-over is not full: its rest waits for the old owner's log.
            return (Progress(entries: entries.count, rows: projection.rowCount, filledPage: entries.count == pageEntries), names)
        }
        names = updated
        return progress
    }

    /// Per output log: how many entries it has that are not recorded yet.
    public func lag() async throws -> [String: UInt64] {
        let recorded = try await StreamPositions.all(postgres, logger: logger)
        var lag: [String: UInt64] = [:]
        for stream in try await streams() {
            let store = ReplicaLogStore(keys: stream.keys, client: redis)
            let watermark = try await store.observe().watermark
            let position = UInt64(max(0, recorded[stream.keys.output]?.position ?? 0))
            lag[stream.keys.output] = watermark > position ? watermark - position : 0
        }
        return lag
    }
}
