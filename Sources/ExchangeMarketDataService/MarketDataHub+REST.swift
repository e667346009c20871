import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData
import Foundation
import Hummingbird

/// The market endpoints of `shared/formats/binance-api.md` §2, on any router (the market-data
/// role's own, or the gateway's so clients keep one base URL). Public: no key, no signature.
extension MarketDataHub {
    static let notCaughtUp = BinanceError(
        status: .serviceUnavailable, code: -1001, message: "Internal error; unable to process your request. Please try again.")
    static let invalidInterval = BinanceError(code: -1120, message: "Invalid interval.")
    static let rangeTooLong = BinanceError(code: -1127, message: "More than 1 hours between startTime and endTime.")

    public func addMarketRoutes<Context: RequestContext>(to router: Router<Context>) {
        let v3 = router.group("api/v3")
        v3.get("depth") { request, _ in try await self.answer(request) { try self.depth($0) } }
        v3.get("trades") { request, _ in try await self.answer(request) { try self.trades($0) } }
        v3.get("historicalTrades") { request, _ in try await self.answerAsync(request) { try await self.historicalTrades($0) } }
        v3.get("aggTrades") { request, _ in try await self.answerAsync(request) { try await self.aggregateTrades($0) } }
        v3.get("klines") { request, _ in try await self.answerAsync(request) { try await self.klines($0) } }
        v3.get("uiKlines") { request, _ in try await self.answerAsync(request) { try await self.klines($0) } }
        v3.get("ticker/24hr") { request, _ in try await self.answer(request) { try self.tickers($0) } }
        v3.get("ticker/price") { request, _ in try await self.answer(request) { try self.prices($0) } }
        v3.get("ticker/bookTicker") { request, _ in try await self.answer(request) { try self.bookTickers($0) } }
    }

    private func answer(_ request: Request, _ body: (RequestParameters) throws -> JSONValue) async throws -> Response {
        try await answerAsync(request) { try body($0) }
    }

    private func answerAsync(_ request: Request, _ body: (RequestParameters) async throws -> JSONValue) async throws -> Response {
        guard isCaughtUp else { throw Self.notCaughtUp }
        var request = request
        let parameters = try await RequestParameters.read(&request, maximumBodyBytes: 0)
        return try await body(parameters).response()
    }

    /// The `symbol` parameter, which must name a listed symbol.
    private func symbol(_ parameters: RequestParameters) throws(BinanceError) -> String {
        let symbol = try parameters.required("symbol")
        guard isListed(symbol) else { throw .invalidSymbol }
        return symbol
    }

