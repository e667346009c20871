import ExchangeCore

/// The cluster's placement: which shards exist and who replicates them, the ring that
/// places symbols, explicit pins for hot symbols, and the fixed clearing partition count.
///
/// Versioned: every change yields a map with `version + 1`, so routers cache it by version
/// and refresh when the stored version moves on. Stored in Redis as JSON (Codable).
///
/// Invariants: at least one shard; shard ids unique; every pin names an existing shard;
/// `partitionCount >= 1` and never changes after `init` (users never move between partitions).
public struct ClusterMap: Codable, Sendable, Equatable {
    public struct Shard: Codable, Sendable, Equatable {
        public var id: ShardID
        /// Replica names (hosts' stable names), primary or standby as the lease decides.
        public var replicas: [String]

        public init(id: ShardID, replicas: [String] = []) {
            self.id = id
            self.replicas = replicas
        }
    }

    public private(set) var version: UInt64
    public private(set) var shards: [Shard]
    public private(set) var virtualNodesPerShard: Int
    /// Symbols placed by hand, overriding the ring.
    public private(set) var pins: [String: ShardID]
    public let partitionCount: Int

    /// A first map (version 1) with shards `0 ..< shardCount`.
    public init(shardCount: Int, partitionCount: Int, virtualNodesPerShard: Int = 128) throws(ClusterMapError) {
        guard shardCount >= 1 else { throw .noShards }
        guard partitionCount >= 1 else { throw .noPartitions }
        guard virtualNodesPerShard >= ConsistentHashRing.minimumVirtualNodesPerShard else {
            throw .tooFewVirtualNodes(virtualNodesPerShard)
        }
        version = 1
        shards = (0..<shardCount).map { Shard(id: ShardID($0)) }
        self.virtualNodesPerShard = virtualNodesPerShard
        pins = [:]
        self.partitionCount = partitionCount
    }

    /// The ring of the current shards (build once per version and keep it: O(shards × nodes log)).
    public var ring: ConsistentHashRing {
        ConsistentHashRing(shards: shards.map(\.id), virtualNodesPerShard: virtualNodesPerShard)
    }

    /// The shard owning `symbol`: its pin, else the ring's choice.
    public func shard(for symbol: String, ring: ConsistentHashRing) -> ShardID {
        pins[symbol] ?? ring.shard(for: symbol)
    }

    /// The clearing partition of `user`: a stable hash modulo the fixed partition count.
    public func partition(for user: UserID) -> PartitionID {
        PartitionID(StableHash.of(user) % UInt64(partitionCount))
    }

    /// This map with one more shard (the next free id), version + 1.
    public func addingShard() -> ClusterMap {
        var next = self
        next.shards.append(Shard(id: (shards.map(\.id).max() ?? 0) + 1))
        next.version += 1
        return next
    }

    /// This map with `symbol` pinned to `shard`, version + 1.
    public func pinning(_ symbol: String, to shard: ShardID) throws(ClusterMapError) -> ClusterMap {
        guard SymbolSpec.isValidName(symbol) else { throw .invalidSymbol(symbol) }
        guard shards.contains(where: { $0.id == shard }) else { throw .unknownShard(shard) }
        var next = self
        next.pins[symbol] = shard
        next.version += 1
        return next
    }

    /// This map without a pin on `symbol` (the ring places it again), version + 1.
    public func unpinning(_ symbol: String) throws(ClusterMapError) -> ClusterMap {
        guard pins[symbol] != nil else { throw .notPinned(symbol) }
        var next = self
        next.pins[symbol] = nil
        next.version += 1
        return next
    }

    /// This map with `replica` registered on `shard`, version + 1 (no change if present).
    public func registering(replica: String, on shard: ShardID) throws(ClusterMapError) -> ClusterMap {
        guard let index = shards.firstIndex(where: { $0.id == shard }) else { throw .unknownShard(shard) }
        guard !shards[index].replicas.contains(replica) else { return self }
        var next = self
        next.shards[index].replicas.append(replica)
        next.version += 1
        return next
    }
}

/// Why a cluster map change was refused.
public enum ClusterMapError: Error, Equatable, Sendable, CustomStringConvertible {
    case noShards
    case noPartitions
    case tooFewVirtualNodes(Int)
    case unknownShard(ShardID)
    case invalidSymbol(String)
    case notPinned(String)

    public var description: String {
        switch self {
        case .noShards: "a cluster needs at least one shard"
        case .noPartitions: "a cluster needs at least one clearing partition"
        case .tooFewVirtualNodes(let count): "\(count) virtual nodes per shard; at least \(ConsistentHashRing.minimumVirtualNodesPerShard) are needed"
        case .unknownShard(let shard): "no shard \(shard) in the cluster map"
        case .invalidSymbol(let symbol): "invalid symbol name '\(symbol)'"
        case .notPinned(let symbol): "\(symbol) is not pinned"
        }
    }
}
