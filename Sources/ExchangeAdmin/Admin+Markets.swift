import ExchangeAccess
import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import ExchangeReplication
import Foundation
import Hummingbird
import PostgresNIO

/// Trading pairs and the kill switch, through the logs (`ClearingAdmin`): shards, clearing,
/// gateways and market data follow from there.
extension Admin {
    static func json(_ listing: MarketListing, shard: ShardID?, haltedBy: [HaltScope]) -> JSONValue {
        .object([
            ("symbol", .string(listing.symbol)), ("status", .string(listing.status.binanceName)),
            ("halted", .bool(!haltedBy.isEmpty)), ("haltedBy", .array(haltedBy.map { .string($0.field) })),
            ("shard", shard.map { .integer(Int64($0)) } ?? .null),
            ("baseAsset", .string(listing.baseAsset)), ("quoteAsset", .string(listing.quoteAsset)),
            ("tickSize", .string(listing.tickSize)), ("stepSize", .string(listing.stepSize)),
            ("minQtyLots", .integer(listing.minimumQuantityLots)), ("maxQtyLots", .integer(listing.maximumQuantityLots)),
            ("minNotional", .string(listing.minimumNotional)),
            ("makerFeeBps", .integer(Int64(listing.makerFeeBasisPoints))), ("takerFeeBps", .integer(Int64(listing.takerFeeBasisPoints))),
        ])
    }

    /// Every listed pair (or the one named) with its shard and the halts covering it.
    func pairsJSON(only symbol: String? = nil) async throws -> [JSONValue] {
        let listings = try await MarketCatalog(client: redis).load().listings
        let placements = try await SymbolRegistry(client: redis).all()
        let halts = try await markets.halts().keys.sorted { $0.field < $1.field }
        return listings.keys.sorted().filter { symbol == nil || $0 == symbol }.map { name in
            let shard = placements[name]?.shard
            let covering = shard.map { shard in halts.filter { $0.covers(symbol: name, shard: shard) } } ?? []
            return Self.json(listings[name]!, shard: shard, haltedBy: covering)
        }
    }

    func pairJSON(_ symbol: String) async throws -> JSONValue {
        guard let pair = try await pairsJSON(only: symbol).first else { throw BinanceError.notFoundEntity }
        return pair
    }

    func listPairs() async throws -> Response { JSONValue.array(try await pairsJSON()).response() }

    static func decimal(_ body: JSONBody, _ name: String, default defaultValue: String? = nil) throws -> DecimalNumber {
        let text = try body.optionalString(name) ?? defaultValue
        guard let text else { throw BinanceError.invalidRequest("'\(name)' is required (a decimal string).") }
        do { return try DecimalNumber(parsing: text) } catch { throw BinanceError.invalidRequest("'\(name)': \(error)") }
    }

    static func status(_ body: JSONBody) throws -> SymbolStatus {
        let name = try body.string("status")
        guard let status = SymbolStatus(binanceName: name) else { throw BinanceError.invalidRequest("'status' must be TRADING, HALT or BREAK.") }
        return status
    }

