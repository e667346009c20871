import ExchangeCore
import ExchangeMatcher
import ExchangeMatching
import ExchangeReplication
import ExchangeTesting
import Testing

/// A book moving in steps: whatever the step size and whatever runs between the steps, the
/// book that arrives is the book that left, and other symbols trade between the steps.
struct SlicedMoveTests {
    static func spec(_ name: String) throws -> SymbolSpec {
        try SymbolSpec(name: name, tickSize: try DecimalNumber(parsing: "0.01"), stepSize: try DecimalNumber(parsing: "0.001"))
    }

    /// `count` resting orders (`restingBookOrders`, 40 levels a side) on `symbolID` of `engine`.
    static func rest(_ count: Int, symbolID: SymbolID, firstID: OrderID, in engine: inout MatchingEngine) {
        var events: [MatchingEvent] = []
        for var order in restingBookOrders(count: count, levels: 40, firstID: firstID) {
            order.symbolID = symbolID
            engine.apply(.place(order), into: &events)
        }
    }

    static func orders(_ engine: MatchingEngine, _ symbol: SymbolID) -> [MatchingEngine.RestingOrderView] {
        var orders: [MatchingEngine.RestingOrderView] = []
        for side in OrderSide.allCases { engine.forEachRestingOrder(of: symbol, side: side) { orders.append($0) } }
        return orders
    }

    static func reasons(_ events: [MatchingEvent]) -> [RejectReason] {
        events.compactMap { if case .rejected(let rejected) = $0 { rejected.reason } else { nil } }
    }

