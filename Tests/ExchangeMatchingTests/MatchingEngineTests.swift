import ExchangeCore
@testable import ExchangeMatching
import ExchangeTesting
import Testing

/// A small fixture: one symbol (tick 1, step 1), helpers that read like a transcript.
struct EngineFixture {
    var engine: MatchingEngine
    let symbol = SymbolID(0)

    init(limits: MatchingEngine.Limits = .init(maximumSymbols: 4, maximumRestingOrders: 64), spec: SymbolSpec? = nil) {
        engine = MatchingEngine(limits: limits)
        var events: [MatchingEvent] = []
        let spec = spec ?? (try! SymbolSpec(name: "BTCUSDT", tickSize: DecimalNumber(units: 1, scale: 0), stepSize: DecimalNumber(units: 1, scale: 0)))
        engine.apply(.addSymbol(AddSymbol(spec: spec)), into: &events)
        precondition(events == [.symbolAdded(SymbolID(0))])
    }

    func order(
        _ id: OrderID, user: UserID = 1, _ side: OrderSide, _ type: OrderType = .limit, _ timeInForce: TimeInForce = .goodTillCanceled,
        price: Int64, quantity: Int64, stp: SelfTradePrevention = .none
    ) -> PlaceOrder {
        PlaceOrder(orderID: id, userID: user, symbolID: symbol, side: side, type: type, timeInForce: timeInForce,
                   price: Price(ticks: price), quantity: Quantity(lots: quantity), selfTradePrevention: stp)
    }

    @discardableResult
    mutating func apply(_ command: MatchingCommand, sourceLocation: SourceLocation = #_sourceLocation) -> [MatchingEvent] {
        var events: [MatchingEvent] = []
        engine.apply(command, into: &events)
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try engine.checkInvariants() }
        return events
    }

    @discardableResult
    mutating func place(_ order: PlaceOrder) -> [MatchingEvent] { apply(.place(order)) }

    func level(_ side: OrderSide, _ price: Int64, _ total: Int64) -> MatchingEvent {
        .levelChanged(LevelChanged(symbolID: symbol, side: side, price: Price(ticks: price), totalQuantity: Quantity(lots: total)))
    }

    func trade(_ id: UInt64, taker: PlaceOrder, maker: OrderID, makerUser: UserID = 1, price: Int64, quantity: Int64, takerRemaining: Int64, makerRemaining: Int64) -> MatchingEvent {
        .traded(TradeExecuted(
            symbolID: symbol, tradeID: id, takerOrderID: taker.orderID, makerOrderID: maker, takerUserID: taker.userID,
            makerUserID: makerUser, takerSide: taker.side, price: Price(ticks: price), quantity: Quantity(lots: quantity),
            takerRemaining: Quantity(lots: takerRemaining), makerRemaining: Quantity(lots: makerRemaining)))
    }

    func ended(_ order: PlaceOrder, remaining: Int64) -> OrderEnded {
        OrderEnded(orderID: order.orderID, userID: order.userID, symbolID: symbol, side: order.side, price: order.price, remaining: Quantity(lots: remaining))
    }

    func rejected(_ order: PlaceOrder, _ reason: RejectReason) -> MatchingEvent {
        .rejected(CommandRejected(command: .place, orderID: order.orderID, userID: order.userID, symbolID: symbol, reason: reason))
    }

    /// (id, price, remaining) of one side, best first.
    func book(_ side: OrderSide) -> [[Int64]] {
        var rows: [[Int64]] = []
        engine.forEachRestingOrder(of: symbol, side: side) { rows.append([Int64($0.orderID), $0.price.ticks, $0.remaining.lots]) }
        return rows
    }
}

