import ExchangeCluster
import ExchangeCore
import Testing

@Suite struct ConsistentHashRingTests {
    static let symbols = (0..<10_000).map { "SYM\($0)USDT" }

    @Test("placement is stable: the same symbol lands on the same shard in any ring built the same way")
    func stable() {
        let first = ConsistentHashRing(shards: [0, 1, 2])
        let second = ConsistentHashRing(shards: [2, 0, 1])
        #expect(first == second)
        for symbol in Self.symbols.prefix(500) { #expect(first.shard(for: symbol) == second.shard(for: symbol)) }
        // Pinned values: a change of hash or ring layout must be deliberate (it moves every symbol).
        #expect(StableHash.of("BTCUSDT") == StableHash.of("BTCUSDT"))
        #expect(StableHash.of("BTCUSDT") != StableHash.of("ETHUSDT"))
    }

    @Test("adding a shard moves about 1/(N+1) of the symbols, all to the new shard", arguments: [1, 2, 4, 8])
    func addingShardMovesOnlyItsShare(shardCount: Int) {
        let before = ConsistentHashRing(shards: (0..<shardCount).map { ShardID($0) })
        let after = ConsistentHashRing(shards: (0...shardCount).map { ShardID($0) })
        var moved = 0
        for symbol in Self.symbols {
            let old = before.shard(for: symbol)
            let new = after.shard(for: symbol)
            if old != new {
                moved += 1
                #expect(new == ShardID(shardCount), "\(symbol) moved between old shards")
            }
        }
        let expected = Double(Self.symbols.count) / Double(shardCount + 1)
        #expect(Double(moved) > expected * 0.7 && Double(moved) < expected * 1.3, "moved \(moved), expected about \(Int(expected))")
    }

    @Test("with 128 virtual nodes every shard gets its share within 25%")
    func balanced() {
        let ring = ConsistentHashRing(shards: Array(0..<8))
        var counts = [ShardID: Int]()
        for symbol in Self.symbols { counts[ring.shard(for: symbol), default: 0] += 1 }
        let share = Double(Self.symbols.count) / 8
        for shard in ring.shards {
            #expect(Double(counts[shard] ?? 0) > share * 0.75 && Double(counts[shard] ?? 0) < share * 1.25, "shard \(shard): \(counts[shard] ?? 0)")
        }
    }
}

@Suite struct ClusterMapTests {
    @Test("pins override the ring; every change bumps the version")
    func pins() throws {
        let map = try ClusterMap(shardCount: 2, partitionCount: 4)
        #expect(map.version == 1)
        let ring = map.ring
        let natural = map.shard(for: "BTCUSDT", ring: ring)
        let other: ShardID = natural == 0 ? 1 : 0
        let pinned = try map.pinning("BTCUSDT", to: other)
        #expect(pinned.version == 2)
        #expect(pinned.shard(for: "BTCUSDT", ring: pinned.ring) == other)
        let unpinned = try pinned.unpinning("BTCUSDT")
        #expect(unpinned.version == 3)
        #expect(unpinned.shard(for: "BTCUSDT", ring: unpinned.ring) == natural)
        #expect(throws: ClusterMapError.unknownShard(7)) { try map.pinning("BTCUSDT", to: 7) }
        #expect(throws: ClusterMapError.invalidSymbol("btc")) { try map.pinning("btc", to: 0) }
        #expect(throws: ClusterMapError.notPinned("ETHUSDT")) { try map.unpinning("ETHUSDT") }
    }

    @Test("adding a shard keeps partitions and pins; replicas register once")
    func growth() throws {
        let map = try ClusterMap(shardCount: 2, partitionCount: 8).pinning("BTCUSDT", to: 1)
        let grown = map.addingShard()
        #expect(grown.shards.map(\.id) == [0, 1, 2])
        #expect(grown.version == map.version + 1)
        #expect(grown.partitionCount == 8)
        #expect(grown.pins == ["BTCUSDT": 1])
        let registered = try grown.registering(replica: "host-a", on: 2)
        #expect(registered.shards[2].replicas == ["host-a"])
        #expect(try registered.registering(replica: "host-a", on: 2) == registered)
        #expect(throws: ClusterMapError.unknownShard(9)) { try grown.registering(replica: "host-a", on: 9) }
    }

    @Test("users spread over partitions, each always to the same one")
    func partitions() throws {
        let map = try ClusterMap(shardCount: 1, partitionCount: 4)
        var counts = [PartitionID: Int]()
        for user in UserID(1)...4_000 {
            let partition = map.partition(for: user)
            #expect(partition < 4)
            #expect(map.partition(for: user) == partition)
            counts[partition, default: 0] += 1
        }
        for partition in PartitionID(0)..<4 { #expect((800...1_200).contains(counts[partition] ?? 0)) }
    }

    @Test("invalid maps are refused", arguments: [(0, 1, 128, ClusterMapError.noShards), (1, 0, 128, .noPartitions), (1, 1, 99, .tooFewVirtualNodes(99))])
    func invalid(shards: Int, partitions: Int, nodes: Int, error: ClusterMapError) {
        #expect(throws: error) { try ClusterMap(shardCount: shards, partitionCount: partitions, virtualNodesPerShard: nodes) }
    }
}
