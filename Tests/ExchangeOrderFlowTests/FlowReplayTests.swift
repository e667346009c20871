import ExchangeCore
import ExchangeMatching
import ExchangeOrderFlow
import Testing

/// Replays `text` and returns the order-flow output.
///
/// Checks the engine's invariants after every command on a step-by-step engine, and that
/// `FlowReplay.run` (batched) renders what that engine's events render.
private func replay(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let flow = try OrderFlowParser.parse(text)
    var engine = MatchingEngine(limits: FlowReplay.limits(for: flow))
    var events: [MatchingEvent] = []
    for entry in flow.entries {
        guard case .command(let command) = entry else { continue }
        engine.apply(command, into: &events)
        try engine.checkInvariants()
    }
    let result = FlowReplay.run(flow)
    #expect(result.engine.stateDigest == engine.stateDigest, sourceLocation: sourceLocation)
    let output = FlowReplay.output(of: result)
    let stepByStep = FlowReplay.output(flow: flow, events: events) { symbolID, side in
        var orders: [(OrderID, Price, Quantity)] = []
        engine.forEachRestingOrder(of: symbolID, side: side) { orders.append(($0.orderID, $0.price, $0.remaining)) }
        return orders
    }
    #expect(output == stepByStep, sourceLocation: sourceLocation)
    return output
}

/// The lines of an expected output, each `\n`-terminated.
private func lines(_ lines: String...) -> String {
    lines.map { $0 + "\n" }.joined()
}

@Suite struct FlowReplayTests {
    // MARK: Resting and priority

