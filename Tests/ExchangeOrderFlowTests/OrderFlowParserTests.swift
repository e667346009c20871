import ExchangeCore
import ExchangeOrderFlow
import Testing

private let header = "symbol,BTCUSDT,0.01,0.001\n"

/// The syntax error parsing `text` throws, recording an issue if it parses.
private func syntaxError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> FlowSyntaxError? {
    #expect(throws: FlowSyntaxError.self, sourceLocation: sourceLocation) { try OrderFlowParser.parse(text) }
}

@Suite struct OrderFlowParserTests {
    // MARK: Well-formed flows

    @Test("A well-formed flow parses to its symbols and commands in file order")
    func parsesCommands() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,BTCUSDT,0.01,0.001
            place,1,7,BTCUSDT,buy,limit,gtc,100.50,1.5
            place,2,8,BTCUSDT,sell,market,ioc,,0.001,expire_maker
            place,3,9,BTCUSDT,sell,limit,post_only,101,2,
            place,4,9,BTCUSDT,buy,limit,fok,101.00,2.000,expire_both
            cancel,1,7,BTCUSDT
            amend,3,9,BTCUSDT,1.5

            """)
        let spec = try SymbolSpec(
            name: "BTCUSDT", tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.001"))
        let symbol = SymbolID(0)
        #expect(flow.symbols == [spec])
        #expect(flow.entries == [
            .command(.addSymbol(AddSymbol(spec: spec))),
            .command(.place(PlaceOrder(
                orderID: 1, userID: 7, symbolID: symbol, side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 10_050), quantity: Quantity(lots: 1_500)))),
            .command(.place(PlaceOrder(
                orderID: 2, userID: 8, symbolID: symbol, side: .sell, type: .market, timeInForce: .immediateOrCancel,
                price: .absent, quantity: Quantity(lots: 1), selfTradePrevention: .expireMaker))),
            .command(.place(PlaceOrder(
                orderID: 3, userID: 9, symbolID: symbol, side: .sell, type: .limit, timeInForce: .postOnly,
                price: Price(ticks: 10_100), quantity: Quantity(lots: 2_000)))),
            .command(.place(PlaceOrder(
                orderID: 4, userID: 9, symbolID: symbol, side: .buy, type: .limit, timeInForce: .fillOrKill,
                price: Price(ticks: 10_100), quantity: Quantity(lots: 2_000), selfTradePrevention: .expireBoth))),
            .command(.cancel(CancelOrder(orderID: 1, userID: 7, symbolID: symbol))),
            .command(.amend(AmendOrder(orderID: 3, userID: 9, symbolID: symbol, newQuantity: Quantity(lots: 1_500)))),
        ])
        #expect(flow.orderCommandCount == 6)
    }

    @Test("Symbol ids are dense in declaration order")
    func symbolIDsFollowDeclarations() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,ZED,1,1
            symbol,ABC,0.5,0.1
            place,1,7,ABC,buy,limit,gtc,1.5,0.2
            place,2,7,ZED,buy,limit,gtc,10,1
            """)
        #expect(flow.symbols.map(\.name) == ["ZED", "ABC"])
        guard case .command(.place(let first)) = flow.entries[2], case .command(.place(let second)) = flow.entries[3] else {
            Issue.record("expected two places, got \(flow.entries)")
            return
        }
        #expect(first.symbolID == SymbolID(1))
        #expect(first.price == Price(ticks: 3))
        #expect(first.quantity == Quantity(lots: 2))
        #expect(second.symbolID == SymbolID(0))
    }

    @Test("Blank, whitespace-only and # lines are ignored; CRLF endings are accepted")
    func ignoredLines() throws {
        let flow = try OrderFlowParser.parse("\n# a comment\n   \n\t\r\nsymbol,ABC,1,1\r\n#place,1,7,ABC,buy,limit,gtc,1,1\nplace,2,7,ABC,buy,limit,gtc,1,1\r\n\n")
        #expect(flow.symbols.map(\.name) == ["ABC"])
        #expect(flow.entries.count == 2)
        #expect(flow.orderCommandCount == 1)
        #expect(try OrderFlowParser.parse("").entries.isEmpty)
    }

    @Test("A CRLF line ends at its \\n: a comment does not swallow the next line")
    func crlfLineEndings() throws {
        let flow = try OrderFlowParser.parse("symbol,ABC,1,1\n# comment\r\nplace,1,7,ABC,buy,limit,gtc,1,1\r\n")
        #expect(flow.entries == [
            .command(.addSymbol(AddSymbol(spec: flow.symbols[0]))),
            .command(.place(PlaceOrder(
                orderID: 1, userID: 7, symbolID: SymbolID(0), side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 1), quantity: Quantity(lots: 1)))),
        ])
        #expect(syntaxError("symbol,ABC,1,1\r\n\r\n# c\r\nbogus\r\nplace,1\r\n") == FlowSyntaxError(line: 4, reason: "unknown op 'bogus'"))
    }

    @Test("Ignored lines still count toward line numbers")
    func ignoredLinesCount() {
        let error = syntaxError("\n# comment\n\n   \nsymbol,ABC,1,1\n#\n\nbogus,1\n")
        #expect(error == FlowSyntaxError(line: 8, reason: "unknown op 'bogus'"))
        #expect(error?.description == "8: unknown op 'bogus'")
    }

    // MARK: Syntax errors

    @Test("Malformed lines report their line number and reason", arguments: [
        // unknown op
        (header + "bogus,1,2\n", 2, "unknown op 'bogus'"),
        (header + "PLACE,1,7,BTCUSDT,buy,limit,gtc,1,1\n", 2, "unknown op 'PLACE'"),
        (header + " place,1,7,BTCUSDT,buy,limit,gtc,1,1\n", 2, "unknown op ' place'"),
        // field counts
        ("symbol,BTCUSDT,0.01\n", 1, "symbol takes 3 fields (NAME,TICK,STEP), got 2"),
        ("symbol,BTCUSDT,0.01,0.001,1\n", 1, "symbol takes 3 fields (NAME,TICK,STEP), got 4"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,100\n", 2, "place takes ID,USER,SYMBOL,SIDE,TYPE,TIF,PRICE,QTY[,STP], got 7 fields"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,100,1,none,x\n", 2, "place takes ID,USER,SYMBOL,SIDE,TYPE,TIF,PRICE,QTY[,STP], got 10 fields"),
        (header + "cancel,1,7\n", 2, "cancel takes ID,USER,SYMBOL, got 2 fields"),
        (header + "cancel,1,7,BTCUSDT,x\n", 2, "cancel takes ID,USER,SYMBOL, got 4 fields"),
        (header + "amend,1,7,BTCUSDT\n", 2, "amend takes ID,USER,SYMBOL,NEWQTY, got 3 fields"),
        (header + "amend,1,7,BTCUSDT,1,2\n", 2, "amend takes ID,USER,SYMBOL,NEWQTY, got 5 fields"),
        // ids
        (header + "place,x,7,BTCUSDT,buy,limit,gtc,100,1\n", 2, "order id 'x' is not an unsigned 64-bit integer"),
        (header + "place,-1,7,BTCUSDT,buy,limit,gtc,100,1\n", 2, "order id '-1' is not an unsigned 64-bit integer"),
        (header + "place,+1,7,BTCUSDT,buy,limit,gtc,100,1\n", 2, "order id '+1' is not an unsigned 64-bit integer"),
        (header + "place,,7,BTCUSDT,buy,limit,gtc,100,1\n", 2, "order id '' is not an unsigned 64-bit integer"),
        (header + "place,18446744073709551616,7,BTCUSDT,buy,limit,gtc,100,1\n", 2,
         "order id '18446744073709551616' is not an unsigned 64-bit integer"),
        (header + "cancel,1.0,7,BTCUSDT\n", 2, "order id '1.0' is not an unsigned 64-bit integer"),
        (header + "amend,0x1,7,BTCUSDT,1\n", 2, "order id '0x1' is not an unsigned 64-bit integer"),
        (header + "place,1,u7,BTCUSDT,buy,limit,gtc,100,1\n", 2, "user id 'u7' is not an unsigned 64-bit integer"),
        (header + "cancel,1,-7,BTCUSDT\n", 2, "user id '-7' is not an unsigned 64-bit integer"),
        (header + "amend,1, 7,BTCUSDT,1\n", 2, "user id ' 7' is not an unsigned 64-bit integer"),
        // numbers
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,1e3,1\n", 2, "price '1e3': exponents are not allowed"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,abc,1\n", 2, "price 'abc': invalid character in number"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,--1,1\n", 2, "price '--1': signs are not allowed"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,.5,1\n", 2, "price '.5': missing digits before the decimal point"),
        (header + "place,1,7,NOPE,buy,limit,gtc,1.2.3,1\n", 2, "price '1.2.3': more than one decimal point"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,100,one\n", 2, "quantity 'one': invalid character in number"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,100,\n", 2, "quantity '': empty number"),
        (header + "place,1,7,BTCUSDT,buy,limit,gtc,100,5.\n", 2, "quantity '5.': missing digits after the decimal point"),
        (header + "amend,1,7,BTCUSDT,x\n", 2, "quantity 'x': invalid character in number"),
        (header + "amend,1,7,NOPE,1e2\n", 2, "quantity '1e2': exponents are not allowed"),
        // symbols
        (header + "# again\nsymbol,BTCUSDT,1,1\n", 3, "symbol BTCUSDT declared twice (first on line 1)"),
        (header + "place,1,7,ETHUSDT,buy,limit,gtc,1,1\nsymbol,ETHUSDT,0.01,0.001\n", 2,
         "place on symbol ETHUSDT before its symbol line (line 3)"),
        (header + "cancel,1,7,ETHUSDT\n\nsymbol,ETHUSDT,0.01,0.001\n", 2, "cancel on symbol ETHUSDT before its symbol line (line 4)"),
        (header + "amend,1,7,ETHUSDT,1\nsymbol,ETHUSDT,0.01,0.001\n", 2, "amend on symbol ETHUSDT before its symbol line (line 3)"),
        ("symbol,btcusdt,0.01,0.001\n", 1, "invalid symbol name 'btcusdt': 1 to 20 of A-Z, 0-9"),
        ("symbol,,0.01,0.001\n", 1, "invalid symbol name '': 1 to 20 of A-Z, 0-9"),
        ("symbol,ABCDEFGHIJKLMNOPQRSTU,0.01,0.001\n", 1, "invalid symbol name 'ABCDEFGHIJKLMNOPQRSTU'"),
        ("symbol,BTCUSDT,0,0.001\n", 1, "tick size must be positive"),
        ("symbol,BTCUSDT,-0.01,0.001\n", 1, "tick size must be positive"),
        ("symbol,BTCUSDT,0.01,0\n", 1, "step size must be positive"),
        ("symbol,BTCUSDT,abc,0.001\n", 1, "tick size 'abc': invalid character in number"),
        ("symbol,BTCUSDT,0.01,1e-3\n", 1, "step size '1e-3': exponents are not allowed"),
    ])
    func syntaxErrors(text: String, line: Int, reason: String) {
        let error = syntaxError(text)
        #expect(error?.line == line)
        #expect(error?.reason.contains(reason) == true, "reason: \(error?.reason ?? "none")")
    }

    // MARK: Rejected places

    @Test("Well-formed but invalid places become rejections", arguments: [
        ("place,1,7,NOPE,buy,limit,gtc,1,1", RejectReason.unknownSymbol),
        ("place,1,7,ABC,hold,limit,gtc,1,1", .invalidSide),
        ("place,1,7,ABC,BUY,limit,gtc,1,1", .invalidSide),
        ("place,1,7,ABC,buy,stop,gtc,1,1", .invalidOrderType),
        ("place,1,7,ABC,buy,limit,day,1,1", .invalidTimeInForce),
        ("place,1,7,ABC,buy,limit,GTC,1,1", .invalidTimeInForce),
        ("place,1,7,ABC,buy,limit,gtc,1,1,maybe", .invalidSelfTradePrevention),
        ("place,1,7,ABC,buy,limit,gtc,1.03,1", .invalidPrice),
        ("place,1,7,ABC,buy,limit,gtc,1.001,1", .invalidPrice),
        ("place,1,7,ABC,buy,limit,gtc,0,1", .invalidPrice),
        ("place,1,7,ABC,buy,limit,gtc,0.00,1", .invalidPrice),
        ("place,1,7,ABC,buy,limit,gtc,-1,1", .invalidPrice),
        ("place,1,7,ABC,buy,limit,gtc,,1", .invalidPrice),
        ("place,1,7,ABC,buy,market,ioc,1,1", .marketOrderWithPrice),
        ("place,1,7,ABC,buy,market,gtc,,1", .marketOrderNotImmediateOrCancel),
        ("place,1,7,ABC,buy,market,fok,,1", .marketOrderNotImmediateOrCancel),
        ("place,1,7,ABC,buy,limit,gtc,1,0.15", .invalidQuantity),
        ("place,1,7,ABC,buy,limit,gtc,1,0", .invalidQuantity),
        ("place,1,7,ABC,buy,limit,gtc,1,-0.1", .invalidQuantity),
        ("place,1,7,ABC,buy,market,ioc,,0.05", .invalidQuantity),
    ])
    func rejectedPlaces(line: String, reason: RejectReason) throws {
        let flow = try OrderFlowParser.parse("symbol,ABC,0.05,0.1\n" + line + "\n")
        #expect(flow.entries.count == 2)
        #expect(flow.entries.last == .rejectedPlace(orderID: 1, reason: reason))
        #expect(flow.orderCommandCount == 1)
    }

    @Test("A reused order id is ignored entirely, even after a rejection")
    func duplicateOrderIDs() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,ABC,1,1
            place,1,7,ABC,sell,limit,gtc,100,5
            place,1,8,ABC,buy,limit,gtc,100,5
            place,2,7,ABC,buy,limit,gtc,0,1
            place,2,7,ABC,buy,limit,gtc,90,1
            place,1,7,NOPE,buy,limit,gtc,1,1
            """)
        #expect(flow.entries == [
            .command(.addSymbol(AddSymbol(spec: flow.symbols[0]))),
            .command(.place(PlaceOrder(
                orderID: 1, userID: 7, symbolID: SymbolID(0), side: .sell, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: 100), quantity: Quantity(lots: 5)))),
            .rejectedPlace(orderID: 2, reason: .invalidPrice),
        ])
    }

    @Test("Cancels and amends on undeclared symbols, and amends off the step, produce no entry")
    func ignoredCancelsAndAmends() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,ABC,1,0.5
            cancel,1,7,NOPE
            amend,1,7,NOPE,1
            amend,1,7,ABC,1.25
            amend,1,7,ABC,0
            amend,1,7,ABC,-1
            amend,1,7,ABC,1.5
            """)
        #expect(flow.entries == [
            .command(.addSymbol(AddSymbol(spec: flow.symbols[0]))),
            .command(.amend(AmendOrder(orderID: 1, userID: 7, symbolID: SymbolID(0), newQuantity: Quantity(lots: 3)))),
        ])
    }

    @Test("unrepresentable prices and quantities are rejections, not syntax errors; such amends are ignored")
    func unrepresentableNumbers() throws {
        let flow = try OrderFlowParser.parse("""
            symbol,BTC-USDT.X,0.01,0.001
            place,1,7,BTC-USDT.X,buy,limit,gtc,100.0000000000000000001,1
            place,2,7,BTC-USDT.X,buy,limit,gtc,99999999999999999999999,1
            place,3,7,BTC-USDT.X,buy,limit,gtc,100,0.0000000000000000001
            place,4,7,BTC-USDT.X,buy,limit,gtc,100,1
            amend,4,7,BTC-USDT.X,0.0000000000000000001
            """)
        #expect(flow.symbols.map(\.name) == ["BTC-USDT.X"])
        #expect(Array(flow.entries.dropFirst().prefix(3)) == [
            .rejectedPlace(orderID: 1, reason: .invalidPrice),
            .rejectedPlace(orderID: 2, reason: .invalidPrice),
            .rejectedPlace(orderID: 3, reason: .invalidQuantity),
        ])
        #expect(flow.entries.count == 5)
        #expect(throws: FlowSyntaxError(line: 2, reason: "price '1.2.3': more than one decimal point")) {
            try OrderFlowParser.parse("symbol,A,1,1\nplace,1,7,A,buy,limit,gtc,1.2.3,1\n")
        }
    }
}
