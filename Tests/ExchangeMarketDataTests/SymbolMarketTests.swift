import ExchangeCore
import ExchangeMatching
import ExchangeOrderFlow
import ExchangeTesting
import Testing

@testable import ExchangeMarketData

/// The market view derived from events against the matcher itself and against
/// recomputations from the trade list (seeded: a failure prints its seed).
@Suite struct SymbolMarketTests {
    /// Runs `count` random commands through a real engine, one per "log position", feeding
    /// each symbol's events to its `SymbolMarket`; calls `check` after every command.
    func run(
        seed: UInt64, count: Int, timeStep: (inout SeededRandom) -> Int64 = { _ in 1_000 },
        check: (MatchingEngine, inout [SymbolMarket], [[MarketTrade]], UInt64, Int64) -> Void
    ) {
        var generator = RandomCommandGenerator(seed: seed)
        var engine = MatchingEngine()
        var events: [MatchingEvent] = []
        for command in generator.symbolCommands { engine.apply(command, into: &events) }
        var markets = generator.symbols.map { _ in SymbolMarket(updateID: 0) }
        var trades: [[MarketTrade]] = generator.symbols.map { _ in [] }
        var time: Int64 = 1_796_490_837_123
        var timeRandom = SeededRandom(seed: seed ^ 0xABCD)
        for position in 1...UInt64(count) {
            events.removeAll()
            engine.apply(generator.next(), into: &events)
            time += timeStep(&timeRandom)
            for (index, _) in markets.enumerated() {
                let own = events.filter { Self.symbol(of: $0) == SymbolID(UInt32(index)) }
                guard !own.isEmpty else { continue }
                let change = markets[index].apply(own, updateID: position, timeMilliseconds: time)
                trades[index] += change.trades
            }
            check(engine, &markets, trades, position, time)
        }
    }

