import ExchangeAccess
import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import HTTPTypes
import Hummingbird

/// Orders: placement, cancellation and the reads, against the Redis view the projector keeps.
extension Gateway {
    // MARK: Reading the view

    func record(_ orderID: OrderID) async throws -> OrderRecord? {
        let fields = try await redis.send(["HGETALL", GatewayKeys.order(orderID)]).array?.compactMap(\.string) ?? []
        return fields.isEmpty ? nil : OrderRecord(orderID: orderID, hash: fields)
    }

    func records(_ orderIDs: [OrderID]) async throws -> [OrderRecord] {
        guard !orderIDs.isEmpty else { return [] }
        var result: [OrderRecord] = []
        for chunk in stride(from: 0, to: orderIDs.count, by: 500).map({ Array(orderIDs[$0..<min($0 + 500, orderIDs.count)]) }) {
            let replies = try await redis.pipeline(chunk.map { ["HGETALL", GatewayKeys.order($0)] })
            for (id, reply) in zip(chunk, replies) {
                if let record = OrderRecord(orderID: id, hash: reply.array?.compactMap(\.string) ?? []) { result.append(record) }
            }
        }
        return result
    }

    /// The user's order named by `orderId` or `origClientOrderId` on `symbol`.
    func namedOrder(_ parameters: RequestParameters, user: UserID, symbol: String) async throws -> OrderRecord {
        var orderID = try parameters.uint64("orderId")
        if orderID == nil, let client = parameters["origClientOrderId"] {
            orderID = try await redis.send(["HGET", GatewayKeys.clientOrderIDs(user), client]).string.flatMap { UInt64($0) }
            guard orderID != nil else { throw BinanceError.noSuchOrder }
        }
        guard let orderID else {
            throw BinanceError(code: -1102, message: "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        }
        guard let record = try await record(orderID), record.userID == user, record.symbol == symbol else { throw BinanceError.noSuchOrder }
        return record
    }

    func listing(_ parameters: RequestParameters) async throws -> MarketListing {
        let symbol = try parameters.required("symbol")
        guard let listing = try await markets.listing(symbol) else { throw BinanceError.invalidSymbol }
        return listing
    }

    func orderJSON(_ record: OrderRecord) async throws -> JSONValue {
        guard let listing = try await markets.listing(record.symbol), let spec = try? listing.spec() else { throw BinanceError.invalidSymbol }
        return .object(record.json(listing: listing, spec: spec))
    }

    // MARK: Placing

    /// `POST /api/v3/order` (and `order/test` with `isTest`).
    func placeOrder(_ request: inout Request, context: GatewayRequestContext, isTest: Bool) async throws -> Response {
        let verified = try await verifySigned(&request, context: context, needs: .trade, weight: 1)
        let user = verified.key.userID
        let now = WallClock.milliseconds()
        let orderID = submitter.nextOrderID()
        let placement: OrderRequest
        do {
            let listing = try await listing(verified.parameters)
            placement = try OrderRequest(parameters: verified.parameters, listing: listing, user: user, orderID: orderID, nowMilliseconds: now)
        } catch {
            // Refused input is still checked for replay and counted against the IP.
            _ = try await admit(verified, context: context, weight: 1, isOrder: false)
            throw error
        }
        if isTest {
            let usage = try await admit(verified, context: context, weight: 1, isOrder: false).usage
            return JSONValue.object([]).response(headers: usage.headers)
        }
        let record = placement.record
        // One round trip: replay check, limits, and (within them) the client id claimed per user
        // (a retried request gets the first order's answer) and the record written, so a read
        // right after the ACK finds it.
        guard let shard = try await markets.shard(of: record.symbol) else { throw BinanceError.invalidSymbol }
        let admission: RateLimiter.Admission
        do {
            admission = try await admit(verified, context: context, weight: 1, isOrder: true, claim: .init(record: record, shard: shard, leaseToken: submitter.leaseToken))
        } catch let error as BinanceError {
            throw error
        } catch RateLimiter.AdmissionRefusal.notLeaseHolder {
            // Nothing was written (and another instance may issue this id now: nothing to forget).
            logger.error("gateway.order refused: this instance no longer holds its worker id", metadata: ["order.id": "\(orderID)"])
            throw BinanceError.notPlaced
        } catch {
            // The script may have run (its answer lost): this order id will never be submitted.
            await submitter.settler.forgetNowOrLater([.init(orderID: orderID, userID: user)])
            throw error
        }
        let usage = admission.usage
        if let firstID = admission.claimedBy {
            guard var first = try await self.record(firstID) else { throw BinanceError.duplicateOrder }
            // Not known yet to be in the log: its answer only once it is (a retry often comes
            // while the first is still being appended); neither it nor a new order otherwise.
            let deadline = ContinuousClock.now + Self.unsettledRetryWait
            while first.isUnsettled {
                guard ContinuousClock.now < deadline else { throw BinanceError.timeout }
                try await Task.sleep(for: .milliseconds(20))
                if try await redis.send(["HEXISTS", GatewayKeys.order(firstID), OrderRecord.unsettledField]).integer == 0 {
                    guard let current = try await self.record(firstID) else { throw BinanceError.timeout }
                    first = current
                }
            }
            return try await placementResponse(first, type: placement.responseType, fills: try await fills(of: first), headers: usage.headers)
        }
        let waits = placement.responseType != .ack
        if waits { notices.register(orderID) }
        defer { if waits { notices.unregister(orderID) } }
        do {
            try await submitter.submit(.init(command: .place(placement.order), partition: markets.partition(of: user)))
        } catch OrderSubmitterError.outcomeUnknown {
            // The settler decides whether it is in the log; until then the record and the client
            // order id stay (marked unsettled), so a retry is not placed twice.
            throw BinanceError.timeout
        } catch {
            // Not in the log: the order does not exist. Leave no trace a reader could take for it.
            await submitter.settler.forgetNowOrLater([.init(orderID: orderID, userID: user)])
            logger.error("gateway.order append failed", metadata: ["order.id": "\(orderID)", "error": "\(error)"])
            throw BinanceError.notPlaced
        }
        guard waits else { return try await placementResponse(record, type: .ack, fills: [], headers: usage.headers) }
        let outcome = await notices.wait(for: orderID, timeout: configuration.outcomeTimeout) { notice in
            notice.rejection != nil || notice.status != nil
        }
        // Read your writes: the account shows the order's freeze, fills and release once they
        // are in the view (clearing's entries are projected apart from the shard's).
        await awaitBalances(of: outcome, user: user, isPlacement: true)
        if let rejection = outcome?.rejection {
            if rejection == .symbolMoving {
                // Nothing was placed: a retry with the same client order id places anew.
                _ = try? await Self.releaseClientOrderIDScript.run(
                    on: redis, keys: [GatewayKeys.clientOrderIDs(user)], arguments: [record.clientOrderID, String(orderID)])
            }
            var error = rejection
            for field in usage.headers { error.headers.append(field) }
            throw error
        }
        // The projector wrote the view before it delivered the notice.
        let current = try await self.record(orderID) ?? record
        return try await placementResponse(current, type: placement.responseType, fills: outcome?.fills ?? [], headers: usage.headers)
    }

    /// Waits (bounded by the outcome timeout) until the balance view holds what clearing did
    /// for `outcome` of one of `user`'s orders:
    /// - the settlement of each of its fills;
    /// - for a placement that clearing accepted (it reached the matcher), the freeze of its funds;
    /// - for an order the matcher ended without a fill in `outcome` (expired, refused), or
    ///   canceled, the release of what it still had frozen (there is some: a resting remainder
    ///   keeps price × lots frozen, and a fill-less end all of it). An order that ended by a
    ///   fill has its release in the clearing entry of that fill's settlement, if any.
    func awaitBalances(of outcome: OrderNotice?, user: UserID, isPlacement: Bool) async {
        guard let outcome else { return }
        let fills = outcome.fills.filter { $0.orderID == outcome.orderID }
        var legs = Set(fills.map { SettlementBoard.leg(symbol: $0.symbol, tradeID: $0.tradeID, user: user) })
        if isPlacement, outcome.rejection == nil || outcome.endedInShard { legs.insert(SettlementBoard.freeze(orderID: outcome.orderID, user: user)) }
        if outcome.endedInShard, fills.isEmpty || outcome.status == "CANCELED" {
            legs.insert(SettlementBoard.release(orderID: outcome.orderID, user: user))
        }
        if !legs.isEmpty { _ = await settlements.wait(for: legs, timeout: configuration.outcomeTimeout) }
    }

    /// How long a retried placement waits for the first one's record to lose its unsettled mark.
    static let unsettledRetryWait = Duration.seconds(1)

    /// KEYS: the user's client order ids. ARGV: client order id, order id. Forgets the claim
    /// if it is still this order's.
    static let releaseClientOrderIDScript = RedisScript(source: """
        if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
        return 0
        """)

    /// The fills of `record` so far (a retried placement's answer).
    func fills(of record: OrderRecord) async throws -> [TradeRecord] {
        let texts = try await redis.send([
            "ZRANGEBYSCORE", GatewayKeys.userTrades(record.userID), String(record.timeMilliseconds), "+inf",
        ]).array?.compactMap(\.string) ?? []
        return texts.compactMap(TradeRecord.init(text:)).filter { $0.orderID == record.orderID }
    }

    func placementResponse(_ record: OrderRecord, type: OrderRequest.ResponseType, fills: [TradeRecord], headers: HTTPFields) async throws -> Response {
        guard let listing = try await markets.listing(record.symbol), let spec = try? listing.spec() else { throw BinanceError.invalidSymbol }
        if type == .ack {
            return JSONValue.object([
                ("symbol", .string(record.symbol)), ("orderId", .unsigned(record.orderID)), ("orderListId", -1),
                ("clientOrderId", .string(record.clientOrderID)), ("transactTime", .integer(record.timeMilliseconds)),
            ]).response(headers: headers)
        }
        var members = record.json(listing: listing, spec: spec, transact: true)
        if type == .full {
            let scales = try await markets.snapshot().assetScales
            members.append(("fills", .array(fills.filter { $0.orderID == record.orderID }.map { fill in
                .object([
                    ("price", .string(BinanceDecimal.pad(spec.decimal(Price(ticks: fill.priceTicks)), scale: listing.quoteScale))),
                    ("qty", .string(BinanceDecimal.pad(spec.decimal(Quantity(lots: fill.quantityLots)), scale: listing.baseScale))),
                    ("commission", .string(BinanceDecimal.text(units: fill.commissionUnits, scale: scales[fill.commissionAsset] ?? 8))),
                    ("commissionAsset", .string(fill.commissionAsset)), ("tradeId", .unsigned(fill.tradeID)),
                ])
            })))
        }
        return JSONValue.object(members).response(headers: headers)
    }

    // MARK: Cancelling

    /// Sends a cancel of `record` through the user's partition and waits for the shard's
    /// answer; returns the order as it ended, or throws -2011 when it could not be cancelled.
    func cancel(_ record: OrderRecord) async throws -> OrderRecord {
        guard !record.isFinal else { throw BinanceError.unknownOrderCancel }
        notices.register(record.orderID)
        defer { notices.unregister(record.orderID) }
        do {
            try await submitter.submit(.init(command: .cancel(orderID: record.orderID, userID: record.userID), partition: markets.partition(of: record.userID)))
        } catch OrderSubmitterError.outcomeUnknown {
            throw BinanceError.timeout
        }
        let outcome = await notices.wait(for: record.orderID, timeout: configuration.outcomeTimeout) { notice in
            notice.cancelRefused || notice.status.map(OrderRecord.finalStatuses.contains) ?? false
        }
        guard let outcome else { throw BinanceError.timeout }
        if let refusal = outcome.cancelRefusal, outcome.status != "CANCELED" { throw refusal }
        guard outcome.status == "CANCELED" else { throw BinanceError.unknownOrderCancel }
        await awaitBalances(of: outcome, user: record.userID, isPlacement: false)
        guard let ended = try await self.record(record.orderID) else { throw BinanceError.unknownOrderCancel }
        return ended
    }

    func cancelJSON(_ record: OrderRecord, cancelClientID: String) async throws -> JSONValue {
        guard let listing = try await markets.listing(record.symbol), let spec = try? listing.spec() else { throw BinanceError.invalidSymbol }
        var members = record.json(listing: listing, spec: spec, transact: true)
        members.insert(("origClientOrderId", .string(record.clientOrderID)), at: 1)
        if let index = members.firstIndex(where: { $0.0 == "clientOrderId" }) { members[index].1 = .string(cancelClientID) }
        return .object(members)
    }

    /// `DELETE /api/v3/order`.
    func cancelOrder(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .trade, weight: 1)
        let usage = signed.usage
        let listing = try await listing(signed.parameters)
        let record = try await namedOrder(signed.parameters, user: signed.key.userID, symbol: listing.symbol)
        let ended = try await cancel(record)
        let cancelID = signed.parameters["newClientOrderId"] ?? "ox-cancel-\(submitter.nextOrderID())"
        return try await cancelJSON(ended, cancelClientID: cancelID).response(headers: usage.headers)
    }

    /// How many cancels of one `DELETE /api/v3/openOrders` are in flight at once.
    static let concurrentCancels = 16

    /// `DELETE /api/v3/openOrders`: cancels every open order of the user on the symbol.
    func cancelOpenOrders(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .trade, weight: 1)
        let usage = signed.usage
        let listing = try await listing(signed.parameters)
        let open = try await openRecords(user: signed.key.userID, symbol: listing.symbol)
        // Up to `concurrentCancels` at a time (each waits for its own end): the answer takes a
        // few cancels' time, not one per order, and one request starts a bounded amount of work.
        let ended = await withTaskGroup(of: (Int, OrderRecord?).self) { group in
            var ended = [OrderRecord?](repeating: nil, count: open.count)
            for (index, record) in open.enumerated() {
                if index >= Self.concurrentCancels, let (done, result) = await group.next() { ended[done] = result }
                group.addTask { (index, try? await self.cancel(record)) }
            }
            for await (index, record) in group { ended[index] = record }
            return ended
        }
        var canceled: [JSONValue] = []
        for record in ended.compactMap({ $0 }) {
            canceled.append(try await cancelJSON(record, cancelClientID: "ox-cancel-\(submitter.nextOrderID())"))
        }
        return JSONValue.array(canceled).response(headers: usage.headers)
    }

