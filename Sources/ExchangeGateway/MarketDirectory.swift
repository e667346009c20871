import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeRedis
import Synchronization

/// What the gateway knows of the cluster, cached for `refreshInterval`: the cluster map
/// (shards, partitions), the listings (`MarketCatalog`) and each shard's local symbol ids.
/// A lookup older than `refreshInterval` reloads the map and the halts, and the listings,
/// placements and assets when their versions (or the asset count) moved; a miss (a symbol
/// listed a moment ago) reloads everything: within 100 ms of the last load only if the
/// listings' or placements' version moved.
final class MarketDirectory: Sendable {
    struct Log: Sendable {
        enum Kind: Sendable { case shard(ShardID), partition(PartitionID) }
        var keys: ReplicaLogKeys
        var kind: Kind
    }

    struct Snapshot: Sendable {
        var map: ClusterMap
        var listings: [String: MarketListing]
        /// `MarketCatalog`'s version of `listings`.
        var listingsVersion: Int64
        var clearingSymbols: [String: ClearingSymbol]
        var namesByShard: [ShardID: [SymbolID: String]]
        var shardsBySymbol: [String: ShardID]
        /// The symbol registry's version when `namesByShard` and `shardsBySymbol` were read.
        var placementsVersion: UInt64
        /// The kill switch halts in force (`ClearingAdmin.halts`); the admission script is what
        /// enforces them, this copy is what `exchangeInfo` shows.
        var halts: Set<HaltScope>
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
        if let cached = cache.withLock({ $0 }), forceRefresh, cached.loadedAt.duration(to: .now) < .milliseconds(100) {
            // Reloaded a moment ago: again only if the listings or the placements changed since.
            let version = try await client.send(["GET", MarketCatalog.versionKey]).string.flatMap { Int64($0) } ?? 0
            if version == cached.listingsVersion, try await SymbolRegistry(client: client).version() == cached.placementsVersion { return cached }
        }
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let halts = Set(try await ClearingAdmin(client: client).halts().keys)
        if let cached = cache.withLock({ $0 }), !forceRefresh {
            // The periodic refresh: the listings, placements and assets are the bulk (megabytes
            // to decode with 10,000 symbols), read again only when their versions moved.
            let catalogVersion = try await MarketCatalog(client: client).version()
            let registryVersion = try await SymbolRegistry(client: client).version()
            let assetCount = try await client.send(["HLEN", ClearingAdmin.assetsKey]).integer ?? 0
            if catalogVersion == cached.listingsVersion, registryVersion == cached.placementsVersion, assetCount == cached.assetScales.count {
                var refreshed = cached
                refreshed.map = map
                refreshed.halts = halts
                refreshed.loadedAt = .now
                cache.withLock { $0 = refreshed }
                return refreshed
            }
        }
        let (listingsVersion, listings) = try await MarketCatalog(client: client).load()
        var clearingSymbols: [String: ClearingSymbol] = [:]
        for (name, listing) in listings { clearingSymbols[name] = try? listing.clearingSymbol() }
        let registry = SymbolRegistry(client: client)
        let placementsVersion = try await registry.version()
        var namesByShard: [ShardID: [SymbolID: String]] = [:]
        for (placement, name) in try await registry.names() { namesByShard[placement.shard, default: [:]][placement.localID] = name }
        let shardsBySymbol = try await registry.all().mapValues(\.shard)
        let assets = try await ClearingAdmin(client: client).assets()
        let snapshot = Snapshot(
            map: map, listings: listings, listingsVersion: listingsVersion, clearingSymbols: clearingSymbols, namesByShard: namesByShard, shardsBySymbol: shardsBySymbol, placementsVersion: placementsVersion, halts: halts,
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

    /// The shard holding `symbol` (reloaded once if unknown: a new symbol).
    func shard(of symbol: String) async throws -> ShardID? {
        if let shard = try await snapshot().shardsBySymbol[symbol] { return shard }
        return try await snapshot(forceRefresh: true).shardsBySymbol[symbol]
    }

    func partition(of user: UserID) async throws -> PartitionID { try await snapshot().map.partition(for: user) }
}
