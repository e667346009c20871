import ExchangeCore
import Testing

/// SplitMix64: a tiny seeded generator so every generated test replays from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Commands and events with values drawn toward the edges of their ranges.
private struct EntryGenerator {
    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func below(_ bound: UInt64) -> UInt64 { random.next() % bound }

    mutating func unsigned() -> UInt64 {
        switch below(4) {
        case 0: [0, 1, 127, 128, 16_383, 16_384, UInt64.max - 1, UInt64.max, 1 << 63][Int(below(9))]
        case 1: random.next() >> below(64)
        default: random.next()
        }
    }

    mutating func signed() -> Int64 {
        switch below(4) {
        case 0: [0, 1, -1, 63, -64, 64, -65, Int64.max, Int64.min, Int64.min + 1][Int(below(10))]
        case 1: Int64(bitPattern: random.next()) >> below(64)
        default: Int64(bitPattern: random.next())
        }
    }

    mutating func symbolID() -> SymbolID {
        below(4) == 0 ? SymbolID(UInt32.max) : SymbolID(UInt32(truncatingIfNeeded: unsigned()))
    }

    mutating func pick<T: CaseIterable>(_ type: T.Type) -> T where T.AllCases: RandomAccessCollection {
        let cases = T.allCases
        return cases[cases.index(cases.startIndex, offsetBy: Int(below(UInt64(cases.count))))]
    }

    mutating func price() -> Price { Price(ticks: signed()) }
    mutating func quantity() -> Quantity { Quantity(lots: signed()) }

    mutating func positiveDecimal() -> DecimalNumber {
        let units = signed()
        let positive = units == .min || units == 0 ? 1 : abs(units)
        return DecimalNumber(units: positive, scale: Int(below(UInt64(DecimalNumber.maximumScale + 1))))
    }

    mutating func spec() throws -> SymbolSpec {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let name = String((0...below(20)).map { _ in alphabet[Int(below(UInt64(alphabet.count)))] })
        let minimum = Int64(1 + below(1_000))
        let maximum = below(2) == 0 ? Int64.max : minimum + Int64(below(1 << 40))
        let notional = below(2) == 0 ? DecimalNumber(units: 0, scale: 0) : positiveDecimal()
        return try SymbolSpec(
            name: name, tickSize: positiveDecimal(), stepSize: positiveDecimal(),
            minimumQuantity: Quantity(lots: minimum), maximumQuantity: Quantity(lots: maximum),
            minimumNotional: notional, status: pick(SymbolStatus.self))
    }

    mutating func place() -> PlaceOrder {
        PlaceOrder(
            orderID: unsigned(), userID: unsigned(), symbolID: symbolID(), side: pick(OrderSide.self),
            type: pick(OrderType.self), timeInForce: pick(TimeInForce.self), price: price(), quantity: quantity(),
            selfTradePrevention: pick(SelfTradePrevention.self))
    }

    mutating func ended() -> OrderEnded {
        OrderEnded(
            orderID: unsigned(), userID: unsigned(), symbolID: symbolID(), side: pick(OrderSide.self),
            price: price(), remaining: quantity())
    }

    mutating func command() throws -> MatchingCommand {
        switch below(5) {
        case 0: .place(place())
        case 4: .setSymbolStatus(SetSymbolStatus(symbolID: symbolID(), status: pick(SymbolStatus.self)))
        case 1: .cancel(CancelOrder(orderID: unsigned(), userID: unsigned(), symbolID: symbolID()))
        case 2: .amend(AmendOrder(orderID: unsigned(), userID: unsigned(), symbolID: symbolID(), newQuantity: quantity()))
        default: .addSymbol(AddSymbol(spec: try spec()))
        }
    }

