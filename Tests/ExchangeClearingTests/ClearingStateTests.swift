import ExchangeClearing
import ExchangeCore
import Testing

/// The clearing state machine, command by command: balances, ledger transactions, every
/// rejection, fee rounding, overflow edges and dropped repeats.
struct ClearingStateTests {
    static let btc = AssetCode("BTC")!
    static let usdt = AssetCode("USDT")!
    static let gateway = ProducerID("gateway-1")
    static let shard = ProducerID("me-0")

    /// BTCUSDT: tick 0.01 USDT, lot 0.0001 BTC, both assets at 8 decimals: a lot is 10,000
    /// satoshis and a tick × lot is 100 quote units; min notional 5 USDT; maker 10 bps, taker 20.
    static func symbol(status: SymbolStatus = .trading) throws -> ClearingSymbol {
        try ClearingSymbol(
            name: "BTCUSDT", base: AssetSpec(code: btc, scale: 8), quote: AssetSpec(code: usdt, scale: 8),
            tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
            minimumNotional: DecimalNumber(parsing: "5"), makerFeeBasisPoints: 10, takerFeeBasisPoints: 20, status: status)
    }

    /// A state with BTC, USDT, BTCUSDT, and user 1 holding 1,000 USDT, user 2 holding 1 BTC.
    static func funded() throws -> ClearingState {
        var state = ClearingState()
        var position: UInt64 = 0
        func admin(_ commands: [ClearingCommand]) {
            position += 1
            _ = state.apply(ClearingInput(producer: ProducerID("admin"), position: position, commands: commands))
        }
        admin([
            .addAsset(try AssetSpec(code: btc, scale: 8)), .addAsset(try AssetSpec(code: usdt, scale: 8)), .addSymbol(try symbol()),
            .deposit(user: 1, asset: usdt, amount: 1_000 * 100_000_000, reference: 1),
            .deposit(user: 2, asset: btc, amount: 100_000_000, reference: 2),
        ])
        try state.checkInvariants()
        return state
    }

