import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData

/// The JSON documents of the market endpoints and streams, field for field as Binance writes
/// them (`shared/formats/binance-api.md` §2 and §6): decimals as strings, ids and times (ms)
/// as integers.
enum MarketPayload {
    static func levels(_ levels: [DepthBook.Level], _ format: MarketFormat) -> JSONValue {
        .array(levels.map { .array([.string(format.price($0.priceTicks)), .string(format.quantity($0.lots))]) })
    }

    /// `GET /api/v3/depth`, and the partial book streams' payload.
    static func depth(_ book: DepthBook, limit: Int, _ format: MarketFormat) -> JSONValue {
        .object([
            ("lastUpdateId", .unsigned(book.lastUpdateID)),
            ("bids", levels(book.levels(.buy, limit: limit), format)),
            ("asks", levels(book.levels(.sell, limit: limit), format)),
        ])
    }

    /// A `depthUpdate` event.
    static func depthUpdate(_ diff: DepthDiffChain.Diff, symbol: String, eventTime: Int64, _ format: MarketFormat) -> JSONValue {
        .object([
            ("e", "depthUpdate"), ("E", .integer(eventTime)), ("s", .string(symbol)),
            ("U", .unsigned(diff.firstUpdateID)), ("u", .unsigned(diff.lastUpdateID)),
            ("b", levels(diff.bids, format)), ("a", levels(diff.asks, format)),
        ])
    }

    /// A row of `GET /api/v3/trades`.
    static func trade(_ trade: MarketTrade, _ format: MarketFormat) -> JSONValue {
        .object([
            ("id", .unsigned(trade.id)), ("price", .string(format.price(trade.priceTicks))), ("qty", .string(format.quantity(trade.lots))),
            ("quoteQty", .string(format.quote(trade.tickLots))), ("time", .integer(trade.timeMilliseconds)),
            ("isBuyerMaker", .bool(trade.buyerIsMaker)), ("isBestMatch", true),
        ])
    }

    /// A `trade` event.
    static func tradeEvent(_ trade: MarketTrade, symbol: String, _ format: MarketFormat) -> JSONValue {
        .object([
            ("e", "trade"), ("E", .integer(trade.timeMilliseconds)), ("s", .string(symbol)), ("t", .unsigned(trade.id)),
            ("p", .string(format.price(trade.priceTicks))), ("q", .string(format.quantity(trade.lots))),
            ("T", .integer(trade.timeMilliseconds)), ("m", .bool(trade.buyerIsMaker)), ("M", true),
        ])
    }

