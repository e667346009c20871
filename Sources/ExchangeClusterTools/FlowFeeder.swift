import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplication
import Foundation

/// `exchange feed`: appends an order flow's commands to the owning shards' input logs.
///
/// Symbols are registered first (on the shard the cluster map gives them). Commands go to
/// their symbol's shard, addressed by name, many per log entry (`entryCommands`): Redis
/// works per entry, so this is what makes the log fast. Each entry is tagged with the
/// highest of a cluster-wide increasing number (a block reserved per feed run, one number
/// per flow line) so a retried append is applied only once, and notes which flow lines it
/// carries (`FlowLineNote`) so `exchange collect` can put the shards' outputs back in flow
/// order. Commands to one shard keep flow order. Places the flow itself rejects (a bad word
/// or an off-tick price: what a gateway refuses) never reach a shard: they are recorded in
/// `cluster:edge-rejected` for `collect`.
public struct FlowFeeder: Sendable {
    public static let edgeRejectedKey = "cluster:edge-rejected"
    /// The last tag reserved by any feed run.
    public static let tagCounterKey = "cluster:feed-tags"
    public let client: RedisClient
    /// Commands per input log entry, at most.
    public var entryCommands = 256
    /// Entries per append (one script call), at most.
    public var appendEntries = 4
    /// When pacing (`rate`), an entry waits at most this long for more commands, so latency
    /// stays low at partial rates; also the pacing step.
    public var batchLinger = Duration.milliseconds(1)
    /// Traces the order of one flow line in `traceEvery` (a place or cancel), each under a
    /// fresh sampled trace of its own, as a gateway's sampler would: for measuring what tracing
    /// costs the replicas (`bench/observability.sh`). Nil: nothing traced.
    public var traceEvery: Int?

    public init(client: RedisClient) { self.client = client }

    /// One shard's commands not yet appended.
    struct ShardQueue {
        var open = ShardInputBatch()
        var openLines: [Int] = []
        var openTraces: [EntryTraces.Trace] = []
        var sealed: (payloads: [[UInt8]], tags: [String], notes: [[UInt8]], traces: [EntryTraces]) = ([], [], [], [])

        /// Adds flow line `line`'s command to the open entry (traced when `traced`), sealing it
        /// once it holds `entryCommands`.
        mutating func add(_ command: MatchingCommand, symbol: String, line: Int, entryCommands: Int, tagBase: Int64, traced: Bool = false) {
            open.append(command, symbol: symbol)
            openLines.append(line)
            if traced, let orderID = command.orderID {
                var generator = SystemRandomNumberGenerator()
                openTraces.append(.init(orderID: orderID, traceParent: EntryTraces.randomTraceParent(using: &generator)))
            }
            if open.count >= entryCommands { seal(tagBase: tagBase) }
        }

        /// Closes the open entry.
        mutating func seal(tagBase: Int64) {
            guard let last = openLines.last else { return }
            sealed.payloads.append(open.input.encoded())
            sealed.tags.append(String(tagBase + Int64(last)))
            sealed.notes.append(FlowLineNote.encode(openLines))
            sealed.traces.append(EntryTraces(openTraces))
            open.removeAll()
            openLines.removeAll(keepingCapacity: true)
            openTraces.removeAll()
        }
    }

    /// How often a feed checks whether symbols moved.
    static let placementCheckInterval: Duration = .milliseconds(5)

    /// Where each of a flow's symbols lives: its shard and name, by the flow's symbol id.
    public typealias Placements = [(shard: ShardID, name: String)]

    /// Registers every symbol `flow` declares (on the shard the cluster map gives it; a
    /// registered symbol keeps its place), up to 64 registrations in flight.
    public func registerSymbols(of flow: OrderFlow) async throws -> Placements {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let ring = map.ring
        let shards = map.shards.map(\.id)
        let registry = SymbolRegistry(client: client)
        let specs = flow.entries.compactMap { entry -> SymbolSpec? in
            if case .command(.addSymbol(let add)) = entry { return add.spec }
            return nil
        }
        var placements = Placements(repeating: (0, ""), count: specs.count)
        for chunk in stride(from: 0, to: specs.count, by: 64) {
            try await withThrowingTaskGroup(of: (Int, ShardID).self) { group in
                for index in chunk..<min(chunk + 64, specs.count) {
                    let spec = specs[index]
                    group.addTask {
                        // Registration returns the existing placement when repeated: safe to retry.
                        var placement: SymbolPlacement?
                        try await Self.retrying {
                            placement = try await registry.register(spec, on: map.shard(for: spec.name, ring: ring), otherShards: shards, partitionCount: map.partitionCount)
                        }
                        return (index, placement!.shard)
                    }
                }
                for try await (index, shard) in group { placements[index] = (shard, specs[index].name) }
            }
        }
        return placements
    }

