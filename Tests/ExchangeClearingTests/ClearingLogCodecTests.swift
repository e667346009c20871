import ExchangeClearing
import ExchangeCore
import Testing

struct ClearingLogCodecTests {
    static let btc = ClearingStateTests.btc
    static let order = ClearingOrder(
        orderID: 9, userID: 3, symbol: "BTCUSDT", side: .buy, type: .market, timeInForce: .immediateOrCancel,
        price: .absent, quantity: Quantity(lots: 12), selfTradePrevention: .expireMaker, quoteBudget: 77)

    static func commands() throws -> [ClearingCommand] {
        [
            .addAsset(try AssetSpec(code: btc, scale: 8)), .addSymbol(try ClearingStateTests.symbol()),
            .setSymbolStatus(symbol: "BTCUSDT", status: .halted), .setSymbolStatus(symbol: "BTCUSDT", status: .break),
            .setSymbolParameters(symbol: "BTCUSDT", makerBasisPoints: 0, takerBasisPoints: 1_000, minimumNotionalUnits: .max), .deposit(user: 1, asset: btc, amount: 5, reference: .max),
            .holdWithdrawal(id: 4, user: 1, asset: btc, amount: 3), .completeWithdrawal(id: 4), .releaseWithdrawal(id: 5),
            .place(order), .place(ClearingOrder(orderID: 1, userID: 2, symbol: "X", side: .sell, type: .limit, timeInForce: .postOnly,
                                                price: Price(ticks: 5), quantity: Quantity(lots: 1))),
            .cancel(orderID: 9, userID: 3), .orderEnded(orderID: 9, userID: 3), .orderAmended(orderID: 9, userID: 3, releasedLots: 2),
            .tradeLeg(TradeLeg(tradeID: 1, orderID: 9, userID: 3, price: Price(ticks: 100), quantity: Quantity(lots: 2), isMaker: true)),
            .adjust(user: 1, asset: btc, amount: -7, reason: "correction #12"),
        ]
    }

    static func events() -> [ClearingEvent] {
        let cause = ClearingCause(producer: ProducerID("gw"), position: 12, index: 3)
        return [
            .transaction(LedgerTransaction(id: 5, cause: cause, kind: .tradeSettlement, entries: [
                LedgerEntry(account: .available(1), asset: btc, amount: 10), LedgerEntry(account: .frozen(1), asset: btc, amount: -4),
                LedgerEntry(account: .fees, asset: btc, amount: 1), LedgerEntry(account: .external, asset: btc, amount: -2),
                LedgerEntry(account: .adjustments, asset: btc, amount: -3), LedgerEntry(account: .settlement, asset: btc, amount: -2),
            ], memo: "m")),
            .forward(order, tickLotBudget: 7), .forwardCancel(orderID: 9, userID: 3, symbol: "BTCUSDT"), .rejected(cause: cause, reason: .exceedsFrozen), .duplicateInput(producer: ProducerID("gw"), position: 2),
            .assetAdded(btc), .symbolAdded("BTCUSDT"), .symbolStatusChanged("BTCUSDT", .trading),
            .symbolParametersChanged("BTCUSDT", makerBasisPoints: 3, takerBasisPoints: 1_000, minimumNotionalUnits: 0),
        ]
    }

    @Test("every command and event kind round-trips")
    func roundTrip() throws {
        let input = ClearingInput(producer: ProducerID("gateway-7"), position: 1 << 40, commands: try Self.commands())
        #expect(try ClearingLogCodec.decodeInput(ClearingLogCodec.encode(input)) == input)
        #expect(try ClearingLogCodec.decodeEvents(ClearingLogCodec.encode(Self.events())) == Self.events())
        #expect(try ClearingLogCodec.decodeEvents(ClearingLogCodec.encode([])) == [])
    }

    @Test("truncated, extended, unknown-tag and invalid entries are refused")
    func refusals() throws {
        let input = ClearingLogCodec.encode(ClearingInput(producer: ProducerID("g"), position: 1, commands: try Self.commands()))
        for cut in 0..<input.count {
            #expect(throws: BinaryDecodingError.self) { try ClearingLogCodec.decodeInput(Array(input.prefix(cut))) }
        }
        #expect(throws: BinaryDecodingError.trailingBytes) { try ClearingLogCodec.decodeInput(input + [0]) }
        #expect(throws: BinaryDecodingError.unsupportedVersion(2)) { try ClearingLogCodec.decodeInput([2] + input.dropFirst()) }
        let events = ClearingLogCodec.encode(Self.events())
        for cut in 0..<events.count {
            #expect(throws: BinaryDecodingError.self) { try ClearingLogCodec.decodeEvents(Array(events.prefix(cut))) }
        }
        // One command with tag 99.
        #expect(throws: BinaryDecodingError.unknownTag(99)) { try ClearingLogCodec.decodeInput([1, 1, 0x67, 1, 1, 99]) }
        // A deposit of an invalid asset code.
        var writer = BinaryWriter()
        writer.writeByte(1); writer.writeString("g"); writer.writeVarint(1); writer.writeVarint(1)
        writer.writeByte(4); writer.writeVarint(1); writer.writeString("btc"); writer.writeSignedVarint(5); writer.writeVarint(0)
        #expect(throws: BinaryDecodingError.invalidValue("asset code 'btc'")) { try ClearingLogCodec.decodeInput(writer.bytes) }
    }
}