    /// A row of `GET /api/v3/aggTrades`, and (with `e`, `E`, `s` first) an `aggTrade` event.
    static func aggregate(_ aggregate: AggregateTrade, event symbol: String? = nil, _ format: MarketFormat) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let symbol { members = [("e", "aggTrade"), ("E", .integer(aggregate.timeMilliseconds)), ("s", .string(symbol))] }
        members += [
            ("a", .unsigned(aggregate.id)), ("p", .string(format.price(aggregate.priceTicks))), ("q", .string(format.quantity(aggregate.lots))),
            ("f", .unsigned(aggregate.firstTradeID)), ("l", .unsigned(aggregate.lastTradeID)), ("T", .integer(aggregate.timeMilliseconds)),
            ("m", .bool(aggregate.buyerIsMaker)), ("M", true),
        ]
        return .object(members)
    }

    /// A row of `GET /api/v3/klines`.
    static func kline(_ candle: Candle, _ format: MarketFormat) -> JSONValue {
        .array([
            .integer(candle.openTime), .string(format.price(candle.open)), .string(format.price(candle.high)), .string(format.price(candle.low)),
            .string(format.price(candle.close)), .string(format.volume(candle.volumeLots)), .integer(candle.closeTime),
            .string(format.quote(candle.quoteTickLots)), .integer(Int64(candle.tradeCount)), .string(format.volume(candle.takerBuyLots)),
            .string(format.quote(candle.takerBuyQuoteTickLots)), "0",
        ])
    }

    /// A `kline` event: `closed` says whether the candle is final (`x`).
    static func klineEvent(_ candle: Candle, interval: KlineInterval, closed: Bool, symbol: String, eventTime: Int64, _ format: MarketFormat) -> JSONValue {
        .object([
            ("e", "kline"), ("E", .integer(eventTime)), ("s", .string(symbol)),
            ("k", .object([
                ("t", .integer(candle.openTime)), ("T", .integer(candle.closeTime)), ("s", .string(symbol)), ("i", .string(interval.rawValue)),
                ("f", .unsigned(candle.firstTradeID)), ("L", .unsigned(candle.lastTradeID)),
                ("o", .string(format.price(candle.open))), ("c", .string(format.price(candle.close))),
                ("h", .string(format.price(candle.high))), ("l", .string(format.price(candle.low))),
                ("v", .string(format.volume(candle.volumeLots))), ("n", .integer(Int64(candle.tradeCount))), ("x", .bool(closed)),
                ("q", .string(format.quote(candle.quoteTickLots))), ("V", .string(format.volume(candle.takerBuyLots))),
                ("Q", .string(format.quote(candle.takerBuyQuoteTickLots))), ("B", "0"),
            ])),
        ])
    }

    /// The best bid and ask: `GET /api/v3/ticker/bookTicker` and (with `u`) the `bookTicker`
    /// event, whose `u` is the book's update id.
    static func bookTicker(_ book: DepthBook, symbol: String, event: Bool, _ format: MarketFormat) -> JSONValue {
        let bid = book.best(.buy), ask = book.best(.sell)
        var members: [(String, JSONValue)] = event ? [("u", .unsigned(book.lastUpdateID))] : []
        members += [
            ("s", .string(symbol)),
            ("b", .string(format.price(bid?.priceTicks ?? 0))), ("B", .string(format.quantity(bid?.lots ?? 0))),
            ("a", .string(format.price(ask?.priceTicks ?? 0))), ("A", .string(format.quantity(ask?.lots ?? 0))),
        ]
        if !event {
            // The REST form spells the fields out.
            let names = ["s": "symbol", "b": "bidPrice", "B": "bidQty", "a": "askPrice", "A": "askQty"]
            members = members.map { (names[$0.0]!, $0.1) }
        }
        return .object(members)
    }

    /// `GET /api/v3/ticker/price`.
    static func price(_ market: SymbolMarket, symbol: String, _ format: MarketFormat) -> JSONValue {
        .object([("symbol", .string(symbol)), ("price", .string(format.price(market.lastTrade?.priceTicks ?? 0)))])
    }

    /// `GET /api/v3/ticker/24hr` (FULL or MINI).
    static func ticker24h(_ ticker: TickerStatistics, book: DepthBook, symbol: String, mini: Bool, _ format: MarketFormat) -> JSONValue {
        var members: [(String, JSONValue)] = [("symbol", .string(symbol))]
        if !mini {
            members += [
                ("priceChange", .string(format.price(ticker.priceChangeTicks))),
                ("priceChangePercent", .string(MarketFormat.percent(thousandths: ticker.priceChangePercentThousandths))),
                ("weightedAvgPrice", .string(weightedAverage(ticker, format))),
                ("prevClosePrice", .string(format.price(ticker.previousCloseTicks))),
            ]
        }
        members += [("lastPrice", .string(format.price(ticker.lastPriceTicks)))]
        if !mini {
            let bid = book.best(.buy), ask = book.best(.sell)
            members += [
                ("lastQty", .string(format.quantity(ticker.lastLots))),
                ("bidPrice", .string(format.price(bid?.priceTicks ?? 0))), ("bidQty", .string(format.quantity(bid?.lots ?? 0))),
                ("askPrice", .string(format.price(ask?.priceTicks ?? 0))), ("askQty", .string(format.quantity(ask?.lots ?? 0))),
            ]
        }
        members += [
            ("openPrice", .string(format.price(ticker.openTicks))), ("highPrice", .string(format.price(ticker.highTicks))),
            ("lowPrice", .string(format.price(ticker.lowTicks))), ("volume", .string(format.volume(ticker.volumeLots))),
            ("quoteVolume", .string(format.quote(ticker.quoteTickLots))), ("openTime", .integer(ticker.openTime)),
            ("closeTime", .integer(ticker.closeTime)), ("firstId", .integer(ticker.firstTradeID)), ("lastId", .integer(ticker.lastTradeID)),
            ("count", .integer(Int64(ticker.tradeCount))),
        ]
        return .object(members)
    }

    /// A `24hrTicker` event, or with `mini` a `24hrMiniTicker` one.
    static func tickerEvent(_ ticker: TickerStatistics, book: DepthBook, symbol: String, mini: Bool, _ format: MarketFormat) -> JSONValue {
        var members: [(String, JSONValue)] = [("e", .string(mini ? "24hrMiniTicker" : "24hrTicker")), ("E", .integer(ticker.closeTime)), ("s", .string(symbol))]
        if !mini {
            let bid = book.best(.buy), ask = book.best(.sell)
            members += [
                ("p", .string(format.price(ticker.priceChangeTicks))),
                ("P", .string(MarketFormat.percent(thousandths: ticker.priceChangePercentThousandths))),
                ("w", .string(weightedAverage(ticker, format))), ("x", .string(format.price(ticker.previousCloseTicks))),
                ("c", .string(format.price(ticker.lastPriceTicks))), ("Q", .string(format.quantity(ticker.lastLots))),
                ("b", .string(format.price(bid?.priceTicks ?? 0))), ("B", .string(format.quantity(bid?.lots ?? 0))),
                ("a", .string(format.price(ask?.priceTicks ?? 0))), ("A", .string(format.quantity(ask?.lots ?? 0))),
            ]
        } else {
            members.append(("c", .string(format.price(ticker.lastPriceTicks))))
        }
        members += [
            ("o", .string(format.price(ticker.openTicks))), ("h", .string(format.price(ticker.highTicks))),
            ("l", .string(format.price(ticker.lowTicks))), ("v", .string(format.volume(ticker.volumeLots))),
            ("q", .string(format.quote(ticker.quoteTickLots))),
        ]
        if !mini {
            members += [
                ("O", .integer(ticker.openTime)), ("C", .integer(ticker.closeTime)), ("F", .integer(ticker.firstTradeID)),
                ("L", .integer(ticker.lastTradeID)), ("n", .integer(Int64(ticker.tradeCount))),
            ]
        }
        return .object(members)
    }

    static func weightedAverage(_ ticker: TickerStatistics, _ format: MarketFormat) -> String {
        let digits = max(8, format.quoteDigits)
        guard let scaled = ticker.weightedAveragePrice(digits: digits) else { return format.price(ticker.lastPriceTicks) }
        return format.price(scaledTicks: scaled, digits: digits)
    }

    // MARK: Native channels (/ws/v1; docs/api.md)

    /// `{"channel":…,"type":…,"data":…}`.
    static func native(_ channel: String, _ type: String, _ data: JSONValue) -> String {
        JSONValue.object([("channel", .string(channel)), ("type", .string(type)), ("data", data)]).text
    }

    static func nativeTrade(_ trade: MarketTrade, _ format: MarketFormat) -> JSONValue {
        .object([
            ("id", .unsigned(trade.id)), ("price", .string(format.price(trade.priceTicks))), ("quantity", .string(format.quantity(trade.lots))),
            ("time", .integer(trade.timeMilliseconds)), ("takerSide", trade.buyerIsMaker ? "sell" : "buy"),
        ])
    }

    static func nativeSnapshot(_ book: DepthBook, limit: Int, _ format: MarketFormat) -> JSONValue {
        .object([
            ("updateId", .unsigned(book.lastUpdateID)), ("bids", levels(book.levels(.buy, limit: limit), format)),
            ("asks", levels(book.levels(.sell, limit: limit), format)),
        ])
    }

    static func nativeDiff(_ diff: DepthDiffChain.Diff, _ format: MarketFormat) -> JSONValue {
        .object([
            ("firstUpdateId", .unsigned(diff.firstUpdateID)), ("lastUpdateId", .unsigned(diff.lastUpdateID)),
            ("bids", levels(diff.bids, format)), ("asks", levels(diff.asks, format)),
        ])
    }

    static func nativeTicker(_ ticker: TickerStatistics, book: DepthBook, _ format: MarketFormat) -> JSONValue {
        let bid = book.best(.buy), ask = book.best(.sell)
        return .object([
            ("last", .string(format.price(ticker.lastPriceTicks))), ("open", .string(format.price(ticker.openTicks))),
            ("high", .string(format.price(ticker.highTicks))), ("low", .string(format.price(ticker.lowTicks))),
            ("volume", .string(format.volume(ticker.volumeLots))), ("quoteVolume", .string(format.quote(ticker.quoteTickLots))),
            ("priceChange", .string(format.price(ticker.priceChangeTicks))),
            ("priceChangePercent", .string(MarketFormat.percent(thousandths: ticker.priceChangePercentThousandths))),
            ("bestBid", bid.map { .string(format.price($0.priceTicks)) } ?? .null), ("bestAsk", ask.map { .string(format.price($0.priceTicks)) } ?? .null),
            ("tradeCount", .integer(Int64(ticker.tradeCount))), ("time", .integer(ticker.closeTime)),
        ])
    }
}
