import ExchangeCore
import ExchangeMatcher
import ExchangeMatching
import ExchangeReplication
import ExchangeTesting
import Testing

/// A symbol's book moving between two shard machines: hand-over on the old owner, take-over
/// on the new one; what stays behind, what travels, and what each answers.
struct SymbolHandOverTests {
    /// Two shards: `from` holds two symbols with 300 resting orders each (bids at 100-109
    /// ticks, asks at 111-120, several per level), `to` a third symbol.
    struct Pair {
        var from = MatchingShardMachine()
        var to = MatchingShardMachine()
        let generator = RandomCommandGenerator(seed: 21, symbolCount: 2)
        var fromPosition: LogPosition = 0
        var toPosition: LogPosition = 0

        init() throws {
            var batch = ShardInputBatch()
            for command in generator.symbolCommands { batch.append(command, symbol: generator.symbolName(of: command)) }
            for (index, spec) in generator.symbols.enumerated() {
                for order in 0..<300 {
                    let id = OrderID(index * 1_000 + order + 1)
                    let side: OrderSide = order % 2 == 0 ? .buy : .sell
                    batch.append(.place(PlaceOrder(
                        orderID: id, userID: 1_000 + id, symbolID: SymbolID(0), side: side, type: .limit, timeInForce: .goodTillCanceled,
                        price: Price(ticks: side == .buy ? 100 + Int64(order % 10) : 111 + Int64(order % 10)),
                        quantity: Quantity(lots: 1 + Int64(order % 7)))), symbol: spec.name)
                }
            }
            _ = try apply(.from, batch.input)
            let model = generator.symbols[0]
            _ = try apply(.to, .addSymbol(try SymbolSpec(name: "OTHERUSDT", tickSize: model.tickSize, stepSize: model.stepSize)))
        }

        enum Side { case from, to }

        mutating func apply(_ side: Side, _ input: ShardInput) throws -> [CommandOutcome] {
            switch side {
            case .from:
                fromPosition += 1
                return try ShardOutput.decode(from.apply(InputEntry(position: fromPosition, timestampMicroseconds: 0, payload: input.encoded())))
            case .to:
                toPosition += 1
                return try ShardOutput.decode(to.apply(InputEntry(position: toPosition, timestampMicroseconds: 0, payload: input.encoded())))
            }
        }

        /// Hands `symbol` over from `from` to shard 1 and has `to` take it over.
        mutating func move(_ symbol: String) throws -> (CommandOutcome.HandedOver, [CommandOutcome]) {
            guard case .handedOver(let handedOver) = try apply(.from, .handOver(symbol: symbol, to: 1)).first else {
                throw InvariantViolation(description: "no hand-over")
            }
            let takeOver = ShardInput.TakeOver(
                symbol: symbol, from: 0, fromPosition: fromPosition, lastUpdateID: handedOver.lastUpdateID, book: handedOver.book)
            return (handedOver, try apply(.to, .takeOver(takeOver)))
        }
    }

    static func orders(_ engine: MatchingEngine, _ symbol: SymbolID) -> [MatchingEngine.RestingOrderView] {
        var orders: [MatchingEngine.RestingOrderView] = []
        for side in OrderSide.allCases { engine.forEachRestingOrder(of: symbol, side: side) { orders.append($0) } }
        return orders
    }

