import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication
import Foundation

/// One kill switch halt in force: who set it, when, and whether resting orders were to be
/// cancelled. JSON in the halt registry.
public struct HaltRecord: Codable, Sendable, Equatable {
    public var by: String
    public var atMilliseconds: Int64
    public var cancelResting: Bool
    public var reason: String

    public init(by: String, atMilliseconds: Int64, cancelResting: Bool, reason: String) {
        self.by = by
        self.atMilliseconds = atMilliseconds
        self.cancelResting = cancelResting
        self.reason = reason
    }
}

/// Market status through the logs: listing status (TRADING / HALT / BREAK), fees, and the
/// kill switch. The halt registry (`cluster:halts`, a hash of `HaltScope.field` → `HaltRecord`)
/// is what gateways check in the same script that admits an order, so a halt refuses new
/// orders everywhere as soon as it is stored; the `setSymbolStatus` entries appended to the
/// shards and partitions then make matching and clearing refuse what was admitted before.
extension ClearingAdmin {
    public static let haltsKey = "cluster:halts"

    /// The halts in force.
    public func halts() async throws -> [HaltScope: HaltRecord] {
        guard let fields = try await client.send(["HGETALL", Self.haltsKey]).array else { return [:] }
        var halts: [HaltScope: HaltRecord] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let scope = fields[index].string.flatMap(HaltScope.init(field:)), let json = fields[index + 1].string,
                  let record = try? JSONDecoder().decode(HaltRecord.self, from: Data(json.utf8)) else {
                throw RedisError.unexpectedReply("halt registry entry \(fields[index])")
            }
            halts[scope] = record
        }
        return halts
    }

    /// Halts `scope` (replacing a halt of the same scope). The registry is written first: from
    /// then on no gateway admits an order it covers. Returns the symbols covered and, per
    /// shard, the input position of its halt entry (matching refuses places from there on).
    @discardableResult
    public func halt(_ scope: HaltScope, _ record: HaltRecord) async throws -> (symbols: [String], shardPositions: [ShardID: LogPosition]) {
        let placements = try await SymbolRegistry(client: client).all()
        if case .symbol(let symbol) = scope, placements[symbol] == nil { throw ClearingAdminError.unknownSymbol(symbol) }
        if case .shard(let shard) = scope, !(try await map().shards.contains { $0.id == shard }) { throw ClearingAdminError.unknownShard(shard) }
        _ = try await client.send(["HSET", Self.haltsKey, scope.field, String(decoding: try JSONEncoder().encode(record), as: UTF8.self)])
        var halts = try await halts()
        halts[scope] = record
        let covered = placements.filter { scope.covers(symbol: $0.key, shard: $0.value.shard) }
        let positions = try await applyStatuses(of: covered, halts: Set(halts.keys))
        return (covered.keys.sorted(), positions)
    }

    /// Lifts the halt of `scope`; returns the symbols it covered (false when none was set).
    /// Matching and clearing are told first, then the registry, so nothing admitted after the
    /// resume is refused for a halt that is gone.
    public func resume(_ scope: HaltScope) async throws -> [String]? {
        var halts = try await halts()
        guard halts.removeValue(forKey: scope) != nil else { return nil }
        let covered = try await SymbolRegistry(client: client).all().filter { scope.covers(symbol: $0.key, shard: $0.value.shard) }
        try await applyStatuses(of: covered, halts: Set(halts.keys))
        _ = try await client.send(["HDEL", Self.haltsKey, scope.field])
        return covered.keys.sorted()
    }

    /// Sets a listing's own status (an operator's TRADING / HALT / BREAK), keeping any kill
    /// switch halt in force.
    public func setListingStatus(_ symbol: String, _ status: SymbolStatus) async throws -> MarketListing {
        let catalog = MarketCatalog(client: client)
        guard var listing = try await catalog.load().listings[symbol] else { throw ClearingAdminError.unknownSymbol(symbol) }
        guard let placement = try await SymbolRegistry(client: client).all()[symbol] else { throw ClearingAdminError.unknownSymbol(symbol) }
        let halts = Set(try await halts().keys)
        listing.status = status
        try await catalog.store(listing)
        try await applyStatuses(of: [symbol: placement], halts: halts)
        return listing
    }

    /// What of a listed market may change while it trades (tick and step may not: resting
    /// orders are priced and sized in them).
    public struct MarketParameters: Sendable, Equatable {
        public var makerFeeBasisPoints: Int
        public var takerFeeBasisPoints: Int
        public var minimumQuantity: Quantity
        public var maximumQuantity: Quantity
        /// In the quote asset.
        public var minimumNotional: DecimalNumber

        public init(listing: MarketListing) throws {
            makerFeeBasisPoints = listing.makerFeeBasisPoints
            takerFeeBasisPoints = listing.takerFeeBasisPoints
            minimumQuantity = Quantity(lots: listing.minimumQuantityLots)
            maximumQuantity = Quantity(lots: listing.maximumQuantityLots)
            minimumNotional = try DecimalNumber(parsing: listing.minimumNotional)
        }
    }

    /// New fees and filters for `symbol`: checked whole first, then to every partition (fees,
    /// minimum notional in quote units), to its shard (`setSymbolFilters`) and into its listing.
    /// Resting orders keep their terms; new orders and trades get the new ones.
    public func setParameters(_ symbol: String, _ parameters: MarketParameters) async throws -> MarketListing {
        for fee in [parameters.makerFeeBasisPoints, parameters.takerFeeBasisPoints] where !(0...ClearingSymbol.maximumFeeBasisPoints).contains(fee) {
            throw ClearingAdminError.invalidFee(fee)
        }
        let filters = SetSymbolFilters(
            symbolID: SymbolID(0), minimumQuantity: parameters.minimumQuantity, maximumQuantity: parameters.maximumQuantity,
            minimumNotional: parameters.minimumNotional)
        guard filters.isValid else { throw ClearingAdminError.invalidFilters }
        let catalog = MarketCatalog(client: client)
        guard var listing = try await catalog.load().listings[symbol],
              let placement = try await SymbolRegistry(client: client).all()[symbol] else { throw ClearingAdminError.unknownSymbol(symbol) }
        let quote = try listing.clearingSymbol().quote
        guard let quoteSpec = try await assets()[quote], let notionalUnits = quoteSpec.units(of: parameters.minimumNotional) else {
            throw ClearingAdminError.invalidAmount(parameters.minimumNotional, try AssetSpec(code: quote, scale: listing.quoteScale))
        }
        try await appendToEveryPartition([.setSymbolParameters(
            symbol: symbol, makerBasisPoints: parameters.makerFeeBasisPoints, takerBasisPoints: parameters.takerFeeBasisPoints,
            minimumNotionalUnits: notionalUnits)])
        _ = try await ReplicaLogStore(keys: .matchingShard(placement.shard), client: client).appendInput([
            ShardInput.commands(symbols: [symbol], commands: [.setSymbolFilters(filters)]).encoded(),
        ])
        listing.makerFeeBasisPoints = parameters.makerFeeBasisPoints
        listing.takerFeeBasisPoints = parameters.takerFeeBasisPoints
        listing.minimumQuantityLots = parameters.minimumQuantity.lots
        listing.maximumQuantityLots = parameters.maximumQuantity.lots
        listing.minimumNotional = parameters.minimumNotional.description
        try await catalog.store(listing)
        return listing
    }

    /// Appends each symbol's effective status (`HaltScope.effectiveStatus`) to its shard, one
    /// entry per shard, and to every partition in one entry; returns each shard's entry position.
    @discardableResult
    func applyStatuses(of placements: [String: SymbolPlacement], halts: Set<HaltScope>) async throws -> [ShardID: LogPosition] {
        guard !placements.isEmpty else { return [:] }
        let listings = try await MarketCatalog(client: client).load().listings
        var statuses: [(symbol: String, shard: ShardID, status: SymbolStatus)] = []
        for (symbol, placement) in placements.sorted(by: { $0.key < $1.key }) {
            let listed = listings[symbol]?.status ?? .trading
            statuses.append((symbol, placement.shard, HaltScope.effectiveStatus(listed: listed, symbol: symbol, shard: placement.shard, halts: halts)))
        }
        try await appendToEveryPartition(statuses.map { .setSymbolStatus(symbol: $0.symbol, status: $0.status) })
        var positions: [ShardID: LogPosition] = [:]
        for (shard, entries) in Dictionary(grouping: statuses, by: \.shard).sorted(by: { $0.key < $1.key }) {
            let input = ShardInput.commands(
                symbols: entries.map(\.symbol),
                commands: entries.enumerated().map { index, entry in
                    .setSymbolStatus(SetSymbolStatus(symbolID: SymbolID(UInt32(index)), status: entry.status))
                })
            positions[shard] = try await ReplicaLogStore(keys: .matchingShard(shard), client: client).appendInput([input.encoded()])
        }
        return positions
    }

    /// Asks clearing to cancel `orders` (each through its user's partition, which forwards the
    /// cancel to the order's shard): one input per partition per 10,000 orders, of a fresh
    /// producer. An order that ended meanwhile is refused by matching and stays as it ended.
    public func cancel(_ orders: [(orderID: OrderID, userID: UserID)]) async throws {
        let map = try await map()
        for (partition, members) in Dictionary(grouping: orders, by: { map.partition(for: $0.userID) }).sorted(by: { $0.key < $1.key }) {
            for start in stride(from: 0, to: members.count, by: 10_000) {
                let chunk = members[start..<min(start + 10_000, members.count)]
                let input = ClearingInput(
                    producer: try await producer(), position: 1, commands: chunk.map { .cancel(orderID: $0.orderID, userID: $0.userID) })
                _ = try await ReplicaLogStore(keys: .clearingPartition(partition), client: client).appendInput([ClearingLogCodec.encode(input)])
            }
        }
    }
}
