import ExchangeClearing
import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeRedis
import ExchangeReplication

/// Operator actions on clearing partitions through their input logs: assets, symbols (on the
/// matching shards and every partition), deposits. Each call is its own producer
/// (`ctl-N`, N from `cluster:producers`), so concurrent calls never drop each other as
/// repeats; clearing keeps one position per such producer.
public struct ClearingAdmin: Sendable {
    /// Asset code → scale, for turning decimal amounts into units.
    public static let assetsKey = "cluster:assets"
    public static let producerCounterKey = "cluster:producers"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    func map() async throws -> ClusterMap {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        return map
    }

    /// A fresh producer id for one call.
    func producer() async throws -> ProducerID {
        let number = try await client.send(["INCR", Self.producerCounterKey]).integer ?? 0
        return ProducerID("ctl-\(number)")
    }

    /// The registered assets' specs, by code.
    public func assets() async throws -> [AssetCode: AssetSpec] {
        guard let fields = try await client.send(["HGETALL", Self.assetsKey]).array else { return [:] }
        var specs: [AssetCode: AssetSpec] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let code = fields[index].string.flatMap(AssetCode.init), let scale = fields[index + 1].string.flatMap({ Int($0) }),
                  let spec = try? AssetSpec(code: code, scale: scale) else {
                throw RedisError.unexpectedReply("asset registry entry \(fields[index])")
            }
            specs[code] = spec
        }
        return specs
    }

    /// Registers `spec` and adds it to every partition. Refuses a code already registered
    /// with another scale; the same scale again is a no-op for the registry (partitions
    /// answer `alreadyExists`).
    public func addAsset(_ spec: AssetSpec) async throws {
        try await addAssets([spec])
    }

    /// `addAsset` of each of `specs`, in rounds of `listingChunk`: one pipeline of registry
    /// writes and one partition entry per round.
    public func addAssets(_ specs: [AssetSpec]) async throws {
        for start in stride(from: 0, to: specs.count, by: Self.listingChunk) {
            let round = Array(specs[start..<min(start + Self.listingChunk, specs.count)])
            let stored = try await client.pipeline(round.map { ["HSETNX", Self.assetsKey, $0.code.text, String($0.scale)] })
            let registered = stored.contains { $0.integer == 0 } ? try await assets() : [:]
            for (spec, reply) in zip(round, stored) {
                if case .error(let message) = reply { throw RedisError.server(message) }
                if reply.integer == 0, let existing = registered[spec.code], existing.scale != spec.scale {
                    throw ClearingAdminError.assetScaleConflict(spec.code, existing: existing.scale)
                }
            }
            try await appendToEveryPartition(round.map { .addAsset($0) })
        }
    }

    /// A market to list: its matching spec, assets and fees.
    public struct NewMarket: Sendable {
        public var spec: SymbolSpec
        public var base: AssetCode
        public var quote: AssetCode
        public var makerFeeBasisPoints: Int
        public var takerFeeBasisPoints: Int

        public init(spec: SymbolSpec, base: AssetCode, quote: AssetCode, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int) {
            self.spec = spec
            self.base = base
            self.quote = quote
            self.makerFeeBasisPoints = makerFeeBasisPoints
            self.takerFeeBasisPoints = takerFeeBasisPoints
        }
    }

    /// Lists a market: its matching spec on the shard the ring gives it (every other shard
    /// learns the owner), its clearing form on every partition. Returns the owning shard.
    public func addSymbol(_ spec: SymbolSpec, base: AssetCode, quote: AssetCode, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int) async throws -> ShardID {
        try await addSymbols([NewMarket(
            spec: spec, base: base, quote: quote, makerFeeBasisPoints: makerFeeBasisPoints, takerFeeBasisPoints: takerFeeBasisPoints)])[0]
    }

    /// Markets listed per round of `addSymbols`, and registrations in flight within one.
    static let listingChunk = 512
    static let registrationsInFlight = 32

    /// Lists `markets` as `addSymbol` lists one, in rounds of `listingChunk`: every market of
    /// a round checked first, registered (`registrationsInFlight` at a time), added to each
    /// partition in one entry, and stored in the catalog in one `MULTI`. Ten thousand markets
    /// list in seconds rather than in minutes of round trips. Returns each one's shard.
    public func addSymbols(_ markets: [NewMarket]) async throws -> [ShardID] {
        let assets = try await assets()
        let map = try await map()
        let ring = map.ring
        let registry = SymbolRegistry(client: client)
        var shards: [ShardID] = []
        shards.reserveCapacity(markets.count)
        for start in stride(from: 0, to: markets.count, by: Self.listingChunk) {
            let round = Array(markets[start..<min(start + Self.listingChunk, markets.count)])
            var symbols: [ClearingSymbol] = []
            var listings: [MarketListing] = []
            for market in round {
                guard let base = assets[market.base] else { throw ClearingAdminError.unknownAsset(market.base) }
                guard let quote = assets[market.quote] else { throw ClearingAdminError.unknownAsset(market.quote) }
                symbols.append(try ClearingSymbol(
                    name: market.spec.name, base: base, quote: quote, tickSize: market.spec.tickSize, stepSize: market.spec.stepSize,
                    minimumNotional: market.spec.minimumNotional, makerFeeBasisPoints: market.makerFeeBasisPoints,
                    takerFeeBasisPoints: market.takerFeeBasisPoints))
                listings.append(MarketListing(
                    spec: market.spec, base: base, quote: quote, makerFeeBasisPoints: market.makerFeeBasisPoints,
                    takerFeeBasisPoints: market.takerFeeBasisPoints))
            }
            var placed = [ShardID](repeating: 0, count: round.count)
            for first in stride(from: 0, to: round.count, by: Self.registrationsInFlight) {
                try await withThrowingTaskGroup(of: (Int, ShardID).self) { group in
                    for index in first..<min(first + Self.registrationsInFlight, round.count) {
                        let spec = round[index].spec
                        group.addTask {
                            (index, try await registry.register(spec, on: map.shard(for: spec.name, ring: ring), otherShards: map.shards.map(\.id), partitionCount: map.partitionCount).shard)
                        }
                    }
                    for try await (index, shard) in group { placed[index] = shard }
                }
            }
            try await appendToEveryPartition(symbols.map { .addSymbol($0) })
            try await MarketCatalog(client: client).store(listings)
            shards += placed
        }
        return shards
    }

    /// Units of `amount` of `asset`, exactly.
    public func units(_ amount: DecimalNumber, of asset: AssetCode) async throws -> Int64 {
        guard let spec = try await assets()[asset] else { throw ClearingAdminError.unknownAsset(asset) }
        guard let units = spec.units(of: amount), units > 0 else { throw ClearingAdminError.invalidAmount(amount, spec) }
        return units
    }

    /// Credits `units` of `asset` to `user` through the user's partition; waits up to
    /// `timeout` for the partition's answer.
    public func deposit(user: UserID, asset: AssetCode, units: Int64, reference: UInt64, timeout: Duration) async throws -> ClearingSubmission {
        let map = try await map()
        return try await submit([.deposit(user: user, asset: asset, amount: units, reference: reference)],
                                to: map.partition(for: user), timeout: timeout)
    }

    /// Appends `commands` as one input of a new producer to `partition`, then waits up to
    /// `timeout` for its output.
    public func submit(_ commands: [ClearingCommand], to partition: PartitionID, timeout: Duration) async throws -> ClearingSubmission {
        try await submit(ClearingInput(producer: try await producer(), position: 1, commands: commands), to: partition, timeout: timeout)
    }

    /// Appends `input` (a producer that keeps its own positions, such as the wallet) to
    /// `partition`, then waits up to `timeout` for its output.
    public func submit(_ input: ClearingInput, to partition: PartitionID, timeout: Duration) async throws -> ClearingSubmission {
        let store = ReplicaLogStore(keys: .clearingPartition(partition), client: client)
        let position = try await store.appendInput([ClearingLogCodec.encode(input)])
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await store.observe().watermark >= position {
                for output in try await outputs(of: store, from: position) where output.position == position {
                    return ClearingSubmission(partition: partition, position: position, events: try ClearingLogCodec.decodeEvents(output.payload))
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ClearingSubmission(partition: partition, position: position, events: nil)
    }

    /// What the input of `producer` at `position` produced in `partition` (its first
    /// application, not a later repeat's `duplicateInput`), searched from the newest output back
    /// through at most `limit` entries; nil if not found there.
    public func events(of producer: ProducerID, at position: UInt64, in partition: PartitionID, searching limit: Int) async throws -> [ClearingEvent]? {
        let store = ReplicaLogStore(keys: .clearingPartition(partition), client: client)
        var before: StreamID?
        var searched = 0
        while searched < limit {
            let page = try await client.xrevrange(store.keys.output, before: before, count: 200)
            guard let last = page.last else { return nil }
            for entry in page {
                guard let payload = entry.value("d") else { throw RedisError.unexpectedReply("output entry \(entry.id)") }
                let events = try ClearingLogCodec.decodeEvents(payload)
                if events.contains(where: { $0.cause.map { $0.producer == producer && $0.position == position } ?? false }) { return events }
            }
            searched += page.count
            before = last.id
        }
        return nil
    }

    /// The newest output entries back to `position` (outputs are in input order).
    func outputs(of store: ReplicaLogStore, from position: LogPosition) async throws -> [(position: LogPosition, payload: [UInt8])] {
        var found: [(LogPosition, [UInt8])] = []
        var before: StreamID?
        while true {
            let page = try await client.xrevrange(store.keys.output, before: before, count: 100)
            guard let last = page.last else { return found }
            for entry in page {
                guard let entryPosition = entry.value("p").flatMap({ LogPosition(String(decoding: $0, as: UTF8.self)) }),
                      let payload = entry.value("d") else { throw RedisError.unexpectedReply("output entry \(entry.id)") }
                if entryPosition < position { return found }
                found.append((entryPosition, payload))
            }
            before = last.id
        }
    }

    func appendToEveryPartition(_ commands: [ClearingCommand]) async throws {
        let map = try await map()
        let producer = try await producer()
        let payload = ClearingLogCodec.encode(ClearingInput(producer: producer, position: 1, commands: commands))
        for partition in 0..<PartitionID(map.partitionCount) {
            _ = try await ReplicaLogStore(keys: .clearingPartition(partition), client: client).appendInput([payload])
        }
    }
}

/// Where an input went and, once the partition applied it, what it produced.
public struct ClearingSubmission: Sendable {
    public var partition: PartitionID
    public var position: LogPosition
    /// Nil when no primary answered within the timeout (the input stays in the log).
    public var events: [ClearingEvent]?
}

public enum ClearingAdminError: Error, Equatable, CustomStringConvertible {
    case unknownAsset(AssetCode)
    case assetScaleConflict(AssetCode, existing: Int)
    case invalidAmount(DecimalNumber, AssetSpec)
    case unknownSymbol(String)
    case unknownShard(ShardID)
    case invalidFee(Int)
    case invalidFilters

    public var description: String {
        switch self {
        case .unknownAsset(let code): "unknown asset \(code) (exchange ctl asset add)"
        case .assetScaleConflict(let code, let existing): "asset \(code) exists with scale \(existing)"
        case .invalidAmount(let amount, let spec): "\(amount) is not a positive whole number of \(spec.code) units (scale \(spec.scale))"
        case .unknownSymbol(let symbol): "no symbol \(symbol) is listed"
        case .unknownShard(let shard): "no shard \(shard) in the cluster map"
        case .invalidFee(let fee): "fee \(fee) bps is outside 0...\(ClearingSymbol.maximumFeeBasisPoints)"
        case .invalidFilters: "the minimum quantity must be at least one step and at most the maximum; the minimum notional not negative"
        }
    }
}
