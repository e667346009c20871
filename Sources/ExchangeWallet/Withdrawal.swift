/// What a withdrawal must satisfy, per asset. Amounts are the asset's clearing units.
public struct WithdrawalPolicy: Sendable, Equatable {
    /// Smallest amount accepted.
    public var minimum: Int64
    /// The network fee charged on top (frozen with the amount).
    public var fee: Int64
    /// Approved without staff below this amount.
    public var automaticBelow: Int64
    /// From this amount on, two different staff members must approve; between
    /// `automaticBelow` and it, one.
    public var twoApprovalsFrom: Int64
    /// A user's withdrawals of the asset in any 24 hours, at most (failed ones do not count).
    public var dailyLimit: Int64
    /// How long a newly whitelisted address waits before it can receive (ms).
    public var whitelistCoolingMilliseconds: Int64

    public init(minimum: Int64, fee: Int64, automaticBelow: Int64, twoApprovalsFrom: Int64, dailyLimit: Int64, whitelistCoolingMilliseconds: Int64) {
        self.minimum = minimum
        self.fee = fee
        self.automaticBelow = automaticBelow
        self.twoApprovalsFrom = twoApprovalsFrom
        self.dailyLimit = dailyLimit
        self.whitelistCoolingMilliseconds = whitelistCoolingMilliseconds
    }

    /// Staff approvals the amount needs: 0, 1 or 2.
    public func approvalsNeeded(for amount: Int64) -> Int {
        amount < automaticBelow ? 0 : amount < twoApprovalsFrom ? 1 : 2
    }
}

/// Why a withdrawal request is refused; each says what to do.
public enum WithdrawalRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case belowMinimum(Int64)
    case addressNotWhitelisted
    case addressCooling(untilMilliseconds: Int64)
    case overDailyLimit(remaining: Int64)
    case overflow

    public var description: String {
        switch self {
        case .belowMinimum(let minimum): "the amount is below the minimum of \(minimum) units"
        case .addressNotWhitelisted: "the address is not on your withdrawal whitelist"
        case .addressCooling(let until): "the address was whitelisted recently; it can receive from \(until) ms since the Unix epoch"
        case .overDailyLimit(let remaining): "the amount is above what remains of your 24-hour limit (\(remaining) units)"
        case .overflow: "the amount is too large"
        }
    }
}

/// A whitelisted address of a user: usable once its cooling period is over.
public struct WhitelistedAddress: Sendable, Equatable {
    public var address: String
    public var addedAtMilliseconds: Int64

    public init(address: String, addedAtMilliseconds: Int64) {
        self.address = address
        self.addedAtMilliseconds = addedAtMilliseconds
    }
}

/// A withdrawal's life. HOLDING while clearing freezes amount + fee (FAILED if it cannot);
/// PENDING until enough staff approved (none under the automatic limit); APPROVED;
/// PROCESSING once its transaction is signed and stored (before any broadcast); ON_CHAIN once
/// a block holds it; COMPLETED after the confirmations; FAILED (the freeze released) if
/// refused by staff, if it fails before anything was broadcast, or if the chain ran it and it
/// reverted.
public enum WithdrawalState: String, Sendable, Equatable, CaseIterable {
    case holding = "HOLDING", pending = "PENDING", approved = "APPROVED", processing = "PROCESSING", onChain = "ON_CHAIN"
    case completed = "COMPLETED", failed = "FAILED"
}

/// Why a transition was refused (the record is unchanged).
public enum WithdrawalTransitionError: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongState(WithdrawalState)
    case alreadyApprovedBy(String)

    public var description: String {
        switch self {
        case .wrongState(let state): "the withdrawal is \(state.rawValue)"
        case .alreadyApprovedBy(let staff): "\(staff) approved it already: a second approval must come from someone else"
        }
    }
}

/// One withdrawal, a pure state machine: the service stores it after every transition.
///
/// Invariants: the signed transaction is set once, before the first broadcast, and every
/// broadcast sends those same bytes (`transactionToBroadcast`), so a crash between signing
/// and broadcasting, or a retry, never makes a second transfer; approvals come from distinct
/// staff members; FAILED is reachable only while nothing may have reached the chain, or once
/// the chain says the transaction reverted; `holdsFunds` is true exactly while clearing holds
/// amount + fee for it.
public struct WithdrawalRecord: Sendable, Equatable {
    public let id: UInt64
    public let user: UInt64
    public let asset: String
    public let amount: Int64
    public let fee: Int64
    public let address: String
    public let approvalsNeeded: Int
    public private(set) var approvedBy: [String] = []
    public private(set) var state: WithdrawalState
    /// The signed transaction, its nonce and hash, stored before any broadcast.
    public private(set) var signedTransaction: [UInt8]?
    public private(set) var nonce: UInt64?
    public private(set) var transactionHash: String?
    public private(set) var broadcasts = 0
    /// The block that holds the transaction (ON_CHAIN, COMPLETED).
    public private(set) var blockNumber: UInt64?
    public private(set) var failure: String?
    /// Clearing holds amount + fee: set once the hold is applied, cleared when the withdrawal
    /// completes or fails (the service then appends the matching release).
    public private(set) var holdsFunds = false

