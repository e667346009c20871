import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeOrderFlow
import ExchangeRedis
import Foundation

/// `exchange feed`: appends an order flow's commands to the owning shards' input logs.
///
/// Symbols are registered first (on the shard the cluster map gives them); each command goes
/// to its symbol's shard with the symbol's local id, tagged with a cluster-wide increasing
/// number (a block reserved per feed run, in flow order) so `exchange collect` can put the
/// shards' outputs back in flow order and a retried batch is appended only once. Commands to one shard
/// keep flow order; batches are pipelined. Places the flow itself rejects (a bad word or an
/// off-tick price: what a gateway refuses) never reach a shard: they are recorded in
/// `cluster:edge-rejected` for `collect`.
public struct FlowFeeder: Sendable {
    public static let edgeRejectedKey = "cluster:edge-rejected"
    /// The last tag reserved by any feed run.
    public static let tagCounterKey = "cluster:feed-tags"
    public let client: RedisClient
    public var batchCommands = 500
    /// When pacing (`rate`), a batch waits at most this long for more commands, so latency
    /// stays low at partial rates.
    public var batchLinger = Duration.milliseconds(1)

    public init(client: RedisClient) { self.client = client }

    /// Feeds `flow`; `rate` (commands per second) paces it when given; `progress` gets the
    /// number of entries fed so far, about every 1%.
    public func feed(_ flow: OrderFlow, rate: Double? = nil, progress: (Int) -> Void = { _ in }) async throws {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let ring = map.ring
        let registry = SymbolRegistry(client: client)
        var placements: [SymbolPlacement] = []
        var batches: [ShardID: (payloads: [[UInt8]], tags: [String])] = [:]
        var oldestPending: ContinuousClock.Instant?
        let start = ContinuousClock.now
        // Reserve this run's block of tags: retries within the run reuse them, a new run does not.
        var reserved: Int64 = 0
        try await Self.retrying {
            reserved = try await client.send(["INCRBY", Self.tagCounterKey, String(flow.entries.count)]).integer ?? 0
        }
        let tagBase = reserved - Int64(flow.entries.count)
        // Each run is its own producer: concurrent feeds never skip each other's entries.
        let producer = "feed-\(tagBase)"
        let progressStep = max(1, flow.entries.count / 100)

        func flush(_ shard: ShardID) async throws {
            guard let batch = batches[shard], !batch.payloads.isEmpty else { return }
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            // Tags make a retried batch idempotent: what already got in is skipped.
            try await Self.retrying { _ = try await store.appendInput(batch.payloads, tags: batch.tags, producer: producer) }
            batches[shard] = nil
        }

        for (index, entry) in flow.entries.enumerated() {
            if index % progressStep == 0 { progress(index) }
            switch entry {
            case .rejectedPlace(let orderID, let reason):
                try await Self.retrying { _ = try await client.send(["HSET", Self.edgeRejectedKey, String(orderID), String(reason.rawValue)]) }
            case .command(.addSymbol(let add)):
                let shard = map.shard(for: add.spec.name, ring: ring)
                try await flush(shard)
                // Registration returns the existing placement when repeated: safe to retry.
                var placement: SymbolPlacement?
                try await Self.retrying { placement = try await registry.register(add.spec, on: shard) }
                placements.append(placement!)
            case .command(let command):
                guard let (shard, local) = try Self.route(command, placements: placements) else { continue }
                var batch = batches[shard] ?? ([], [])
                batch.payloads.append(LogCodec.encode(local))
                batch.tags.append(String(tagBase + Int64(index)))
                batches[shard] = batch
                if batch.payloads.count >= batchCommands { try await flush(shard) }
            }
            if let rate {
                if oldestPending == nil, !batches.isEmpty { oldestPending = .now }
                if let oldest = oldestPending, oldest.duration(to: .now) >= batchLinger {
                    for shard in batches.keys.sorted() { try await flush(shard) }
                    oldestPending = nil
                }
                let due = start + .seconds(Double(index) / rate)
                if due > .now + .microseconds(200) { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
        for shard in batches.keys.sorted() { try await flush(shard) }
        progress(flow.entries.count)
    }

    /// Runs `body`, retrying transient failures (a Redis restart: refused connections, then
    /// `LOADING`) with backoff for up to a minute; other errors are final.
    static func retrying(_ body: () async throws -> Void) async throws {
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

    /// The shard of `command` and the command with its shard-local symbol id.
    static func route(_ command: MatchingCommand, placements: [SymbolPlacement]) throws -> (ShardID, MatchingCommand)? {
        func placement(_ id: SymbolID) throws -> SymbolPlacement {
            guard Int(id.rawValue) < placements.count else { throw FeedError.unknownSymbol(id) }
            return placements[Int(id.rawValue)]
        }
        switch command {
        case .place(var order):
            let target = try placement(order.symbolID)
            order.symbolID = target.localID
            return (target.shard, .place(order))
        case .cancel(var cancel):
            let target = try placement(cancel.symbolID)
            cancel.symbolID = target.localID
            return (target.shard, .cancel(cancel))
        case .amend(var amend):
            let target = try placement(amend.symbolID)
            amend.symbolID = target.localID
            return (target.shard, .amend(amend))
        case .setSymbolStatus(var change):
            let target = try placement(change.symbolID)
            change.symbolID = target.localID
            return (target.shard, .setSymbolStatus(change))
        case .addSymbol:
            return nil
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
