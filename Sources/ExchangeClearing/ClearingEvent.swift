import ExchangeCore

/// Why clearing refused a command. Nothing of a refused command is applied.
public enum ClearingRejection: UInt8, Sendable, Equatable, CaseIterable {
    case insufficientFunds = 1
    case belowMinimumNotional
    case symbolHalted
    case unknownSymbol
    case unknownAsset
    case duplicateOrder
    case unknownOrder
    case invalidOrder
    case invalidAmount
    case duplicateWithdrawal
    case unknownWithdrawal
    case alreadyExists
    /// A result would not fit in 64 bits.
    case overflow
    /// A trade leg spends more than its order holds frozen (the matcher broke its contract).
    case exceedsFrozen
    /// A market buy's budget does not pay for one tick × lot (it would reach the matcher as
    /// "no budget").
    case budgetTooSmall
}

/// What applying a clearing input produced.
public enum ClearingEvent: Hashable, Sendable {
    case transaction(LedgerTransaction)
    /// The order's funds are frozen: append it to its shard's log (the primary's forwarder does), with
    /// `tickLotBudget` as the matching command's quote budget (a market buy's frozen quote in
    /// ticks × lots, rounded down; 0 for other orders).
    case forward(ClearingOrder, tickLotBudget: Int64)
    /// A cancel of an order clearing holds open: append it to the order's shard (the
    /// matcher refuses it if the order already ended; the frozen funds are released when the
    /// matcher reports the end).
    case forwardCancel(orderID: OrderID, userID: UserID, symbol: String)
    case rejected(cause: ClearingCause, reason: ClearingRejection)
    /// The input repeats a position already applied from its producer; nothing was applied.
    case duplicateInput(producer: ProducerID, position: UInt64)
    case assetAdded(AssetCode)
    case symbolAdded(String)
    case symbolStatusChanged(String, SymbolStatus)
    case symbolParametersChanged(String, makerBasisPoints: Int, takerBasisPoints: Int, minimumNotionalUnits: Int64)
}

extension ClearingEvent {
    /// The input command that caused the event, for those that name one.
    public var cause: ClearingCause? {
        switch self {
        case .transaction(let transaction): transaction.cause
        case .rejected(let cause, _): cause
        case .forward, .forwardCancel, .duplicateInput, .assetAdded, .symbolAdded, .symbolStatusChanged, .symbolParametersChanged: nil
        }
    }
}
