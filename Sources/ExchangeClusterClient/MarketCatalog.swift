import ExchangeClearing
import ExchangeCore
import ExchangeRedis
import Foundation

/// A listed market as the roles that face traders see it: its matching rules, its two assets
/// with their scales, its fees and whether it trades. Written once per `ctl symbol add`
/// (`MarketCatalog.store`); the shards and partitions get the same facts through their logs.
///
/// Decimals are kept as text (`DecimalNumber`'s plain form), never as floating point.
public struct MarketListing: Codable, Sendable, Hashable {
    public var symbol: String
    public var baseAsset: String
    public var baseScale: Int
    public var quoteAsset: String
    public var quoteScale: Int
    public var tickSize: String
    public var stepSize: String
    /// Smallest and largest order quantity, in lots.
    public var minimumQuantityLots: Int64
    public var maximumQuantityLots: Int64
    /// Smallest price × quantity, in the quote asset.
    public var minimumNotional: String
    public var makerFeeBasisPoints: Int
    public var takerFeeBasisPoints: Int
    /// The listing's own status (an operator's TRADING / HALT / BREAK). A kill switch halt
    /// (`MarketHalts`) is kept apart and does not change it, so resuming restores it.
    public var status: SymbolStatus

    public init(spec: SymbolSpec, base: AssetSpec, quote: AssetSpec, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int) {
        symbol = spec.name
        baseAsset = base.code.text
        baseScale = base.scale
        quoteAsset = quote.code.text
        quoteScale = quote.scale
        tickSize = spec.tickSize.description
        stepSize = spec.stepSize.description
        minimumQuantityLots = spec.minimumQuantity.lots
        maximumQuantityLots = spec.maximumQuantity.lots
        minimumNotional = spec.minimumNotional.description
        self.makerFeeBasisPoints = makerFeeBasisPoints
        self.takerFeeBasisPoints = takerFeeBasisPoints
        status = spec.status
    }

    /// The matching rules, as the shard holds them.
    public func spec() throws -> SymbolSpec {
        try SymbolSpec(
            name: symbol, tickSize: DecimalNumber(parsing: tickSize), stepSize: DecimalNumber(parsing: stepSize),
            minimumQuantity: Quantity(lots: minimumQuantityLots), maximumQuantity: Quantity(lots: maximumQuantityLots),
            minimumNotional: DecimalNumber(parsing: minimumNotional), status: status)
    }

    /// The clearing form (unit conversions and fees), as every partition holds it.
    public func clearingSymbol() throws -> ClearingSymbol {
        guard let baseCode = AssetCode(baseAsset), let quoteCode = AssetCode(quoteAsset) else {
            throw MarketCatalogError.invalidListing(symbol)
        }
        let spec = try spec()
        return try ClearingSymbol(
            name: symbol, base: AssetSpec(code: baseCode, scale: baseScale), quote: AssetSpec(code: quoteCode, scale: quoteScale),
            tickSize: spec.tickSize, stepSize: spec.stepSize, minimumNotional: spec.minimumNotional,
            makerFeeBasisPoints: makerFeeBasisPoints, takerFeeBasisPoints: takerFeeBasisPoints,
            status: status)
    }
}

/// The listings in Redis (`cluster:listings`: symbol → JSON), with a version
/// (`cluster:listings-version`) bumped on every change so readers cache by version.
public struct MarketCatalog: Sendable {
    public static let key = "cluster:listings"
    public static let versionKey = "cluster:listings-version"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// Stores `listing` (replacing one of the same symbol) and bumps the version, in one
    /// `MULTI`.
    public func store(_ listing: MarketListing) async throws {
        try await store([listing])
    }

    /// Stores `listings` and bumps the version once, in one `MULTI`.
    public func store(_ listings: [MarketListing]) async throws {
        guard !listings.isEmpty else { return }
        let encoder = JSONEncoder()
        var set = ["HSET", Self.key]
        for listing in listings { set += [listing.symbol, String(decoding: try encoder.encode(listing), as: UTF8.self)] }
        let replies = try await client.pipeline([["MULTI"], set, ["INCR", Self.versionKey], ["EXEC"]])
        if let error = replies.first(where: { if case .error = $0 { true } else { false } }) { throw RedisError.unexpectedReply("\(error)") }
    }

    /// The listing of `symbol`, if listed (one field read: what a role learning of one new
    /// symbol needs, however many are listed).
    public func listing(_ symbol: String) async throws -> MarketListing? {
        guard let json = try await client.send(["HGET", Self.key, symbol]).string else { return nil }
        guard let listing = try? JSONDecoder().decode(MarketListing.self, from: Data(json.utf8)) else { throw MarketCatalogError.invalidListing(symbol) }
        return listing
    }

    /// The catalog's version alone (`load` returns it with the listings).
    public func version() async throws -> Int64 {
        try await client.send(["GET", Self.versionKey]).string.flatMap { Int64($0) } ?? 0
    }

    /// Every listing, by symbol, with the version read in the same `MULTI`.
    public func load() async throws -> (version: Int64, listings: [String: MarketListing]) {
        let replies = try await client.pipeline([["MULTI"], ["GET", Self.versionKey], ["HGETALL", Self.key], ["EXEC"]])
        guard let results = replies.last?.array, results.count == 2 else { throw RedisError.unexpectedReply("listings \(replies)") }
        let version = results[0].string.flatMap { Int64($0) } ?? 0
        var listings: [String: MarketListing] = [:]
        let fields = results[1].array ?? []
        let decoder = JSONDecoder()
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let json = fields[index + 1].string, let listing = try? decoder.decode(MarketListing.self, from: Data(json.utf8)) else {
                throw MarketCatalogError.invalidListing(fields[index].string ?? "?")
            }
            listings[listing.symbol] = listing
        }
        return (version, listings)
    }
}

public enum MarketCatalogError: Error, Equatable, CustomStringConvertible {
    case invalidListing(String)

    public var description: String {
        switch self {
        case .invalidListing(let symbol): "the listing of \(symbol) in \(MarketCatalog.key) is not valid"
        }
    }
}
