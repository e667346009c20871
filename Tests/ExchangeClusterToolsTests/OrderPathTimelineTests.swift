import ExchangeClearing
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeReplication
import Testing

@testable import ExchangeClusterTools

/// The order-path benchmark's arithmetic, without Redis: which times it takes from which log.
struct OrderPathTimelineTests {
    let producer = ProducerID("feed-1")

    func place(_ id: OrderID, user: UserID, side: OrderSide) -> PlaceOrder {
        PlaceOrder(
            orderID: id, userID: user, symbolID: SymbolID(0), side: side, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 100), quantity: Quantity(lots: 5))
    }

    func clearingPlace(_ order: PlaceOrder) -> ClearingCommand {
        .place(ClearingOrder(
            orderID: order.orderID, userID: order.userID, symbol: "AAAUSDT", side: order.side, type: order.type,
            timeInForce: order.timeInForce, price: order.price, quantity: order.quantity))
    }

    func leg(_ order: PlaceOrder, maker: Bool) -> ClearingCommand {
        .tradeLeg(TradeLeg(tradeID: 1, orderID: order.orderID, userID: order.userID, price: order.price, quantity: order.quantity, isMaker: maker))
    }

    func entry(_ position: LogPosition, at time: UInt64, _ payload: [UInt8]) -> InputEntry {
        InputEntry(position: position, timestampMicroseconds: time, payload: payload)
    }

    /// An output appended at `time` and read by the tail 50 µs later.
    func seen(_ position: LogPosition, at time: UInt64) -> OutputLogTail.Seen {
        OutputLogTail.Seen(position: position, appendedAtMicroseconds: time, receivedAtMicroseconds: time + 50, weight: 1)
    }

    /// A resting sell and a buy that takes it, and an empty timeline of a flow of the two.
    func twoOrders() -> (maker: PlaceOrder, taker: PlaceOrder, timeline: Timeline) {
        let maker = place(1, user: 1, side: .sell)
        let taker = place(2, user: 2, side: .buy)
        let flow = OrderFlow(symbols: SyntheticOrderFlow.symbols(count: 1), entries: [.command(.place(maker)), .command(.place(taker))])
        return (maker, taker, Timeline(producer: producer, flow: flow))
    }

    @Test("a trade's steps add up to append-to-settled, measured from the taker's place to the later leg")
    func stepsOfOneTrade() throws {
        let (maker, taker, empty) = twoOrders()
        var timeline = empty
        // Both places in one clearing entry at t = 1,000 µs, accepted at 1,300.
        let places = ClearingInput(producer: producer, position: 1, commands: [clearingPlace(maker), clearingPlace(taker)])
        // Forwarded to the shard at 1,200 (before clearing's output).
        let forwarded = ShardInput.commands(symbols: ["AAAUSDT"], commands: [.place(maker), .place(taker)])
        // Legs appended at 2,400 (maker, partition 0) and 2,500 (taker, partition 1); settled at 2,600 and 3,000.
        let makerLeg = ClearingInput(producer: ProducerID("me-0"), position: 1, commands: [leg(maker, maker: true)])
        let takerLeg = ClearingInput(producer: ProducerID("me-0"), position: 1, commands: [leg(taker, maker: false)])
        try timeline.add([entry(1, at: 1_200, forwarded.encoded())], outputs: [], of: .shard)
        try timeline.add(
            [entry(1, at: 1_000, ClearingLogCodec.encode(places)), entry(2, at: 2_400, ClearingLogCodec.encode(makerLeg))],
            outputs: [seen(1, at: 1_300), seen(2, at: 2_600)], of: .partition(0))
        try timeline.add([entry(1, at: 2_500, ClearingLogCodec.encode(takerLeg))], outputs: [seen(1, at: 3_000)], of: .partition(1))

        let result = timeline.result(startedAt: 0, commands: 2)
        #expect(result.places == 2 && result.unseen == 0)
        #expect(result.acceptedMicroseconds == [300, 300])
        #expect(result.stages.settled == [2_000])
        #expect(result.stages.settledRead == [2_050])
        #expect(result.stages.steps.map(\.name) == [
            "clearing: place appended to forwarded", "matching: forwarded to legs appended", "settlement: legs appended to settled",
        ])
        #expect(result.stages.steps.map(\.microseconds) == [[200], [1_300], [500]])
        #expect(result.legsByPartition == [0: 1, 1: 1])
        #expect(result.legsPerInterval == [2])
        // From the start to the last output read.
        #expect(result.seconds == 0.00305)
    }

    @Test("a place whose output was never read, and a trade with one leg settled, count as unseen")
    func unseen() throws {
        let (maker, taker, empty) = twoOrders()
        var timeline = empty
        let places = ClearingInput(producer: producer, position: 1, commands: [clearingPlace(maker), clearingPlace(taker)])
        let legs = ClearingInput(producer: ProducerID("me-0"), position: 1, commands: [leg(maker, maker: true)])
        // Another producer's place is not the run's: not counted.
        let other = ClearingInput(producer: ProducerID("feed-0"), position: 1, commands: [clearingPlace(place(3, user: 3, side: .buy))])
        try timeline.add(
            [entry(1, at: 1_000, ClearingLogCodec.encode(places)), entry(2, at: 2_000, ClearingLogCodec.encode(legs)),
             entry(3, at: 2_100, ClearingLogCodec.encode(other))],
            outputs: [seen(2, at: 2_500)], of: .partition(0))
        let result = timeline.result(startedAt: 0, commands: 2)
        #expect(result.places == 2)
        // Two places never accepted, one trade with a single leg.
        #expect(result.unseen == 3)
        #expect(result.stages.settled.isEmpty)
    }
}
