import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication

/// Moves a symbol with its resting book from the shard holding it to another, while trading
/// goes on: `handOver` on the owner's log → the owner writes the book out in steps (its
/// forwarder appends a `continueMove` to its log after each) → the owner's forwarder appends
/// the book to the new owner's log and places the symbol there
/// (`SymbolRegistry.placeTakeOver`) → the new owner takes it over in steps the same way.
/// Commands for the symbol that reach either owner meanwhile are refused (`symbolMoved`,
/// retryable: nothing is placed, the freeze is released). Clearing sends the new owner what
/// its partitions took in after the placement changed (`PlacementHistory`); what they took in
/// before, still on its way, goes to the old owner, which refuses it.
///
/// The mover only starts the hand-over and watches it: the logs carry it, so a mover that dies
/// midway, or a failover of either shard, loses nothing.
public struct SymbolMover: Sendable {
    /// What a finished move measured. Times are Redis's (µs since the Unix epoch).
    public struct Report: Sendable, Equatable {
        public var symbol: String
        public var from: ShardID
        public var to: ShardID
        public var restingOrders: Int
        /// The hand-over's input position on `from` and the take-over's last answer's on `to`.
        public var handOverPosition: LogPosition
        public var takeOverPosition: LogPosition
        /// From the hand-over's append to `from`'s log to `to`'s answer that it holds the whole
        /// book: the most the symbol can have been halted (it trades on `from` until `from`
        /// applies the hand-over, and on `to` once `to` answered).
        public var haltedAtMostMicroseconds: UInt64
    }

    public let client: RedisClient
    /// How long to wait for each shard's answer.
    public let timeout: Duration

    public init(client: RedisClient, timeout: Duration = .seconds(30)) {
        self.client = client
        self.timeout = timeout
    }

    /// Moves `symbol` to shard `to`; with `pin`, pins it there in the cluster map as well (so
    /// the ring's choice does not contradict a hand-made move).
    public func move(_ symbol: String, to: ShardID, pin: Bool) async throws -> Report {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        guard map.shards.contains(where: { $0.id == to }) else { throw SymbolMoveError.unknownShard(to) }
        guard let placement = try await SymbolRegistry(client: client).all()[symbol] else { throw SymbolMoveError.unknownSymbol(symbol) }
        let from = placement.shard
        guard from != to else { throw SymbolMoveError.alreadyThere(symbol, to) }
        let source = ReplicaLogStore(keys: .matchingShard(from), client: client)
        let target = ReplicaLogStore(keys: .matchingShard(to), client: client)
        // A book handed to a shard nobody runs would halt the symbol until someone starts it.
        guard try await target.observe().holder != nil else { throw SymbolMoveError.noPrimary(to) }
        if pin { _ = try await ClusterMapStore(client: client).update { try $0.pinning(symbol, to: to) } }
        let sourceAfter = try await lastOutputID(of: source)
        let targetAfter = try await lastOutputID(of: target)
        let handOverPosition = try await source.appendInput([ShardInput.handOver(symbol: symbol, to: to).encoded()], producer: "ctl-move")
        guard let appended = try await source.readInput(after: handOverPosition - 1, count: 1).first else {
            throw RedisError.unexpectedReply("hand-over entry \(handOverPosition) not found")
        }
        // A book of more than `MatchingShardMachine.handOverStepOrders` orders leaves over several
        // entries: its `handedOver` comes with the last one.
        let (handedOver, handedOverPosition) = try await awaitOutcome(of: source, after: sourceAfter, what: "shard \(from)'s hand-over") {
            entry, outcomes -> (CommandOutcome.HandedOver, LogPosition)? in
            guard entry.position >= handOverPosition else { return nil }
            for outcome in outcomes {
                switch outcome {
                case .handedOver(let handedOver) where handedOver.symbol == symbol && handedOver.tombstone != nil:
                    return (handedOver, entry.position)
                case .misrouted(let misrouted, let owner) where misrouted == symbol && entry.position == handOverPosition:
                    throw SymbolMoveError.notHeld(symbol, from, owner: owner)
                default: continue
                }
            }
            return nil
        }
        // Likewise the `tookOver` comes with the last entry of the take-over: the symbol trades from there.
        let answer = try await awaitOutcome(of: target, after: targetAfter, what: "shard \(to)'s take-over") { entry, outcomes -> OutputEntry? in
            for outcome in outcomes {
                switch outcome {
                case .tookOver(let tookOver) where tookOver.symbol == symbol && tookOver.from == from && tookOver.fromPosition == handedOverPosition:
                    return entry
                case .handedOver(let refused) where refused.symbol == symbol && refused.to == from && refused.tombstone == nil:
                    throw SymbolMoveError.refused(symbol, to, reason: refused.refusal)
                default: continue
                }
            }
            return nil
        }
        return Report(
            symbol: symbol, from: from, to: to, restingOrders: handedOver.restingOrders, handOverPosition: handOverPosition,
            takeOverPosition: answer.position,
            haltedAtMostMicroseconds: answer.appendedAtMicroseconds - min(answer.appendedAtMicroseconds, appended.timestampMicroseconds))
    }