    mutating func event() -> MatchingEvent {
        switch below(9) {
        case 7: .symbolStatusChanged(symbolID(), pick(SymbolStatus.self))
        case 0: .accepted(OrderAccepted(order: place()))
        case 1:
            .rejected(CommandRejected(
                command: pick(CommandKind.self), orderID: unsigned(), userID: unsigned(), symbolID: symbolID(),
                reason: pick(RejectReason.self)))
        case 2:
            .traded(TradeExecuted(
                symbolID: symbolID(), tradeID: unsigned(), takerOrderID: unsigned(), makerOrderID: unsigned(),
                takerUserID: unsigned(), makerUserID: unsigned(), takerSide: pick(OrderSide.self), price: price(),
                quantity: quantity(), takerRemaining: quantity(), makerRemaining: quantity()))
        case 3: .canceled(ended())
        case 4: .expired(ended(), pick(ExpiryReason.self))
        case 5:
            .amended(OrderAmended(
                orderID: unsigned(), userID: unsigned(), symbolID: symbolID(), side: pick(OrderSide.self),
                price: price(), newQuantity: quantity(), remaining: quantity(), released: quantity()))
        case 6:
            .levelChanged(LevelChanged(
                symbolID: symbolID(), side: pick(OrderSide.self), price: price(), totalQuantity: quantity()))
        default: .symbolAdded(symbolID())
        }
    }
}

