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

    public init(
        orderID: OrderID, userID: UserID, symbolID: SymbolID, side: OrderSide, type: OrderType,
        timeInForce: TimeInForce, price: Price, quantity: Quantity,
        selfTradePrevention: SelfTradePrevention = .none
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

/// Everything the matching state machine accepts, one log entry each.
public enum MatchingCommand: Hashable, Sendable {
    case place(PlaceOrder)
    case cancel(CancelOrder)
    case amend(AmendOrder)
    case addSymbol(AddSymbol)
    case setSymbolStatus(SetSymbolStatus)
}
