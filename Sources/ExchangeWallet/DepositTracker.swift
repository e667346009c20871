import ExchangeChain

/// A deposit's life: PENDING when seen in a block, CONFIRMED once that block has
/// `confirmations` blocks on top (counting itself), CREDITED when clearing was told,
/// COMPLETED when clearing applied it; CANCELLED when a reorg removed it before it was
/// credited. Cancelled deposits come back to PENDING if the payment is mined again.
public enum DepositState: String, Sendable, Equatable {
    case pending = "PENDING", confirmed = "CONFIRMED", credited = "CREDITED", completed = "COMPLETED", cancelled = "CANCELLED"
}

public struct Deposit: Sendable, Equatable {
    public init(payment: ChainPayment, state: DepositState, blockNumber: UInt64, blockHash: String, orphaned: Bool = false) {
        self.payment = payment
        self.state = state
        self.blockNumber = blockNumber
        self.blockHash = blockHash
        self.orphaned = orphaned
    }

    public var payment: ChainPayment
    public var state: DepositState
    /// The block that holds the payment now (or last held it).
    public var blockNumber: UInt64
    public var blockHash: String
    /// A credited deposit whose block a reorganisation removed (its case is open) and that
    /// no block holds again yet.
    public var orphaned = false
}

/// What a step of the tracker asks its owner to do or to know.
public enum DepositEvent: Sendable, Equatable {
    case seen(ChainPayment.Key)
    case confirmed(ChainPayment.Key)
    /// A reorg removed a payment before it was credited: nothing to undo.
    case cancelled(ChainPayment.Key)
    /// A reorg removed a payment that was credited already (it was in block `blockNumber`):
    /// staff must open an adjustment case (never undone silently, never credited twice).
    /// Raised once per removal.
    case reorgAfterCredit(ChainPayment.Key, blockNumber: UInt64)
}

/// Why a block was not applied.
public enum DepositTrackerError: Error, Equatable, Sendable {
    /// The block does not follow the tip (`expected` is the next number).
    case notNext(expected: UInt64)
    /// The block's parent is not the tip: the chain reorganised. Roll back and fetch again.
    case reorganised(atNumber: UInt64)
    /// The rollback would go deeper than the blocks kept.
    case rollbackTooDeep
}

/// The deposit watcher's state machine (pure: blocks in, events out; the owner stores it with
/// the watcher's progress in one transaction). It follows one chain from `startBlock`, keeps
/// the hashes of the last `keptBlocks` blocks to detect reorganisations, and tracks each
/// deposit by its chain key, so re-reading blocks, re-mined transactions and restarts never
/// credit a payment twice.
///
/// Invariants: at most one deposit per key; a deposit is CONFIRMED or later only if its block
/// had `confirmations` blocks on top when it was confirmed; a CREDITED or COMPLETED deposit
/// is never cancelled (a deeper reorg raises `reorgAfterCredit` instead).
public struct DepositTracker: Sendable, Equatable {
    public let confirmations: UInt64
    public let keptBlocks: Int
    /// The hashes of the newest blocks applied, oldest first.
    public private(set) var recent: [(number: UInt64, hash: String)]
    public private(set) var deposits: [ChainPayment.Key: Deposit]
    /// The newest block applied (after a rollback, the block rolled back to).
    public private(set) var appliedThrough: UInt64?
    let startBlock: UInt64

    /// - Precondition: `confirmations >= 1`, `keptBlocks > confirmations`.
    public init(confirmations: UInt64, keptBlocks: Int = 128, startBlock: UInt64) {
        precondition(confirmations >= 1 && keptBlocks > Int(confirmations), "keep more blocks than the confirmations count")
        self.confirmations = confirmations
        self.keptBlocks = keptBlocks
        self.startBlock = startBlock
        recent = []
        deposits = [:]
    }

    /// A tracker as its owner stored it: the kept block hashes (oldest first), the newest
    /// block applied, and the deposits a reorganisation within the kept blocks could touch.
    public init(confirmations: UInt64, keptBlocks: Int = 128, startBlock: UInt64, restoringBlocks recent: [(number: UInt64, hash: String)], deposits: [Deposit]) {
        self.init(confirmations: confirmations, keptBlocks: keptBlocks, startBlock: startBlock)
        self.recent = recent
        appliedThrough = recent.last?.number
        self.deposits = Dictionary(deposits.map { ($0.payment.key, $0) }) { first, _ in first }
    }