    @Test("the book travels whole, in queue order, and trade ids go on; the old owner keeps a tombstone that refuses with symbolMoved")
    func handOverAndTakeOver() throws {
        var pair = try Pair()
        let symbol = pair.generator.symbols[0].name
        let oldID = try #require(pair.from.engine.symbolID(named: symbol))
        let before = Self.orders(pair.from.engine, oldID)
        #expect(before.count == 300)
        let restingBefore = pair.from.engine.restingOrderCount
        let (handedOver, answer) = try pair.move(symbol)
        #expect(handedOver.restingOrders == before.count && handedOver.tombstone == oldID && handedOver.lastUpdateID == pair.fromPosition)
        #expect(pair.from.engine.restingOrderCount == restingBefore - before.count)
        #expect(pair.from.engine.isMovedAway(oldID) && !pair.from.engine.symbols.contains { $0.spec.name == symbol })
        #expect(pair.from.directory[symbol] == 1)
        try pair.from.engine.checkInvariants()
        guard case .tookOver(let tookOver) = answer.first else { Issue.record("no take-over: \(answer)"); return }
        #expect(tookOver.symbol == symbol && tookOver.from == 0 && tookOver.fromPosition == pair.fromPosition)
        #expect(tookOver.updateIDOffset == handedOver.lastUpdateID + 1 - pair.toPosition, "update ids go on past the old owner's")
        #expect(Self.orders(pair.to.engine, tookOver.symbolID) == before)
        try pair.to.engine.checkInvariants()

        // A command on the old owner is refused as moved, whatever it is.
        let maker = before[0]
        let refused = try pair.apply(.from, .commands(symbols: [symbol], commands: [
            .cancel(CancelOrder(orderID: maker.orderID, userID: maker.userID, symbolID: SymbolID(0))),
            .place(PlaceOrder(
                orderID: 1 << 40, userID: 5, symbolID: SymbolID(0), side: maker.side.opposite, type: .limit,
                timeInForce: .goodTillCanceled, price: maker.price, quantity: maker.remaining)),
        ]))
        let reasons = refused.flatMap(\.events).compactMap { if case .rejected(let rejected) = $0 { rejected.reason } else { nil } }
        #expect(reasons == [.symbolMoved, .symbolMoved])

        // On the new owner the book trades on, with the next trade id.
        let trades = try pair.apply(.to, .commands(symbols: [symbol], commands: [
            .place(PlaceOrder(
                orderID: 1 << 41, userID: 5, symbolID: SymbolID(0), side: maker.side.opposite, type: .limit,
                timeInForce: .immediateOrCancel, price: maker.price, quantity: maker.remaining)),
        ])).flatMap(\.events).compactMap { if case .traded(let trade) = $0 { trade } else { nil } }
        let trade = try #require(trades.first)
        #expect(trade.makerOrderID == maker.orderID, "the best order kept its queue place")
        #expect(trade.symbolID == tookOver.symbolID)
        let spec = pair.from.engine.spec(of: oldID)
        #expect(spec.name == symbol)
    }

    @Test("a symbol can come back; names lead to the latest book; snapshots keep tombstones and offsets; a standby agrees")
    func comeBackAndSnapshot() throws {
        var pair = try Pair()
        let symbol = pair.generator.symbols[1].name
        var standby = pair.to
        _ = try pair.move(symbol)
        // And back: shard 1 hands it to shard 0, which held it before.
        guard case .handedOver(let back) = try pair.apply(.to, .handOver(symbol: symbol, to: 0)).first else { Issue.record("no hand-back"); return }
        let takeBack = ShardInput.TakeOver(symbol: symbol, from: 1, fromPosition: pair.toPosition, lastUpdateID: back.lastUpdateID, book: back.book)
        guard case .tookOver(let again) = try pair.apply(.from, .takeOver(takeBack)).first else { Issue.record("not taken back"); return }
        #expect(pair.from.engine.symbolID(named: symbol) == again.symbolID)
        #expect(!pair.from.engine.isMovedAway(again.symbolID))
        try pair.from.engine.checkInvariants()
        try pair.to.engine.checkInvariants()
        for machine in [pair.from, pair.to] {
            var sink = InMemorySnapshotSink()
            try machine.writeSnapshot(to: &sink)
            var source = InMemorySnapshotSource(bytes: sink.bytes, chunkBytes: 7)
            let restored = try MatchingShardMachine.restore(from: &source)
            #expect(restored.stateDigest == machine.stateDigest)
            #expect(restored.updateIDOffsets == machine.updateIDOffsets)
            try restored.engine.checkInvariants()
        }
        // A standby applying the same entries without output reaches the same state.
        var position: LogPosition = 1
        for input in [ShardInput.takeOver(ShardInput.TakeOver(symbol: symbol, from: 0, fromPosition: 99, lastUpdateID: 5, book: back.book))] {
            position += 1
            standby.applyWithoutOutput(InputEntry(position: position, timestampMicroseconds: 0, payload: input.encoded()))
        }
        #expect(standby.engine.symbolID(named: symbol) != nil)
    }