    @Test("steps of any size write the same form as one call, free the same orders, and refuse every command on the symbol meanwhile",
          arguments: [1, 7, 100, 999, Int.max])
    func engineSteps(budget: Int) throws {
        var source = MatchingEngine()
        var events: [MatchingEvent] = []
        source.apply(.addSymbol(AddSymbol(spec: try Self.spec("BIGUSDT"))), into: &events)
        source.apply(.addSymbol(AddSymbol(spec: try Self.spec("OTHERUSDT"))), into: &events)
        Self.rest(2_000, symbolID: SymbolID(0), firstID: 1, in: &source)
        Self.rest(40, symbolID: SymbolID(1), firstID: 100_000, in: &source)
        let before = Self.orders(source, SymbolID(0))
        var atOnce = source
        let handedOverAtOnce = atOnce.handOver(symbol: "BIGUSDT")
        let whole = try #require(handedOverAtOnce)

        let begun = source.beginHandOver(symbol: "BIGUSDT")
        var departure = try #require(begun)
        var steps = 0
        var otherID: OrderID = 200_000
        while departure.book == nil {
            source.continueHandOver(&departure, budget: budget)
            steps += 1
            // Between steps: the moving symbol refuses everything, the other trades.
            events.removeAll()
            source.apply(.cancel(CancelOrder(orderID: before[before.count - 1].orderID, userID: before[before.count - 1].userID, symbolID: SymbolID(0))), into: &events)
            source.apply(.place(PlaceOrder(
                orderID: otherID, userID: 5, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 1_050), quantity: Quantity(lots: 1))), into: &events)
            #expect(Self.reasons(events) == [.symbolMoved, .symbolMoved])
            events.removeAll()
            source.apply(.place(PlaceOrder(
                orderID: otherID + 1, userID: 5, symbolID: SymbolID(1), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 900), quantity: Quantity(lots: 1))), into: &events)
            #expect(!events.isEmpty && Self.reasons(events).isEmpty)
            otherID += 2
        }
        let book = try #require(departure.book)
        #expect(book.bytes == whole.bytes && book.restingOrders == 2_000 && book.symbolID == whole.symbolID)
        #expect(steps >= min(2_000 / max(budget, 1), 2_000) && (budget < 2_000 || steps == 1))
        #expect(source.restingOrderCount == atOnce.restingOrderCount + steps, "one order of OTHERUSDT rests per step")
        try source.checkInvariants()

        var target = MatchingEngine()
        target.apply(.addSymbol(AddSymbol(spec: try Self.spec("OTHERUSDT"))), into: &events)
        Self.rest(40, symbolID: SymbolID(0), firstID: 300_000, in: &target)
        var arrival = try target.beginTakeOver(book.bytes)
        #expect(target.symbolID(named: "BIGUSDT") == arrival.symbolID && target.isMovedAway(arrival.symbolID))
        while !arrival.isFinished {
            try target.continueTakeOver(&arrival, budget: budget)
            guard !arrival.isFinished else { break }
            events.removeAll()
            target.apply(.cancel(CancelOrder(orderID: before[0].orderID, userID: before[0].userID, symbolID: arrival.symbolID)), into: &events)
            #expect(Self.reasons(events) == [.symbolMoved], "an order already in is not cancelled before the book trades")
        }
        #expect(arrival.restingOrders == 2_000 && !target.isMovedAway(arrival.symbolID))
        #expect(Self.orders(target, arrival.symbolID) == before, "every order, in queue order")
        try target.checkInvariants()
        var reference = MatchingEngine()
        reference.apply(.addSymbol(AddSymbol(spec: try Self.spec("OTHERUSDT"))), into: &events)
        Self.rest(40, symbolID: SymbolID(0), firstID: 300_000, in: &reference)
        _ = try reference.takeOver(book.bytes)
        #expect(target.stateDigest == reference.stateDigest)
    }

    /// Two shard machines; `from` holds BIGUSDT with `count` resting orders and SMALLUSDT with a
    /// few, `to` holds OTHERUSDT. Each has a standby that applies the same entries without output.
    struct Shards {
        var from = MatchingShardMachine()
        var fromStandby = MatchingShardMachine()
        var to = MatchingShardMachine()
        var toStandby = MatchingShardMachine()
        var fromPosition: LogPosition = 0
        var toPosition: LogPosition = 0

        init(count: Int) throws {
            var batch = ShardInputBatch()
            batch.append(.addSymbol(AddSymbol(spec: try SlicedMoveTests.spec("BIGUSDT"))), symbol: "BIGUSDT")
            batch.append(.addSymbol(AddSymbol(spec: try SlicedMoveTests.spec("SMALLUSDT"))), symbol: "SMALLUSDT")
            for order in restingBookOrders(count: count, levels: 300) {
                batch.append(.place(order), symbol: "BIGUSDT")
                if batch.count == 8_000 {
                    _ = try apply(.from, batch.input)
                    batch.removeAll()
                }
            }
            if !batch.isEmpty { _ = try apply(.from, batch.input) }
            _ = try apply(.to, .addSymbol(try SlicedMoveTests.spec("OTHERUSDT")))
        }

        enum Side { case from, to }

        mutating func apply(_ side: Side, _ input: ShardInput) throws -> [CommandOutcome] {
            switch side {
            case .from: try Self.apply(input, to: &from, standby: &fromStandby, at: &fromPosition)
            case .to: try Self.apply(input, to: &to, standby: &toStandby, at: &toPosition)
            }
        }

        /// Applies `input` as the next entry on a primary and its standby; the primary's outcomes.
        static func apply(
            _ input: ShardInput, to primary: inout MatchingShardMachine, standby: inout MatchingShardMachine, at position: inout LogPosition
        ) throws -> [CommandOutcome] {
            position += 1
            let entry = InputEntry(position: position, timestampMicroseconds: 0, payload: input.encoded())
            let output = primary.apply(entry)
            standby.applyWithoutOutput(entry)
            #expect(standby.stateDigest == primary.stateDigest, "the standby agrees at \(position)")
            return try ShardOutput.decode(output)
        }

        /// A resting-or-trading order of SMALLUSDT on `from`: applied, whatever moves.
        mutating func tradeSmall(_ orderID: OrderID) throws -> [CommandOutcome] {
            try apply(.from, .commands(symbols: ["SMALLUSDT"], commands: [.place(PlaceOrder(
                orderID: orderID, userID: 9, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 500), quantity: Quantity(lots: 1)))]))
        }
    }

    @Test("a book above the step size leaves and arrives over several entries; each asks for the next; other symbols apply between; no snapshot meanwhile")
    func machineSteps() throws {
        let count = MatchingShardMachine.takeOverStepOrders + 500
        var shards = try Shards(count: count)
        let oldID = try #require(shards.from.engine.symbolID(named: "BIGUSDT"))
        let before = SlicedMoveTests.orders(shards.from.engine, oldID)
        #expect(before.count == count)

        #expect(try shards.apply(.from, .handOver(symbol: "BIGUSDT", to: 1)) == [.moveContinues(symbol: "BIGUSDT")])
        #expect(!shards.from.isSnapshotReady)
        var sink = InMemorySnapshotSink()
        #expect(throws: SnapshotError.self) { try shards.from.writeSnapshot(to: &sink) }
        var handedOver: CommandOutcome.HandedOver?
        var entries = 1
        var orderID: OrderID = 1 << 40
        while handedOver == nil {
            // What arrived meanwhile goes between the steps.
            #expect(try shards.tradeSmall(orderID).allSatisfy { if case .events(let events) = $0 { Self.reasons(events).isEmpty } else { false } })
            orderID += 1
            let outcomes = try shards.apply(.from, .continueMove)
            entries += 1
            switch outcomes.first {
            case .handedOver(let book)?: handedOver = book
            case .moveContinues("BIGUSDT")?: continue
            default: Issue.record("unexpected \(outcomes)"); return
            }
            #expect(outcomes.count == 1)
        }
        let book = try #require(handedOver)
        #expect(entries == count / MatchingShardMachine.handOverStepOrders + 1, "\(count) orders in steps of \(MatchingShardMachine.handOverStepOrders)")
        #expect(book.restingOrders == count && book.tombstone == oldID && book.lastUpdateID == shards.fromPosition)
        #expect(shards.from.isSnapshotReady)
        #expect(try shards.apply(.from, .continueMove) == [], "a step with no move under way does nothing")
        try shards.from.engine.checkInvariants()

        let takeOver = ShardInput.TakeOver(symbol: "BIGUSDT", from: 0, fromPosition: shards.fromPosition, lastUpdateID: book.lastUpdateID, book: book.book)
        #expect(try shards.apply(.to, .takeOver(takeOver)) == [.moveContinues(symbol: "BIGUSDT")])
        let bookPosition = shards.toPosition
        let arriving = try #require(shards.to.engine.symbolID(named: "BIGUSDT"))
        let refused = try shards.apply(.to, .commands(symbols: ["BIGUSDT"], commands: [.cancel(CancelOrder(
            orderID: before[0].orderID, userID: before[0].userID, symbolID: SymbolID(0)))]))
        #expect(Self.reasons(refused.flatMap(\.events)) == [.symbolMoved], "refused, retryable, until the book is in")
        var tookOver: CommandOutcome.TookOver?
        while tookOver == nil {
            let outcomes = try shards.apply(.to, .continueMove)
            switch outcomes.first {
            case .tookOver(let answer)?: tookOver = answer
            case .moveContinues("BIGUSDT")?: #expect(!shards.to.isSnapshotReady)
            default: Issue.record("unexpected \(outcomes)"); return
            }
        }
        let answer = try #require(tookOver)
        #expect(answer.symbolID == arriving && answer.bookPosition == bookPosition && answer.fromPosition == shards.fromPosition)
        #expect(answer.updateIDOffset == book.lastUpdateID + 1 - shards.toPosition, "update ids go on from the last step")
        #expect(SlicedMoveTests.orders(shards.to.engine, arriving) == before)
        try shards.to.engine.checkInvariants()
        // The snapshot after the move restores to the same state.
        sink = InMemorySnapshotSink()
        try shards.to.writeSnapshot(to: &sink)
        var source = InMemorySnapshotSource(bytes: sink.bytes, chunkBytes: 4_096)
        #expect(try MatchingShardMachine.restore(from: &source).stateDigest == shards.to.stateDigest)
    }

    @Test("a book refused at a later step goes back whole; the target keeps a tombstone and nothing else")
    func refusedAtALaterStep() throws {
        let count = MatchingShardMachine.takeOverStepOrders + 2_000
        var shards = try Shards(count: count)
        var outcomes = try shards.apply(.from, .handOver(symbol: "BIGUSDT", to: 1))
        while outcomes == [.moveContinues(symbol: "BIGUSDT")] { outcomes = try shards.apply(.from, .continueMove) }
        guard case .handedOver(let book)? = outcomes.first else { Issue.record("no hand-over: \(outcomes)"); return }
        // The target already rests an order with the id of one at the worst ask (1,600 ticks),
        // the form's last level: found at the second step.
        let clash = OrderID(9_900)
        _ = try shards.apply(.to, .commands(symbols: ["OTHERUSDT"], commands: [.place(PlaceOrder(
            orderID: clash, userID: 3, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 10), quantity: Quantity(lots: 1)))]))
        let resting = shards.to.engine.restingOrderCount
        let takeOver = ShardInput.TakeOver(symbol: "BIGUSDT", from: 0, fromPosition: shards.fromPosition, lastUpdateID: book.lastUpdateID, book: book.book)
        #expect(try shards.apply(.to, .takeOver(takeOver)) == [.moveContinues(symbol: "BIGUSDT")])
        guard case .handedOver(let back)? = try shards.apply(.to, .continueMove).first else { Issue.record("not sent back"); return }
        #expect(back.to == 0 && back.tombstone == nil && back.book == book.book && back.refusal.contains("twice"))
        #expect(shards.to.engine.restingOrderCount == resting && shards.to.isSnapshotReady)
        let tombstone = try #require(shards.to.engine.symbolID(named: "BIGUSDT"))
        #expect(shards.to.engine.isMovedAway(tombstone))
        try shards.to.engine.checkInvariants()
    }
}