    /// Feeds `flow`; `rate` (commands per second) paces it when given; `progress` gets the
    /// number of flow lines fed so far, about every 1%. Registers the flow's symbols first
    /// unless `placements` (from `registerSymbols(of:)`) are given.
    public func feed(
        _ flow: OrderFlow, rate: Double? = nil, placements known: Placements? = nil, progress: (Int) -> Void = { _ in }
    ) async throws {
        var placements = known ?? []
        if known == nil { placements = try await registerSymbols(of: flow) }
        // Symbols may move while the flow is fed (`ctl move`): placements are read again when
        // the registry's version changes (checked every few milliseconds). A command that still
        // reached the old shard is refused there as moved.
        let registry = SymbolRegistry(client: client)
        var placementsVersion = try await Self.retrying { try await registry.version() }
        var placementsChecked = ContinuousClock.now
        var queues: [ShardID: ShardQueue] = [:]
        var oldestPending: ContinuousClock.Instant?
        let pacer = rate.map { FeedPacer(rate: $0, step: batchLinger) }
        // Reserve this run's block of tags: retries within the run reuse them, a new run does not.
        var reserved: Int64 = 0
        try await Self.retrying {
            reserved = try await client.send(["INCRBY", Self.tagCounterKey, String(flow.entries.count)]).integer ?? 0
        }
        let tagBase = reserved - Int64(flow.entries.count)
        // Each run is its own producer: concurrent feeds never skip each other's entries.
        let producer = "feed-\(tagBase)"
        let progressStep = max(1, flow.entries.count / 100)

        /// The entries `shards` have queued (their open ones sealed), one batch per log.
        func takeQueued(_ shards: [ShardID]) -> [ReplicaLogStore.InputBatch] {
            var batches: [ReplicaLogStore.InputBatch] = []
            for shard in shards.sorted() where queues[shard] != nil {
                queues[shard]!.seal(tagBase: tagBase)
                let sealed = queues[shard]!.sealed
                queues[shard]!.sealed = ([], [], [], [])
                if !sealed.payloads.isEmpty {
                    batches.append(.init(
                        keys: .matchingShard(shard), payloads: sealed.payloads, tags: sealed.tags, notes: sealed.notes, traces: sealed.traces))
                }
            }
            return batches
        }

        try await withSerialAppends { submit in
            /// Appends what `shards` have queued, one pipeline for all of them.
            func flush(_ shards: [ShardID]) async throws {
                let batches = takeQueued(shards)
                guard !batches.isEmpty else { return }
                // Tags make a retried append idempotent: what already got in is skipped.
                try await submit { try await Self.retrying { _ = try await ReplicaLogStore.appendInputs(batches, producer: producer, on: client) } }
            }

            for (index, entry) in flow.entries.enumerated() {
                if index % progressStep == 0 { progress(index) }
                switch entry {
                case .rejectedPlace(let orderID, let reason):
                    try await Self.retrying { _ = try await client.send(["HSET", Self.edgeRejectedKey, String(orderID), String(reason.rawValue)]) }
                case .command(.addSymbol):
                    break
                case .command(let command):
                    guard let symbol = command.symbolID else { continue }
                    guard Int(symbol.rawValue) < placements.count else { throw FeedError.unknownSymbol(symbol) }
                    if placementsChecked.duration(to: .now) >= Self.placementCheckInterval {
                        let version = try await Self.retrying { try await registry.version() }
                        if version != placementsVersion {
                            let current = try await Self.retrying { try await registry.all() }
                            for index in placements.indices { placements[index].shard = current[placements[index].name]?.shard ?? placements[index].shard }
                            placementsVersion = version
                        }
                        placementsChecked = .now
                    }
                    let target = placements[Int(symbol.rawValue)]
                    // Mutated in place: a copy out of the dictionary would copy the open batch on
                    // every append.
                    queues[target.shard, default: ShardQueue()].add(
                        command, symbol: target.name, line: index, entryCommands: entryCommands, tagBase: tagBase,
                        traced: traceEvery.map { index % $0 == 0 } ?? false)
                    if queues[target.shard]!.sealed.payloads.count >= appendEntries { try await flush([target.shard]) }
                }
                if let pacer {
                    if oldestPending == nil, queues.values.contains(where: { !$0.open.isEmpty || !$0.sealed.payloads.isEmpty }) {
                        oldestPending = .now
                    }
                    if let oldest = oldestPending, oldest.duration(to: .now) >= batchLinger {
                        try await flush(Array(queues.keys))
                        oldestPending = nil
                    }
                    try await pacer.pace(line: index)
                }
            }
            try await flush(Array(queues.keys))
        }
        progress(flow.entries.count)
    }

    /// Runs `body`, retrying transient failures (a Redis restart: refused connections, then
    /// `LOADING`) with backoff for up to a minute; other errors are final.
    static func retrying<Value>(_ body: () async throws -> Value) async throws -> Value {
        var delay = Duration.milliseconds(20)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await body()
            } catch let error as RedisError where error.isTransient && ContinuousClock.now < deadline {
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }
}

public enum FeedError: Error, CustomStringConvertible {
    case unknownSymbol(SymbolID)

    public var description: String {
        switch self {
        case .unknownSymbol(let id): "command for symbol \(id) before its declaration"
        }
    }
}

/// The flow lines an input entry carries, as `exchange feed` notes them: the first line, then
/// the increase to each next one (varints; lines only increase).
public enum FlowLineNote {
    public static func encode(_ lines: [Int]) -> [UInt8] {
        var writer = BinaryWriter(capacity: lines.count * 2 + 4)
        var previous = 0
        for line in lines {
            writer.writeVarint(UInt64(line - previous))
            previous = line
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> [Int] {
        var reader = BinaryReader(bytes)
        var lines: [Int] = []
        var previous: UInt64 = 0
        while !reader.isAtEnd {
            let (next, overflow) = previous.addingReportingOverflow(try reader.readVarint())
            guard !overflow, next <= UInt64(Int.max) else { throw .varintOverflow }
            lines.append(Int(next))
            previous = next
        }
        return lines
    }
}