    /// Forgets deposits settled below the kept blocks (no reorganisation the tracker can see
    /// reaches them), so memory stays bounded; the owner's store keeps them.
    public mutating func forgetBelowKeptBlocks() {
        guard let oldest = recent.first?.number else { return }
        deposits = deposits.filter { $0.value.blockNumber >= oldest || $0.value.orphaned || $0.value.state == .pending || $0.value.state == .confirmed }
    }

    public static func == (lhs: DepositTracker, rhs: DepositTracker) -> Bool {
        lhs.confirmations == rhs.confirmations && lhs.appliedThrough == rhs.appliedThrough && lhs.recent.map(\.number) == rhs.recent.map(\.number)
            && lhs.recent.map(\.hash) == rhs.recent.map(\.hash) && lhs.deposits == rhs.deposits
    }

    /// The next block number to read.
    public var nextBlock: UInt64 { appliedThrough.map { $0 + 1 } ?? startBlock }

    /// The hash this tracker holds for block `number`, if it still keeps it: a watcher
    /// compares it with the chain's before reading on, since a reorganisation may replace
    /// blocks without making the chain longer.
    public func hash(of number: UInt64) -> String? { recent.last { $0.number == number }?.hash }

    /// Applies the next block: its payments become PENDING (or PENDING again), and every
    /// pending deposit deep enough becomes CONFIRMED.
    public mutating func apply(_ block: WatchedBlock) throws(DepositTrackerError) -> [DepositEvent] {
        guard block.number == nextBlock else { throw .notNext(expected: nextBlock) }
        if let tip = recent.last, tip.hash != block.parentHash { throw .reorganised(atNumber: block.number) }
        var events: [DepositEvent] = []
        for payment in block.payments {
            if let existing = deposits[payment.key], existing.state != .cancelled {
                if existing.orphaned {
                    // Mined again: the credit stands, the case can close.
                    deposits[payment.key]!.orphaned = false
                    deposits[payment.key]!.blockNumber = block.number
                    deposits[payment.key]!.blockHash = block.hash
                }
                continue
            }
            deposits[payment.key] = Deposit(payment: payment, state: .pending, blockNumber: block.number, blockHash: block.hash)
            events.append(.seen(payment.key))
        }
        recent.append((block.number, block.hash))
        appliedThrough = block.number
        if recent.count > keptBlocks { recent.removeFirst(recent.count - keptBlocks) }
        for key in deposits.keys.sorted(by: { $0.description < $1.description }) where deposits[key]!.state == .pending {
            if block.number + 1 >= deposits[key]!.blockNumber + confirmations {
                deposits[key]!.state = .confirmed
                events.append(.confirmed(key))
            }
        }
        return events
    }

    /// Forgets the blocks after `number` (a reorg replaced them): their deposits not yet
    /// credited are CANCELLED; credited ones raise `reorgAfterCredit`.
    public mutating func rollBack(to number: UInt64) throws(DepositTrackerError) -> [DepositEvent] {
        guard let oldest = recent.first?.number, number + 1 >= oldest, number <= appliedThrough ?? 0 else { throw .rollbackTooDeep }
        recent.removeAll { $0.number > number }
        appliedThrough = number
        var events: [DepositEvent] = []
        for key in deposits.keys.sorted(by: { $0.description < $1.description }) {
            let deposit = deposits[key]!
            guard deposit.blockNumber > number, deposit.state != .cancelled, !deposit.orphaned else { continue }
            switch deposit.state {
            case .pending, .confirmed:
                deposits[key]!.state = .cancelled
                events.append(.cancelled(key))
            case .credited, .completed:
                deposits[key]!.orphaned = true
                events.append(.reorgAfterCredit(key, blockNumber: deposit.blockNumber))
            case .cancelled:
                break
            }
        }
        return events
    }

    /// Clearing was told to credit the deposit (its command carries the key, so telling it
    /// twice credits once). Only a CONFIRMED deposit can be credited.
    public mutating func markCredited(_ key: ChainPayment.Key) -> Bool {
        guard deposits[key]?.state == .confirmed else { return false }
        deposits[key]!.state = .credited
        return true
    }

    /// Clearing applied the credit.
    public mutating func markCompleted(_ key: ChainPayment.Key) -> Bool {
        guard deposits[key]?.state == .credited else { return false }
        deposits[key]!.state = .completed
        return true
    }
}
