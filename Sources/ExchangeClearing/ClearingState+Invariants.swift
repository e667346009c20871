import ExchangeCore

/// What one asset's accounts hold in a partition, for audits.
public struct AssetTotals: Hashable, Sendable {
    public var available: Int128 = 0
    public var frozen: Int128 = 0
    public var fees: Int128 = 0
    /// Deposited minus withdrawn (minus the external account).
    public var netDeposits: Int128 = 0
    /// Added by admin adjustments, net (minus the adjustments account).
    public var netAdjustments: Int128 = 0
    /// Trades given minus received, not yet settled on the other side.
    public var settlement: Int128 = 0

    public init() {}

    /// What users and the venue hold.
    public var held: Int128 { available + frozen + fees }

    /// The sums of two partitions' totals.
    public static func + (lhs: AssetTotals, rhs: AssetTotals) -> AssetTotals {
        var sum = lhs
        sum.available += rhs.available
        sum.frozen += rhs.frozen
        sum.fees += rhs.fees
        sum.netDeposits += rhs.netDeposits
        sum.netAdjustments += rhs.netAdjustments
        sum.settlement += rhs.settlement
        return sum
    }
}

extension ClearingState {
    /// Per asset, the sums of each kind of account (128-bit: sums of `Int64`s cannot overflow).
    public var totals: [AssetCode: AssetTotals] {
        var totals: [AssetCode: AssetTotals] = [:]
        for (key, balance) in balances {
            totals[key.asset, default: AssetTotals()].available += Int128(balance.available)
            totals[key.asset, default: AssetTotals()].frozen += Int128(balance.frozen)
        }
        for (key, value) in systemBalances {
            switch key.account {
            case .fees: totals[key.asset, default: AssetTotals()].fees += Int128(value)
            case .external: totals[key.asset, default: AssetTotals()].netDeposits -= Int128(value)
            case .adjustments: totals[key.asset, default: AssetTotals()].netAdjustments -= Int128(value)
            case .settlement: totals[key.asset, default: AssetTotals()].settlement += Int128(value)
            case .available, .frozen: preconditionFailure("user accounts are not system balances")
            }
        }
        return totals
    }

    /// Checks: per asset, what users and fees hold plus settlement equals net deposits plus
    /// net adjustments (all accounts sum to zero); no user balance or fee account is
    /// negative; each user's frozen amount of an asset is what their open orders and pending
    /// withdrawals hold of it; open orders and withdrawals are positive and name known assets
    /// and symbols; the transaction counter is positive.
    public func checkInvariants() throws(InvariantViolation) {
        func fail(_ message: String) -> InvariantViolation { InvariantViolation(description: message) }
        for (asset, total) in totals where total.held + total.settlement != total.netDeposits + total.netAdjustments {
            throw fail("\(asset): held \(total.held) + settlement \(total.settlement) != deposits \(total.netDeposits) + adjustments \(total.netAdjustments)")
        }
        for (key, balance) in balances where balance.available < 0 || balance.frozen < 0 {
            throw fail("user \(key.user) \(key.asset): negative balance \(balance)")
        }
        for (key, value) in systemBalances where key.account == .fees && value < 0 {
            throw fail("fees \(key.asset): negative \(value)")
        }
        var promised: [AccountKey: Int128] = [:]
        for (id, order) in openOrders {
            guard order.frozen >= 0 else { throw fail("order \(id) holds \(order.frozen)") }
            guard let symbol = symbols[order.symbol] else { throw fail("order \(id) on unknown symbol \(order.symbol)") }
            guard order.asset == (order.side == .buy ? symbol.quote : symbol.base) else { throw fail("order \(id) freezes \(order.asset)") }
            promised[AccountKey(user: order.userID, asset: order.asset), default: 0] += Int128(order.frozen)
        }
        for (id, withdrawal) in withdrawals {
            guard withdrawal.amount > 0, assets[withdrawal.asset] != nil else { throw fail("withdrawal \(id) is \(withdrawal)") }
            promised[AccountKey(user: withdrawal.user, asset: withdrawal.asset), default: 0] += Int128(withdrawal.amount)
        }
        for (key, balance) in balances where Int128(balance.frozen) != promised[key] ?? 0 {
            throw fail("user \(key.user) \(key.asset): frozen \(balance.frozen), open orders and withdrawals hold \(promised[key] ?? 0)")
        }
        for key in promised.keys where balances[key] == nil {
            throw fail("user \(key.user) \(key.asset): promised \(promised[key]!) with no account")
        }
        guard nextTransactionID >= 1 else { throw fail("transaction counter at 0") }
    }

    /// A digest of the whole logical state: the checksum of its snapshot form, which lists
    /// everything in sorted order.
    public var stateDigest: UInt64 {
        let bytes = snapshotBytes()
        var checksum = Checksum64()
        bytes.withUnsafeBytes { checksum.update($0) }
        return checksum.value
    }
}
