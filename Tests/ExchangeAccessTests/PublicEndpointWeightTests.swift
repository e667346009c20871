import Testing

@testable import ExchangeAccess

@Suite struct PublicEndpointWeightTests {
    func weight(_ path: String, _ parameters: [String: String] = [:]) -> Int64? {
        PublicEndpointWeight.weight(path: path) { parameters[$0] }
    }

    @Test func binancesWeights() {
        #expect(weight("/api/v3/ping") == 1)
        #expect(weight("/api/v3/exchangeInfo") == 20)
        #expect(weight("/api/v3/depth") == 5)
        #expect(weight("/api/v3/depth", ["limit": "500"]) == 25)
        #expect(weight("/api/v3/depth", ["limit": "1000"]) == 50)
        #expect(weight("/api/v3/depth", ["limit": "5000"]) == 250)
        #expect(weight("/api/v3/ticker/24hr", ["symbol": "BTCUSDT"]) == 2)
        #expect(weight("/api/v3/ticker/24hr", ["symbols": "[\"A\",\"B\"]"]) == 2)
        #expect(weight("/api/v3/ticker/24hr") == 80)
        #expect(weight("/api/v3/ticker/price") == 4)
        #expect(weight("/api/v3/trades") == 25 && weight("/api/v3/historicalTrades") == 25 && weight("/api/v3/aggTrades") == 4)
    }

    @Test func signedAndUnknownPathsAreNotPublic() {
        #expect(weight("/api/v3/order") == nil)
        #expect(weight("/api/v3/account") == nil)
        #expect(weight("/api/v1/me") == nil)
    }
}
