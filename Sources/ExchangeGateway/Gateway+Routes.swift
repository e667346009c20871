import ExchangeAccess
import ExchangeCluster
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import Foundation
import HTTPTypes
import Hummingbird
import ExchangeWebUI
import Logging

extension Gateway {
    /// Every route of the gateway: Binance's `/api/v3` subset, the WebSocket API for user data
    /// (`/ws-api/v3`) and the native `/api/v1`.
    public func router() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: BinanceErrorMiddleware(logger: logger))
        // Request rate, latency and errors per route (swift-metrics: hb_requests,
        // http_server_request_duration, hb_request_errors), inside the error translation.
        router.add(middleware: MetricsMiddleware())
        // A server span per request (swift-distributed-tracing; a no-op unless a tracer is
        // bootstrapped); an order's later stages are its children (`OrderSubmitter`).
        router.add(middleware: TracingMiddleware())
        router.add(middleware: PublicWeightMiddleware(limiter: limiter.weights))
        if !configuration.corsOrigins.isEmpty {
            let origins = configuration.corsOrigins
            // Outside the CORS middleware, so it sees (and strips) the header that one adds.
            router.add(middleware: CORSOriginFilter(origins: Set(origins)))
            router.add(middleware: CORSMiddleware(
                allowOrigin: origins == ["*"] ? .all : .originBased, allowHeaders: [.contentType, .authorization, HTTPField.Name("X-MBX-APIKEY")!],
                allowMethods: [.get, .post, .put, .delete, .options], maxAge: .seconds(600)))
        }
        WebPages.addTraderPages(to: router)
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: Self.openAPIDocument)))
        }
        let v3 = router.group("api/v3")
        v3.get("ping") { _, _ in JSONValue.object([]).response() }
        v3.get("time") { _, _ in JSONValue.object([("serverTime", .integer(WallClock.milliseconds()))]).response() }
        v3.get("exchangeInfo") { request, context in try await self.exchangeInfo(request, context: context) }
        v3.get("account") { request, context in
            var request = request
            return try await self.account(&request, context: context)
        }
        v3.post("order") { request, context in
            var request = request
            return try await self.placeOrder(&request, context: context, isTest: false)
        }
        v3.post("order/test") { request, context in
            var request = request
            return try await self.placeOrder(&request, context: context, isTest: true)
        }
        v3.get("order") { request, context in
            var request = request
            return try await self.queryOrder(&request, context: context)
        }
        v3.delete("order") { request, context in
            var request = request
            return try await self.cancelOrder(&request, context: context)
        }
        v3.get("openOrders") { request, context in
            var request = request
            return try await self.queryOpenOrders(&request, context: context)
        }
        v3.delete("openOrders") { request, context in
            var request = request
            return try await self.cancelOpenOrders(&request, context: context)
        }
        v3.get("allOrders") { request, context in
            var request = request
            return try await self.queryAllOrders(&request, context: context)
        }
        v3.get("myTrades") { request, context in
            var request = request
            return try await self.queryMyTrades(&request, context: context)
        }
        addListenKeyRoutes(to: v3)

        addWebSocketAPI(to: router)
        addWalletRoutes(to: router)
        let v1 = router.group("api/v1")
        v1.post("users") { request, context in
            var request = request
            return try await self.register(&request, context: context)
        }
        v1.post("sessions") { request, context in
            var request = request
            return try await self.login(&request, context: context)
        }
        v1.post("sessions/refresh") { request, _ in
            var request = request
            return try await self.refresh(&request)
        }
        v1.post("sessions/logout") { request, _ in
            var request = request
            return try await self.logout(&request)
        }
        v1.get("me") { request, _ in try await self.me(request) }
        v1.get("me/logins") { request, _ in try await self.loginHistory(request) }
        v1.post("me/totp") { request, context in try await self.beginTOTP(request, context: context) }
        v1.post("me/totp/confirm") { request, context in
            var request = request
            return try await self.confirmTOTP(&request, context: context)
        }
        v1.post("me/api-keys") { request, context in
            var request = request
            return try await self.createKey(&request, context: context)
        }
        v1.get("me/api-keys") { request, _ in try await self.listKeys(request) }
        v1.put("me/api-keys/:key") { request, context in
            var request = request
            return try await self.setKeyEnabled(&request, context: context)
        }
        v1.delete("me/api-keys/:key") { request, context in try await self.deleteKey(request, context: context) }
        return router
    }

    /// `GET /api/v3/exchangeInfo`: every listed symbol (or those named by `symbol` /
    /// `symbols=["A","B"]`) with the filters clients read (contract §5).
    func exchangeInfo(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let parameters = try RequestParameters(rawQuery: Array(request.uri.query?.utf8 ?? "".utf8), rawBody: [])
        var snapshot = try await markets.snapshot()
        if let one = parameters["symbol"], snapshot.listings[one] == nil {
            // Listed a moment ago, perhaps: look again (at most every 100 ms).
            snapshot = try await markets.snapshot(forceRefresh: true)
        }
        let listings = snapshot.listings
        var names = listings.keys.sorted()
        if let one = parameters["symbol"] {
            guard listings[one] != nil else { throw BinanceError.invalidSymbol }
            names = [one]
        } else if let list = parameters["symbols"] {
            guard let data = list.data(using: .utf8), let requested = try? JSONSerialization.jsonObject(with: data) as? [String] else {
                throw BinanceError.invalidParameter("symbols", "expected a JSON array of symbols.")
            }
            guard requested.allSatisfy({ listings[$0] != nil }) else { throw BinanceError.invalidSymbol }
            names = requested
        }
        let symbols: [JSONValue] = names.compactMap { name in
            guard let listing = listings[name], let spec = try? listing.spec() else { return nil }
            let status = snapshot.shardsBySymbol[name].map {
                HaltScope.effectiveStatus(listed: listing.status, symbol: name, shard: $0, halts: snapshot.halts)
            } ?? listing.status
            let pricePad = { (text: String) in BinanceDecimal.pad(text, scale: listing.quoteScale) }
            let quantityPad = { (text: String) in BinanceDecimal.pad(text, scale: listing.baseScale) }
            return .object([
                ("symbol", .string(name)), ("status", .string(status.binanceName)),
                ("baseAsset", .string(listing.baseAsset)), ("baseAssetPrecision", .integer(Int64(listing.baseScale))),
                ("quoteAsset", .string(listing.quoteAsset)), ("quotePrecision", .integer(Int64(listing.quoteScale))),
                ("quoteAssetPrecision", .integer(Int64(listing.quoteScale))), ("baseCommissionPrecision", .integer(Int64(listing.baseScale))),
                ("quoteCommissionPrecision", .integer(Int64(listing.quoteScale))),
                ("orderTypes", .array(["LIMIT", "LIMIT_MAKER", "MARKET"])), ("icebergAllowed", false), ("ocoAllowed", false),
                ("otoAllowed", false), ("quoteOrderQtyMarketAllowed", true), ("allowTrailingStop", false), ("cancelReplaceAllowed", false),
                ("isSpotTradingAllowed", true), ("isMarginTradingAllowed", false),
                ("filters", .array([
                    .object([
                        ("filterType", "PRICE_FILTER"), ("minPrice", .string(pricePad(spec.tickSize.description))),
                        ("maxPrice", .string(pricePad(OrderRequest.maximumPrice.description))), ("tickSize", .string(pricePad(spec.tickSize.description))),
                    ]),
                    .object([
                        ("filterType", "LOT_SIZE"), ("minQty", .string(quantityPad(spec.decimal(spec.minimumQuantity)))),
                        ("maxQty", .string(quantityPad(spec.decimal(spec.maximumQuantity)))), ("stepSize", .string(quantityPad(spec.stepSize.description))),
                    ]),
                    .object([
                        ("filterType", "NOTIONAL"), ("minNotional", .string(pricePad(spec.minimumNotional.description))), ("applyMinToMarket", true),
                        ("maxNotional", "9000000000000.00000000"), ("applyMaxToMarket", false), ("avgPriceMins", 0),
                    ]),
                ])),
                ("permissions", .array([])), ("permissionSets", .array([.array(["SPOT"])])),
                ("defaultSelfTradePreventionMode", "NONE"),
                ("allowedSelfTradePreventionModes", .array(["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"])),
            ])
        }
        return JSONValue.object([
            ("timezone", "UTC"), ("serverTime", .integer(WallClock.milliseconds())),
            ("rateLimits", .array([
                .object([("rateLimitType", "REQUEST_WEIGHT"), ("interval", "MINUTE"), ("intervalNum", 1),
                         ("limit", .integer(configuration.rateLimits.requestWeightPerMinute))]),
                .object([("rateLimitType", "ORDERS"), ("interval", "SECOND"), ("intervalNum", 10),
                         ("limit", .integer(configuration.rateLimits.ordersPer10Seconds))]),
                .object([("rateLimitType", "ORDERS"), ("interval", "DAY"), ("intervalNum", 1), ("limit", .integer(configuration.rateLimits.ordersPerDay))]),
            ])),
            ("exchangeFilters", .array([])), ("symbols", .array(symbols)),
        ]).response()
    }
}

/// With `.originBased` CORS echoes any origin: this refuses origins not configured.
struct CORSOriginFilter: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let origins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if !origins.contains("*"), let origin = request.headers[.origin], !origins.contains(origin) {
            response.headers[.accessControlAllowOrigin] = nil
        }
        return response
    }
}
