import ExchangeClearing
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderPath
import Testing

/// What goes where on the order path, one log entry at a time.
struct OrderPathRoutingTests {
    static let symbol = SymbolID(3)

    static func order(_ id: OrderID, user: UserID, symbol: String, side: OrderSide = .buy, type: OrderType = .limit) -> ClearingOrder {
        ClearingOrder(orderID: id, userID: user, symbol: symbol, side: side, type: type, timeInForce: type == .market ? .immediateOrCancel : .goodTillCanceled,
                      price: type == .market ? .absent : Price(ticks: 100), quantity: Quantity(lots: 5))
    }

    @Test("forwarded orders become places on their shards, by symbol name, with their matching budget; unknown symbols come back as ends")
    func forwarding() throws {
        let events: [ClearingEvent] = [
            .transaction(LedgerTransaction(id: 1, cause: ClearingCause(producer: ProducerID("g"), position: 1, index: 0), kind: .orderFreeze, entries: [])),
            .forward(Self.order(1, user: 7, symbol: "BTCUSDT"), tickLotBudget: 0),
            .forward(Self.order(2, user: 8, symbol: "ETHUSDT", type: .market), tickLotBudget: 1_234),
            .forward(Self.order(3, user: 9, symbol: "NOPEUSDT"), tickLotBudget: 0),
            .forward(Self.order(4, user: 7, symbol: "BTCUSDT", side: .sell), tickLotBudget: 0),
        ]
        let routed = OrderPathRouting.shardCommands(of: events) { ["BTCUSDT": 0, "ETHUSDT": 1][$0] }
        #expect(routed.unroutable.map(\.orderID) == [3])
        let btc = try #require(routed.batches[0])
        #expect(btc.symbols == ["BTCUSDT"] && btc.commands.count == 2)
        guard case .place(let market) = routed.batches[1]?.commands.first else { Issue.record("no place on shard 1"); return }
        #expect(market.quoteBudget == 1_234 && market.type == .market && market.orderID == 2)
        #expect(OrderPathRouting.unroutableEnds(routed.unroutable) { $0 % 2 == 0 ? 0 : 1 } == [1: [.orderEnded(orderID: 3, userID: 9)]])
    }

    @Test("a cancel forwarded after its place follows it on the same shard; one for an unknown symbol is dropped")
    func cancelFollowsPlace() throws {
        let events: [ClearingEvent] = [
            .forward(Self.order(1, user: 7, symbol: "BTCUSDT"), tickLotBudget: 0),
            .forwardCancel(orderID: 1, userID: 7, symbol: "BTCUSDT"),
            .forwardCancel(orderID: 2, userID: 7, symbol: "NOPEUSDT"),
        ]
        let routed = OrderPathRouting.shardCommands(of: events) { ["BTCUSDT": 0][$0] }
        let batch = try #require(routed.batches[0])
        #expect(routed.batches.count == 1 && routed.unroutable.isEmpty)
        guard batch.commands.count == 2, case .place(let place) = batch.commands[0], case .cancel(let cancel) = batch.commands[1] else {
            Issue.record("expected a place then a cancel: \(batch.commands)")
            return
        }
        #expect(place.orderID == 1 && cancel.orderID == 1 && cancel.userID == 7 && cancel.symbolID == place.symbolID)
    }

    @Test("a trade sends a leg to each side's partition and ends filled orders; cancels, expiries, refusals end; amends release")
    func settlement() {
        let trade = TradeExecuted(
            symbolID: Self.symbol, tradeID: 5, takerOrderID: 10, makerOrderID: 20, takerUserID: 1, makerUserID: 2, takerSide: .buy,
            price: Price(ticks: 101), quantity: Quantity(lots: 3), takerRemaining: Quantity(lots: 0), makerRemaining: Quantity(lots: 4))
        let ended = OrderEnded(orderID: 30, userID: 2, symbolID: Self.symbol, side: .sell, price: Price(ticks: 1), remaining: Quantity(lots: 1))
        let outcomes: [CommandOutcome] = [
            .events([.traded(trade)]),
            .events([.canceled(ended)]),
            .events([.expired(OrderEnded(orderID: 31, userID: 1, symbolID: Self.symbol, side: .buy, price: .absent, remaining: Quantity(lots: 1)), .immediateOrCancelRemainder)]),
            .events([.rejected(CommandRejected(command: .place, orderID: 32, userID: 1, symbolID: Self.symbol, reason: .postOnlyWouldCross))]),
            .events([.rejected(CommandRejected(command: .place, orderID: 20, userID: 1, symbolID: Self.symbol, reason: .duplicateOrderID))]),
            .events([.rejected(CommandRejected(command: .cancel, orderID: 33, userID: 1, symbolID: Self.symbol, reason: .unknownOrder))]),
            .events([.amended(OrderAmended(orderID: 20, userID: 2, symbolID: Self.symbol, side: .sell, price: Price(ticks: 101),
                                           newQuantity: Quantity(lots: 5), remaining: Quantity(lots: 2), released: Quantity(lots: 2)))]),
            .misrouted(symbol: "X", owner: 1),
        ]
        let commands = OrderPathRouting.clearingCommands(of: outcomes) { $0 == 1 ? 0 : 1 }
        #expect(commands[0] == [
            .tradeLeg(TradeLeg(tradeID: 5, orderID: 10, userID: 1, price: Price(ticks: 101), quantity: Quantity(lots: 3), isMaker: false)),
            .orderEnded(orderID: 10, userID: 1),
            .orderEnded(orderID: 31, userID: 1),
            .orderEnded(orderID: 32, userID: 1),
        ])
        #expect(commands[1] == [
            .tradeLeg(TradeLeg(tradeID: 5, orderID: 20, userID: 2, price: Price(ticks: 101), quantity: Quantity(lots: 3), isMaker: true)),
            .orderEnded(orderID: 30, userID: 2),
            .orderAmended(orderID: 20, userID: 2, releasedLots: 2),
        ])
    }
}
