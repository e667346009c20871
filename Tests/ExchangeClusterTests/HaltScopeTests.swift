import ExchangeCluster
import ExchangeCore
import Testing

struct HaltScopeTests {
    @Test("fields name scopes and parse back; anything else is no scope")
    func fields() {
        for scope in [HaltScope.exchange, .shard(0), .shard(.max), .symbol("BTCUSDT")] { #expect(HaltScope(field: scope.field) == scope) }
        for bad in ["", "shard", "shard:", "shard:-1", "shard:x", "symbol:", "symbol:bad name", "market:X", "exchange:1"] {
            #expect(HaltScope(field: bad) == nil, "\(bad)")
        }
        #expect(HaltScope.fields(symbol: "ETHUSDT", shard: 3) == ["exchange", "shard:3", "symbol:ETHUSDT"])
    }

    @Test("a halt covers its symbols; a listing's own HALT or BREAK wins over TRADING")
    func coverage() {
        #expect(HaltScope.exchange.covers(symbol: "A", shard: 1))
        #expect(HaltScope.shard(1).covers(symbol: "A", shard: 1) && !HaltScope.shard(2).covers(symbol: "A", shard: 1))
        #expect(HaltScope.symbol("A").covers(symbol: "A", shard: 1) && !HaltScope.symbol("B").covers(symbol: "A", shard: 1))
        #expect(HaltScope.effectiveStatus(listed: .trading, symbol: "A", shard: 1, halts: []) == .trading)
        #expect(HaltScope.effectiveStatus(listed: .trading, symbol: "A", shard: 1, halts: [.shard(2), .symbol("B")]) == .trading)
        #expect(HaltScope.effectiveStatus(listed: .trading, symbol: "A", shard: 1, halts: [.shard(1)]) == .halted)
        #expect(HaltScope.effectiveStatus(listed: .break, symbol: "A", shard: 1, halts: [.exchange]) == .break)
        #expect(HaltScope.effectiveStatus(listed: .halted, symbol: "A", shard: 1, halts: []) == .halted)
    }
}