    /// The symbols a ticker call covers: `symbol`, or `symbols` (a JSON array of names), or
    /// every listed symbol; and whether the answer is a list.
    private func symbolSelection(_ parameters: RequestParameters) throws(BinanceError) -> (names: [String]?, isList: Bool) {
        if let one = parameters["symbol"] {
            guard parameters["symbols"] == nil else { throw BinanceError(code: -1101, message: "Parameter 'symbol' and 'symbols' cannot be sent together.") }
            guard isListed(one) else { throw .invalidSymbol }
            return ([one], false)
        }
        guard let text = parameters["symbols"] else { return (nil, true) }
        guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any], !array.isEmpty, array.count <= 1_000 else {
            throw .invalidParameter("symbols", "expected a JSON array of symbols, e.g. [\"BTCUSDT\",\"ETHUSDT\"].")
        }
        var names: [String] = []
        for element in array {
            guard let name = element as? String else { throw .invalidParameter("symbols", "expected a JSON array of symbols.") }
            guard isListed(name) else { throw .invalidSymbol }
            names.append(name)
        }
        return (names, true)
    }

    /// One JSON document per selected symbol, an object for `symbol`, an array otherwise.
    private func perSymbol(_ parameters: RequestParameters, _ body: @escaping @Sendable (String, MarketBoard.Symbol) -> JSONValue) throws(BinanceError) -> JSONValue {
        let (names, isList) = try symbolSelection(parameters)
        let documents = names.map { $0.compactMap { name in read(name) { body(name, $0) } } } ?? readAll(body)
        return isList ? .array(documents) : documents[0]
    }

    func depth(_ parameters: RequestParameters) throws(BinanceError) -> JSONValue {
        let symbol = try symbol(parameters)
        let limit = try parameters.limit(default: 100, maximum: 5_000)
        return read(symbol) { MarketPayload.depth($0.market.book, limit: limit, $0.format) }!
    }

    func trades(_ parameters: RequestParameters) throws(BinanceError) -> JSONValue {
        let symbol = try symbol(parameters)
        let limit = try parameters.limit(default: 500, maximum: SymbolMarket.recentCapacity)
        return read(symbol) { entry in .array(entry.market.recentTrades.suffix(limit).map { MarketPayload.trade($0, entry.format) }) }!
    }

    /// Trades from `fromId` on (the oldest `limit`), or the newest `limit` without it; those
    /// older than the trades this instance keeps come from PostgreSQL when configured. Open
    /// to anyone, as Binance's is now (it once asked for an API key).
    func historicalTrades(_ parameters: RequestParameters) async throws -> JSONValue {
        let symbol = try symbol(parameters)
        let limit = try parameters.limit(default: 500, maximum: SymbolMarket.recentCapacity)
        guard let fromID = try parameters.uint64("fromId") else { return try trades(parameters) }
        guard let (memory, oldest, format) = read(symbol, { entry in
            (entry.market.recentTrades.filter { $0.id >= fromID }, entry.market.recentTrades.first?.id, entry.format)
        }) else { throw BinanceError.invalidSymbol }
        var selected = memory
        if let history, oldest.map({ fromID < $0 }) ?? true {
            selected = try await history.trades(symbol: symbol, fromID: fromID, before: oldest, limit: limit) + memory
        }
        return .array(selected.prefix(limit).map { MarketPayload.trade($0, format) })
    }

    /// Aggregate trades: the newest `limit`, or the oldest `limit` from `fromId` / a
    /// `startTime`–`endTime` range of at most an hour on; those older than the aggregates
    /// this instance keeps (the newest `SymbolMarket.recentCapacity`) come from PostgreSQL
    /// when configured.
    func aggregateTrades(_ parameters: RequestParameters) async throws -> JSONValue {
        let symbol = try symbol(parameters)
        let limit = try parameters.limit(default: 500, maximum: SymbolMarket.recentCapacity)
        let fromID = try parameters.uint64("fromId")
        let start = try parameters.int64("startTime"), end = try parameters.int64("endTime")
        if let start, let end, end - start > 3_600_000 || end < start { throw Self.rangeTooLong }
        guard let (memory, oldest, format) = read(symbol, { entry in
            let selected = entry.market.recentAggregates.filter { aggregate in
                (fromID.map { aggregate.id >= $0 } ?? true) && (start.map { aggregate.timeMilliseconds >= $0 } ?? true)
                    && (end.map { aggregate.timeMilliseconds <= $0 } ?? true)
            }
            return (selected, entry.market.recentAggregates.first, entry.format)
        }) else { throw BinanceError.invalidSymbol }
        guard fromID != nil || start != nil else { return .array(memory.suffix(limit).map { MarketPayload.aggregate($0, format) }) }
        var selected = memory
        // Asked for from before memory's oldest aggregate (or memory holds none): the older ones are history.
        let predatesMemory = oldest.map { oldest in
            (fromID.map { $0 < oldest.id } ?? false) || (start.map { $0 < oldest.timeMilliseconds } ?? false)
        } ?? true
        if let history, predatesMemory {
            selected = try await history.aggregates(symbol: symbol, fromID: fromID, from: start, to: end, before: oldest?.id, limit: limit) + memory
        }
        return .array(selected.prefix(limit).map { MarketPayload.aggregate($0, format) })
    }

    /// Candles from memory where it holds every trade (the symbol's `coverage`),
    /// older ones from PostgreSQL when configured: the oldest `limit` from `startTime` on, else
    /// the newest `limit` up to `endTime`.
    func klines(_ parameters: RequestParameters) async throws -> JSONValue {
        let symbol = try symbol(parameters)
        guard let interval = KlineInterval(rawValue: try parameters.required("interval")) else { throw Self.invalidInterval }
        let limit = try parameters.limit(default: 500, maximum: SymbolMarket.candleCapacity)
        let start = try parameters.int64("startTime"), end = try parameters.int64("endTime")
        guard let (memory, boundary, format) = read(symbol, { entry in
            let boundary = entry.coverage.firstWholeCandle(of: entry.market.series[interval]!)
            let memory = entry.market.series[interval]!.candles(from: start.map { max($0, boundary) }, to: end, limit: limit)
            return (memory.filter { $0.openTime >= boundary }, boundary, entry.format)
        }) else { throw BinanceError.invalidSymbol }
        var candles = memory
        let needsOlder = start.map { $0 < boundary && memory.count < limit } ?? (memory.count < limit)
        if let history, needsOlder, end.map({ $0 >= 0 }) ?? true {
            let older = try await history.candles(
                symbol: symbol, interval: interval, from: start, to: end, before: boundary, limit: limit - (start == nil ? memory.count : 0))
            candles = start == nil ? older + memory : Array((older + memory).prefix(limit))
        }
        return .array(candles.map { MarketPayload.kline($0, format) })
    }

    func tickers(_ parameters: RequestParameters) throws(BinanceError) -> JSONValue {
        let mini: Bool
        switch parameters["type"] ?? "FULL" {
        case "FULL": mini = false
        case "MINI": mini = true
        default: throw .invalidParameter("type", "expected FULL or MINI.")
        }
        let now = WallClock.milliseconds()
        return try perSymbol(parameters) { name, entry in
            MarketPayload.ticker24h(entry.market.ticker(now: now), book: entry.market.book, symbol: name, mini: mini, entry.format)
        }
    }

    func prices(_ parameters: RequestParameters) throws(BinanceError) -> JSONValue {
        try perSymbol(parameters) { name, entry in MarketPayload.price(entry.market, symbol: name, entry.format) }
    }

    func bookTickers(_ parameters: RequestParameters) throws(BinanceError) -> JSONValue {
        try perSymbol(parameters) { name, entry in MarketPayload.bookTicker(entry.market.book, symbol: name, event: false, entry.format) }
    }
}
