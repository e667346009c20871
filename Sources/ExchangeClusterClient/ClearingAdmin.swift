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
        let stored = try await client.send(["HSETNX", Self.assetsKey, spec.code.text, String(spec.scale)])
        if stored.integer == 0, let existing = try await assets()[spec.code], existing.scale != spec.scale {
            throw ClearingAdminError.assetScaleConflict(spec.code, existing: existing.scale)
        }
        try await appendToEveryPartition([.addAsset(spec)])
    }

    /// Lists a market: its matching spec on the shard the ring gives it (every other shard
    /// learns the owner), its clearing form on every partition. Returns the owning shard.
    public func addSymbol(_ spec: SymbolSpec, base: AssetCode, quote: AssetCode, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int) async throws -> ShardID {
        let assets = try await assets()
        guard let baseSpec = assets[base] else { throw ClearingAdminError.unknownAsset(base) }
        guard let quoteSpec = assets[quote] else { throw ClearingAdminError.unknownAsset(quote) }
        let symbol = try ClearingSymbol(
            name: spec.name, base: baseSpec, quote: quoteSpec, tickSize: spec.tickSize, stepSize: spec.stepSize,
            minimumNotional: spec.minimumNotional, makerFeeBasisPoints: makerFeeBasisPoints, takerFeeBasisPoints: takerFeeBasisPoints)
        let map = try await map()
        let placement = try await SymbolRegistry(client: client).register(
            spec, on: map.shard(for: spec.name, ring: map.ring), otherShards: map.shards.map(\.id))
        try await appendToEveryPartition([.addSymbol(symbol)])
        try await MarketCatalog(client: client).store(MarketListing(
            spec: spec, base: baseSpec, quote: quoteSpec, makerFeeBasisPoints: makerFeeBasisPoints, takerFeeBasisPoints: takerFeeBasisPoints))
        return placement.shard
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