    @Test("a hand-over of a symbol the shard does not hold moves nothing; a refused take-over sends the book back and still takes an id")
    func refusals() throws {
        var pair = try Pair()
        let digest = pair.from.stateDigest
        #expect(try pair.apply(.from, .handOver(symbol: "NOWHEREUSDT", to: 1)) == [.misrouted(symbol: "NOWHEREUSDT", owner: nil)])
        #expect(pair.from.stateDigest == digest)
        let symbol = pair.generator.symbols[0].name
        guard case .handedOver(let handedOver) = try pair.apply(.from, .handOver(symbol: symbol, to: 1)).first else { Issue.record("no hand-over"); return }
        // A shard too small for the book refuses it.
        var small = MatchingShardMachine()
        _ = small.apply(InputEntry(position: 1, timestampMicroseconds: 0, payload: ShardInput.addSymbol(pair.generator.symbols[1]).encoded()))
        var corrupt = handedOver.book
        corrupt[corrupt.count / 2] ^= 0xFF
        let takeOver = ShardInput.TakeOver(symbol: symbol, from: 0, fromPosition: 7, lastUpdateID: 7, book: corrupt)
        let answer = try ShardOutput.decode(small.apply(InputEntry(position: 2, timestampMicroseconds: 0, payload: ShardInput.takeOver(takeOver).encoded())))
        guard case .handedOver(let bounced)? = answer.first else { Issue.record("not sent back: \(answer)"); return }
        #expect(bounced.to == 0 && bounced.tombstone == nil && bounced.book == corrupt && !bounced.refusal.isEmpty)
        #expect(small.engine.restingOrderCount == 0)
        let tombstone = try #require(small.engine.symbolID(named: symbol))
        #expect(tombstone == SymbolID(1) && small.engine.isMovedAway(tombstone), "the refused book took the next id as a tombstone")
        try small.engine.checkInvariants()
    }