    static func symbol(of event: MatchingEvent) -> SymbolID? {
        switch event {
        case .traded(let trade): trade.symbolID
        case .levelChanged(let level): level.symbolID
        default: nil
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func depthBookEqualsTheMatchersBookAtEveryPosition(seed: UInt64) {
        run(seed: seed, count: 3_000) { engine, markets, _, _, _ in
            for (index, market) in markets.enumerated() {
                for side in [OrderSide.buy, .sell] {
                    let matcher = engine.depth(of: SymbolID(UInt32(index)), side: side, limit: 10_000).map {
                        DepthBook.Level(priceTicks: $0.price.ticks, lots: $0.quantity.lots)
                    }
                    #expect(market.book.levels(side, limit: 10_000) == matcher, "seed \(seed)")
                }
            }
        }
    }

    /// The client side of Binance's depth sync: a snapshot taken at any point plus the diffs
    /// published after it (with random publication points) rebuild the book exactly, and
    /// the chain has no gap.
    @Test(arguments: [4, 5] as [UInt64])
    func snapshotPlusDiffsRebuildsTheBook(seed: UInt64) {
        var publisher = SeededRandom(seed: seed)
        var clientBids: [Int64: Int64] = [:], clientAsks: [Int64: Int64] = [:]
        var lastApplied: UInt64 = 0
        var synced = false
        run(seed: seed, count: 4_000) { _, markets, _, position, _ in
            guard publisher.chance(0.2) else { return }
            if !synced, position > 500 {
                // The REST snapshot: the book as it stands (possibly ahead of the last diff).
                for level in markets[0].book.levels(.buy, limit: .max) { clientBids[level.priceTicks] = level.lots }
                for level in markets[0].book.levels(.sell, limit: .max) { clientAsks[level.priceTicks] = level.lots }
                lastApplied = markets[0].book.lastUpdateID
                synced = true
            }
            guard let diff = markets[0].publishDiff(.fast) else { return }
            guard synced, diff.lastUpdateID > lastApplied else { return }
            #expect(diff.firstUpdateID <= lastApplied + 1, "seed \(seed): gap before \(diff.firstUpdateID)")
            for level in diff.bids { clientBids[level.priceTicks] = level.lots == 0 ? nil : level.lots }
            for level in diff.asks { clientAsks[level.priceTicks] = level.lots == 0 ? nil : level.lots }
            lastApplied = diff.lastUpdateID
            let bids = clientBids.sorted { $0.key > $1.key }.map { DepthBook.Level(priceTicks: $0.key, lots: $0.value) }
            let asks = clientAsks.sorted { $0.key < $1.key }.map { DepthBook.Level(priceTicks: $0.key, lots: $0.value) }
            #expect(bids == markets[0].book.levels(.buy, limit: .max), "seed \(seed)")
            #expect(asks == markets[0].book.levels(.sell, limit: .max), "seed \(seed)")
        }
        #expect(synced)
    }

    @Test func diffChainsAreGapFree() {
        var market = SymbolMarket(updateID: 7)
        let level = { (price: Int64, lots: Int64) in
            MatchingEvent.levelChanged(LevelChanged(symbolID: SymbolID(0), side: .buy, price: Price(ticks: price), totalQuantity: Quantity(lots: lots)))
        }
        #expect(market.publishDiff(.fast) == nil)
        _ = market.apply([level(100, 5)], updateID: 9, timeMilliseconds: 0)
        _ = market.apply([level(100, 0), level(101, 2)], updateID: 12, timeMilliseconds: 0)
        let first = market.publishDiff(.fast)
        #expect(first?.firstUpdateID == 8)
        #expect(first?.lastUpdateID == 12)
        #expect(first?.bids == [DepthBook.Level(priceTicks: 101, lots: 2), DepthBook.Level(priceTicks: 100, lots: 0)])
        _ = market.apply([level(99, 1)], updateID: 20, timeMilliseconds: 0)
        #expect(market.publishDiff(.fast).map { ($0.firstUpdateID, $0.lastUpdateID) }! == (13, 20))
        // The slow chain accumulated all three entries in one diff.
        #expect(market.publishDiff(.slow).map { ($0.firstUpdateID, $0.lastUpdateID) }! == (8, 20))
        #expect(market.book.lastUpdateID == 20)
    }

    /// Candles of every interval and the rolling ticker, kept incrementally, equal what a
    /// plain pass over the trade list computes.
    @Test(arguments: [6, 7] as [UInt64])
    func candlesAndTickerEqualARecomputation(seed: UInt64) {
        // Steps of up to ~3 minutes over ~6,000 commands: about 6 days, so windows roll.
        run(seed: seed, count: 6_000, timeStep: { Int64($0.next() % 180_000) }) { _, markets, trades, position, now in
            guard position % 500 == 0 else { return }
            for (index, market) in markets.enumerated() {
                let all = trades[index]
                for interval in KlineInterval.allCases {
                    let expected = Self.candles(all, interval: interval)
                    let kept = Array(market.series[interval]!.candles)
                    #expect(kept == Array(expected.suffix(kept.count)), "seed \(seed) \(interval)")
                    #expect(kept.count == min(expected.count, interval == .oneMinute ? SymbolMarket.minuteCapacity : SymbolMarket.candleCapacity))
                }
                let ticker = market.ticker(now: now)
                let windowStart = KlineInterval.oneMinute.openTime(containing: now) - 1_439 * 60_000
                let inWindow = all.filter { $0.timeMilliseconds >= windowStart }
                #expect(ticker.openTime == windowStart)
                #expect(ticker.tradeCount == inWindow.count, "seed \(seed)")
                #expect(ticker.volumeLots == inWindow.reduce(0) { $0 + Int128($1.lots) })
                #expect(ticker.quoteTickLots == inWindow.reduce(0) { $0 + $1.tickLots })
                #expect(ticker.lastPriceTicks == all.last?.priceTicks ?? 0)
                if let first = inWindow.first {
                    #expect(ticker.openTicks == first.priceTicks)
                    #expect(ticker.highTicks == inWindow.map(\.priceTicks).max()!)
                    #expect(ticker.lowTicks == inWindow.map(\.priceTicks).min()!)
                    #expect(ticker.firstTradeID == Int64(first.id))
                    #expect(ticker.lastTradeID == Int64(inWindow.last!.id))
                } else {
                    #expect(ticker.firstTradeID == -1)
                    #expect(ticker.openTicks == ticker.lastPriceTicks)
                }
                #expect(ticker.previousCloseTicks == all.last(where: { $0.timeMilliseconds < windowStart })?.priceTicks ?? 0)
            }
        }
    }

    /// Candles by a plain pass: group by open time, fold.
    static func candles(_ trades: [MarketTrade], interval: KlineInterval) -> [Candle] {
        var result: [Candle] = []
        for trade in trades {
            if let last = result.last, last.openTime == interval.openTime(containing: trade.timeMilliseconds) {
                result[result.count - 1].add(trade)
            } else {
                result.append(Candle(interval: interval, trade: trade))
            }
        }
        return result
    }

    @Test func aggregatesGroupOneTakersTradesAtOnePrice() {
        let trade = { (id: UInt64, taker: OrderID, price: Int64, lots: Int64) in
            TradeExecuted(
                symbolID: SymbolID(0), tradeID: id, takerOrderID: taker, makerOrderID: 100 + id, takerUserID: 1, makerUserID: 2, takerSide: .buy,
                price: Price(ticks: price), quantity: Quantity(lots: lots), takerRemaining: .zero, makerRemaining: .zero)
        }
        let aggregates = AggregateTrade.aggregating(
            [trade(1, 10, 100, 2), trade(2, 10, 100, 3), trade(3, 10, 101, 1), trade(4, 11, 101, 4)], timeMilliseconds: 5)
        #expect(aggregates.map { [$0.id, $0.lastTradeID, UInt64($0.lots), UInt64($0.priceTicks)] } == [[1, 2, 5, 100], [3, 3, 1, 101], [4, 4, 4, 101]])
        #expect(aggregates.allSatisfy { !$0.buyerIsMaker && $0.timeMilliseconds == 5 })
    }

    /// Recorded trades (each with its own time) group as the live ones do; a gap in trade ids
    /// (a trade not read) ends an aggregate even for one taker at one price.
    @Test func recordedTradesGroupAsLiveOnes() {
        let member = { (id: UInt64, taker: OrderID, price: Int64, time: Int64) in
            AggregateTrade.Member(tradeID: id, takerOrderID: taker, takerSide: .sell, priceTicks: price, lots: 1, timeMilliseconds: time)
        }
        let aggregates = AggregateTrade.aggregating([member(1, 10, 100, 7), member(2, 10, 100, 8), member(4, 10, 100, 9), member(5, 11, 100, 9)])
        #expect(aggregates.map { [$0.id, $0.lastTradeID, UInt64($0.lots)] } == [[1, 2, 2], [4, 4, 1], [5, 5, 1]])
        #expect(aggregates.map(\.timeMilliseconds) == [7, 9, 9])
        #expect(aggregates.allSatisfy { $0.buyerIsMaker })
    }
}
