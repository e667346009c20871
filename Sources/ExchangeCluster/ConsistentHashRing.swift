import ExchangeCore

/// A matching shard's number in the cluster map.
public typealias ShardID = UInt32

/// A clearing partition's number: `0 ..< partitionCount`.
public typealias PartitionID = UInt32

/// A stable 64-bit hash of text: the same on every host, process and run (unlike `Hasher`,
/// which is seeded per process), so every router places a symbol on the same shard.
public enum StableHash {
    public static func of(_ text: String) -> UInt64 {
        var checksum = Checksum64()
        var copy = text
        copy.withUTF8 { checksum.update(UnsafeRawBufferPointer($0)) }
        return checksum.value
    }

    public static func of(_ value: UInt64) -> UInt64 {
        var checksum = Checksum64()
        checksum.combine(value)
        return checksum.value
    }
}

/// Symbols to shards by consistent hashing with virtual nodes.
///
/// Each shard owns `virtualNodesPerShard` points on a 64-bit ring; a symbol belongs to the
/// shard of the first point at or after its hash (wrapping). Adding a shard therefore moves
/// only the symbols that land on the new shard's points, about 1/(N+1) of them, and none
/// between old shards. Invariant: `points` is sorted by hash, ties broken by shard.
public struct ConsistentHashRing: Sendable, Equatable {
    public static let minimumVirtualNodesPerShard = 100

    struct Point: Sendable, Equatable {
        var hash: UInt64
        var shard: ShardID
    }

    public let shards: [ShardID]
    public let virtualNodesPerShard: Int
    let points: [Point]

    /// - Precondition: `shards` is not empty and has no duplicates;
    ///   `virtualNodesPerShard >= minimumVirtualNodesPerShard`.
    public init(shards: [ShardID], virtualNodesPerShard: Int = 128) {
        precondition(!shards.isEmpty, "a ring needs at least one shard")
        precondition(Set(shards).count == shards.count, "duplicate shard in ring")
        precondition(virtualNodesPerShard >= Self.minimumVirtualNodesPerShard, "too few virtual nodes per shard")
        self.shards = shards.sorted()
        self.virtualNodesPerShard = virtualNodesPerShard
        var points: [Point] = []
        points.reserveCapacity(shards.count * virtualNodesPerShard)
        for shard in shards {
            for node in 0..<virtualNodesPerShard {
                points.append(Point(hash: StableHash.of("shard-\(shard)-node-\(node)"), shard: shard))
            }
        }
        self.points = points.sorted { ($0.hash, $0.shard) < ($1.hash, $1.shard) }
    }

    /// The shard owning `symbol`. O(log(shards × virtual nodes)).
    public func shard(for symbol: String) -> ShardID {
        let hash = StableHash.of(symbol)
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle].hash < hash { low = middle + 1 } else { high = middle }
        }
        return points[low == points.count ? 0 : low].shard
    }
}