    /// `POST pairs`: lists a market. Assets it names must exist, or come with their scale
    /// (`baseScale` / `quoteScale`) to be added. Everything is checked before anything is written.
    func addPair(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let symbol = try body.string("symbol")
        let tick = try Self.decimal(body, "tickSize")
        let step = try Self.decimal(body, "stepSize")
        guard step.isPositive else { throw BinanceError.invalidRequest("'stepSize' must be positive.") }
        func lots(_ name: String, default defaultValue: Int64) throws -> Int64 {
            body.has(name) ? try Self.lots(body, name, step: step) : defaultValue
        }
        let spec: SymbolSpec
        do {
            spec = try SymbolSpec(
                name: symbol, tickSize: tick, stepSize: step, minimumQuantity: Quantity(lots: try lots("minQty", default: 1)),
                maximumQuantity: Quantity(lots: try lots("maxQty", default: SymbolSpec.defaultMaximumQuantity.lots)),
                minimumNotional: try Self.decimal(body, "minNotional", default: "0"))
        } catch let error as BinanceError {
            throw error
        } catch {
            throw BinanceError.invalidRequest("\(error)")
        }
        let maker = Int(try body.integer("makerFeeBps", in: 0...Int64(ClearingSymbol.maximumFeeBasisPoints)))
        let taker = Int(try body.integer("takerFeeBps", in: 0...Int64(ClearingSymbol.maximumFeeBasisPoints)))
        let status = body.has("status") ? try Self.status(body) : .trading
        guard try await MarketCatalog(client: redis).listing(symbol) == nil else { throw BinanceError.conflict("\(symbol) is listed already.") }
        var assets = try await markets.assets()
        var newAssets: [AssetSpec] = []
        var pair: [AssetCode] = []
        for side in ["base", "quote"] {
            let text = try body.string(side + "Asset")
            guard let code = AssetCode(text) else { throw BinanceError.invalidRequest("'\(side)Asset' \(text) is not a valid asset code.") }
            pair.append(code)
            if let existing = assets[code] {
                if let scale = try body.optionalInteger(side + "Scale", in: 0...18), Int(scale) != existing.scale {
                    throw BinanceError.invalidRequest("\(code) exists with scale \(existing.scale).")
                }
            } else {
                guard let scale = try body.optionalInteger(side + "Scale", in: 0...18) else {
                    throw BinanceError.invalidRequest("Asset \(code) is not registered: give '\(side)Scale' to add it.")
                }
                guard let spec = try? AssetSpec(code: code, scale: Int(scale)) else { throw BinanceError.invalidRequest("Invalid scale for \(code).") }
                newAssets.append(spec)
                assets[code] = spec
            }
        }
        // The clearing form checks the units (a tick times a lot in whole quote units…) before anything is written.
        do {
            _ = try ClearingSymbol(
                name: symbol, base: assets[pair[0]]!, quote: assets[pair[1]]!, tickSize: tick, stepSize: step,
                minimumNotional: spec.minimumNotional, makerFeeBasisPoints: maker, takerFeeBasisPoints: taker)
        } catch {
            throw BinanceError.invalidRequest("\(error)")
        }
        for asset in newAssets { try await markets.addAsset(asset) }
        _ = try await markets.addSymbol(spec, base: pair[0], quote: pair[1], makerFeeBasisPoints: maker, takerFeeBasisPoints: taker)
        let haltsInForce = try await markets.halts()
        if status != .trading || !haltsInForce.isEmpty { _ = try await markets.setListingStatus(symbol, status) }
        let after = try await pairJSON(symbol)
        try await audit(call.member, "pair.add", target: "pair:\(symbol)", ip: call.ip, after: after)
        return after.response(status: .created)
    }

    /// `PUT pairs/:symbol {"makerFeeBps"?, "takerFeeBps"?, "minQty"?, "maxQty"?, "minNotional"?}`:
    /// what is given changes (quantities in the base asset, whole steps), the rest stays; fees
    /// for trades from now on, filters for orders from now on.
    func changePair(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let symbol = try call.text("symbol")
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        guard let listing = try await MarketCatalog(client: redis).listing(symbol) else { throw BinanceError.notFoundEntity }
        let fields = ["makerFeeBps", "takerFeeBps", "minQty", "maxQty", "minNotional"]
        guard fields.contains(where: body.has) else { throw BinanceError.invalidRequest("Give at least one of \(fields.joined(separator: ", ")).") }
        let fees = 0...Int64(ClearingSymbol.maximumFeeBasisPoints)
        var parameters = try ClearingAdmin.MarketParameters(listing: listing)
        guard let step = try? DecimalNumber(parsing: listing.stepSize) else { throw BinanceError.notFoundEntity }
        if let maker = try body.optionalInteger("makerFeeBps", in: fees) { parameters.makerFeeBasisPoints = Int(maker) }
        if let taker = try body.optionalInteger("takerFeeBps", in: fees) { parameters.takerFeeBasisPoints = Int(taker) }
        if body.has("minQty") { parameters.minimumQuantity = Quantity(lots: try Self.lots(body, "minQty", step: step)) }
        if body.has("maxQty") { parameters.maximumQuantity = Quantity(lots: try Self.lots(body, "maxQty", step: step)) }
        if body.has("minNotional") { parameters.minimumNotional = try Self.decimal(body, "minNotional") }
        let before = try await pairJSON(symbol)
        do {
            _ = try await markets.setParameters(symbol, parameters)
        } catch let error as ClearingAdminError {
            throw BinanceError.invalidRequest("\(error)")
        }
        let after = try await pairJSON(symbol)
        try await audit(call.member, "pair.change", target: "pair:\(symbol)", ip: call.ip, before: before, after: after)
        return after.response()
    }

    /// The decimal field `name` as a positive whole number of `step`s.
    static func lots(_ body: JSONBody, _ name: String, step: DecimalNumber) throws -> Int64 {
        guard let lots = try decimal(body, name).multiples(of: step), lots >= 1 else {
            throw BinanceError.invalidRequest("'\(name)' must be a positive whole number of steps (\(step)).")
        }
        return lots
    }

    /// `PUT pairs/:symbol/status {"status": "TRADING" | "HALT" | "BREAK"}`.
    func setPairStatus(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let symbol = try call.text("symbol")
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let status = try Self.status(body)
        let before = try await pairJSON(symbol)
        _ = try await markets.setListingStatus(symbol, status)
        let after = try await pairJSON(symbol)
        try await audit(call.member, "pair.status", target: "pair:\(symbol)", ip: call.ip, before: before, after: after)
        return after.response()
    }

    // MARK: Kill switch

