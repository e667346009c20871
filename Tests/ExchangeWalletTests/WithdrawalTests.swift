import ExchangeWallet
import Testing

struct WithdrawalTests {
    static let policy = WithdrawalPolicy(
        minimum: 100, fee: 10, automaticBelow: 1_000, twoApprovalsFrom: 10_000, dailyLimit: 50_000, whitelistCoolingMilliseconds: 86_400_000)
    static let whitelist = [WhitelistedAddress(address: "0xold", addedAtMilliseconds: 0), WhitelistedAddress(address: "0xnew", addedAtMilliseconds: 1_000_000)]

    /// A request clearing froze (held).
    static func request(_ amount: Int64, to address: String = "0xold", recent: Int64 = 0, now: Int64 = 2 * 86_400_000) throws -> WithdrawalRecord {
        var record = try WithdrawalRecord(
            id: 1, user: 7, asset: "ETH", amount: amount, address: address, policy: policy, whitelist: whitelist, recentTotal: recent, nowMilliseconds: now)
        #expect(record.state == .holding && !record.holdsFunds)
        try record.held()
        #expect(record.holdsFunds)
        return record
    }

    @Test("refusals: minimum, whitelist, cooling period, daily limit, overflow")
    func refusals() {
        #expect(throws: WithdrawalRefusal.belowMinimum(100)) { try Self.request(99) }
        #expect(throws: WithdrawalRefusal.addressNotWhitelisted) { try Self.request(500, to: "0xother") }
        #expect(throws: WithdrawalRefusal.addressCooling(untilMilliseconds: 87_400_000)) { try Self.request(500, to: "0xnew", now: 87_399_999) }
        #expect(throws: WithdrawalRefusal.overDailyLimit(remaining: 1_000)) { try Self.request(1_001, recent: 49_000) }
        #expect(throws: WithdrawalRefusal.overflow) { try Self.request(.max) }
        #expect((try? Self.request(500, to: "0xnew", now: 87_400_000)) != nil)
        #expect((try? Self.request(1_000, recent: 49_000)) != nil)
    }

    @Test("approvals by amount: none, one, two distinct staff members")
    func approvals() throws {
        #expect(try Self.request(999).state == .approved)
        var one = try Self.request(1_000)
        #expect(one.state == .pending && one.frozenAmount == 1_010)
        try one.approve(by: "ops@x")
        #expect(one.state == .approved)
        var two = try Self.request(10_000)
        try two.approve(by: "ops@x")
        #expect(two.state == .pending)
        #expect(throws: WithdrawalTransitionError.alreadyApprovedBy("ops@x")) { try two.approve(by: "ops@x") }
        try two.approve(by: "lead@x")
        #expect(two.state == .approved && two.approvedBy == ["ops@x", "lead@x"])
    }

    @Test("signed before broadcast; every broadcast sends the same bytes; it cannot fail once broadcast")
    func broadcastOnce() throws {
        var record = try Self.request(500)
        #expect(throws: WithdrawalTransitionError.wrongState(.approved)) { try record.transactionToBroadcast() }
        try record.signed([1, 2, 3], nonce: 42, hash: "0xabc")
        let first = try record.transactionToBroadcast()
        let retried = try record.transactionToBroadcast()
        #expect(first == [1, 2, 3] && retried == first && record.nonce == 42 && record.broadcasts == 2)
        #expect(throws: WithdrawalTransitionError.wrongState(.processing)) { try record.fail("late") }
        #expect(throws: WithdrawalTransitionError.wrongState(.processing)) { try record.signed([9], nonce: 43, hash: "0xdef") }
        try record.seenOnChain(block: 10)
        try record.leftChain()  // a reorg took its block: broadcast again, the same bytes
        #expect(record.state == .processing && record.blockNumber == nil)
        #expect(try record.transactionToBroadcast() == first)
        try record.seenOnChain(block: 12)
        try record.confirmed()
        #expect(record.state == .completed && !record.holdsFunds && record.blockNumber == 12)
    }

    @Test("refused by staff or unsignable before any broadcast: FAILED")
    func failures() throws {
        var refusedByClearing = try WithdrawalRecord(
            id: 2, user: 7, asset: "ETH", amount: 500, address: "0xold", policy: Self.policy, whitelist: Self.whitelist, recentTotal: 0,
            nowMilliseconds: 2 * 86_400_000)
        #expect(try refusedByClearing.fail("insufficient balance") == false, "nothing was frozen: nothing to release")
        var pending = try Self.request(2_000)
        #expect(try pending.fail("refused by ops@x") == true, "the freeze is released")
        #expect(pending.state == .failed && pending.failure == "refused by ops@x")
        var signedOnly = try Self.request(500)
        try signedOnly.signed([1], nonce: 1, hash: "0x1")
        try signedOnly.fail("node refused the transaction")
        #expect(signedOnly.state == .failed)
        #expect(throws: WithdrawalTransitionError.wrongState(.failed)) { try signedOnly.approve(by: "x") }
        var reverted = try Self.request(500)
        try reverted.signed([1], nonce: 2, hash: "0x2")
        _ = try reverted.transactionToBroadcast()
        #expect(try reverted.reverted(block: 9) == true && reverted.state == .failed && !reverted.holdsFunds)
    }
}
