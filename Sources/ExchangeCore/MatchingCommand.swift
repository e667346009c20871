/// A new order for the matching engine.
///
/// Quantities are in lots and prices in ticks of `symbolID`'s spec. A market order has
/// `price == .absent`; the engine rejects the shapes the order-flow format calls invalid.
public struct PlaceOrder: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID
    public var side: OrderSide
    public var type: OrderType
    public var timeInForce: TimeInForce
    public var price: Price
    public var quantity: Quantity
    public var selfTradePrevention: SelfTradePrevention
    /// A market buy's spending limit, in ticks × lots (each trade's price in ticks times its
    /// lots, summed): matching stops before a trade would pass it, and the rest expires.
    /// Zero or less: none. Other orders ignore it. Clearing sets it from the quote it froze
    /// (`units / quoteUnitsPerTickLot`, rounded down), so a buy never spends past its freeze.
    public var quoteBudget: Int64

    public init(
        orderID: OrderID, userID: UserID, symbolID: SymbolID, side: OrderSide, type: OrderType,
        timeInForce: TimeInForce, price: Price, quantity: Quantity,
        selfTradePrevention: SelfTradePrevention = .none, quoteBudget: Int64 = 0
    ) {
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.price = price
        self.quantity = quantity
        self.selfTradePrevention = selfTradePrevention
        self.quoteBudget = quoteBudget
    }

    /// The budget that limits this order's matching, if any (market buys only).
    public var effectiveQuoteBudget: Int64? {
        side == .buy && type == .market && quoteBudget > 0 ? quoteBudget : nil
    }
}

/// Cancels a resting order of `userID` on `symbolID`.
public struct CancelOrder: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID

    public init(orderID: OrderID, userID: UserID, symbolID: SymbolID) {
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
    }
}

/// Lowers a resting order's original quantity to `newQuantity`, keeping its queue place.
public struct AmendOrder: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID
    public var newQuantity: Quantity

    public init(orderID: OrderID, userID: UserID, symbolID: SymbolID, newQuantity: Quantity) {
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
        self.newQuantity = newQuantity
    }
}

/// Adds a market to the engine; its id is the next dense `SymbolID`.
public struct AddSymbol: Hashable, Sendable {
    public var spec: SymbolSpec
    public init(spec: SymbolSpec) { self.spec = spec }
}

/// Halts or resumes a symbol (kill switch, listing schedule). Part of the log, so every
/// replica halts at the same position.
public struct SetSymbolStatus: Hashable, Sendable {
    public var symbolID: SymbolID
    public var status: SymbolStatus
    public init(symbolID: SymbolID, status: SymbolStatus) {
        self.symbolID = symbolID
        self.status = status
    }
}

/// New quantity and notional filters of a symbol, for places from this command on; resting
/// orders stay as they are (an order resting above a lowered maximum is not touched).
/// Refused (`invalidSymbolSpec`) unless `1 <= minimumQuantity <= maximumQuantity` and the
/// minimum notional is not negative.
public struct SetSymbolFilters: Hashable, Sendable {
    public var symbolID: SymbolID
    public var minimumQuantity: Quantity
    public var maximumQuantity: Quantity
    public var minimumNotional: DecimalNumber

    public init(symbolID: SymbolID, minimumQuantity: Quantity, maximumQuantity: Quantity, minimumNotional: DecimalNumber) {
        self.symbolID = symbolID
        self.minimumQuantity = minimumQuantity
        self.maximumQuantity = maximumQuantity
        self.minimumNotional = minimumNotional
    }

    /// Whether the filters hold together (what `SymbolSpec.init` checks of them).
    public var isValid: Bool {
        minimumQuantity.lots >= 1 && minimumQuantity <= maximumQuantity && minimumNotional.units >= 0
    }
}

/// Everything the matching state machine accepts, one log entry each.
public enum MatchingCommand: Hashable, Sendable {
    case place(PlaceOrder)
    case cancel(CancelOrder)
    case amend(AmendOrder)
    case addSymbol(AddSymbol)
    case setSymbolStatus(SetSymbolStatus)
    case setSymbolFilters(SetSymbolFilters)
}

extension MatchingCommand {
    /// The order the command concerns; nil for symbol commands.
    public var orderID: OrderID? {
        switch self {
        case .place(let place): place.orderID
        case .cancel(let cancel): cancel.orderID
        case .amend(let amend): amend.orderID
        case .addSymbol, .setSymbolStatus, .setSymbolFilters: nil
        }
    }

    /// The symbol the command addresses; nil for `addSymbol`, which creates one. Setting it
    /// on `addSymbol` does nothing (routers rewrite ids between address spaces with it).
    public var symbolID: SymbolID? {
        get {
            switch self {
            case .place(let place): place.symbolID
            case .cancel(let cancel): cancel.symbolID
            case .amend(let amend): amend.symbolID
            case .setSymbolStatus(let change): change.symbolID
            case .setSymbolFilters(let change): change.symbolID
            case .addSymbol: nil
            }
        }
        set {
            guard let newValue else { return }
            switch self {
            case .place(var place): place.symbolID = newValue; self = .place(place)
            case .cancel(var cancel): cancel.symbolID = newValue; self = .cancel(cancel)
            case .amend(var amend): amend.symbolID = newValue; self = .amend(amend)
            case .setSymbolStatus(var change): change.symbolID = newValue; self = .setSymbolStatus(change)
            case .setSymbolFilters(var change): change.symbolID = newValue; self = .setSymbolFilters(change)
            case .addSymbol: break
            }
        }
    }
}
