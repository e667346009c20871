import Testing

@testable import ExchangeMarketData

@Suite struct TradeCoverageTests {
    static let hour: Int64 = 3_600_000

    func series(_ interval: KlineInterval, capacity: Int, trades: [Int64]) -> CandleSeries {
        var series = CandleSeries(interval: interval, capacity: capacity)
        for (index, time) in trades.enumerated() {
            series.add(MarketTrade(id: UInt64(index + 1), priceTicks: 10, lots: 1, timeMilliseconds: time, buyerIsMaker: false))
        }
        return series
    }

    @Test func theCandleHoldingTheLogsFirstTradeIsWhole() {
        let coverage = TradeCoverage(since: 10 * Self.hour + 5, startsMidHistory: false)
        #expect(coverage.firstWholeCandle(of: series(.oneHour, capacity: 10, trades: [10 * Self.hour + 5])) == 10 * Self.hour)
    }

    @Test func aWarmUpFromTheMiddleOfHistoryLeavesItsFirstCandlePartial() {
        let coverage = TradeCoverage(since: 10 * Self.hour + 5, startsMidHistory: true)
        #expect(coverage.firstWholeCandle(of: series(.oneHour, capacity: 10, trades: [10 * Self.hour + 5])) == 11 * Self.hour)
        #expect(TradeCoverage(since: 10 * Self.hour, startsMidHistory: true).firstWholeCandle(of: series(.oneHour, capacity: 10, trades: [])) == 10 * Self.hour)
    }

    @Test func candlesDroppedFromTheRingAreNotHeld() {
        let coverage = TradeCoverage(since: 0, startsMidHistory: false)
        let full = series(.oneHour, capacity: 2, trades: [0, Self.hour, 2 * Self.hour])
        #expect(full.candles.hasDropped && coverage.firstWholeCandle(of: full) == Self.hour)
        #expect(coverage.firstWholeCandle(of: series(.oneHour, capacity: 3, trades: [0, Self.hour, 2 * Self.hour])) == 0)
    }
}
