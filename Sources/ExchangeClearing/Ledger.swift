import ExchangeCore

/// An account of the double-entry ledger of one clearing partition. Per asset, every
/// transaction's entries sum to zero, so the balances of all accounts of an asset always
/// sum to zero: users' money is matched by what came in from outside.
public enum LedgerAccount: Hashable, Comparable, Sendable {
    /// What `user` may spend.
    case available(UserID)
    /// What `user` has promised: open orders and pending withdrawals.
    case frozen(UserID)
    /// Fees the venue earned.
    case fees
    /// The outside world: minus everything deposited, plus everything withdrawn.
    case external
    /// The counterparty of admin adjustments.
    case adjustments
    /// Trades in transit between partitions: each trade leg moves the asset it gives into
    /// settlement and takes the one it receives out; once both legs of a trade are settled
    /// (possibly in two partitions), settlement nets to zero across the cluster.
    case settlement

    var order: (UInt8, UserID) {
        switch self {
        case .available(let user): (0, user)
        case .frozen(let user): (1, user)
        case .fees: (2, 0)
        case .external: (3, 0)
        case .adjustments: (4, 0)
        case .settlement: (5, 0)
        }
    }

    public static func < (lhs: LedgerAccount, rhs: LedgerAccount) -> Bool { lhs.order < rhs.order }
}

/// One line of a ledger transaction: `amount` units of `asset` into `account` (negative: out of).
public struct LedgerEntry: Hashable, Sendable {
    public var account: LedgerAccount
    public var asset: AssetCode
    public var amount: Int64

    public init(account: LedgerAccount, asset: AssetCode, amount: Int64) {
        self.account = account
        self.asset = asset
        self.amount = amount
    }
}

/// Which input caused a transaction: the producer's log position and the command's index in it.
public struct ClearingCause: Hashable, Sendable {
    public var producer: ProducerID
    public var position: UInt64
    public var index: Int

    public init(producer: ProducerID, position: UInt64, index: Int) {
        self.producer = producer
        self.position = position
        self.index = index
    }
}

/// A balanced movement of funds: per asset, `entries` sum to zero.
public struct LedgerTransaction: Hashable, Sendable {
    /// Dense per partition, from 1.
    public var id: UInt64
    public var cause: ClearingCause
    public var kind: Kind
    public var entries: [LedgerEntry]
    /// Adjustments: the reason; trade settlements: `SYMBOL trade ID` (a trade id is per
    /// symbol), so an audit can match both legs of each trade; an order's freeze: `order ID
    /// frozen` (`orderFrozenMemo`); the release of an ended order's freeze: `order ID ended`
    /// (`orderEndedMemo`); empty otherwise (an amend's release).
    public var memo: String

    /// The memo of the freeze of order `orderID`'s funds when clearing accepted it.
    public static func orderFrozenMemo(_ orderID: OrderID) -> String { "order \(orderID) frozen" }

    /// The order whose freeze this is (an `orderFreeze` with `orderFrozenMemo`), else nil.
    public var frozenOrderID: OrderID? {
        guard kind == .orderFreeze, memo.hasPrefix("order "), memo.hasSuffix(" frozen") else { return nil }
        return OrderID(memo.dropFirst(6).dropLast(7))
    }

    /// The memo of the release of order `orderID`'s remaining freeze when it ended.
    public static func orderEndedMemo(_ orderID: OrderID) -> String { "order \(orderID) ended" }

    public init(id: UInt64, cause: ClearingCause, kind: Kind, entries: [LedgerEntry], memo: String = "") {
        self.id = id
        self.cause = cause
        self.kind = kind
        self.entries = entries
        self.memo = memo
    }

    public enum Kind: UInt8, Sendable, CaseIterable {
        case deposit = 1, withdrawalHold, withdrawalComplete, withdrawalRelease
        case orderFreeze, orderRelease, tradeSettlement, adjustment
    }

    /// Whether every asset's entries sum to zero (in 128 bits: no overflow can hide a gap).
    public var isBalanced: Bool {
        var sums: [AssetCode: Int128] = [:]
        for entry in entries { sums[entry.asset, default: 0] += Int128(entry.amount) }
        return sums.values.allSatisfy { $0 == 0 }
    }
}