    static func scope(_ body: JSONBody) throws -> HaltScope {
        switch try body.string("scope") {
        case "exchange": return .exchange
        case "shard": return .shard(ShardID(try body.integer("shard", in: 0...Int64(UInt32.max))))
        case "symbol": return .symbol(try body.string("symbol"))
        default: throw BinanceError.invalidRequest("'scope' must be exchange, shard or symbol.")
        }
    }

    func listHalts() async throws -> Response {
        JSONValue.array(try await markets.halts().sorted { $0.key.field < $1.key.field }.map { scope, record in
            .object([
                ("scope", .string(scope.field)), ("by", .string(record.by)), ("since", .integer(record.atMilliseconds)),
                ("cancelResting", .bool(record.cancelResting)), ("reason", .string(record.reason)),
            ])
        }).response()
    }

    /// `POST halts {"scope", "shard" | "symbol", "cancelResting", "reason"}`: from the moment
    /// the halt is stored no gateway admits an order it covers; matching and clearing refuse
    /// places from their halt entries on; cancels go on. With `cancelResting`, once matching
    /// and the recorder have passed the halt, every order resting on the covered symbols is
    /// cancelled through clearing.
    func halt(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let scope = try Self.scope(body)
        let cancelsResting = try body.bool("cancelResting", default: false)
        let reason = String((try body.optionalString("reason") ?? "").prefix(256))
        let started = ContinuousClock.now
        let result: (symbols: [String], shardPositions: [ShardID: LogPosition])
        do {
            result = try await markets.halt(scope, HaltRecord(by: call.member.email, atMilliseconds: WallClock.milliseconds(), cancelResting: cancelsResting, reason: reason))
        } catch let error as ClearingAdminError {
            throw BinanceError.invalidRequest("\(error)")
        }
        let halted = started.duration(to: .now)
        var cancelled: Int?
        var problem: String?
        if cancelsResting {
            do { cancelled = try await cancelResting(result.symbols, after: result.shardPositions) } catch { problem = "\(error)" }
        }
        let after = JSONValue.object([
            ("scope", .string(scope.field)), ("symbols", .array(result.symbols.map { .string($0) })), ("cancelResting", .bool(cancelsResting)),
            ("reason", .string(reason)),
        ])
        try await audit(call.member, "market.halt", target: scope.field, ip: call.ip, after: after)
        guard case .object(var members) = after else { return after.response() }
        members.append(("haltedInMicroseconds", .integer(halted.components.seconds * 1_000_000 + halted.components.attoseconds / 1_000_000_000_000)))
        if let cancelled { members.append(("cancelRequested", .integer(Int64(cancelled)))) }
        if let problem { members.append(("cancelProblem", .string(problem))) }
        return JSONValue.object(members).response()
    }

    /// Waits (up to `haltSettleTimeout`) until each shard applied its halt entry and the
    /// recorder wrote its output, then cancels every order still resting on `symbols`.
    /// Returns how many cancels were sent.
    func cancelResting(_ symbols: [String], after positions: [ShardID: LogPosition]) async throws -> Int {
        let deadline = ContinuousClock.now + configuration.haltSettleTimeout
        for (shard, position) in positions {
            let keys = ReplicaLogKeys.matchingShard(shard)
            while true {
                var recorded: Int64 = -1
                for try await value in try await postgres.query(
                    "SELECT position FROM exchange_admin.stream_positions WHERE stream = \(keys.output)", logger: logger
                ).decode(Int64.self) { recorded = value }
                if try await ReplicaLogStore(keys: keys, client: redis).observe().watermark >= position, recorded >= Int64(position) { break }
                guard ContinuousClock.now < deadline else {
                    throw AdminError("shard \(shard) or the recorder has not passed the halt (position \(position)) yet; the halt holds, resting orders were not cancelled: call again")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        var resting: [(orderID: OrderID, userID: UserID)] = []
        for try await (order, user) in try await postgres.query("""
            SELECT order_id, user_id FROM exchange_order.orders WHERE symbol = ANY(\(symbols)) AND status IN ('NEW', 'PARTIALLY_FILLED')
            """, logger: logger).decode((Int64, Int64).self) {
            resting.append((OrderID(bitPattern: order), UserID(bitPattern: user)))
        }
        try await markets.cancel(resting)
        return resting.count
    }

    /// `POST halts/resume {"scope", "shard" | "symbol"}`.
    func resume(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let scope = try Self.scope(body)
        guard let symbols = try await markets.resume(scope) else { throw BinanceError.notFoundEntity }
        let after = JSONValue.object([("scope", .string(scope.field)), ("symbols", .array(symbols.map { .string($0) }))])
        try await audit(call.member, "market.resume", target: scope.field, ip: call.ip, after: after)
        return after.response()
    }
}

/// A failure of an admin action with the operator's next step in its text.
struct AdminError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