    /// Applies one command as the next input of `producer`; returns its events.
    static func apply(_ command: ClearingCommand, to state: inout ClearingState, producer: ProducerID = gateway, position: UInt64) -> [ClearingEvent] {
        let events = state.apply(ClearingInput(producer: producer, position: position, commands: [command]))
        #expect(throws: Never.self) { try state.checkInvariants() }
        for case .transaction(let transaction) in events { #expect(transaction.isBalanced, "\(transaction)") }
        return events
    }

    static func limit(_ id: OrderID, user: UserID, side: OrderSide, price: Int64, lots: Int64) -> ClearingCommand {
        .place(ClearingOrder(orderID: id, userID: user, symbol: "BTCUSDT", side: side, type: .limit, timeInForce: .goodTillCanceled,
                             price: Price(ticks: price), quantity: Quantity(lots: lots)))
    }

    static func rejection(_ events: [ClearingEvent]) -> ClearingRejection? {
        for case .rejected(_, let reason) in events { return reason }
        return nil
    }

    @Test("a symbol's units are exact; configurations that are not are refused")
    func symbolUnits() throws {
        let symbol = try Self.symbol()
        #expect(symbol.baseUnitsPerLot == 10_000)
        #expect(symbol.quoteUnitsPerTickLot == 100)
        #expect(symbol.minimumNotionalUnits == 500_000_000)
        #expect(throws: ClearingConfigError.notWholeUnits("step size 0.000000001 of BTC")) {
            try ClearingSymbol(name: "BTCUSDT", base: AssetSpec(code: Self.btc, scale: 8), quote: AssetSpec(code: Self.usdt, scale: 8),
                               tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.000000001"),
                               minimumNotional: DecimalNumber(parsing: "5"), makerFeeBasisPoints: 10, takerFeeBasisPoints: 20)
        }
        #expect(throws: ClearingConfigError.invalidFee(1_001)) {
            try ClearingSymbol(name: "BTCUSDT", base: AssetSpec(code: Self.btc, scale: 8), quote: AssetSpec(code: Self.usdt, scale: 8),
                               tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
                               minimumNotional: DecimalNumber(parsing: "5"), makerFeeBasisPoints: 1_001, takerFeeBasisPoints: 20)
        }
        #expect(throws: ClearingConfigError.sameBaseAndQuote(Self.btc)) {
            try ClearingSymbol(name: "BTCBTC", base: AssetSpec(code: Self.btc, scale: 8), quote: AssetSpec(code: Self.btc, scale: 8),
                               tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
                               minimumNotional: DecimalNumber(parsing: "5"), makerFeeBasisPoints: 1, takerFeeBasisPoints: 2)
        }
        #expect(throws: ClearingConfigError.invalidScale(Self.btc, 19)) { try AssetSpec(code: Self.btc, scale: 19) }
        #expect(AssetCode("btc") == nil && AssetCode("") == nil && AssetCode("ABCDEFGHIJK") == nil)
    }

    @Test("fees round up to a whole unit and never exceed what is received")
    func feeRounding() {
        #expect(ClearingSymbol.fee(on: 10_000, basisPoints: 10) == 10)
        #expect(ClearingSymbol.fee(on: 10_001, basisPoints: 10) == 11)
        #expect(ClearingSymbol.fee(on: 1, basisPoints: 1) == 1)
        #expect(ClearingSymbol.fee(on: 0, basisPoints: 20) == 0)
        #expect(ClearingSymbol.fee(on: 12_345, basisPoints: 0) == 0)
        #expect(ClearingSymbol.fee(on: .max, basisPoints: 10_000) == .max)
        #expect(ClearingSymbol.fee(on: .max, basisPoints: 1_000) == Int64.max / 10 + 1)
    }

    @Test("deposit, then a withdrawal held, completed; another held and released")
    func depositsAndWithdrawals() throws {
        var state = try Self.funded()
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 100_000_000_000, frozen: 0))
        var events = Self.apply(.holdWithdrawal(id: 7, user: 1, asset: Self.usdt, amount: 40_000_000_000), to: &state, position: 1)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 60_000_000_000, frozen: 40_000_000_000))
        guard case .transaction(let hold) = events.first else { Issue.record("no transaction: \(events)"); return }
        #expect(hold.kind == .withdrawalHold && hold.cause == ClearingCause(producer: Self.gateway, position: 1, index: 0))
        events = Self.apply(.holdWithdrawal(id: 7, user: 1, asset: Self.usdt, amount: 1), to: &state, position: 2)
        #expect(Self.rejection(events) == .duplicateWithdrawal)
        events = Self.apply(.holdWithdrawal(id: 8, user: 1, asset: Self.usdt, amount: 60_000_000_001), to: &state, position: 3)
        #expect(Self.rejection(events) == .insufficientFunds)
        _ = Self.apply(.completeWithdrawal(id: 7), to: &state, position: 4)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 60_000_000_000, frozen: 0))
        #expect(state.totals[Self.usdt]?.netDeposits == 60_000_000_000)
        _ = Self.apply(.holdWithdrawal(id: 9, user: 1, asset: Self.usdt, amount: 10), to: &state, position: 5)
        _ = Self.apply(.releaseWithdrawal(id: 9), to: &state, position: 6)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 60_000_000_000, frozen: 0))
        #expect(Self.rejection(Self.apply(.completeWithdrawal(id: 9), to: &state, position: 7)) == .unknownWithdrawal)
        #expect(Self.rejection(Self.apply(.deposit(user: 1, asset: Self.usdt, amount: 0, reference: 3), to: &state, position: 8)) == .invalidAmount)
        #expect(Self.rejection(Self.apply(.deposit(user: 1, asset: AssetCode("ETH")!, amount: 5, reference: 3), to: &state, position: 9)) == .unknownAsset)
    }

    @Test("a limit buy freezes price × quantity and is forwarded; its end releases the rest")
    func limitBuyAndEnd() throws {
        var state = try Self.funded()
        // 0.5 BTC (5,000 lots) at 30,000.00 USDT (3,000,000 ticks): 15,000 USDT > 1,000: refused.
        #expect(Self.rejection(Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 5_000), to: &state, position: 1)) == .insufficientFunds)
        #expect(state.openOrders.isEmpty)
        // 0.01 BTC (100 lots) at 30,000.00: 300 USDT frozen.
        let events = Self.apply(Self.limit(2, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 2)
        #expect(events.count == 2)
        if case .transaction(let frozen) = events.first { #expect(frozen.kind == .orderFreeze && frozen.memo == "order 2 frozen") }
        guard case .forward(let forwarded, _) = events.last else { Issue.record("not forwarded: \(events)"); return }
        #expect(forwarded.orderID == 2 && forwarded.quoteBudget == nil)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 70_000_000_000, frozen: 30_000_000_000))
        #expect(Self.rejection(Self.apply(Self.limit(2, user: 1, side: .buy, price: 3_000_000, lots: 1), to: &state, position: 3)) == .duplicateOrder)
        let release = Self.apply(.orderEnded(orderID: 2, userID: 1), to: &state, producer: Self.shard, position: 1)
        guard case .transaction(let released) = release.first, release.count == 1 else { Issue.record("no release: \(release)"); return }
        // Named, so a reader of the ledger (the gateway's read-your-writes wait) knows whose end it is.
        #expect(released.kind == .orderRelease && released.memo == "order 2 ended")
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 100_000_000_000, frozen: 0))
        #expect(state.openOrders.isEmpty)
        #expect(Self.rejection(Self.apply(.orderEnded(orderID: 2, userID: 1), to: &state, producer: Self.shard, position: 2)) == .unknownOrder)
    }

    @Test("a cancel of an open order is forwarded after it; of an ended, unknown or another user's order it is refused")
    func cancelThroughClearing() throws {
        var state = try Self.funded()
        _ = Self.apply(Self.limit(7, user: 1, side: .buy, price: 5_000_000, lots: 10), to: &state, position: 1)
        #expect(Self.apply(.cancel(orderID: 7, userID: 1), to: &state, position: 2)
            == [.forwardCancel(orderID: 7, userID: 1, symbol: "BTCUSDT")])
        // Forwarding changes no funds: they are released when the matcher reports the end.
        #expect(state.balance(of: 1, Self.usdt).frozen == 5_000_000 * 10 * 100)
        #expect(Self.rejection(Self.apply(.cancel(orderID: 7, userID: 2), to: &state, position: 3)) == .unknownOrder)
        #expect(Self.rejection(Self.apply(.cancel(orderID: 8, userID: 1), to: &state, position: 4)) == .unknownOrder)
        _ = Self.apply(.orderEnded(orderID: 7, userID: 1), to: &state, producer: Self.shard, position: 1)
        #expect(Self.rejection(Self.apply(.cancel(orderID: 7, userID: 1), to: &state, position: 5)) == .unknownOrder)
    }

    @Test("an amend releases the lots it removes at the order's limit price, never more than is frozen")
    func amendRelease() throws {
        var state = try Self.funded()
        _ = Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 1)
        _ = Self.apply(.orderAmended(orderID: 1, userID: 1, releasedLots: 40), to: &state, producer: Self.shard, position: 1)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 82_000_000_000, frozen: 18_000_000_000))
        _ = Self.apply(Self.limit(2, user: 2, side: .sell, price: 3_000_000, lots: 10), to: &state, position: 2)
        _ = Self.apply(.orderAmended(orderID: 2, userID: 2, releasedLots: 4), to: &state, producer: Self.shard, position: 2)
        #expect(state.balance(of: 2, Self.btc) == .init(available: 99_940_000, frozen: 60_000))
        #expect(Self.rejection(Self.apply(.orderAmended(orderID: 1, userID: 2, releasedLots: 1), to: &state, producer: Self.shard, position: 3)) == .unknownOrder)
        #expect(Self.rejection(Self.apply(.orderAmended(orderID: 1, userID: 1, releasedLots: 0), to: &state, producer: Self.shard, position: 4)) == .invalidOrder)
        // Releasing more lots than remain frees only what is frozen.
        _ = Self.apply(.orderAmended(orderID: 1, userID: 1, releasedLots: 1_000), to: &state, producer: Self.shard, position: 5)
        #expect(state.openOrders[1]?.frozen == 0 && state.balance(of: 1, Self.usdt).frozen == 0)
    }

    @Test("place rejections: min notional, halted, unknown symbol, bad shapes; nothing is frozen")
    func placeRejections() throws {
        var state = try Self.funded()
        let before = state.stateDigest
        // 4.99 USDT < 5.
        #expect(Self.rejection(Self.apply(Self.limit(1, user: 1, side: .buy, price: 499, lots: 100), to: &state, position: 1)) == .belowMinimumNotional)
        #expect(Self.rejection(Self.apply(Self.limit(2, user: 2, side: .sell, price: 499, lots: 100), to: &state, position: 2)) == .belowMinimumNotional)
        #expect(Self.rejection(Self.apply(Self.limit(3, user: 1, side: .buy, price: 0, lots: 100), to: &state, position: 3)) == .invalidOrder)
        #expect(Self.rejection(Self.apply(Self.limit(4, user: 1, side: .buy, price: 100, lots: 0), to: &state, position: 4)) == .invalidOrder)
        var unknown = ClearingOrder(orderID: 5, userID: 1, symbol: "ETHUSDT", side: .buy, type: .limit, timeInForce: .goodTillCanceled,
                                    price: Price(ticks: 100), quantity: Quantity(lots: 1))
        #expect(Self.rejection(Self.apply(.place(unknown), to: &state, position: 5)) == .unknownSymbol)
        unknown.symbol = "BTCUSDT"
        unknown.type = .market
        #expect(Self.rejection(Self.apply(.place(unknown), to: &state, position: 6)) == .invalidOrder, "a market order with a price")
        #expect(state.stateDigest != before, "positions moved")
        #expect(state.openOrders.isEmpty && state.balance(of: 1, Self.usdt).frozen == 0)
        _ = Self.apply(.setSymbolStatus(symbol: "BTCUSDT", status: .halted), to: &state, producer: ProducerID("admin"), position: 10)
        #expect(Self.rejection(Self.apply(Self.limit(7, user: 1, side: .buy, price: 3_000_000, lots: 1), to: &state, position: 7)) == .symbolHalted)
    }

    @Test("new fees apply to trades settled after them, a new minimum notional to orders after it; bad values and unknown symbols are refused")
    func parameterChange() throws {
        var state = try Self.funded()
        let admin = ProducerID("admin")
        func change(_ symbol: String, maker: Int, taker: Int, notional: Int64, at position: UInt64) -> [ClearingEvent] {
            Self.apply(.setSymbolParameters(symbol: symbol, makerBasisPoints: maker, takerBasisPoints: taker, minimumNotionalUnits: notional),
                       to: &state, producer: admin, position: position)
        }
        #expect(Self.rejection(change("NOPE", maker: 1, taker: 1, notional: 0, at: 10)) == .unknownSymbol)
        #expect(Self.rejection(change("BTCUSDT", maker: 1, taker: 1_001, notional: 0, at: 11)) == .invalidAmount)
        #expect(Self.rejection(change("BTCUSDT", maker: 1, taker: 1, notional: -1, at: 12)) == .invalidAmount)
        // A minimum notional of 400 USDT refuses a 300 USDT order; back to none, it is taken.
        #expect(change("BTCUSDT", maker: 0, taker: 100, notional: 400 * 100_000_000, at: 13).count == 1)
        #expect(Self.rejection(Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 1)) == .belowMinimumNotional)
        #expect(change("BTCUSDT", maker: 0, taker: 100, notional: 0, at: 14)
            == [.symbolParametersChanged("BTCUSDT", makerBasisPoints: 0, takerBasisPoints: 100, minimumNotionalUnits: 0)])
        _ = Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 2)
        _ = Self.apply(Self.limit(2, user: 2, side: .sell, price: 3_000_000, lots: 100), to: &state, position: 3)
        _ = state.apply(ClearingInput(producer: Self.shard, position: 1, commands: [
            .tradeLeg(TradeLeg(tradeID: 1, orderID: 1, userID: 1, price: Price(ticks: 3_000_000), quantity: Quantity(lots: 100), isMaker: true)),
            .tradeLeg(TradeLeg(tradeID: 1, orderID: 2, userID: 2, price: Price(ticks: 3_000_000), quantity: Quantity(lots: 100), isMaker: false)),
        ]))
        try state.checkInvariants()
        // Maker (buyer) pays nothing now; the taker (seller) pays 100 bps of 300 USDT = 3 USDT (scale 8).
        #expect(state.balance(of: 1, Self.btc).available == 1_000_000)
        #expect(state.systemBalance(.fees, Self.usdt) == 300_000_000 && state.systemBalance(.fees, Self.btc) == 0)
    }

    @Test("a trade settles both legs: frozen given into settlement, received less the fee, settlement nets to zero")
    func tradeSettlement() throws {
        var state = try Self.funded()
        // Buyer 1 bids 0.01 BTC at 30,000; seller 2 sells 0.01 BTC at 29,000 and takes at 30,000.
        _ = Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 1)
        _ = Self.apply(Self.limit(2, user: 2, side: .sell, price: 2_900_000, lots: 100), to: &state, position: 2)
        #expect(state.balance(of: 2, Self.btc) == .init(available: 99_000_000, frozen: 1_000_000))
        // Two fills of 60 and 40 lots at 30,000.00; the buyer is the maker.
        for (index, lots) in [Int64(60), 40].enumerated() {
            let trade = UInt64(index + 1)
            let legs: [ClearingCommand] = [
                .tradeLeg(TradeLeg(tradeID: trade, orderID: 1, userID: 1, price: Price(ticks: 3_000_000), quantity: Quantity(lots: lots), isMaker: true)),
                .tradeLeg(TradeLeg(tradeID: trade, orderID: 2, userID: 2, price: Price(ticks: 3_000_000), quantity: Quantity(lots: lots), isMaker: false)),
            ]
            let events = state.apply(ClearingInput(producer: Self.shard, position: trade, commands: legs))
            try state.checkInvariants()
            #expect(events.count == 2 && Self.rejection(events) == nil, "\(events)")
        }
        _ = Self.apply(.orderEnded(orderID: 1, userID: 1), to: &state, producer: Self.shard, position: 3)
        _ = Self.apply(.orderEnded(orderID: 2, userID: 2), to: &state, producer: Self.shard, position: 4)
        // Buyer: paid 300 USDT, got 0.01 BTC = 1,000,000 sat less 10 bps (600 × ... rounded up per fill: 6,000 and 4,000).
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 70_000_000_000, frozen: 0))
        #expect(state.balance(of: 1, Self.btc) == .init(available: 1_000_000 - 600 - 400, frozen: 0))
        // Seller: gave 0.01 BTC, got 300 USDT less 20 bps = 0.6 USDT.
        #expect(state.balance(of: 2, Self.btc) == .init(available: 99_000_000, frozen: 0))
        #expect(state.balance(of: 2, Self.usdt) == .init(available: 30_000_000_000 - 60_000_000, frozen: 0))
        #expect(state.systemBalance(.fees, Self.btc) == 1_000 && state.systemBalance(.fees, Self.usdt) == 60_000_000)
        #expect(state.systemBalance(.settlement, Self.btc) == 0 && state.systemBalance(.settlement, Self.usdt) == 0)
        #expect(state.openOrders.isEmpty)
    }

    @Test("a leg spending more than its order holds, or for an unknown order, is refused whole")
    func legRefusals() throws {
        var state = try Self.funded()
        _ = Self.apply(Self.limit(1, user: 1, side: .buy, price: 3_000_000, lots: 100), to: &state, position: 1)
        let transactions = state.nextTransactionID
        var events = Self.apply(.tradeLeg(TradeLeg(tradeID: 1, orderID: 1, userID: 1, price: Price(ticks: 3_000_001), quantity: Quantity(lots: 100), isMaker: true)),
                                to: &state, producer: Self.shard, position: 1)
        #expect(Self.rejection(events) == .exceedsFrozen)
        events = Self.apply(.tradeLeg(TradeLeg(tradeID: 1, orderID: 9, userID: 1, price: Price(ticks: 1), quantity: Quantity(lots: 1), isMaker: true)),
                            to: &state, producer: Self.shard, position: 2)
        #expect(Self.rejection(events) == .unknownOrder)
        events = Self.apply(.tradeLeg(TradeLeg(tradeID: 1, orderID: 1, userID: 2, price: Price(ticks: 1), quantity: Quantity(lots: 1), isMaker: true)),
                            to: &state, producer: Self.shard, position: 3)
        #expect(Self.rejection(events) == .unknownOrder, "another user's order")
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 70_000_000_000, frozen: 30_000_000_000))
        #expect(state.openOrders[1]?.frozen == 30_000_000_000)
        #expect(state.nextTransactionID == transactions, "no transaction was made")
    }

    @Test("market buys freeze their quote budget, or the whole available quote balance, and forward it")
    func marketBuyBudget() throws {
        var state = try Self.funded()
        var order = ClearingOrder(orderID: 1, userID: 1, symbol: "BTCUSDT", side: .buy, type: .market, timeInForce: .immediateOrCancel,
                                  price: .absent, quantity: Quantity(lots: 10), quoteBudget: 20_000_000_000)
        var events = Self.apply(.place(order), to: &state, position: 1)
        guard case .forward(let forwarded, let tickLotBudget) = events.last else { Issue.record("not forwarded: \(events)"); return }
        #expect(forwarded.quoteBudget == 20_000_000_000)
        #expect(tickLotBudget == 200_000_000, "20,000 USDT at 100 units per tick × lot")
        #expect(state.balance(of: 1, Self.usdt).frozen == 20_000_000_000)
        order.orderID = 2
        order.quoteBudget = nil
        events = Self.apply(.place(order), to: &state, position: 2)
        guard case .forward(let byQuantity, _) = events.last else { Issue.record("not forwarded: \(events)"); return }
        #expect(byQuantity.quoteBudget == 80_000_000_000)
        #expect(state.balance(of: 1, Self.usdt) == .init(available: 0, frozen: 100_000_000_000))
        order.orderID = 3
        #expect(Self.rejection(Self.apply(.place(order), to: &state, position: 3)) == .insufficientFunds)
        order.quoteBudget = 100
        #expect(Self.rejection(Self.apply(.place(order), to: &state, position: 4)) == .belowMinimumNotional)
        // A budget under one tick × lot (100 units here) would reach the matcher as "none".
        var tiny = try Self.funded()
        let cheap = try ClearingSymbol(
            name: "CHEAPUSDT", base: AssetSpec(code: Self.btc, scale: 8), quote: AssetSpec(code: Self.usdt, scale: 8),
            tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
            minimumNotional: DecimalNumber(parsing: "0"), makerFeeBasisPoints: 0, takerFeeBasisPoints: 0)
        _ = Self.apply(.addSymbol(cheap), to: &tiny, producer: ProducerID("admin"), position: 9)
        order.symbol = "CHEAPUSDT"
        order.quoteBudget = 99
        #expect(Self.rejection(Self.apply(.place(order), to: &tiny, position: 5)) == .budgetTooSmall)
    }

    @Test("repeats of a producer's position are dropped; other producers' positions are their own")
    func deduplication() throws {
        var state = try Self.funded()
        let input = ClearingInput(producer: Self.gateway, position: 5, commands: [.deposit(user: 3, asset: Self.btc, amount: 10, reference: 9)])
        #expect(state.apply(input).count == 1)
        let digest = state.stateDigest
        #expect(state.apply(input) == [.duplicateInput(producer: Self.gateway, position: 5)])
        #expect(state.apply(ClearingInput(producer: Self.gateway, position: 4, commands: input.commands)) == [.duplicateInput(producer: Self.gateway, position: 4)])
        #expect(state.stateDigest == digest)
        #expect(state.apply(ClearingInput(producer: ProducerID("gateway-2"), position: 5, commands: input.commands)).count == 1)
        #expect(state.balance(of: 3, Self.btc).available == 20)
    }

    @Test("overflow anywhere refuses the command and changes nothing")
    func overflow() throws {
        var state = try Self.funded()
        // The external account holds -1 BTC already: this takes it to -(Int64.max) + 1 BTC.
        _ = Self.apply(.deposit(user: 5, asset: Self.btc, amount: .max - 200_000_000, reference: 1), to: &state, position: 1)
        let transactions = state.nextTransactionID
        // The external account would pass Int64.min.
        #expect(Self.rejection(Self.apply(.deposit(user: 6, asset: Self.btc, amount: .max, reference: 2), to: &state, position: 2)) == .overflow)
        // price × quantity does not fit.
        #expect(Self.rejection(Self.apply(Self.limit(1, user: 1, side: .buy, price: .max / 2, lots: 1_000), to: &state, position: 3)) == .overflow)
        #expect(Self.rejection(Self.apply(Self.limit(2, user: 5, side: .sell, price: 1_000, lots: .max / 2), to: &state, position: 4)) == .overflow)
        #expect(Self.rejection(Self.apply(.adjust(user: 5, asset: Self.btc, amount: .max, reason: "x"), to: &state, position: 5)) == .overflow)
        #expect(state.nextTransactionID == transactions, "no transaction was made")
        #expect(state.balance(of: 5, Self.btc).available == .max - 200_000_000)
        #expect(state.openOrders.isEmpty)
    }

    @Test("adjustments carry their reason and may not overdraw")
    func adjustments() throws {
        var state = try Self.funded()
        var events = Self.apply(.adjust(user: 2, asset: Self.btc, amount: -10, reason: "chargeback 42"), to: &state, producer: ProducerID("admin"), position: 10)
        guard case .transaction(let transaction) = events.first else { Issue.record("no transaction: \(events)"); return }
        #expect(transaction.memo == "chargeback 42" && transaction.kind == .adjustment)
        #expect(state.balance(of: 2, Self.btc).available == 99_999_990)
        events = Self.apply(.adjust(user: 2, asset: Self.btc, amount: -100_000_000, reason: "too much"), to: &state, producer: ProducerID("admin"), position: 11)
        #expect(Self.rejection(events) == .insufficientFunds)
        #expect(state.totals[Self.btc]?.netAdjustments == -10)
    }

    @Test("transactions are numbered densely from 1")
    func transactionIDs() throws {
        var state = try Self.funded()
        #expect(state.nextTransactionID == 3)
        let events = state.apply(ClearingInput(producer: Self.gateway, position: 1, commands: [
            .deposit(user: 9, asset: Self.btc, amount: 1, reference: 1), .deposit(user: 9, asset: Self.btc, amount: 0, reference: 2),
            .deposit(user: 9, asset: Self.btc, amount: 2, reference: 3),
        ]))
        let ids = events.compactMap { event -> UInt64? in if case .transaction(let transaction) = event { transaction.id } else { nil } }
        #expect(ids == [3, 4])
    }
}