@Suite struct MatchingEngineTests {
    @Test("GTC rests, then a crossing order trades at the maker's price in price-time order")
    func priceTimePriority() {
        var f = EngineFixture()
        let a = f.order(1, user: 1, .sell, price: 101, quantity: 5)
        let b = f.order(2, user: 2, .sell, price: 100, quantity: 5)
        let c = f.order(3, user: 3, .sell, price: 100, quantity: 5)
        #expect(f.place(a) == [.accepted(OrderAccepted(order: a)), f.level(.sell, 101, 5)])
        f.place(b)
        #expect(f.place(c) == [.accepted(OrderAccepted(order: c)), f.level(.sell, 100, 10)])
        let taker = f.order(4, user: 9, .buy, price: 101, quantity: 12)
        #expect(f.place(taker) == [
            .accepted(OrderAccepted(order: taker)),
            f.trade(1, taker: taker, maker: 2, makerUser: 2, price: 100, quantity: 5, takerRemaining: 7, makerRemaining: 0),
            f.trade(2, taker: taker, maker: 3, makerUser: 3, price: 100, quantity: 5, takerRemaining: 2, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.trade(3, taker: taker, maker: 1, makerUser: 1, price: 101, quantity: 2, takerRemaining: 0, makerRemaining: 3),
            f.level(.sell, 101, 3),
        ])
        #expect(f.book(.sell) == [[1, 101, 3]])
        #expect(f.book(.buy) == [])
    }

    @Test("GTC remainder rests at its limit after sweeping")
    func gtcRemainderRests() {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        let taker = f.order(2, user: 2, .buy, price: 105, quantity: 5)
        #expect(f.place(taker) == [
            .accepted(OrderAccepted(order: taker)),
            f.trade(1, taker: taker, maker: 1, price: 100, quantity: 2, takerRemaining: 3, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.level(.buy, 105, 3),
        ])
        #expect(f.book(.buy) == [[2, 105, 3]])
    }

    @Test("IOC remainder expires; market order is IOC without limit")
    func immediateOrCancel() {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        f.place(f.order(2, .sell, price: 200, quantity: 2))
        let ioc = f.order(3, user: 2, .buy, .limit, .immediateOrCancel, price: 150, quantity: 3)
        #expect(f.place(ioc) == [
            .accepted(OrderAccepted(order: ioc)),
            f.trade(1, taker: ioc, maker: 1, price: 100, quantity: 2, takerRemaining: 1, makerRemaining: 0),
            f.level(.sell, 100, 0),
            .expired(f.ended(ioc, remaining: 1), .immediateOrCancelRemainder),
        ])
        let market = f.order(4, user: 2, .buy, .market, .immediateOrCancel, price: 0, quantity: 5)
        #expect(f.place(market) == [
            .accepted(OrderAccepted(order: market)),
            f.trade(2, taker: market, maker: 2, price: 200, quantity: 2, takerRemaining: 3, makerRemaining: 0),
            f.level(.sell, 200, 0),
            .expired(f.ended(market, remaining: 3), .immediateOrCancelRemainder),
        ])
        let empty = f.order(5, user: 2, .sell, .market, .immediateOrCancel, price: 0, quantity: 1)
        #expect(f.place(empty) == [.accepted(OrderAccepted(order: empty)), .expired(f.ended(empty, remaining: 1), .immediateOrCancelRemainder)])
    }

    @Test("a market buy stops at its quote budget: the budget-limited fill is its last, the rest expires")
    func marketBuyBudget() {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        f.place(f.order(2, .sell, price: 105, quantity: 5))
        // 200 buys two lots at 100; the 325 left buys three at 105 (315), with 10 left.
        var market = f.order(3, user: 2, .buy, .market, .immediateOrCancel, price: 0, quantity: 9)
        market.quoteBudget = 525
        #expect(f.place(market) == [
            .accepted(OrderAccepted(order: market)),
            f.trade(1, taker: market, maker: 1, price: 100, quantity: 2, takerRemaining: 7, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.trade(2, taker: market, maker: 2, price: 105, quantity: 3, takerRemaining: 4, makerRemaining: 2),
            f.level(.sell, 105, 2),
            .expired(f.ended(market, remaining: 4), .immediateOrCancelRemainder),
        ])
        // A budget below the best price buys nothing; sells and limits ignore budgets.
        var poor = f.order(4, user: 2, .buy, .market, .immediateOrCancel, price: 0, quantity: 1)
        poor.quoteBudget = 104
        #expect(f.place(poor) == [.accepted(OrderAccepted(order: poor)), .expired(f.ended(poor, remaining: 1), .immediateOrCancelRemainder)])
        var limit = f.order(5, user: 2, .buy, .limit, .immediateOrCancel, price: 105, quantity: 2)
        limit.quoteBudget = 1
        #expect(f.place(limit).count == 3, "accepted, one trade of 2, level")
    }

    @Test("FOK fills completely or expires with no effect at all")
    func fillOrKill() {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        f.place(f.order(2, .sell, price: 101, quantity: 2))
        let digest = f.engine.stateDigest
        let tooBig = f.order(3, user: 2, .buy, .limit, .fillOrKill, price: 101, quantity: 5)
        #expect(f.place(tooBig) == [.accepted(OrderAccepted(order: tooBig)), .expired(f.ended(tooBig, remaining: 5), .fillOrKillUnfillable)])
        #expect(f.engine.stateDigest == digest)
        let priceTooLow = f.order(4, user: 2, .buy, .limit, .fillOrKill, price: 100, quantity: 3)
        #expect(f.place(priceTooLow).last == .expired(f.ended(priceTooLow, remaining: 3), .fillOrKillUnfillable))
        let exact = f.order(5, user: 2, .buy, .limit, .fillOrKill, price: 101, quantity: 4)
        #expect(f.place(exact) == [
            .accepted(OrderAccepted(order: exact)),
            f.trade(1, taker: exact, maker: 1, price: 100, quantity: 2, takerRemaining: 2, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.trade(2, taker: exact, maker: 2, price: 101, quantity: 2, takerRemaining: 0, makerRemaining: 0),
            f.level(.sell, 101, 0),
        ])
        #expect(f.engine.restingOrderCount == 0)
    }

    @Test("FOK counts liquidity under the self-trade rules")
    func fillOrKillWithSelfTradePrevention() {
        var f = EngineFixture()
        f.place(f.order(1, user: 7, .sell, price: 100, quantity: 2))
        f.place(f.order(2, user: 8, .sell, price: 100, quantity: 2))
        // expire_taker stops at its own maker first in line: nothing fillable.
        let blocked = f.order(3, user: 7, .buy, .limit, .fillOrKill, price: 100, quantity: 2, stp: .expireTaker)
        #expect(f.place(blocked).last == .expired(f.ended(blocked, remaining: 2), .fillOrKillUnfillable))
        #expect(f.engine.restingOrderCount == 2)
        // expire_maker skips its own maker: 2 fillable, and the own maker is expired on the way.
        let skipping = f.order(4, user: 7, .buy, .limit, .fillOrKill, price: 100, quantity: 2, stp: .expireMaker)
        #expect(f.place(skipping) == [
            .accepted(OrderAccepted(order: skipping)),
            .expired(OrderEnded(orderID: 1, userID: 7, symbolID: f.symbol, side: .sell, price: Price(ticks: 100), remaining: Quantity(lots: 2)), .selfTradeMaker),
            f.trade(1, taker: skipping, maker: 2, makerUser: 8, price: 100, quantity: 2, takerRemaining: 0, makerRemaining: 0),
            f.level(.sell, 100, 0),
        ])
    }

    @Test("post-only rests when passive and is rejected when it would cross")
    func postOnly() {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        let crossing = f.order(2, user: 2, .buy, .limit, .postOnly, price: 100, quantity: 1)
        #expect(f.place(crossing) == [f.rejected(crossing, .postOnlyWouldCross)])
        let passive = f.order(3, user: 2, .buy, .limit, .postOnly, price: 99, quantity: 1)
        #expect(f.place(passive) == [.accepted(OrderAccepted(order: passive)), f.level(.buy, 99, 1)])
    }

    @Test("STP none lets a user trade with itself")
    func selfTradeAllowed() {
        var f = EngineFixture()
        f.place(f.order(1, user: 5, .sell, price: 100, quantity: 1))
        let taker = f.order(2, user: 5, .buy, price: 100, quantity: 1)
        #expect(f.place(taker).contains(f.trade(1, taker: taker, maker: 1, makerUser: 5, price: 100, quantity: 1, takerRemaining: 0, makerRemaining: 0)))
    }

    @Test("expire_taker: the taker's remainder expires at its own maker; earlier fills stand")
    func expireTaker() {
        var f = EngineFixture()
        f.place(f.order(1, user: 2, .sell, price: 100, quantity: 1))
        f.place(f.order(2, user: 5, .sell, price: 100, quantity: 1))
        f.place(f.order(3, user: 2, .sell, price: 100, quantity: 1))
        let taker = f.order(4, user: 5, .buy, price: 100, quantity: 3, stp: .expireTaker)
        #expect(f.place(taker) == [
            .accepted(OrderAccepted(order: taker)),
            f.trade(1, taker: taker, maker: 1, makerUser: 2, price: 100, quantity: 1, takerRemaining: 2, makerRemaining: 0),
            f.level(.sell, 100, 2),
            .expired(f.ended(taker, remaining: 2), .selfTradeTaker),
        ])
        #expect(f.book(.sell) == [[2, 100, 1], [3, 100, 1]])
    }

    @Test("expire_maker: own makers expire and matching goes on")
    func expireMaker() {
        var f = EngineFixture()
        f.place(f.order(1, user: 5, .sell, price: 100, quantity: 1))
        f.place(f.order(2, user: 2, .sell, price: 100, quantity: 1))
        let taker = f.order(3, user: 5, .buy, price: 100, quantity: 2, stp: .expireMaker)
        #expect(f.place(taker) == [
            .accepted(OrderAccepted(order: taker)),
            .expired(OrderEnded(orderID: 1, userID: 5, symbolID: f.symbol, side: .sell, price: Price(ticks: 100), remaining: Quantity(lots: 1)), .selfTradeMaker),
            f.trade(1, taker: taker, maker: 2, makerUser: 2, price: 100, quantity: 1, takerRemaining: 1, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.level(.buy, 100, 1),
        ])
    }

    @Test("expire_both: the own maker and the taker's remainder both expire")
    func expireBoth() {
        var f = EngineFixture()
        f.place(f.order(1, user: 5, .sell, price: 100, quantity: 1))
        f.place(f.order(2, user: 2, .sell, price: 100, quantity: 1))
        let taker = f.order(3, user: 5, .buy, price: 100, quantity: 2, stp: .expireBoth)
        #expect(f.place(taker) == [
            .accepted(OrderAccepted(order: taker)),
            .expired(OrderEnded(orderID: 1, userID: 5, symbolID: f.symbol, side: .sell, price: Price(ticks: 100), remaining: Quantity(lots: 1)), .selfTradeMaker),
            f.level(.sell, 100, 1),
            .expired(f.ended(taker, remaining: 2), .selfTradeTaker),
        ])
        #expect(f.book(.sell) == [[2, 100, 1]])
    }

    @Test("rejections leave no trace", arguments: [
        (OrderType.market, TimeInForce.immediateOrCancel, Int64(5), Int64(1), RejectReason.marketOrderWithPrice),
        (.market, .goodTillCanceled, 0, 1, .marketOrderNotImmediateOrCancel),
        (.limit, .goodTillCanceled, 0, 1, .invalidPrice),
        (.limit, .goodTillCanceled, -3, 1, .invalidPrice),
        (.limit, .goodTillCanceled, 100, 0, .invalidQuantity),
        (.limit, .immediateOrCancel, 100, -1, .invalidQuantity),
    ])
    func rejections(type: OrderType, timeInForce: TimeInForce, price: Int64, quantity: Int64, reason: RejectReason) {
        var f = EngineFixture()
        f.place(f.order(1, .sell, price: 100, quantity: 2))
        let digest = f.engine.stateDigest
        let order = f.order(2, user: 2, .buy, type, timeInForce, price: price, quantity: quantity)
        #expect(f.place(order) == [f.rejected(order, reason)])
        #expect(f.engine.stateDigest == digest)
    }

    @Test("unknown symbol, halted symbol, resting duplicate id, quantity and notional filters")
    func symbolRejections() throws {
        let spec = try SymbolSpec(
            name: "ETHUSDT", tickSize: DecimalNumber(units: 1, scale: 2), stepSize: DecimalNumber(units: 1, scale: 3),
            minimumQuantity: Quantity(lots: 2), maximumQuantity: Quantity(lots: 1_000), minimumNotional: DecimalNumber(units: 5, scale: 0))
        var f = EngineFixture(spec: spec)
        var unknown = f.order(1, .buy, price: 100, quantity: 5)
        unknown.symbolID = SymbolID(3)
        #expect(f.place(unknown) == [.rejected(CommandRejected(command: .place, orderID: 1, userID: 1, symbolID: SymbolID(3), reason: .unknownSymbol))])
        let small = f.order(2, .buy, price: 100_000, quantity: 1)
        #expect(f.place(small) == [f.rejected(small, .quantityBelowMinimum)])
        let large = f.order(3, .buy, price: 100_000, quantity: 1_001)
        #expect(f.place(large) == [f.rejected(large, .quantityAboveMaximum)])
        // 1.00 × 0.499 < 5; 10.00 × 0.500 = 5
        let belowNotional = f.order(5, .buy, price: 100, quantity: 499)
        #expect(f.place(belowNotional) == [f.rejected(belowNotional, .notionalBelowMinimum)])
        let atNotional = f.order(6, .buy, price: 1_000, quantity: 500)
        #expect(f.place(atNotional).first == .accepted(OrderAccepted(order: atNotional)))
        let duplicate = f.order(6, .buy, price: 1_000, quantity: 500)
        #expect(f.place(duplicate) == [f.rejected(duplicate, .duplicateOrderID)])
        #expect(f.apply(.setSymbolStatus(SetSymbolStatus(symbolID: f.symbol, status: .halted))) == [.symbolStatusChanged(f.symbol, .halted)])
        #expect(f.apply(.setSymbolStatus(SetSymbolStatus(symbolID: SymbolID(9), status: .halted))) == [
            .rejected(CommandRejected(command: .setSymbolStatus, orderID: 0, userID: 0, symbolID: SymbolID(9), reason: .unknownSymbol)),
        ])
        let halted = f.order(7, .buy, price: 1_000, quantity: 500)
        #expect(f.place(halted) == [f.rejected(halted, .symbolHalted)])
        // Cancels still work on a halted symbol.
        #expect(f.apply(.cancel(CancelOrder(orderID: 6, userID: 1, symbolID: f.symbol))).first == .canceled(f.ended(atNotional, remaining: 500)))
    }

    @Test("new filters apply to places after them; a resting order above a lowered maximum stays and survives a snapshot")
    func filterChange() throws {
        var f = EngineFixture()
        let resting = f.order(1, .buy, price: 1_000, quantity: 900)
        #expect(f.place(resting).first == .accepted(OrderAccepted(order: resting)))
        let filters = SetSymbolFilters(symbolID: f.symbol, minimumQuantity: Quantity(lots: 10), maximumQuantity: Quantity(lots: 100),
                                       minimumNotional: DecimalNumber(units: 0, scale: 0))
        #expect(f.apply(.setSymbolFilters(filters)) == [.symbolFiltersChanged(f.symbol)])
        #expect(f.engine.symbols[0].spec.maximumQuantity == Quantity(lots: 100))
        let large = f.order(2, .buy, price: 1_000, quantity: 101)
        #expect(f.place(large) == [f.rejected(large, .quantityAboveMaximum)])
        let small = f.order(3, .buy, price: 1, quantity: 10)
        #expect(f.place(small).first == .accepted(OrderAccepted(order: small)), "no minimum notional any more")
        for invalid in [
            SetSymbolFilters(symbolID: f.symbol, minimumQuantity: Quantity(lots: 0), maximumQuantity: Quantity(lots: 1), minimumNotional: DecimalNumber(units: 0, scale: 0)),
            SetSymbolFilters(symbolID: f.symbol, minimumQuantity: Quantity(lots: 5), maximumQuantity: Quantity(lots: 4), minimumNotional: DecimalNumber(units: 0, scale: 0)),
            SetSymbolFilters(symbolID: f.symbol, minimumQuantity: Quantity(lots: 1), maximumQuantity: Quantity(lots: 4), minimumNotional: DecimalNumber(units: -1, scale: 0)),
        ] {
            #expect(f.apply(.setSymbolFilters(invalid)) == [
                .rejected(CommandRejected(command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: f.symbol, reason: .invalidSymbolSpec)),
            ])
        }
        var unknown = filters
        unknown.symbolID = SymbolID(9)
        #expect(f.apply(.setSymbolFilters(unknown)).first
            == .rejected(CommandRejected(command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: SymbolID(9), reason: .unknownSymbol)))
        var source = InMemorySnapshotSource(bytes: try MatchingSnapshotTests.snapshot(of: f.engine), chunkBytes: 4_096)
        let restored = try MatchingEngine.restore(limits: f.engine.limits, from: &source)
        #expect(restored.stateDigest == f.engine.stateDigest && restored.restingOrderCount == 2)
        #expect(restored.symbols[0].spec.maximumQuantity == Quantity(lots: 100))
    }

    @Test("cancel removes only the owner's resting order on its symbol")
    func cancel() {
        var f = EngineFixture()
        let order = f.order(1, user: 3, .buy, price: 100, quantity: 4)
        f.place(order)
        f.place(f.order(2, user: 3, .buy, price: 100, quantity: 1))
        func rejected(_ reason: RejectReason, user: UserID = 3, symbol: SymbolID = SymbolID(0), id: OrderID = 1) -> [MatchingEvent] {
            [.rejected(CommandRejected(command: .cancel, orderID: id, userID: user, symbolID: symbol, reason: reason))]
        }
        #expect(f.apply(.cancel(CancelOrder(orderID: 1, userID: 4, symbolID: f.symbol))) == rejected(.notOrderOwner, user: 4))
        #expect(f.apply(.cancel(CancelOrder(orderID: 9, userID: 3, symbolID: f.symbol))) == rejected(.unknownOrder, id: 9))
        #expect(f.apply(.cancel(CancelOrder(orderID: 1, userID: 3, symbolID: SymbolID(2)))) == rejected(.unknownSymbol, symbol: SymbolID(2)))
        #expect(f.apply(.cancel(CancelOrder(orderID: 1, userID: 3, symbolID: f.symbol))) == [
            .canceled(f.ended(order, remaining: 4)), f.level(.buy, 100, 1),
        ])
        #expect(f.apply(.cancel(CancelOrder(orderID: 1, userID: 3, symbolID: f.symbol))) == rejected(.unknownOrder))
        #expect(f.apply(.cancel(CancelOrder(orderID: 2, userID: 3, symbolID: f.symbol))).last == f.level(.buy, 100, 0))
        #expect(f.engine.depth(of: f.symbol, side: .buy, limit: 10).isEmpty)
    }

    @Test("amend lowers quantity, keeps queue priority, and refuses invalid sizes")
    func amend() {
        var f = EngineFixture()
        f.place(f.order(1, user: 3, .sell, price: 100, quantity: 10))
        f.place(f.order(2, user: 4, .sell, price: 100, quantity: 10))
        let taker = f.order(3, user: 9, .buy, .limit, .immediateOrCancel, price: 100, quantity: 4)
        f.place(taker)
        // Order 1: quantity 10, executed 4, remaining 6.
        func amend(_ quantity: Int64, user: UserID = 3) -> [MatchingEvent] {
            f.apply(.amend(AmendOrder(orderID: 1, userID: user, symbolID: f.symbol, newQuantity: Quantity(lots: quantity))))
        }
        let invalid: [MatchingEvent] = [.rejected(CommandRejected(command: .amend, orderID: 1, userID: 3, symbolID: f.symbol, reason: .invalidAmendQuantity))]
        #expect(amend(10) == invalid)
        #expect(amend(11) == invalid)
        #expect(amend(4) == invalid)
        #expect(amend(3) == invalid)
        #expect(amend(7, user: 5) == [.rejected(CommandRejected(command: .amend, orderID: 1, userID: 5, symbolID: f.symbol, reason: .notOrderOwner))])
        #expect(amend(7) == [
            .amended(OrderAmended(orderID: 1, userID: 3, symbolID: f.symbol, side: .sell, price: Price(ticks: 100),
                                  newQuantity: Quantity(lots: 7), remaining: Quantity(lots: 3), released: Quantity(lots: 3))),
            f.level(.sell, 100, 13),
        ])
        // Still first in line.
        let next = f.order(4, user: 9, .buy, .limit, .immediateOrCancel, price: 100, quantity: 1)
        #expect(f.place(next)[1] == f.trade(2, taker: next, maker: 1, makerUser: 3, price: 100, quantity: 1, takerRemaining: 0, makerRemaining: 2))
        #expect(f.book(.sell) == [[1, 100, 2], [2, 100, 10]])
    }

    @Test("capacity limits reject instead of allocating")
    func capacity() {
        var f = EngineFixture(limits: .init(maximumSymbols: 1, maximumRestingOrders: 2, maximumPriceLevels: 1))
        f.place(f.order(1, .buy, price: 100, quantity: 1))
        let newLevel = f.order(2, .buy, price: 99, quantity: 1)
        #expect(f.place(newLevel) == [f.rejected(newLevel, .priceLevelCapacityReached)])
        f.place(f.order(3, .buy, price: 100, quantity: 1))
        let full = f.order(4, .buy, price: 100, quantity: 1)
        #expect(f.place(full) == [f.rejected(full, .orderCapacityReached)])
        // An IOC never rests, so it is not limited.
        let ioc = f.order(5, user: 2, .sell, .limit, .immediateOrCancel, price: 100, quantity: 1)
        #expect(f.place(ioc).first == .accepted(OrderAccepted(order: ioc)))
        var events: [MatchingEvent] = []
        f.engine.apply(.addSymbol(AddSymbol(spec: try! SymbolSpec(name: "OTHER", tickSize: DecimalNumber(units: 1, scale: 0), stepSize: DecimalNumber(units: 1, scale: 0)))), into: &events)
        #expect(events == [.rejected(CommandRejected(command: .addSymbol, orderID: 0, userID: 0, symbolID: SymbolID(1), reason: .symbolCapacityReached))])
    }

    @Test("a duplicate symbol is refused")
    func addSymbolRejections() throws {
        var f = EngineFixture()
        var events: [MatchingEvent] = []
        f.engine.apply(.addSymbol(AddSymbol(spec: f.engine.spec(of: f.symbol))), into: &events)
        #expect(events == [.rejected(CommandRejected(command: .addSymbol, orderID: 0, userID: 0, symbolID: SymbolID(1), reason: .duplicateSymbol))])
    }

    @Test("an order that would overflow its level's total is refused before it trades; FOK sums saturate")
    func levelTotalOverflow() {
        var f = EngineFixture()
        let big = Int64.max / 2 + 1
        f.place(f.order(1, user: 1, .sell, price: 100, quantity: big))
        f.place(f.order(2, user: 1, .buy, price: 90, quantity: big))
        let digest = f.engine.stateDigest
        // It would cross 100 first, but its own level at 90 could overflow: refused up front.
        let overflowing = f.order(3, user: 2, .buy, price: 90, quantity: big)
        #expect(f.place(overflowing) == [f.rejected(overflowing, .levelTotalOverflow)])
        #expect(f.engine.stateDigest == digest)
        // 2^62 + 2^62 of liquidity exceeds Int64.max: the FOK sum saturates, and it fills.
        f.place(f.order(4, user: 1, .sell, price: 101, quantity: big))
        let fok = f.order(5, user: 2, .buy, .limit, .fillOrKill, price: 101, quantity: .max)
        #expect(f.place(fok) == [
            .accepted(OrderAccepted(order: fok)),
            f.trade(1, taker: fok, maker: 1, price: 100, quantity: big, takerRemaining: big - 1, makerRemaining: 0),
            f.level(.sell, 100, 0),
            f.trade(2, taker: fok, maker: 4, price: 101, quantity: big - 1, takerRemaining: 0, makerRemaining: 1),
            f.level(.sell, 101, 1),
        ])
    }
}
