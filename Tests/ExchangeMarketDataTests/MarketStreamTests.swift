import Testing

@testable import ExchangeMarketData

@Suite struct MarketStreamTests {
    @Test func parsesEveryBinanceStreamKind() {
        #expect(MarketStream(name: "btcusdt@depth") == .depth(symbol: "BTCUSDT", speed: .slow))
        #expect(MarketStream(name: "btcusdt@depth@100ms") == .depth(symbol: "BTCUSDT", speed: .fast))
        #expect(MarketStream(name: "btcusdt@depth@1000ms") == .depth(symbol: "BTCUSDT", speed: .slow))
        #expect(MarketStream(name: "btcusdt@depth5") == .partialDepth(symbol: "BTCUSDT", levels: 5, speed: .slow))
        #expect(MarketStream(name: "btcusdt@depth20@100ms") == .partialDepth(symbol: "BTCUSDT", levels: 20, speed: .fast))
        #expect(MarketStream(name: "btcusdt@trade") == .trade(symbol: "BTCUSDT"))
        #expect(MarketStream(name: "btcusdt@aggTrade") == .aggregateTrade(symbol: "BTCUSDT"))
        #expect(MarketStream(name: "btcusdt@ticker") == .ticker(symbol: "BTCUSDT"))
        #expect(MarketStream(name: "btcusdt@miniTicker") == .miniTicker(symbol: "BTCUSDT"))
        #expect(MarketStream(name: "btcusdt@bookTicker") == .bookTicker(symbol: "BTCUSDT"))
        #expect(MarketStream(name: "btcusdt@kline_1m") == .kline(symbol: "BTCUSDT", interval: .oneMinute))
        #expect(MarketStream(name: "btcusdt@kline_1M") == .kline(symbol: "BTCUSDT", interval: .oneMonth))
        #expect(MarketStream(name: "!miniTicker@arr") == .allMiniTickers)
    }

    @Test(arguments: [
        "", "btcusdt", "@trade", "BTCUSDT@trade", "btcusdt@trades", "btcusdt@depth7", "btcusdt@depth@10ms", "btcusdt@trade@100ms",
        "btcusdt@kline_2m", "btcusdt@kline_", "btc-usdt@trade", "btcusdt@depth@100ms@x", "0", "abcdefghijklmnopqrstu@trade",
    ])
    func refusesWhatIsNotAStream(name: String) {
        #expect(MarketStream(name: name) == nil)
    }
}
