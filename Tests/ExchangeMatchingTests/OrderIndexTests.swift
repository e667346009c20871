import ExchangeCore
import ExchangeMatching
import ExchangeOrderFlow
import Testing

@Suite struct OrderIndexTests {
    @Test("every resting id is found and no removed one under heavy churn of clustered ids")
    func churn() throws {
        let capacity = 512
        var engine = MatchingEngine(limits: .init(maximumSymbols: 1, maximumRestingOrders: capacity, maximumPriceLevels: capacity))
        var events: [MatchingEvent] = []
        let spec = try SymbolSpec(name: "X", tickSize: DecimalNumber(units: 1, scale: 0), stepSize: DecimalNumber(units: 1, scale: 0))
        engine.apply(.addSymbol(AddSymbol(spec: spec)), into: &events)
        var live: [OrderID] = []
        var random = SeededRandom(seed: 5)
        var nextID: OrderID = 1
        for step in 0..<40_000 {
            if live.count < capacity, live.isEmpty || random.chance(0.5) {
                // Ids that collide in the table's home slots stress probing and wrap-around.
                let id = nextID &* (random.chance(0.5) ? 1 : 1 << 40)
                nextID += 1
                engine.apply(.place(PlaceOrder(
                    orderID: id, userID: 1, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                    price: Price(ticks: 1 + Int64(random.next() % 64)), quantity: Quantity(lots: 1))), into: &events)
                live.append(id)
            } else {
                let position = Int(random.next() % UInt64(live.count))
                let id = live.remove(at: position)
                engine.apply(.cancel(CancelOrder(orderID: id, userID: 1, symbolID: SymbolID(0))), into: &events)
                #expect(engine.restingOrder(id) == nil)
            }
            if step % 1_000 == 0 { try engine.checkInvariants() }
        }
        try engine.checkInvariants()
        #expect(engine.restingOrderCount == live.count)
        for id in live { #expect(engine.restingOrder(id)?.orderID == id) }
        #expect(engine.restingOrder(OrderID.max) == nil)
    }
}
