import ExchangeCore
import ExchangeMatching
import ExchangeTesting
import Testing

/// The fast engine against the naive reference on adversarial seeded flows: equal events
/// after every command, invariants after every command, equal books at the end.
@Suite struct DifferentialTests {
    static let seeds: [UInt64] = Array(1...60)

    @Test("engine and reference engine agree command by command", arguments: seeds)
    func agreesWithReference(seed: UInt64) throws {
        var generator = RandomCommandGenerator(seed: seed, symbolCount: 3)
        var engine = MatchingEngine(limits: .init(maximumSymbols: 8, maximumRestingOrders: 4_096, maximumPriceLevels: 4_096))
        var reference = ReferenceMatchingEngine()
        var events: [MatchingEvent] = []
        for command in generator.symbolCommands {
            events.removeAll()
            engine.apply(command, into: &events)
            #expect(events == reference.apply(command))
        }
        for step in 0..<1_500 {
            let command = generator.next()
            events.removeAll()
            engine.apply(command, into: &events)
            let expected = reference.apply(command)
            guard events == expected else {
                Issue.record("seed \(seed) step \(step): \(command)\nengine:    \(events)\nreference: \(expected)")
                return
            }
            do {
                try engine.checkInvariants()
            } catch {
                Issue.record("seed \(seed) step \(step): \(error)")
                return
            }
        }
        #expect(engine.restingOrderCount == reference.restingOrderCount, "seed \(seed)")
        for symbol in 0..<3 {
            for side in OrderSide.allCases {
                var rows: [[Int64]] = []
                engine.forEachRestingOrder(of: SymbolID(UInt32(symbol)), side: side) {
                    rows.append([Int64($0.orderID), Int64($0.userID), $0.price.ticks, $0.quantity.lots, $0.remaining.lots])
                }
                let expected = reference.restingOrders(of: SymbolID(UInt32(symbol)), side: side).map { [Int64($0.0), Int64($0.1), $0.2, $0.3, $0.4] }
                #expect(rows == expected, "seed \(seed) symbol \(symbol) \(side)")
            }
        }
    }

    @Test("the same commands give the same digest and events on two engines")
    func determinism() {
        var first = MatchingEngine()
        var second = MatchingEngine()
        var generator = RandomCommandGenerator(seed: 99)
        var firstEvents: [MatchingEvent] = []
        var secondEvents: [MatchingEvent] = []
        for command in generator.symbolCommands + (0..<3_000).map({ _ in generator.next() }) {
            first.apply(command, into: &firstEvents)
            second.apply(command, into: &secondEvents)
        }
        #expect(firstEvents == secondEvents)
        #expect(first.stateDigest == second.stateDigest)
    }

    @Test("batch apply emits exactly what command-by-command apply emits", arguments: [UInt64(1), 2, 3])
    func batchEqualsSingle(seed: UInt64) {
        var generator = RandomCommandGenerator(seed: seed)
        let commands = generator.symbolCommands + (0..<5_000).map { _ in generator.next() }
        var single = MatchingEngine()
        var batched = MatchingEngine()
        var singleEvents: [MatchingEvent] = []
        var batchedEvents: [MatchingEvent] = []
        for command in commands { single.apply(command, into: &singleEvents) }
        var position = 0
        while position < commands.count {
            let end = min(position + 1 + Int(seed) * 7, commands.count)
            batched.apply(batch: commands[position..<end], into: &batchedEvents)
            position = end
        }
        #expect(batchedEvents == singleEvents, "seed \(seed)")
        #expect(batched.stateDigest == single.stateDigest)
    }
}
