import ExchangeCore
import ExchangeMatcher
import ExchangeReplication
import ExchangeTesting
import Testing

/// The shard's input and output forms, and the machine that applies them: batches addressed
/// by symbol name, ownership checks against the placement directory, snapshots.
struct MatchingShardMachineTests {
    static let specs = RandomCommandGenerator(seed: 1, symbolCount: 2).symbols

    static func place(_ orderID: OrderID, symbol: UInt32, side: OrderSide, price: Int64, quantity: Int64 = 5) -> MatchingCommand {
        .place(PlaceOrder(
            orderID: orderID, userID: orderID, symbolID: SymbolID(symbol), side: side, type: .limit,
            timeInForce: .goodTillCanceled, price: Price(ticks: price), quantity: Quantity(lots: quantity)))
    }

    static func entry(_ position: LogPosition, _ input: ShardInput) -> InputEntry {
        InputEntry(position: position, timestampMicroseconds: 0, payload: input.encoded())
    }

    @Test("entries round-trip; the batch builder numbers symbols by first use")
    func roundTrip() throws {
        var batch = ShardInputBatch()
        batch.append(.addSymbol(AddSymbol(spec: Self.specs[0])), symbol: "ignored")
        batch.append(Self.place(1, symbol: 7, side: .buy, price: 100), symbol: "ZZZUSDT")
        batch.append(Self.place(2, symbol: 3, side: .sell, price: 101), symbol: "AAAUSDT")
        batch.append(.cancel(CancelOrder(orderID: 1, userID: 1, symbolID: SymbolID(7))), symbol: "ZZZUSDT")
        #expect(batch.symbols == ["ZZZUSDT", "AAAUSDT"])
        #expect(batch.commands.compactMap(\.symbolID) == [SymbolID(0), SymbolID(1), SymbolID(0)])
        for input in [batch.input, .placement(symbol: "ETHUSDT", owner: 3), ShardInput.commands(symbols: [], commands: [])] {
            #expect(try ShardInput.decode(input.encoded()) == input)
        }
        let outcomes: [CommandOutcome] = [.events([]), .misrouted(symbol: "ETHUSDT", owner: 2), .misrouted(symbol: "X", owner: nil)]
        #expect(try ShardOutput.decode(ShardOutput.encode(outcomes)) == outcomes)
        #expect(try ShardOutput.count(of: ShardOutput.encode(outcomes)) == 3)
    }

    @Test("entries that do not decode are refused whole")
    func refusals() {
        let good = ShardInput.commands(symbols: ["AUSDT"], commands: [Self.place(1, symbol: 0, side: .buy, price: 1)]).encoded()
        #expect(throws: BinaryDecodingError.unsupportedVersion(9)) { try ShardInput.decode([9] + good.dropFirst()) }
        #expect(throws: BinaryDecodingError.unknownTag(7)) { try ShardInput.decode([ShardInput.version, 7]) }
        #expect(throws: BinaryDecodingError.trailingBytes) { try ShardInput.decode(good + [0]) }
        for cut in 1..<good.count {
            #expect(throws: BinaryDecodingError.self) { try ShardInput.decode(Array(good.prefix(cut))) }
        }
        let badIndex = ShardInput.commands(symbols: ["AUSDT"], commands: [Self.place(1, symbol: 1, side: .buy, price: 1)]).encoded()
        #expect(throws: BinaryDecodingError.invalidValue("symbol index 1 of 1")) { try ShardInput.decode(badIndex) }
    }

    @Test("a command for a symbol held elsewhere is answered with its owner, and applies nothing")
    func misrouted() throws {
        var machine = MatchingShardMachine()
        let held = Self.specs[0].name
        let elsewhere = Self.specs[1].name
        var outcomes = try ShardOutput.decode(machine.apply(Self.entry(1, .addSymbol(Self.specs[0]))))
        #expect(outcomes == [.events([.symbolAdded(SymbolID(0))])])
        _ = machine.apply(Self.entry(2, .placement(symbol: elsewhere, owner: 4)))
        #expect(machine.directory == [elsewhere: 4])
        let before = machine.engine.stateDigest
        outcomes = try ShardOutput.decode(machine.apply(Self.entry(3, .commands(
            symbols: [elsewhere, "NOWHEREUSDT", held],
            commands: [
                Self.place(1, symbol: 0, side: .buy, price: 100), Self.place(2, symbol: 1, side: .buy, price: 100),
                Self.place(3, symbol: 2, side: .buy, price: 100),
            ]))))
        #expect(outcomes.count == 3)
        #expect(outcomes[0] == .misrouted(symbol: elsewhere, owner: 4))
        #expect(outcomes[1] == .misrouted(symbol: "NOWHEREUSDT", owner: nil))
        guard case .events(let events) = outcomes[2], case .accepted(let accepted) = events.first else {
            Issue.record("the held symbol's order was not accepted: \(outcomes[2])")
            return
        }
        #expect(accepted.order.symbolID == SymbolID(0), "names are resolved to engine ids")
        #expect(machine.engine.restingOrderCount == 1)
        #expect(machine.engine.stateDigest != before)
    }

