import ExchangeClearing
import ExchangeCore
import ExchangeMatcher
import Testing

@testable import ExchangeGateway

/// The read view's projection, without I/O: which writes and notices one output entry makes.
struct OrderViewProjectionTests {
    /// BTCUSDT: tick 0.01, lot 0.0001, BTC and USDT at 8 decimals (a lot is 10,000 units, a
    /// tick × lot 100 units); maker 10 bps, taker 20 bps.
    static let symbol = try! ClearingSymbol(
        name: "BTCUSDT", base: AssetSpec(code: AssetCode("BTC")!, scale: 8), quote: AssetSpec(code: AssetCode("USDT")!, scale: 8),
        tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"), minimumNotional: DecimalNumber(parsing: "0"),
        makerFeeBasisPoints: 10, takerFeeBasisPoints: 20)

    @Test("a partial fill: both sides' executed quantity, quote and trade, the maker still open, the taker filled and ended, fees as clearing charges them")
    func trade() {
        let trade = TradeExecuted(
            symbolID: SymbolID(3), tradeID: 9, takerOrderID: 20, makerOrderID: 10, takerUserID: 2, makerUserID: 1, takerSide: .buy,
            price: Price(ticks: 3_000_000), quantity: Quantity(lots: 1_000), takerRemaining: .zero, makerRemaining: Quantity(lots: 4_000))
        let (operations, notices) = OrderViewProjection.shardEntry(
            [.events([.traded(trade)])], timeMilliseconds: 77, symbol: { $0 == SymbolID(3) ? "BTCUSDT" : nil },
            clearingSymbol: { $0 == "BTCUSDT" ? Self.symbol : nil })
        // 0.1 BTC at 30000: 3000 USDT = 300,000,000,000 quote units; the taker buys 10,000,000 BTC units.
        let quote = Self.symbol.quoteUnits(ticks: 3_000_000, lots: 1_000)!
        #expect(quote == 300_000_000_000)
        let maker = notices.first { $0.orderID == 10 }
        let taker = notices.first { $0.orderID == 20 }
        #expect(maker?.status == "PARTIALLY_FILLED" && taker?.status == "FILLED")
        #expect(maker?.fills.first?.commissionUnits == ClearingSymbol.fee(on: quote, basisPoints: 10) && maker?.fills.first?.commissionAsset == "USDT")
        #expect(taker?.fills.first?.commissionUnits == 20_000 && taker?.fills.first?.commissionAsset == "BTC" && taker?.fills.first?.isBuyer == true)
        #expect(operations.contains(.init(guardKey: "gw:o:10", command: .hincrby, key: "gw:o:10", first: "ex", second: "1000")))
        #expect(operations.contains(.init(guardKey: "gw:o:20", command: .hincrby, key: "gw:o:20", first: "cq", second: String(quote))))
        #expect(operations.contains(.init(guardKey: "gw:o:20", command: .srem, key: "gw:uopen:2", first: "20", second: "")))
        #expect(!operations.contains { $0.command == .srem && $0.first == "10" })
        // Every write to an order is guarded by its record (flow-file orders get none); user
        // events by the user's stream marker, one TRADE report per side, after its order's writes.
        #expect(operations.allSatisfy { $0.command == .userEvent ? $0.guardKey.hasPrefix("gw:uds:") : $0.guardKey.hasPrefix("gw:o:") })
        let events = operations.filter { $0.command == .userEvent }
        #expect(events.map(\.key) == ["gw:ue:1", "gw:ue:2"] && events.map(\.first) == ["gw:o:10", "gw:o:20"])
        #expect(events.map { UserEvent(text: $0.second, entryTimeMilliseconds: 0) } == [
            UserEvent(execution: "TRADE", orderID: 10, timeMilliseconds: 77, trade: maker!.fills[0]),
            UserEvent(execution: "TRADE", orderID: 20, timeMilliseconds: 77, trade: taker!.fills[0]),
        ])
        #expect(operations.lastIndex { $0.key == "gw:o:20" }! < operations.firstIndex { $0.command == .userEvent && $0.first == "gw:o:20" }!)
        let stored = operations.filter { $0.command == .zadd }.map(\.second).compactMap(TradeRecord.init(text:))
        #expect(stored.count == 2 && stored.contains(taker!.fills[0]))
    }

    @Test("ends: cancel, expiry (self-trade: in match), a refused place with Binance's error; a refused cancel is noticed")
    func ends() {
        let ended = { (id: OrderID) in OrderEnded(orderID: id, userID: 5, symbolID: SymbolID(0), side: .sell, price: Price(ticks: 1), remaining: Quantity(lots: 1)) }
        let (_, notices) = OrderViewProjection.shardEntry([
            .events([.canceled(ended(1)), .expired(ended(2), .immediateOrCancelRemainder), .expired(ended(3), .selfTradeMaker)]),
            .events([.rejected(CommandRejected(command: .place, orderID: 4, userID: 5, symbolID: SymbolID(0), reason: .postOnlyWouldCross))]),
            .events([.rejected(CommandRejected(command: .cancel, orderID: 6, userID: 5, symbolID: SymbolID(0), reason: .unknownOrder))]),
        ], timeMilliseconds: 1, symbol: { _ in "BTCUSDT" }, clearingSymbol: { _ in Self.symbol })
        #expect(notices.map(\.status) == ["CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED", nil])
        #expect(notices[3].rejection == .wouldMatch && notices[4].cancelRefused)
        #expect(notices[4].cancelRefusal == nil, "an unknown order's cancel is answered -2011")
    }

    @Test("a command that met its symbol moving is refused with Binance's retryable -1001, place and cancel alike")
    func symbolMoved() {
        let (_, notices) = OrderViewProjection.shardEntry([
            .events([.rejected(CommandRejected(command: .place, orderID: 4, userID: 5, symbolID: SymbolID(0), reason: .symbolMoved))]),
            .events([.rejected(CommandRejected(command: .cancel, orderID: 6, userID: 5, symbolID: SymbolID(0), reason: .symbolMoved))]),
        ], timeMilliseconds: 1, symbol: { _ in "BTCUSDT" }, clearingSymbol: { _ in Self.symbol })
        #expect(notices.map(\.status) == ["REJECTED", nil])
        #expect(notices[0].rejection == .symbolMoving && notices[1].cancelRefusal == .symbolMoving)
        #expect(notices[0].rejection?.code == -1001 && notices[0].rejection?.status.code == 503)
    }

    @Test("balances follow every user account entry of a ledger transaction, nothing else; one balance event per user after them; a freeze unmarks its order")
    func balances() {
        let transaction = LedgerTransaction(id: 1, cause: ClearingCause(producer: ProducerID("p"), position: 1, index: 0), kind: .orderFreeze, entries: [
            LedgerEntry(account: .available(7), asset: AssetCode("USDT")!, amount: -50),
            LedgerEntry(account: .frozen(7), asset: AssetCode("USDT")!, amount: 50),
            LedgerEntry(account: .fees, asset: AssetCode("USDT")!, amount: 3),
        ], memo: LedgerTransaction.orderFrozenMemo(12))
        #expect(transaction.frozenOrderID == 12)
        #expect(OrderViewProjection.clearingEntry([.transaction(transaction)], timeMilliseconds: 9) == [
            // Clearing froze the order's funds: it is in the log, its record loses the unsettled mark.
            .init(guardKey: "gw:o:12", command: .hdel, key: "gw:o:12", first: "un", second: ""),
            .init(guardKey: "gw:o:12", command: .srem, key: "gw:unsettled-orders:0", first: "12", second: ""),
            .init(guardKey: "", command: .hincrby, key: "gw:bal:7", first: "a:USDT", second: "-50"),
            .init(guardKey: "", command: .hincrby, key: "gw:bal:7", first: "f:USDT", second: "50"),
            .init(guardKey: "gw:uds:7", command: .userBalances, key: "gw:ue:7", first: "gw:bal:7", second: "USDT"),
        ])
    }

    @Test("a deposit is a balanceUpdate event, recorded only while the user has a stream")
    func deposits() {
        let transaction = LedgerTransaction(id: 2, cause: ClearingCause(producer: ProducerID("p"), position: 2, index: 0), kind: .deposit, entries: [
            LedgerEntry(account: .external, asset: AssetCode("BTC")!, amount: -7),
            LedgerEntry(account: .available(3), asset: AssetCode("BTC")!, amount: 7),
        ], memo: "")
        let operations = OrderViewProjection.clearingEntry([.transaction(transaction)], timeMilliseconds: 9)
        #expect(operations.filter { $0.command == .userEvent } == [
            .init(guardKey: "gw:uds:3", command: .userEvent, key: "gw:ue:3", first: "", second: "b;BTC;7;9"),
        ])
        #expect(UserEvent(text: "b;BTC;7;9", entryTimeMilliseconds: 0) == UserEvent(balanceUpdateOf: "BTC", amount: 7, timeMilliseconds: 9))
    }

    @Test("a traced order's events carry its trace: execution reports by order, balance events by the cause of the user's transactions")
    func traces() {
        let traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let trade = TradeExecuted(
            symbolID: SymbolID(3), tradeID: 9, takerOrderID: 20, makerOrderID: 10, takerUserID: 2, makerUserID: 1, takerSide: .buy,
            price: Price(ticks: 3_000_000), quantity: Quantity(lots: 1_000), takerRemaining: .zero, makerRemaining: Quantity(lots: 4_000))
        let (operations, _) = OrderViewProjection.shardEntry(
            [.events([.traded(trade)])], timeMilliseconds: 77, symbol: { _ in "BTCUSDT" }, clearingSymbol: { _ in Self.symbol },
            traceOf: { $0 == 20 ? traceParent : nil })
        let events = operations.filter { $0.command == .userEvent }
        #expect(events.map(\.first) == ["gw:o:10", "gw:o:20"] && events.map(\.trace) == ["", traceParent])
        #expect(operations.filter { $0.command != .userEvent }.allSatisfy { $0.trace.isEmpty })

        let traced = ClearingCause(producer: ProducerID("me-0"), position: 1, index: 1)
        let transactions: [ClearingEvent] = [
            .transaction(LedgerTransaction(id: 1, cause: ClearingCause(producer: ProducerID("me-0"), position: 1, index: 0), kind: .tradeSettlement, entries: [
                LedgerEntry(account: .frozen(7), asset: AssetCode("USDT")!, amount: -5), LedgerEntry(account: .settlement, asset: AssetCode("USDT")!, amount: 5),
            ])),
            .transaction(LedgerTransaction(id: 2, cause: traced, kind: .tradeSettlement, entries: [
                LedgerEntry(account: .frozen(8), asset: AssetCode("BTC")!, amount: -5), LedgerEntry(account: .settlement, asset: AssetCode("BTC")!, amount: 5),
            ])),
        ]
        let balances = OrderViewProjection.clearingEntry(transactions, timeMilliseconds: 9) { $0 == traced ? traceParent : nil }
            .filter { $0.command == .userBalances }
        #expect(balances.map(\.key) == ["gw:ue:7", "gw:ue:8"] && balances.map(\.trace) == ["", traceParent])
        #expect(balances[1].arguments.last == traceParent)
    }
}