    // MARK: Queries

    func openRecords(user: UserID, symbol: String?) async throws -> [OrderRecord] {
        let ids = try await redis.send(["SMEMBERS", GatewayKeys.userOpenOrders(user)]).array?.compactMap { $0.string.flatMap { UInt64($0) } } ?? []
        return try await records(ids.sorted()).filter { !$0.isFinal && (symbol == nil || $0.symbol == symbol) }
    }

    /// `GET /api/v3/order`.
    func queryOrder(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 4)
        let usage = signed.usage
        let listing = try await listing(signed.parameters)
        let record = try await namedOrder(signed.parameters, user: signed.key.userID, symbol: listing.symbol)
        return try await orderJSON(record).response(headers: usage.headers)
    }

    /// `GET /api/v3/openOrders` (one symbol, or all).
    func queryOpenOrders(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: request.uri.query?.contains("symbol=") == true ? 6 : 80)
        let symbol = signed.parameters["symbol"]
        let usage = signed.usage
        if let symbol, try await markets.listing(symbol) == nil { throw BinanceError.invalidSymbol }
        var orders: [JSONValue] = []
        for record in try await openRecords(user: signed.key.userID, symbol: symbol) { orders.append(try await orderJSON(record)) }
        return JSONValue.array(orders).response(headers: usage.headers)
    }

    /// `GET /api/v3/allOrders`: the user's orders on a symbol, oldest first; `orderId` (from
    /// that id on) or `startTime`/`endTime` (ms), `limit` (500, at most 1000).
    func queryAllOrders(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 20)
        let usage = signed.usage
        let listing = try await listing(signed.parameters)
        let parameters = signed.parameters
        let limit = try parameters.limit(default: 500, maximum: 1_000)
        let fromID = try parameters.uint64("orderId")
        let start = try parameters.int64("startTime").map(String.init) ?? "-inf"
        let end = try parameters.int64("endTime").map(String.init) ?? "+inf"
        let ids = try await redis.send(["ZRANGEBYSCORE", GatewayKeys.userOrders(signed.key.userID), start, end])
            .array?.compactMap { $0.string.flatMap { UInt64($0) } } ?? []
        var selected: [JSONValue] = []
        for record in try await records(ids.filter { $0 >= (fromID ?? 0) }) where record.symbol == listing.symbol {
            selected.append(try await orderJSON(record))
            if selected.count == limit { break }
        }
        return JSONValue.array(selected).response(headers: usage.headers)
    }

    /// `GET /api/v3/myTrades`: the user's trades on a symbol, oldest first; `orderId`,
    /// `fromId` (trade id), `startTime`/`endTime`, `limit` (500, at most 1000).
    func queryMyTrades(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 20)
        let usage = signed.usage
        let listing = try await listing(signed.parameters)
        guard let spec = try? listing.spec() else { throw BinanceError.invalidSymbol }
        let parameters = signed.parameters
        let limit = try parameters.limit(default: 500, maximum: 1_000)
        let orderID = try parameters.uint64("orderId")
        let fromID = try parameters.uint64("fromId")
        let start = try parameters.int64("startTime").map(String.init) ?? "-inf"
        let end = try parameters.int64("endTime").map(String.init) ?? "+inf"
        let texts = try await redis.send(["ZRANGEBYSCORE", GatewayKeys.userTrades(signed.key.userID), start, end]).array?.compactMap(\.string) ?? []
        let scales = try await markets.snapshot().assetScales
        var trades: [JSONValue] = []
        for case let trade? in texts.map(TradeRecord.init(text:))
        where trade.symbol == listing.symbol && (orderID == nil || trade.orderID == orderID) && (fromID == nil || trade.tradeID >= fromID!) {
            trades.append(.object([
                ("symbol", .string(trade.symbol)), ("id", .unsigned(trade.tradeID)), ("orderId", .unsigned(trade.orderID)), ("orderListId", -1),
                ("price", .string(BinanceDecimal.pad(spec.decimal(Price(ticks: trade.priceTicks)), scale: listing.quoteScale))),
                ("qty", .string(BinanceDecimal.pad(spec.decimal(Quantity(lots: trade.quantityLots)), scale: listing.baseScale))),
                ("quoteQty", .string(BinanceDecimal.text(units: trade.quoteUnits, scale: listing.quoteScale))),
                ("commission", .string(BinanceDecimal.text(units: trade.commissionUnits, scale: scales[trade.commissionAsset] ?? 8))),
                ("commissionAsset", .string(trade.commissionAsset)), ("time", .integer(trade.timeMilliseconds)),
                ("isBuyer", .bool(trade.isBuyer)), ("isMaker", .bool(trade.isMaker)), ("isBestMatch", true),
            ]))
            if trades.count == limit { break }
        }
        return JSONValue.array(trades).response(headers: usage.headers)
    }

    /// `GET /api/v3/account`: free and locked per asset, as settled.
    func account(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 20)
        let usage = signed.usage
        let fields = try await redis.send(["HGETALL", GatewayKeys.balances(signed.key.userID)]).array?.compactMap(\.string) ?? []
        var available: [String: Int64] = [:]
        var frozen: [String: Int64] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            let name = fields[index]
            guard let value = Int64(fields[index + 1]) else { continue }
            if name.hasPrefix("a:") { available[String(name.dropFirst(2))] = value } else if name.hasPrefix("f:") { frozen[String(name.dropFirst(2))] = value }
        }
        let scales = try await markets.snapshot().assetScales
        let assets = Set(available.keys).union(frozen.keys).sorted()
        let balances: [JSONValue] = assets.map { asset in
            let scale = scales[asset] ?? 8
            return .object([
                ("asset", .string(asset)), ("free", .string(BinanceDecimal.text(units: available[asset] ?? 0, scale: scale))),
                ("locked", .string(BinanceDecimal.text(units: frozen[asset] ?? 0, scale: scale))),
            ])
        }
        let key = signed.key
        return JSONValue.object([
            ("canTrade", .bool(key.permissions.contains(.trade))), ("canWithdraw", .bool(key.permissions.contains(.withdraw))), ("canDeposit", true),
            ("brokered", false), ("requireSelfTradePrevention", false), ("preventSor", false), ("updateTime", .integer(WallClock.milliseconds())),
            ("accountType", "SPOT"), ("balances", .array(balances)), ("permissions", .array(["SPOT"])), ("uid", .unsigned(key.userID)),
        ]).response(headers: usage.headers)
    }
}