/// Every command case, with ordinary and extreme values.
private func sampleCommands() throws -> [MatchingCommand] {
    let extremeSpec = try SymbolSpec(
        name: "A1B2C3D4E5F6G7H8I9J0", tickSize: DecimalNumber(units: .max, scale: 18),
        stepSize: DecimalNumber(units: 1, scale: 18), minimumQuantity: Quantity(lots: .max),
        maximumQuantity: Quantity(lots: .max), minimumNotional: DecimalNumber(units: .max, scale: 0), status: .halted)
    return [
        .place(PlaceOrder(
            orderID: 1, userID: 2, symbolID: SymbolID(3), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 100), quantity: Quantity(lots: 5))),
        .place(PlaceOrder(
            orderID: .max, userID: .max, symbolID: SymbolID(.max), side: .sell, type: .market,
            timeInForce: .immediateOrCancel, price: Price(ticks: .min), quantity: Quantity(lots: .max),
            selfTradePrevention: .expireBoth)),
        .place(PlaceOrder(
            orderID: 0, userID: 0, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .fillOrKill,
            price: Price(ticks: .max), quantity: Quantity(lots: .min), selfTradePrevention: .expireTaker)),
        .place(PlaceOrder(
            orderID: 1 << 63, userID: 127, symbolID: SymbolID(128), side: .sell, type: .limit, timeInForce: .postOnly,
            price: Price(ticks: -1), quantity: Quantity(lots: 0), selfTradePrevention: .expireMaker)),
        .cancel(CancelOrder(orderID: 7, userID: 8, symbolID: SymbolID(0))),
        .cancel(CancelOrder(orderID: .max, userID: .max, symbolID: SymbolID(.max))),
        .amend(AmendOrder(orderID: 7, userID: 8, symbolID: SymbolID(1), newQuantity: Quantity(lots: 3))),
        .amend(AmendOrder(orderID: .max, userID: .max, symbolID: SymbolID(.max), newQuantity: Quantity(lots: .min))),
        .amend(AmendOrder(orderID: 0, userID: 0, symbolID: SymbolID(0), newQuantity: Quantity(lots: .max))),
        .addSymbol(AddSymbol(spec: try SymbolSpec(
            name: "BTCUSDT", tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.001")))),
        .addSymbol(AddSymbol(spec: extremeSpec)),
        .setSymbolStatus(SetSymbolStatus(symbolID: SymbolID(.max), status: .halted)),
        .setSymbolStatus(SetSymbolStatus(symbolID: SymbolID(0), status: .trading)),
    ]
}

/// Every event case, with ordinary and extreme values.
private func sampleEvents() -> [MatchingEvent] {
    let order = PlaceOrder(
        orderID: .max, userID: .max, symbolID: SymbolID(.max), side: .sell, type: .limit, timeInForce: .postOnly,
        price: Price(ticks: .max), quantity: Quantity(lots: .min), selfTradePrevention: .expireMaker)
    let ended = OrderEnded(
        orderID: 9, userID: 10, symbolID: SymbolID(2), side: .buy, price: Price(ticks: 100), remaining: Quantity(lots: 4))
    let extremeEnded = OrderEnded(
        orderID: .max, userID: .max, symbolID: SymbolID(.max), side: .sell, price: Price(ticks: .min),
        remaining: Quantity(lots: .max))
    var events: [MatchingEvent] = [
        .accepted(OrderAccepted(order: order)),
        .accepted(OrderAccepted(order: PlaceOrder(
            orderID: 1, userID: 2, symbolID: SymbolID(0), side: .buy, type: .market, timeInForce: .immediateOrCancel,
            price: .absent, quantity: Quantity(lots: 1)))),
        .traded(TradeExecuted(
            symbolID: SymbolID(1), tradeID: 1, takerOrderID: 3, makerOrderID: 1, takerUserID: 9, makerUserID: 7,
            takerSide: .buy, price: Price(ticks: 10_000), quantity: Quantity(lots: 1_500),
            takerRemaining: Quantity(lots: 500), makerRemaining: .zero)),
        .traded(TradeExecuted(
            symbolID: SymbolID(.max), tradeID: .max, takerOrderID: .max, makerOrderID: .max, takerUserID: .max,
            makerUserID: .max, takerSide: .sell, price: Price(ticks: .min), quantity: Quantity(lots: .max),
            takerRemaining: Quantity(lots: .min), makerRemaining: Quantity(lots: .max))),
        .canceled(ended),
        .canceled(extremeEnded),
        .amended(OrderAmended(
            orderID: 5, userID: 6, symbolID: SymbolID(0), side: .sell, price: Price(ticks: 1),
            newQuantity: Quantity(lots: 7), remaining: Quantity(lots: 3), released: Quantity(lots: 3))),
        .amended(OrderAmended(
            orderID: .max, userID: .max, symbolID: SymbolID(.max), side: .buy, price: Price(ticks: .min),
            newQuantity: Quantity(lots: .max), remaining: Quantity(lots: .min), released: Quantity(lots: .max))),
        .levelChanged(LevelChanged(symbolID: SymbolID(0), side: .buy, price: Price(ticks: 100), totalQuantity: .zero)),
        .levelChanged(LevelChanged(
            symbolID: SymbolID(.max), side: .sell, price: Price(ticks: .max), totalQuantity: Quantity(lots: .max))),
        .symbolAdded(SymbolID(0)),
        .symbolAdded(SymbolID(.max)),
        .symbolStatusChanged(SymbolID(3), .halted),
        .symbolStatusChanged(SymbolID(.max), .trading),
    ]
    for reason in ExpiryReason.allCases {
        events.append(.expired(ended, reason))
    }
    events.append(.expired(extremeEnded, .selfTradeMaker))
    for (index, reason) in RejectReason.allCases.enumerated() {
        let command = CommandKind.allCases[index % CommandKind.allCases.count]
        events.append(.rejected(CommandRejected(
            command: command, orderID: UInt64(index), userID: .max, symbolID: SymbolID(UInt32(index)), reason: reason)))
    }
    return events
}

/// Whether decoding every strict prefix of `bytes` fails with `.truncated`.
private func everyPrefixIsTruncated(_ bytes: [UInt8], decode: (ArraySlice<UInt8>) throws(BinaryDecodingError) -> Void) -> [Int] {
    (0..<bytes.count).filter { length in
        do throws(BinaryDecodingError) {
            try decode(bytes[0..<length])
            return true
        } catch {
            return error != .truncated
        }
    }
}

@Suite struct LogCodecTests {
    // MARK: Round trips

    @Test("Every command case round-trips, extremes included")
    func commandsRoundTrip() throws {
        for command in try sampleCommands() {
            let bytes = LogCodec.encode(command)
            #expect(bytes.first == LogCodec.version)
            #expect(try LogCodec.decodeCommand(bytes) == command)
        }
    }

    @Test("Every event case round-trips, extremes included")
    func eventsRoundTrip() throws {
        let events = sampleEvents()
        #expect(events.count == 14 + ExpiryReason.allCases.count + 1 + RejectReason.allCases.count)
        for event in events {
            let bytes = LogCodec.encode(event)
            #expect(bytes.first == LogCodec.version)
            #expect(try LogCodec.decodeEvent(bytes) == event)
        }
    }

    @Test("A place command has the documented byte layout")
    func placeLayout() {
        let bytes = LogCodec.encode(MatchingCommand.place(PlaceOrder(
            orderID: 1, userID: 2, symbolID: SymbolID(3), side: .sell, type: .limit, timeInForce: .fillOrKill,
            price: Price(ticks: 100), quantity: Quantity(lots: -5), selfTradePrevention: .expireMaker)))
        // version, tag, order id, user id, symbol id, side, type, tif, zig-zag price (200), zig-zag qty (9), stp
        #expect(bytes == [1, 1, 1, 2, 3, 1, 0, 2, 0xC8, 0x01, 9, 2])
    }

    @Test("Entries decode from a slice that does not start at zero")
    func decodesFromSlice() throws {
        for command in try sampleCommands() {
            let buffer: [UInt8] = [0xAA] + LogCodec.encode(command) + [0xBB]
            #expect(try LogCodec.decodeCommand(buffer[1..<(buffer.count - 1)]) == command)
        }
        for event in sampleEvents() {
            let buffer: [UInt8] = [0xAA, 0xAA] + LogCodec.encode(event) + [0xBB]
            #expect(try LogCodec.decodeEvent(buffer[2..<(buffer.count - 1)]) == event)
        }
    }

    @Test("Encoding into a reused writer appends exactly the entry")
    func reusedWriter() throws {
        var writer = BinaryWriter()
        for command in try sampleCommands() {
            writer.removeAll()
            LogCodec.encode(command, into: &writer)
            #expect(writer.bytes == LogCodec.encode(command))
        }
        for event in sampleEvents() {
            writer.removeAll()
            LogCodec.encode(event, into: &writer)
            #expect(writer.bytes == LogCodec.encode(event))
        }
    }

    @Test("Seeded random commands and events round-trip", arguments: [UInt64(1), 42, 0xDEAD_BEEF, 0x0123_4567_89AB_CDEF])
    func randomRoundTrip(seed: UInt64) throws {
        var generator = EntryGenerator(seed: seed)
        for iteration in 0..<1_000 {
            let command = try generator.command()
            let commandBytes = LogCodec.encode(command)
            #expect(try LogCodec.decodeCommand(commandBytes) == command, "seed \(seed) iteration \(iteration)")
            let badCommandPrefixes = everyPrefixIsTruncated(commandBytes) { bytes throws(BinaryDecodingError) in
                _ = try LogCodec.decodeCommand(bytes)
            }
            #expect(badCommandPrefixes.isEmpty, "seed \(seed) iteration \(iteration): \(command)")

            let event = generator.event()
            let eventBytes = LogCodec.encode(event)
            #expect(try LogCodec.decodeEvent(eventBytes) == event, "seed \(seed) iteration \(iteration)")
            let badEventPrefixes = everyPrefixIsTruncated(eventBytes) { bytes throws(BinaryDecodingError) in
                _ = try LogCodec.decodeEvent(bytes)
            }
            #expect(badEventPrefixes.isEmpty, "seed \(seed) iteration \(iteration): \(event)")
        }
    }

    // MARK: Decoding errors

    @Test("Every strict prefix of a valid entry is truncated, never a crash")
    func truncatedPrefixes() throws {
        for command in try sampleCommands() {
            let failures = everyPrefixIsTruncated(LogCodec.encode(command)) { bytes throws(BinaryDecodingError) in
                _ = try LogCodec.decodeCommand(bytes)
            }
            #expect(failures.isEmpty, "prefix lengths \(failures) of \(command)")
        }
        for event in sampleEvents() {
            let failures = everyPrefixIsTruncated(LogCodec.encode(event)) { bytes throws(BinaryDecodingError) in
                _ = try LogCodec.decodeEvent(bytes)
            }
            #expect(failures.isEmpty, "prefix lengths \(failures) of \(event)")
        }
    }

    @Test("An unknown version is refused", arguments: [UInt8(0), 2, 255])
    func unknownVersion(version: UInt8) throws {
        var command = LogCodec.encode(try sampleCommands()[0])
        command[0] = version
        #expect(throws: BinaryDecodingError.unsupportedVersion(version)) { try LogCodec.decodeCommand(command) }
        var event = LogCodec.encode(sampleEvents()[0])
        event[0] = version
        #expect(throws: BinaryDecodingError.unsupportedVersion(version)) { try LogCodec.decodeEvent(event) }
    }

    @Test("Unknown command tags are refused", arguments: [UInt8(0), 8, 255])
    func unknownCommandTag(tag: UInt8) {
        #expect(throws: BinaryDecodingError.unknownTag(tag)) { try LogCodec.decodeCommand([LogCodec.version, tag, 0, 0, 0]) }
    }

    @Test("Unknown event tags are refused", arguments: [UInt8(0), 12, 255])
    func unknownEventTag(tag: UInt8) {
        #expect(throws: BinaryDecodingError.unknownTag(tag)) { try LogCodec.decodeEvent([LogCodec.version, tag, 0, 0, 0]) }
    }

    @Test("Bytes after a complete entry are refused")
    func trailingBytes() throws {
        for command in try sampleCommands() {
            #expect(throws: BinaryDecodingError.trailingBytes) { try LogCodec.decodeCommand(LogCodec.encode(command) + [0]) }
        }
        for event in sampleEvents() {
            #expect(throws: BinaryDecodingError.trailingBytes) { try LogCodec.decodeEvent(LogCodec.encode(event) + [0]) }
        }
    }

    @Test("Enum bytes outside their raw values are refused", arguments: [
        (5, UInt8(2), "OrderSide 2"),
        (6, 2, "OrderType 2"),
        (7, 4, "TimeInForce 4"),
        (11, 4, "SelfTradePrevention 4"),
        (11, 255, "SelfTradePrevention 255"),
    ])
    func invalidPlaceEnums(offset: Int, raw: UInt8, what: String) {
        var bytes = LogCodec.encode(MatchingCommand.place(PlaceOrder(
            orderID: 1, userID: 2, symbolID: SymbolID(3), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 100), quantity: Quantity(lots: 5))))
        bytes[offset] = raw
        #expect(throws: BinaryDecodingError.invalidValue(what)) { try LogCodec.decodeCommand(bytes) }
        // The same place fields inside an `accepted` event.
        var event = LogCodec.encode(MatchingEvent.accepted(OrderAccepted(order: PlaceOrder(
            orderID: 1, userID: 2, symbolID: SymbolID(3), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 100), quantity: Quantity(lots: 5)))))
        event[offset] = raw
        #expect(throws: BinaryDecodingError.invalidValue(what)) { try LogCodec.decodeEvent(event) }
    }

    @Test("Enum bytes of events outside their raw values are refused")
    func invalidEventEnums() {
        var rejected = LogCodec.encode(MatchingEvent.rejected(CommandRejected(
            command: .place, orderID: 1, userID: 2, symbolID: SymbolID(3), reason: .unknownSymbol)))
        #expect(rejected == [1, 2, 0, 1, 2, 3, 1])
        rejected[2] = 6
        #expect(throws: BinaryDecodingError.invalidValue("CommandKind 6")) { try LogCodec.decodeEvent(rejected) }
        rejected[2] = 0
        rejected[6] = 0
        #expect(throws: BinaryDecodingError.invalidValue("RejectReason 0")) { try LogCodec.decodeEvent(rejected) }
        // The first byte past the last reason.
        let beyond = RejectReason.allCases.map(\.rawValue).max()! + 1
        rejected[6] = beyond
        #expect(throws: BinaryDecodingError.invalidValue("RejectReason \(beyond)")) { try LogCodec.decodeEvent(rejected) }

        var expired = LogCodec.encode(MatchingEvent.expired(OrderEnded(
            orderID: 1, userID: 2, symbolID: SymbolID(3), side: .buy, price: Price(ticks: 1), remaining: Quantity(lots: 1)),
            .selfTradeTaker))
        expired[expired.count - 1] = 4
        #expect(throws: BinaryDecodingError.invalidValue("ExpiryReason 4")) { try LogCodec.decodeEvent(expired) }

        var level = LogCodec.encode(MatchingEvent.levelChanged(LevelChanged(
            symbolID: SymbolID(0), side: .sell, price: Price(ticks: 1), totalQuantity: Quantity(lots: 1))))
        #expect(level == [1, 7, 0, 1, 2, 2])
        level[3] = 2
        #expect(throws: BinaryDecodingError.invalidValue("OrderSide 2")) { try LogCodec.decodeEvent(level) }
    }

    @Test("A symbol status byte outside its raw values is refused")
    func invalidSymbolStatus() throws {
        let spec = try SymbolSpec(name: "ABC", tickSize: DecimalNumber(units: 1, scale: 0), stepSize: DecimalNumber(units: 1, scale: 0))
        var bytes = LogCodec.encode(MatchingCommand.addSymbol(AddSymbol(spec: spec)))
        bytes[bytes.count - 1] = 3
        #expect(throws: BinaryDecodingError.invalidValue("SymbolStatus 3")) { try LogCodec.decodeCommand(bytes) }
    }

    @Test("A symbol id beyond 32 bits is refused")
    func symbolIDOutOfRange() {
        var writer = BinaryWriter()
        writer.writeByte(LogCodec.version)
        writer.writeByte(2)  // cancel
        writer.writeVarint(1)
        writer.writeVarint(2)
        writer.writeVarint(UInt64(UInt32.max) + 1)
        #expect(throws: BinaryDecodingError.invalidValue("symbol id 4294967296")) { try LogCodec.decodeCommand(writer.bytes) }
    }

    @Test("A varint longer than 64 bits is refused")
    func varintOverflow() throws {
        let tenthByteTooLarge: [UInt8] = [1, 2] + Array(repeating: 0xFF, count: 9) + [0x02, 0, 0]
        #expect(throws: BinaryDecodingError.varintOverflow) { try LogCodec.decodeCommand(tenthByteTooLarge) }
        let elevenBytes: [UInt8] = [1, 2] + Array(repeating: 0x80, count: 10) + [0x00, 0, 0]
        #expect(throws: BinaryDecodingError.varintOverflow) { try LogCodec.decodeCommand(elevenBytes) }
        let largest: [UInt8] = [1, 2] + Array(repeating: 0xFF, count: 9) + [0x01, 0, 0]
        #expect(try LogCodec.decodeCommand(largest) == .cancel(CancelOrder(orderID: .max, userID: 0, symbolID: SymbolID(0))))
    }

    @Test("Invalid symbol specs inside addSymbol are refused with the spec's reason")
    func invalidSpecs() throws {
        let valid = try SymbolSpec(name: "ABC", tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "1"))
        func decoding(_ change: (inout SymbolSpec) -> Void) -> [UInt8] {
            var spec = valid
            change(&spec)
            return LogCodec.encode(MatchingCommand.addSymbol(AddSymbol(spec: spec)))
        }
        #expect(throws: BinaryDecodingError.invalidValue("invalid symbol name 'abc': 1 to 20 of A-Z, 0-9, -, _, .")) {
            try LogCodec.decodeCommand(decoding { $0.name = "abc" })
        }
        #expect(throws: BinaryDecodingError.invalidValue("string too long")) {
            try LogCodec.decodeCommand(decoding { $0.name = String(repeating: "A", count: 21) })
        }
        #expect(throws: BinaryDecodingError.invalidValue("tick size must be positive")) {
            try LogCodec.decodeCommand(decoding { $0.tickSize = DecimalNumber(units: 0, scale: 0) })
        }
        #expect(throws: BinaryDecodingError.invalidValue("step size must be positive")) {
            try LogCodec.decodeCommand(decoding { $0.stepSize = DecimalNumber(units: -1, scale: 3) })
        }
        #expect(throws: BinaryDecodingError.invalidValue(SymbolSpecError.invalidQuantityRange.description)) {
            try LogCodec.decodeCommand(decoding { $0.minimumQuantity = Quantity(lots: 0) })
        }
        #expect(throws: BinaryDecodingError.invalidValue(SymbolSpecError.negativeMinimumNotional.description)) {
            try LogCodec.decodeCommand(decoding { $0.minimumNotional = DecimalNumber(units: -1, scale: 0) })
        }
    }

    @Test("A decimal scale above 18 and invalid UTF-8 are refused")
    func invalidDecimalAndString() {
        // version, addSymbol, name "ABC", tick units 1 (zig-zag 2) with scale 19
        let scale19: [UInt8] = [1, 4, 3, 0x41, 0x42, 0x43, 2, 19, 2, 0, 2, 2, 0, 0, 0]
        #expect(throws: BinaryDecodingError.invalidValue("decimal scale 19")) { try LogCodec.decodeCommand(scale19) }
        let badUTF8: [UInt8] = [1, 4, 2, 0xC3, 0x28, 2, 0, 2, 0, 2, 2, 0, 0, 0]
        #expect(throws: BinaryDecodingError.invalidValue("invalid UTF-8")) { try LogCodec.decodeCommand(badUTF8) }
    }

    @Test("Decoding errors describe themselves")
    func errorDescriptions() {
        #expect(BinaryDecodingError.truncated.description == "truncated entry")
        #expect(BinaryDecodingError.unsupportedVersion(2).description == "unsupported codec version 2")
        #expect(BinaryDecodingError.unknownTag(9).description == "unknown tag 9")
        #expect(BinaryDecodingError.trailingBytes.description == "bytes after the end of the entry")
        #expect(BinaryDecodingError.invalidValue("OrderSide 2").description == "invalid value: OrderSide 2")
    }
}