    @Test("a take-over refused midway (limits, a flipped byte) leaves the engine as it was; the name leads back to its tombstone")
    func refusedMidwayLeavesNothing() throws {
        var pair = try Pair()
        let symbol = pair.generator.symbols[0].name
        // The target held the symbol before (a tombstone now) and rests orders of its own.
        var target = MatchingEngine(limits: .init(maximumSymbols: 8, maximumRestingOrders: 400))
        var events: [MatchingEvent] = []
        target.apply(.addSymbol(AddSymbol(spec: pair.generator.symbols[0])), into: &events)
        target.apply(.addSymbol(AddSymbol(spec: pair.generator.symbols[1])), into: &events)
        for order in 0..<150 {
            let side: OrderSide = order % 2 == 0 ? .buy : .sell
            target.apply(.place(PlaceOrder(
                orderID: OrderID(50_000 + order), userID: 7, symbolID: SymbolID(1), side: side, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: side == .buy ? 100 - Int64(order % 5) : 111 + Int64(order % 5)), quantity: Quantity(lots: 2))), into: &events)
        }
        let tombstone = try #require(target.handOver(symbol: symbol).map(\.symbolID))
        let digest = target.stateDigest
        let resting = target.restingOrderCount
        guard case .handedOver(let handedOver) = try pair.apply(.from, .handOver(symbol: symbol, to: 1)).first else { Issue.record("no hand-over"); return }
        // 300 orders do not fit beside 150 in 400: refused after levels and orders were added.
        #expect(throws: SnapshotError.exceedsLimits("resting orders")) { try target.takeOver(handedOver.book) }
        #expect(target.stateDigest == digest && target.restingOrderCount == resting)
        #expect(target.symbolID(named: symbol) == tombstone)
        try target.checkInvariants()
        // A flipped byte anywhere: refused (the checksum, at the latest, after the whole book), nothing left.
        var roomy = MatchingEngine(limits: .init(maximumSymbols: 8, maximumRestingOrders: 1_000))
        roomy.apply(.addSymbol(AddSymbol(spec: pair.generator.symbols[1])), into: &events)
        let roomyDigest = roomy.stateDigest
        for position in stride(from: 0, to: handedOver.book.count, by: max(1, handedOver.book.count / 50)) {
            var corrupt = handedOver.book
            corrupt[position] ^= 0x20
            #expect(throws: SnapshotError.self, "flipped byte \(position)") { try roomy.takeOver(corrupt) }
            #expect(roomy.stateDigest == roomyDigest && roomy.restingOrderCount == 0 && roomy.symbolID(named: symbol) == nil)
            try roomy.checkInvariants()
        }
        // The book itself still goes in whole, after every refusal.
        let symbolID = try roomy.takeOver(handedOver.book)
        #expect(Self.orders(roomy, symbolID).count == handedOver.restingOrders)
        try roomy.checkInvariants()
    }

    @Test("hand-over forms round-trip through the input and output codecs")
    func codecs() throws {
        let takeOver = ShardInput.TakeOver(symbol: "BTCUSDT", from: 3, fromPosition: 1_234, lastUpdateID: 99, book: [1, 2, 3])
        for input in [ShardInput.handOver(symbol: "BTCUSDT", to: 2), .takeOver(takeOver), .continueMove] {
            #expect(try ShardInput.decode(input.encoded()) == input)
        }
        let outcomes: [CommandOutcome] = [
            .handedOver(.init(symbol: "BTCUSDT", to: 2, tombstone: SymbolID(4), restingOrders: 10, lastUpdateID: 77, book: [9, 9])),
            .handedOver(.init(symbol: "BTCUSDT", to: 2, tombstone: nil, restingOrders: 0, lastUpdateID: 77, book: [], refusal: "full")),
            .tookOver(.init(symbol: "BTCUSDT", symbolID: SymbolID(0), from: 1, fromPosition: 5, updateIDOffset: 3)),
            .tookOver(.init(symbol: "BTCUSDT", symbolID: SymbolID(0), from: 1, fromPosition: 5, updateIDOffset: 3, bookPosition: 41)),
            .moveContinues(symbol: "BTCUSDT"),
        ]
        let encoded = ShardOutput.encode(outcomes)
        #expect(try ShardOutput.decode(encoded) == outcomes)
        for cut in 1..<encoded.count { #expect(throws: BinaryDecodingError.self) { try ShardOutput.decode(Array(encoded.prefix(cut))) } }
        // The output log keeps the hand-overs without their books, and everything else as it was.
        var kept = outcomes
        kept[0] = .handedOver(.init(symbol: "BTCUSDT", to: 2, tombstone: SymbolID(4), restingOrders: 10, lastUpdateID: 77, book: []))
        #expect(ShardOutput.loggedForm(of: outcomes) == kept)
        #expect(try ShardOutput.logged(encoded) == ShardOutput.encode(kept))
        #expect(ShardOutput.loggedForm(of: kept) == nil && ShardOutput.loggedForm(of: [.events([])]) == nil)
        #expect(try ShardOutput.logged(ShardOutput.encode(kept)) == ShardOutput.encode(kept))
        // Readers of several logs wait for the old owner up to the hand-over.
        let pages: [[CommandOutcome]] = [[.events([])], [outcomes[2]]]
        #expect(HandOverOrder.firstWaiting(pages) { _ in 4 } == 1)
        #expect(HandOverOrder.firstWaiting(pages) { _ in 5 } == nil)
    }
}
