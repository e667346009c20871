import ExchangeCluster
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData

/// Every symbol's market, by name, with the format of its amounts: what the tail writes and
/// the requests and streams read (guarded by the hub's lock).
struct MarketBoard: Sendable {
    struct Symbol: Sendable {
        var market: SymbolMarket
        var format: MarketFormat
        /// Since when this instance holds every trade of the symbol: earlier candles come from
        /// PostgreSQL when it is configured.
        var coverage: TradeCoverage
        /// Per kline stream name: the open time of the candle last sent and whether it was
        /// sent closed (so a candle's final `x: true` goes out once, after its close time).
        var klinesSent: [String: (openTime: Int64, closed: Bool)] = [:]
        /// The shard whose events move this symbol's market (it changes when the symbol moves).
        var owner: ShardID
    }

    /// A payload for one stream name.
    struct Publication: Sendable {
        var name: String
        var payload: String
        var listeners: [WebSocketOutbox]
    }

    var symbols: [String: Symbol] = [:]

    /// Applies one output entry's events of `symbol`; returns the immediate publications
    /// (trades, aggregates, book tickers) for `listeners`, the symbol's subscribed streams.
    mutating func apply(
        _ events: [MatchingEvent], symbol name: String, updateID: UInt64, timeMilliseconds: Int64, listeners: [StreamFanout.Listeners]
    ) -> [Publication] {
        // In place: a copy of the symbol would copy its rings and candles on the first write.
        guard let change = symbols[name]?.market.apply(events, updateID: updateID, timeMilliseconds: timeMilliseconds) else { return [] }
        let symbol = symbols[name]!
        var publications: [Publication] = []
        for listener in listeners {
            switch listener.stream {
            case .trade where listener.isNative:
                for trade in change.trades {
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.native(listener.name, "trade", MarketPayload.nativeTrade(trade, symbol.format)),
                        listeners: listener.connections))
                }
            case .trade:
                for trade in change.trades {
                    publications.append(Publication(name: listener.name, payload: MarketPayload.tradeEvent(trade, symbol: name, symbol.format).text, listeners: listener.connections))
                }
            case .aggregateTrade:
                for aggregate in change.aggregates {
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.aggregate(aggregate, event: name, symbol.format).text, listeners: listener.connections))
                }
            case .bookTicker where change.bestChanged:
                publications.append(Publication(
                    name: listener.name, payload: MarketPayload.bookTicker(symbol.market.book, symbol: name, event: true, symbol.format).text,
                    listeners: listener.connections))
            default: continue
            }
        }
        return publications
    }

    /// The depth diffs (and partial books) of `speed` due now for the symbols `names`, for
    /// `listeners` by symbol; every symbol's pending diff is published (consumed) whether or
    /// not anyone listens, so each chain stays gap-free for the next subscriber.
    mutating func publishDepth(
        _ speed: SymbolMarket.DepthSpeed, of names: some Sequence<String>, now: Int64, listeners: (String) -> [StreamFanout.Listeners]
    ) -> [Publication] {
        var publications: [Publication] = []
        for name in names {
            guard symbols[name] != nil, let diff = symbols[name]!.market.publishDiff(speed) else { continue }
            let symbol = symbols[name]!
            for listener in listeners(name) {
                switch listener.stream {
                case .depth(_, let listenerSpeed) where listenerSpeed == speed && listener.isNative:
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.native(listener.name, "update", MarketPayload.nativeDiff(diff, symbol.format)),
                        listeners: listener.connections))
                case .depth(_, let listenerSpeed) where listenerSpeed == speed:
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.depthUpdate(diff, symbol: name, eventTime: now, symbol.format).text,
                        listeners: listener.connections))
                case .partialDepth(_, let levels, let listenerSpeed) where listenerSpeed == speed:
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.depth(symbol.market.book, limit: levels, symbol.format).text,
                        listeners: listener.connections))
                default: continue
                }
            }
        }
        return publications
    }

    /// The once-a-second streams of the symbols `names`: tickers and mini tickers of symbols
    /// that traded, their entries of `!miniTicker@arr` (only if `withMiniTickers`: someone
    /// listens to it; see `miniTickerArray`), and kline updates (a candle's closing one once
    /// its time is over). A ticker is computed only for a symbol whose ticker someone reads.
    mutating func publishSeconds(
        of names: some Sequence<String>, now: Int64, withMiniTickers: Bool, listeners: (String) -> [StreamFanout.Listeners]
    ) -> (publications: [Publication], miniTickers: [JSONValue]) {
        var publications: [Publication] = []
        var miniTickers: [JSONValue] = []
        for name in names {
            guard symbols[name] != nil else { continue }
            let traded = symbols[name]!.market.takeTickerChange()
            let symbolListeners = listeners(name)
            guard traded || !symbolListeners.isEmpty else { continue }
            let symbol = symbols[name]!
            let readsTicker = traded && (withMiniTickers || symbolListeners.contains { listener in
                switch listener.stream {
                case .ticker, .miniTicker: true
                default: false
                }
            })
            let ticker = readsTicker ? symbol.market.ticker(now: now) : nil
            if traded, withMiniTickers, let ticker {
                miniTickers.append(MarketPayload.tickerEvent(ticker, book: symbol.market.book, symbol: name, mini: true, symbol.format))
            }
            for listener in symbolListeners {
                switch listener.stream {
                case .ticker where listener.isNative:
                    guard let ticker else { continue }
                    publications.append(Publication(
                        name: listener.name,
                        payload: MarketPayload.native(listener.name, "ticker", MarketPayload.nativeTicker(ticker, book: symbol.market.book, symbol.format)),
                        listeners: listener.connections))
                case .ticker, .miniTicker:
                    guard let ticker else { continue }
                    let mini = listener.stream == .miniTicker(symbol: name)
                    publications.append(Publication(
                        name: listener.name, payload: MarketPayload.tickerEvent(ticker, book: symbol.market.book, symbol: name, mini: mini, symbol.format).text,
                        listeners: listener.connections))
                case .kline(_, let interval):
                    guard let candle = symbol.market.series[interval]!.latest else { continue }
                    let closed = now > candle.closeTime
                    let sent = symbol.klinesSent[listener.name]
                    // Send while the candle changes, and once more when it closes.
                    guard traded || sent?.openTime != candle.openTime || (closed && sent?.closed == false) else { continue }
                    if let sent, sent.openTime == candle.openTime, sent.closed { continue }
                    symbols[name]!.klinesSent[listener.name] = (candle.openTime, closed)
                    publications.append(Publication(
                        name: listener.name,
                        payload: MarketPayload.klineEvent(candle, interval: interval, closed: closed, symbol: name, eventTime: now, symbol.format).text,
                        listeners: listener.connections))
                default: continue
                }
            }
        }
        return (publications, miniTickers)
    }

    /// `!miniTicker@arr`'s publications of the mini tickers gathered over a second (none
    /// without trades).
    static func miniTickerArray(_ miniTickers: [JSONValue], listeners: [StreamFanout.Listeners]) -> [Publication] {
        guard !miniTickers.isEmpty else { return [] }
        let payload = JSONValue.array(miniTickers).text
        return listeners.filter { $0.stream == .allMiniTickers }.map { Publication(name: $0.name, payload: payload, listeners: $0.connections) }
    }
}