    /// Checks a request against `policy`, the user's whitelist and their withdrawals of the
    /// asset in the last 24 hours (`recentTotal`, failed ones excluded). The new record is
    /// HOLDING: nothing is frozen yet.
    public init(
        id: UInt64, user: UInt64, asset: String, amount: Int64, address: String, policy: WithdrawalPolicy, whitelist: [WhitelistedAddress],
        recentTotal: Int64, nowMilliseconds: Int64
    ) throws(WithdrawalRefusal) {
        guard amount >= policy.minimum else { throw .belowMinimum(policy.minimum) }
        guard let entry = whitelist.first(where: { $0.address == address }) else { throw .addressNotWhitelisted }
        let usableFrom = entry.addedAtMilliseconds + policy.whitelistCoolingMilliseconds
        guard nowMilliseconds >= usableFrom else { throw .addressCooling(untilMilliseconds: usableFrom) }
        let (total, overflow) = recentTotal.addingReportingOverflow(amount)
        guard !overflow, amount.addingReportingOverflow(policy.fee).overflow == false else { throw .overflow }
        guard total <= policy.dailyLimit else { throw .overDailyLimit(remaining: max(0, policy.dailyLimit - recentTotal)) }
        self.id = id
        self.user = user
        self.asset = asset
        self.amount = amount
        fee = policy.fee
        self.address = address
        approvalsNeeded = policy.approvalsNeeded(for: amount)
        state = .holding
    }

    /// A record as stored (the service's store reads it back with this).
    public init(
        restoring id: UInt64, user: UInt64, asset: String, amount: Int64, fee: Int64, address: String, approvalsNeeded: Int, approvedBy: [String],
        state: WithdrawalState, signedTransaction: [UInt8]?, nonce: UInt64?, transactionHash: String?, broadcasts: Int, blockNumber: UInt64?,
        failure: String?, holdsFunds: Bool
    ) {
        self.id = id
        self.user = user
        self.asset = asset
        self.amount = amount
        self.fee = fee
        self.address = address
        self.approvalsNeeded = approvalsNeeded
        self.approvedBy = approvedBy
        self.state = state
        self.signedTransaction = signedTransaction
        self.nonce = nonce
        self.transactionHash = transactionHash
        self.broadcasts = broadcasts
        self.blockNumber = blockNumber
        self.failure = failure
        self.holdsFunds = holdsFunds
    }

    /// What clearing freezes first: the amount and the fee.
    public var frozenAmount: Int64 { amount + fee }

    /// Clearing froze amount + fee: PENDING, or APPROVED at once under the automatic limit.
    public mutating func held() throws(WithdrawalTransitionError) {
        guard state == .holding else { throw .wrongState(state) }
        holdsFunds = true
        state = approvalsNeeded == 0 ? .approved : .pending
    }

    /// A staff member's approval; APPROVED once enough distinct ones came.
    public mutating func approve(by staff: String) throws(WithdrawalTransitionError) {
        guard state == .pending else { throw .wrongState(state) }
        guard !approvedBy.contains(staff) else { throw .alreadyApprovedBy(staff) }
        approvedBy.append(staff)
        if approvedBy.count >= approvalsNeeded { state = .approved }
    }

    /// Clearing could not freeze it, staff refused it, or it could not be signed: FAILED.
    /// Refused once anything may have been broadcast. Returns whether a freeze must be released.
    @discardableResult
    public mutating func fail(_ reason: String) throws(WithdrawalTransitionError) -> Bool {
        guard state == .holding || state == .pending || state == .approved || (state == .processing && broadcasts == 0) else { throw .wrongState(state) }
        return finishFailed(reason)
    }

    private mutating func finishFailed(_ reason: String) -> Bool {
        let release = holdsFunds
        state = .failed
        failure = reason
        holdsFunds = false
        return release
    }

    /// The signed transaction is stored (with its nonce and hash) before it is ever broadcast.
    public mutating func signed(_ transaction: [UInt8], nonce: UInt64, hash: String) throws(WithdrawalTransitionError) {
        guard state == .approved else { throw .wrongState(state) }
        signedTransaction = transaction
        self.nonce = nonce
        transactionHash = hash
        state = .processing
    }

    /// The bytes to broadcast now: always the stored ones (a retry after a crash sends the
    /// same transaction, which the chain accepts at most once). The service stores the record
    /// after this call and before it sends, so a record that says "never broadcast" is true.
    public mutating func transactionToBroadcast() throws(WithdrawalTransitionError) -> [UInt8] {
        guard state == .processing || state == .onChain, let signedTransaction else { throw .wrongState(state) }
        broadcasts += 1
        return signedTransaction
    }

    /// A block holds the transaction (and it ran).
    public mutating func seenOnChain(block: UInt64) throws(WithdrawalTransitionError) {
        guard state == .processing || state == .onChain else { throw .wrongState(state) }
        state = .onChain
        blockNumber = block
    }

    /// A reorganisation took the transaction's block away: back to PROCESSING, to be
    /// broadcast again (the same bytes).
    public mutating func leftChain() throws(WithdrawalTransitionError) {
        guard state == .onChain else { throw .wrongState(state) }
        state = .processing
        blockNumber = nil
    }

    /// The chain ran the transaction and it reverted: nothing was transferred. Returns whether
    /// the freeze must be released (always, by the invariant).
    @discardableResult
    public mutating func reverted(block: UInt64) throws(WithdrawalTransitionError) -> Bool {
        guard state == .processing || state == .onChain else { throw .wrongState(state) }
        blockNumber = block
        return finishFailed("the transaction reverted on chain in block \(block)")
    }

    /// Enough confirmations: the funds left for good (the service appends the clearing
    /// `completeWithdrawal`).
    public mutating func confirmed() throws(WithdrawalTransitionError) {
        guard state == .onChain else { throw .wrongState(state) }
        state = .completed
        holdsFunds = false
    }
}