    /// The unpinned symbols whose ring owner is not where they are (after `ctl add-shard`:
    /// those the ring gives the new shard), by name, with the shard the ring gives each.
    public func ringMoves() async throws -> [(symbol: String, from: ShardID, to: ShardID)] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let ring = map.ring
        return try await SymbolRegistry(client: client).all().sorted { $0.key < $1.key }.compactMap { symbol, placement in
            let owner = map.shard(for: symbol, ring: ring)
            return owner == placement.shard ? nil : (symbol, placement.shard, owner)
        }
    }

    private func lastOutputID(of store: ReplicaLogStore) async throws -> StreamID {
        try await client.xrevrange(store.keys.output, before: nil, count: 1).first?.id ?? .zero
    }

    /// Reads `store`'s outputs after `after` until `match` returns a value (or throws).
    private func awaitOutcome<Found>(
        of store: ReplicaLogStore, after: StreamID, what: String, _ match: (OutputEntry, [CommandOutcome]) throws -> Found?
    ) async throws -> Found {
        let deadline = ContinuousClock.now + timeout
        var after = after
        while ContinuousClock.now < deadline {
            let page = try await store.readOutputs(after: after, count: 1_000)
            for entry in page {
                if let found = try match(entry, try ShardOutput.decode(entry.payload)) { return found }
            }
            if let last = page.last { after = last.id } else { try await Task.sleep(for: .milliseconds(2)) }
        }
        throw SymbolMoveError.timedOut(what, timeout)
    }
}

/// Why a symbol move was refused or did not finish.
public enum SymbolMoveError: Error, Equatable, CustomStringConvertible {
    case unknownShard(ShardID)
    case unknownSymbol(String)
    case alreadyThere(String, ShardID)
    case noPrimary(ShardID)
    case notHeld(String, ShardID, owner: ShardID?)
    case refused(String, ShardID, reason: String)
    case timedOut(String, Duration)

    public var description: String {
        switch self {
        case .unknownShard(let shard): "no shard \(shard) in the cluster map"
        case .unknownSymbol(let symbol): "no symbol \(symbol) is registered"
        case .alreadyThere(let symbol, let shard): "\(symbol) is on shard \(shard) already"
        case .noPrimary(let shard): "shard \(shard) has no live primary: start its matcher first (the symbol would halt until it runs)"
        case .notHeld(let symbol, let shard, let owner):
            "shard \(shard) does not hold \(symbol)\(owner.map { " (its directory names shard \($0))" } ?? ""); nothing was moved"
        case .refused(let symbol, let shard, let reason): "shard \(shard) refused \(symbol)'s book (\(reason)); it went back to where it was"
        case .timedOut(let what, let timeout): "no answer to \(what) within \(timeout): the move goes on in the logs; see `exchange ctl status`"
        }
    }
}