    @Test("a symbol added earlier in the same entry is usable by the commands after it")
    func addThenUse() throws {
        var machine = MatchingShardMachine()
        let name = Self.specs[0].name
        let outcomes = try ShardOutput.decode(machine.apply(Self.entry(1, .commands(
            symbols: [name], commands: [Self.place(1, symbol: 0, side: .buy, price: 100), .addSymbol(AddSymbol(spec: Self.specs[0])), Self.place(2, symbol: 0, side: .buy, price: 100)]))))
        #expect(outcomes.count == 3)
        #expect(outcomes[0] == .misrouted(symbol: name, owner: nil))
        #expect(outcomes[2].events.count >= 1)
        #expect(machine.engine.restingOrderCount == 1)
    }

    @Test("a malformed entry yields no outcome, counts, and leaves the engine as it was")
    func malformed() throws {
        var machine = MatchingShardMachine()
        _ = machine.apply(Self.entry(1, .addSymbol(Self.specs[0])))
        var payload = ShardInput.commands(
            symbols: [Self.specs[0].name], commands: [Self.place(1, symbol: 0, side: .buy, price: 100), Self.place(2, symbol: 0, side: .sell, price: 100)]).encoded()
        payload.removeLast()
        let digest = machine.engine.stateDigest
        #expect(try ShardOutput.decode(machine.apply(InputEntry(position: 2, timestampMicroseconds: 0, payload: payload))) == [])
        #expect(machine.malformedEntries == 1)
        #expect(machine.engine.stateDigest == digest)
    }

    @Test("a standby's apply without output reaches the primary's state, misrouted and malformed entries included")
    func withoutOutput() throws {
        var primary = MatchingShardMachine()
        var standby = MatchingShardMachine()
        var generator = RandomCommandGenerator(seed: 9, symbolCount: 2)
        var batch = ShardInputBatch()
        for command in generator.symbolCommands + (0..<500).map({ _ in generator.next() }) {
            batch.append(command, symbol: generator.symbolName(of: command))
        }
        batch.append(Self.place(9_999, symbol: 0, side: .buy, price: 100), symbol: "OTHERUSDT")
        let entries = [
            Self.entry(1, .placement(symbol: "OTHERUSDT", owner: 1)), Self.entry(2, batch.input),
            InputEntry(position: 3, timestampMicroseconds: 0, payload: [1]),
        ]
        for entry in entries {
            _ = primary.apply(entry)
            standby.applyWithoutOutput(entry)
        }
        #expect(standby.stateDigest == primary.stateDigest)
        #expect(standby.malformedEntries == 1 && standby.directory == ["OTHERUSDT": 1])
    }

    @Test("snapshot and restore keep the engine, the directory and the malformed count")
    func snapshot() throws {
        var machine = MatchingShardMachine()
        var generator = RandomCommandGenerator(seed: 5, symbolCount: 2)
        var batch = ShardInputBatch()
        for command in generator.symbolCommands + (0..<500).map({ _ in generator.next() }) {
            batch.append(command, symbol: generator.symbolName(of: command))
        }
        _ = machine.apply(Self.entry(1, batch.input))
        _ = machine.apply(Self.entry(2, .placement(symbol: "OTHERUSDT", owner: 1)))
        _ = machine.apply(InputEntry(position: 3, timestampMicroseconds: 0, payload: [1]))
        var sink = InMemorySnapshotSink()
        try machine.writeSnapshot(to: &sink)
        var source = InMemorySnapshotSource(bytes: sink.bytes, chunkBytes: 5)
        let restored = try MatchingShardMachine.restore(from: &source)
        #expect(restored.stateDigest == machine.stateDigest)
        #expect(restored.directory == ["OTHERUSDT": 1])
        #expect(restored.malformedEntries == 1)
        var other = machine
        _ = other.apply(Self.entry(4, .placement(symbol: "OTHERUSDT", owner: 2)))
        #expect(other.stateDigest != machine.stateDigest, "the digest covers the directory")
        var wrongVersion = sink.bytes
        wrongVersion[0] = 1
        var wrongSource = InMemorySnapshotSource(bytes: wrongVersion)
        #expect(throws: SnapshotError.unsupportedVersion(1)) { try MatchingShardMachine.restore(from: &wrongSource) }
    }
}
