import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeRedis
import Synchronization

/// What the gateway knows of the cluster, cached for `refreshInterval`: the cluster map
/// (shards, partitions), the listings (`MarketCatalog`) and each shard's local symbol ids.
/// A lookup older than `refreshInterval` reloads; so does a miss (a symbol listed a moment
/// ago), at most once per 100 ms.
final class MarketDirectory: Sendable {
    struct Log: Sendable {
        enum Kind: Sendable { case shard(ShardID), partition(PartitionID) }
        var keys: ReplicaLogKeys
        var kind: Kind
    }

    struct Snapshot: Sendable {
        var map: ClusterMap
        var listings: [String: MarketListing]
        var clearingSymbols: [String: ClearingSymbol]
        var namesByShard: [ShardID: [SymbolID: String]]
        /// Registered assets' scales, by code.
        var assetScales: [String: Int]
        var loadedAt: ContinuousClock.Instant
    }

    let client: RedisClient
    let refreshInterval: Duration
    private let cache = Mutex<Snapshot?>(nil)

    init(client: RedisClient, refreshInterval: Duration = .seconds(1)) {
        self.client = client
        self.refreshInterval = refreshInterval
    }

    func snapshot(forceRefresh: Bool = false) async throws -> Snapshot {
        if let cached = cache.withLock({ $0 }), cached.loadedAt.duration(to: .now) < refreshInterval, !forceRefresh { return cached }
        if let cached = cache.withLock({ $0 }), forceRefresh, cached.loadedAt.duration(to: .now) < .milliseconds(100) { return cached }
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let listings = try await MarketCatalog(client: client).load().listings
        var clearingSymbols: [String: ClearingSymbol] = [:]
        for (name, listing) in listings { clearingSymbols[name] = try? listing.clearingSymbol() }
        var namesByShard: [ShardID: [SymbolID: String]] = [:]
        for (name, placement) in try await SymbolRegistry(client: client).all() { namesByShard[placement.shard, default: [:]][placement.localID] = name }
        let assets = try await ClearingAdmin(client: client).assets()
        let snapshot = Snapshot(
            map: map, listings: listings, clearingSymbols: clearingSymbols, namesByShard: namesByShard,
            assetScales: Dictionary(uniqueKeysWithValues: assets.map { ($0.key.text, $0.value.scale) }), loadedAt: .now)
        cache.withLock { $0 = snapshot }
        return snapshot
    }

    /// Every output log the gateway follows: each shard's, then each partition's.
    func logs() async throws -> [Log] {
        let map = try await snapshot().map
        return map.shards.map { Log(keys: .matchingShard($0.id), kind: .shard($0.id)) }
            + (0..<PartitionID(map.partitionCount)).map { Log(keys: .clearingPartition($0), kind: .partition($0)) }
    }

    func listing(_ symbol: String) async throws -> MarketListing? {
        if let listing = try await snapshot().listings[symbol] { return listing }
        return try await snapshot(forceRefresh: true).listings[symbol]
    }

    func clearingSymbols() async throws -> [String: ClearingSymbol] { try await snapshot().clearingSymbols }

    /// Shard `shard`'s local symbol ids → names (reloaded once if empty: a new symbol).
    func symbolNames(of shard: ShardID) async throws -> [SymbolID: String] {
        if let names = try await snapshot().namesByShard[shard] { return names }
        return try await snapshot(forceRefresh: true).namesByShard[shard] ?? [:]
    }

    func partition(of user: UserID) async throws -> PartitionID { try await snapshot().map.partition(for: user) }
}