    @Test("gtc orders rest and trade at the maker's price")
    func goodTillCanceledRests() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,buy,limit,gtc,100,5
            place,2,8,ABC,sell,limit,gtc,101,3
            place,3,9,ABC,sell,limit,gtc,99,2
            place,4,9,ABC,buy,limit,gtc,102,4
            """)
        #expect(output == lines(
            "trade,1,ABC,3,1,100,2",
            "trade,2,ABC,4,2,101,3",
            "order,1,partially_filled,2",
            "order,2,filled,3",
            "order,3,filled,2",
            "order,4,partially_filled,3",
            "book,ABC,buy,4,102,1",
            "book,ABC,buy,1,100,3"))
    }

    @Test("Price-time priority with decimal ticks and steps")
    func priceTimePriority() throws {
        let output = try replay("""
            symbol,BTCUSDT,0.01,0.001
            place,1,7,BTCUSDT,sell,limit,gtc,100.10,0.5
            place,2,8,BTCUSDT,sell,limit,gtc,100.1,0.25
            place,3,9,BTCUSDT,sell,limit,gtc,100.05,0.1
            place,4,6,BTCUSDT,buy,limit,gtc,100.10,0.700
            """)
        #expect(output == lines(
            "trade,1,BTCUSDT,4,3,100.05,0.1",
            "trade,2,BTCUSDT,4,1,100.1,0.5",
            "trade,3,BTCUSDT,4,2,100.1,0.1",
            "order,1,filled,0.5",
            "order,2,partially_filled,0.1",
            "order,3,filled,0.1",
            "order,4,filled,0.7",
            "book,BTCUSDT,sell,2,100.1,0.15"))
    }

    @Test("Orders list by numeric id; books by symbol name, bids then asks")
    func outputOrdering() throws {
        let output = try replay("""
            symbol,ZED,1,1
            symbol,ABC,0.5,0.1
            place,10,7,ZED,buy,limit,gtc,10,1
            place,9,7,ABC,sell,limit,gtc,2.5,0.3
            place,100,7,ABC,buy,limit,gtc,1.5,0.2
            place,11,7,ABC,sell,limit,gtc,3,0.1
            place,12,7,ABC,buy,limit,gtc,2,0.4
            """)
        #expect(output == lines(
            "order,9,new,0",
            "order,10,new,0",
            "order,11,new,0",
            "order,12,new,0",
            "order,100,new,0",
            "book,ABC,buy,12,2,0.4",
            "book,ABC,buy,100,1.5,0.2",
            "book,ABC,sell,9,2.5,0.3",
            "book,ABC,sell,11,3,0.1",
            "book,ZED,buy,10,10,1"))
    }

    // MARK: Time in force

    @Test("ioc remainder expires; an ioc that does not cross expires untouched")
    func immediateOrCancel() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,2
            place,2,7,ABC,sell,limit,gtc,102,2
            place,3,8,ABC,buy,limit,ioc,101,5
            place,4,8,ABC,buy,limit,ioc,99,1
            """)
        #expect(output == lines(
            "trade,1,ABC,3,1,100,2",
            "order,1,filled,2",
            "order,2,new,0",
            "order,3,expired,2",
            "order,4,expired,0",
            "book,ABC,sell,2,102,2"))
    }

    @Test("A market order sweeps levels and its remainder expires")
    func marketOrders() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,101,1
            place,2,7,ABC,sell,limit,gtc,100,1
            place,3,8,ABC,buy,market,ioc,,3
            place,4,8,ABC,sell,market,ioc,,1
            """)
        #expect(output == lines(
            "trade,1,ABC,3,2,100,1",
            "trade,2,ABC,3,1,101,1",
            "order,1,filled,1",
            "order,2,filled,1",
            "order,3,expired,2",
            "order,4,expired,0"))
    }

    @Test("fok that cannot fill completely expires with no effect")
    func fillOrKillExpires() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,2
            place,2,8,ABC,sell,limit,gtc,101,2
            place,3,9,ABC,buy,limit,fok,101,5
            place,4,9,ABC,buy,limit,fok,100,3
            """)
        #expect(output == lines(
            "order,1,new,0",
            "order,2,new,0",
            "order,3,expired,0",
            "order,4,expired,0",
            "book,ABC,sell,1,100,2",
            "book,ABC,sell,2,101,2"))
    }

    @Test("fok that can fill completely fills across levels")
    func fillOrKillFills() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,2
            place,2,8,ABC,sell,limit,gtc,101,2
            place,3,8,ABC,sell,limit,gtc,102,2
            place,4,9,ABC,buy,limit,fok,101,4
            """)
        #expect(output == lines(
            "trade,1,ABC,4,1,100,2",
            "trade,2,ABC,4,2,101,2",
            "order,1,filled,2",
            "order,2,filled,2",
            "order,3,new,0",
            "order,4,filled,4",
            "book,ABC,sell,3,102,2"))
    }

    @Test("fok counts what it could fill under its self-trade prevention")
    func fillOrKillWithSelfTradePrevention() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,9,ABC,sell,limit,gtc,100,2
            place,2,8,ABC,sell,limit,gtc,100,2
            place,3,9,ABC,buy,limit,fok,100,2,expire_taker
            place,4,9,ABC,buy,limit,fok,100,2,expire_maker
            """)
        #expect(output == lines(
            "trade,1,ABC,4,2,100,2",
            "order,1,expired,0",
            "order,2,filled,2",
            "order,3,expired,0",
            "order,4,filled,2"))
    }

    @Test("post_only is rejected when it would cross, else it rests")
    func postOnly() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,1
            place,2,8,ABC,buy,limit,post_only,100,1
            place,3,8,ABC,buy,limit,post_only,101,1
            place,4,8,ABC,buy,limit,post_only,99,1
            place,5,8,ABC,sell,limit,post_only,100,1
            place,6,8,ABC,sell,limit,post_only,99,1
            """)
        #expect(output == lines(
            "order,1,new,0",
            "order,2,rejected,0",
            "order,3,rejected,0",
            "order,4,new,0",
            "order,5,new,0",
            "order,6,rejected,0",
            "book,ABC,buy,4,99,1",
            "book,ABC,sell,1,100,1",
            "book,ABC,sell,5,100,1"))
    }

    // MARK: Self-trade prevention

    @Test("Self-trade prevention when the taker's own maker is first in line", arguments: [
        ("none", lines(
            "trade,1,ABC,3,1,100,1",
            "trade,2,ABC,3,2,100,1",
            "order,1,filled,1",
            "order,2,filled,1",
            "order,3,filled,2")),
        ("expire_taker", lines(
            "order,1,new,0",
            "order,2,new,0",
            "order,3,expired,0",
            "book,ABC,sell,1,100,1",
            "book,ABC,sell,2,100,1")),
        ("expire_maker", lines(
            "trade,1,ABC,3,2,100,1",
            "order,1,expired,0",
            "order,2,filled,1",
            "order,3,partially_filled,1",
            "book,ABC,buy,3,100,1")),
        ("expire_both", lines(
            "order,1,expired,0",
            "order,2,new,0",
            "order,3,expired,0",
            "book,ABC,sell,2,100,1")),
    ])
    func selfTradePrevention(mode: String, expected: String) throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,1
            place,2,8,ABC,sell,limit,gtc,100,1
            place,3,7,ABC,buy,limit,gtc,100,2,\(mode)
            """)
        #expect(output == expected)
    }

    @Test("expire_taker keeps the trades made before reaching the taker's own maker")
    func expireTakerAfterTrades() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,8,ABC,sell,limit,gtc,100,1
            place,2,7,ABC,sell,limit,gtc,100,1
            place,3,8,ABC,sell,limit,gtc,101,1
            place,4,7,ABC,buy,limit,gtc,101,3,expire_taker
            """)
        #expect(output == lines(
            "trade,1,ABC,4,1,100,1",
            "order,1,filled,1",
            "order,2,new,0",
            "order,3,new,0",
            "order,4,expired,1",
            "book,ABC,sell,2,100,1",
            "book,ABC,sell,3,101,1"))
    }

    @Test("A taker with stp none trades with its own orders; other users' stp modes do not apply")
    func selfTradeAllowed() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,buy,limit,gtc,100,1,expire_both
            place,2,7,ABC,sell,limit,ioc,100,1
            place,3,8,ABC,buy,limit,gtc,100,1,expire_both
            place,4,7,ABC,sell,limit,ioc,100,1,expire_maker
            """)
        #expect(output == lines(
            "trade,1,ABC,2,1,100,1",
            "trade,2,ABC,4,3,100,1",
            "order,1,filled,1",
            "order,2,filled,1",
            "order,3,filled,1",
            "order,4,filled,1"))
    }

    // MARK: Cancel and amend

    @Test("cancel applies only to a resting order of that user and symbol")
    func cancel() throws {
        let output = try replay("""
            symbol,ABC,1,1
            symbol,XYZ,1,1
            place,1,7,ABC,buy,limit,gtc,98,1
            cancel,1,8,ABC
            cancel,1,7,XYZ
            cancel,9,7,ABC
            cancel,1,7,NOPE
            place,2,7,ABC,buy,limit,gtc,99,3
            place,3,8,ABC,sell,limit,ioc,99,1
            cancel,2,7,ABC
            cancel,2,7,ABC
            cancel,3,8,ABC
            """)
        #expect(output == lines(
            "trade,1,ABC,3,2,99,1",
            "order,1,new,0",
            "order,2,canceled,1",
            "order,3,filled,1",
            "book,ABC,buy,1,98,1"))
    }

    @Test("An amended order keeps its place in the queue")
    func amendKeepsPriority() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,5
            place,2,8,ABC,sell,limit,gtc,100,5
            amend,1,7,ABC,3
            place,3,9,ABC,buy,limit,ioc,100,4
            """)
        #expect(output == lines(
            "trade,1,ABC,3,1,100,3",
            "trade,2,ABC,3,2,100,1",
            "order,1,filled,3",
            "order,2,partially_filled,1",
            "order,3,filled,4",
            "book,ABC,sell,2,100,4"))
    }

    @Test("amend must stay above the executed quantity and below the current original")
    func amendRules() throws {
        let output = try replay("""
            symbol,ABC,1,1
            symbol,XYZ,1,1
            place,1,7,ABC,sell,limit,gtc,100,10
            place,2,8,ABC,buy,limit,ioc,100,4
            amend,1,7,ABC,4
            amend,1,7,ABC,3
            amend,1,7,ABC,10
            amend,1,7,ABC,11
            amend,1,8,ABC,5
            amend,1,7,XYZ,5
            amend,1,7,ABC,6.5
            amend,1,7,ABC,7
            amend,1,7,ABC,8
            """)
        #expect(output == lines(
            "trade,1,ABC,2,1,100,4",
            "order,1,partially_filled,4",
            "order,2,filled,4",
            "book,ABC,sell,1,100,3"))
    }

    @Test("An amended order fills only its new quantity")
    func amendThenFill() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,10
            place,2,8,ABC,buy,limit,ioc,100,4
            amend,1,7,ABC,7
            place,3,9,ABC,buy,limit,ioc,100,5
            """)
        #expect(output == lines(
            "trade,1,ABC,2,1,100,4",
            "trade,2,ABC,3,1,100,3",
            "order,1,filled,7",
            "order,2,filled,4",
            "order,3,expired,3"))
    }

    // MARK: Rejections

    @Test("Rejected places replay as rejected with nothing executed")
    func rejectedPlaces() throws {
        let output = try replay("""
            symbol,ABC,0.05,0.1
            place,1,7,NOPE,buy,limit,gtc,1,1
            place,2,7,ABC,hold,limit,gtc,1,1
            place,3,7,ABC,buy,stop,gtc,1,1
            place,4,7,ABC,buy,limit,day,1,1
            place,5,7,ABC,buy,limit,gtc,1,1,maybe
            place,6,7,ABC,buy,limit,gtc,1.03,1
            place,7,7,ABC,buy,limit,gtc,1.001,1
            place,8,7,ABC,buy,limit,gtc,0,1
            place,9,7,ABC,buy,limit,gtc,-1,1
            place,10,7,ABC,buy,market,ioc,1,1
            place,11,7,ABC,buy,market,gtc,,1
            place,12,7,ABC,buy,limit,gtc,,1
            place,13,7,ABC,buy,limit,gtc,1,0.15
            place,14,7,ABC,buy,limit,gtc,1,0
            place,15,7,ABC,sell,limit,gtc,2,0.5
            place,16,8,ABC,buy,limit,gtc,1.95,-0.1
            """)
        var expected = (1...14).map { "order,\($0),rejected,0\n" }.joined()
        expected += lines("order,15,new,0", "order,16,rejected,0", "book,ABC,sell,15,2,0.5")
        #expect(output == expected)
    }

    @Test("A reused order id is ignored and the first order is untouched")
    func duplicateOrderID() throws {
        let output = try replay("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,5
            place,1,8,ABC,buy,limit,gtc,100,5
            place,2,8,ABC,buy,limit,gtc,0,5
            place,2,8,ABC,buy,limit,gtc,100,5
            place,3,8,ABC,buy,limit,ioc,100,1
            cancel,3,8,ABC
            place,3,8,ABC,buy,limit,gtc,100,9
            """)
        #expect(output == lines(
            "trade,1,ABC,3,1,100,1",
            "order,1,partially_filled,1",
            "order,2,rejected,0",
            "order,3,filled,1",
            "book,ABC,sell,1,100,4"))
    }

    // MARK: Run

    @Test("timeApply reads the clock once before and once after the loop and ends in the run's state")
    func clockAndCounts() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,ABC,1,1
            symbol,XYZ,1,1
            place,1,7,ABC,sell,limit,gtc,100,5
            place,2,7,ABC,buy,limit,gtc,0,5
            cancel,1,7,ABC
            """)
        var readings: [UInt64] = [5, 2_500_000_005]
        let timing = FlowReplay.timeApply(flow) { readings.removeFirst() }
        #expect(readings.isEmpty)
        #expect(timing.applySeconds == 2.5)
        #expect(timing.appliedCommandCount == 2)
        let result = FlowReplay.run(flow)
        #expect(result.appliedCommandCount == 2)
        #expect(result.engine.restingOrderCount == 0)
        #expect(timing.stateDigest == result.engine.stateDigest)
    }

    @Test("a flow longer than one batch renders what one-command-at-a-time collection renders")
    func batchesAreInvisible() throws {
        var text = "symbol,ABC,1,1\n"
        for id in 1...(FlowReplay.batchCommands * 3 + 7) {
            text += "place,\(id),\(id % 5),ABC,\(id % 2 == 0 ? "buy" : "sell"),limit,gtc,\(100 + id % 7),\(1 + id % 3)\n"
        }
        let output = try replay(text)
        #expect(output.contains("trade,1,"))
    }

    @Test("An empty flow replays to an empty output")
    func emptyFlow() throws {
        #expect(try replay("") == "")
        #expect(try replay("symbol,ABC,1,1\n# nothing else\n") == "")
    }
}
