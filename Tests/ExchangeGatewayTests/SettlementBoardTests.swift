import ExchangeClearing
import ExchangeCore
import Testing

@testable import ExchangeGateway

/// RESULT/FULL placements wait for their fills' settlement legs: without I/O.
struct SettlementBoardTests {
    @Test("a trade settlement's legs: one per user whose accounts it moved, keyed by its memo; a freeze and an ended order's release one; other transactions none")
    func legsOfEvents() {
        let cause = ClearingCause(producer: ProducerID("p"), position: 1, index: 0)
        let usdt = AssetCode("USDT")!, btc = AssetCode("BTC")!
        let settlement = LedgerTransaction(id: 2, cause: cause, kind: .tradeSettlement, entries: [
            LedgerEntry(account: .frozen(7), asset: usdt, amount: -300), LedgerEntry(account: .available(7), asset: btc, amount: 10),
            LedgerEntry(account: .settlement, asset: usdt, amount: 300), LedgerEntry(account: .settlement, asset: btc, amount: -10),
        ], memo: "BTCUSDT trade 9")
        let freeze = LedgerTransaction(id: 1, cause: cause, kind: .orderFreeze, entries: [
            LedgerEntry(account: .available(8), asset: usdt, amount: -5), LedgerEntry(account: .frozen(8), asset: usdt, amount: 5),
        ], memo: LedgerTransaction.orderFrozenMemo(42))
        let adjustment = LedgerTransaction(id: 4, cause: cause, kind: .adjustment, entries: [
            LedgerEntry(account: .available(8), asset: usdt, amount: 5), LedgerEntry(account: .adjustments, asset: usdt, amount: -5),
        ], memo: "goodwill")
        let ended = LedgerTransaction(id: 3, cause: cause, kind: .orderRelease, entries: [
            LedgerEntry(account: .available(8), asset: usdt, amount: 5), LedgerEntry(account: .frozen(8), asset: usdt, amount: -5),
        ], memo: LedgerTransaction.orderEndedMemo(42))
        var amended = ended
        amended.memo = ""
        #expect(OrderViewProjection.settledLegs([.transaction(freeze), .transaction(settlement), .transaction(amended), .transaction(adjustment), .transaction(ended)])
            == [SettlementBoard.freeze(orderID: 42, user: 8), SettlementBoard.leg(symbol: "BTCUSDT", tradeID: 9, user: 7),
                SettlementBoard.release(orderID: 42, user: 8)])
    }

    @Test("a wait ends when every leg is in, whether written before or after it asked; else false at its timeout")
    func waits() async {
        let board = SettlementBoard()
        board.settled(["a#1"])
        #expect(await board.wait(for: ["a#1"], timeout: .seconds(5)))
        async let both = board.wait(for: ["a#1", "b#1", "c#2"], timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(20))
        board.settled(["b#1"])
        board.settled(["c#2", "d#3"])
        #expect(await both)
        #expect(await board.wait(for: ["never#1"], timeout: .milliseconds(20)) == false)
    }

    @Test("it remembers the last legs up to its capacity, the oldest forgotten first")
    func capacity() async {
        let board = SettlementBoard(capacity: 2)
        board.settled(["a#1", "b#1", "c#1"])
        #expect(await board.wait(for: ["b#1", "c#1"], timeout: .milliseconds(20)))
        #expect(await board.wait(for: ["a#1"], timeout: .milliseconds(20)) == false)
    }
}
