/// Why a command had no effect.
public enum RejectReason: UInt8, Error, Sendable, CaseIterable, CustomStringConvertible {
    case unknownSymbol = 1
    case symbolHalted = 2
    case duplicateOrderID = 3
    case invalidPrice = 4
    case invalidQuantity = 5
    case marketOrderWithPrice = 6
    case marketOrderNotImmediateOrCancel = 7
    case postOnlyWouldCross = 8
    case quantityBelowMinimum = 9
    case quantityAboveMaximum = 10
    case notionalBelowMinimum = 11
    case orderCapacityReached = 12
    case priceLevelCapacityReached = 13
    case unknownOrder = 14
    case notOrderOwner = 15
    case invalidAmendQuantity = 16
    case invalidSymbolSpec = 17
    case symbolCapacityReached = 18
    case duplicateSymbol = 19
    case invalidSide = 20
    case invalidOrderType = 21
    case invalidTimeInForce = 22
    case invalidSelfTradePrevention = 23
    case levelTotalOverflow = 24
    /// The symbol's book was handed over to another shard: nothing was applied; send again
    /// (routers follow the move within milliseconds).
    case symbolMoved = 25

    public var description: String {
        switch self {
        case .unknownSymbol: "unknown symbol"
        case .symbolHalted: "symbol halted"
        case .duplicateOrderID: "duplicate order id"
        case .invalidPrice: "price is not a positive multiple of the tick size"
        case .invalidQuantity: "quantity is not a positive multiple of the step size"
        case .marketOrderWithPrice: "market order with a price"
        case .marketOrderNotImmediateOrCancel: "market order with a time in force other than ioc"
        case .postOnlyWouldCross: "post-only order would cross"
        case .quantityBelowMinimum: "quantity below the symbol's minimum"
        case .quantityAboveMaximum: "quantity above the symbol's maximum"
        case .notionalBelowMinimum: "notional below the symbol's minimum"
        case .orderCapacityReached: "order capacity reached"
        case .priceLevelCapacityReached: "price level capacity reached"
        case .unknownOrder: "unknown order"
        case .notOrderOwner: "order belongs to another user or symbol"
        case .invalidAmendQuantity: "new quantity must be below the original and above the executed quantity"
        case .invalidSymbolSpec: "invalid symbol spec"
        case .symbolCapacityReached: "symbol capacity reached"
        case .duplicateSymbol: "symbol already exists"
        case .invalidSide: "invalid side"
        case .invalidOrderType: "invalid order type"
        case .invalidTimeInForce: "invalid time in force"
        case .invalidSelfTradePrevention: "invalid self-trade prevention mode"
        case .levelTotalOverflow: "the price level's total quantity would overflow"
        case .symbolMoved: "the symbol moved to another shard; send again"
        }
    }
}

/// Which command a rejection answers.
public enum CommandKind: UInt8, Sendable, CaseIterable {
    case place = 0
    case cancel = 1
    case amend = 2
    case addSymbol = 3
    case setSymbolStatus = 4
    case setSymbolFilters = 5
}

/// Why an order ended without filling completely (other than a cancel).
public enum ExpiryReason: UInt8, Sendable, CaseIterable {
    /// An `ioc` or market order's remainder after matching.
    case immediateOrCancelRemainder = 0
    /// A `fok` order that could not fill completely at once.
    case fillOrKillUnfillable = 1
    /// The taker reached its own maker under `expireTaker` or `expireBoth`.
    case selfTradeTaker = 2
    /// A maker removed by a taker of the same user under `expireMaker` or `expireBoth`.
    case selfTradeMaker = 3
}

/// A place order entered the engine; trades, a rest or an expiry follow in the same batch.
public struct OrderAccepted: Hashable, Sendable {
    public var order: PlaceOrder
    public init(order: PlaceOrder) { self.order = order }
}

/// A command was refused with no effect on any book.
public struct CommandRejected: Hashable, Sendable {
    public var command: CommandKind
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID
    public var reason: RejectReason

    public init(command: CommandKind, orderID: OrderID, userID: UserID, symbolID: SymbolID, reason: RejectReason) {
        self.command = command
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
        self.reason = reason
    }
}

/// One trade at the maker's price.
///
/// `takerRemaining` / `makerRemaining` are the orders' open quantities after this trade:
/// zero means that order is filled.
public struct TradeExecuted: Hashable, Sendable {
    public var symbolID: SymbolID
    /// Per-symbol trade number, from 1.
    public var tradeID: UInt64
    public var takerOrderID: OrderID
    public var makerOrderID: OrderID
    public var takerUserID: UserID
    public var makerUserID: UserID
    public var takerSide: OrderSide
    public var price: Price
    public var quantity: Quantity
    public var takerRemaining: Quantity
    public var makerRemaining: Quantity

    public init(
        symbolID: SymbolID, tradeID: UInt64, takerOrderID: OrderID, makerOrderID: OrderID,
        takerUserID: UserID, makerUserID: UserID, takerSide: OrderSide, price: Price,
        quantity: Quantity, takerRemaining: Quantity, makerRemaining: Quantity
    ) {
        self.symbolID = symbolID
        self.tradeID = tradeID
        self.takerOrderID = takerOrderID
        self.makerOrderID = makerOrderID
        self.takerUserID = takerUserID
        self.makerUserID = makerUserID
        self.takerSide = takerSide
        self.price = price
        self.quantity = quantity
        self.takerRemaining = takerRemaining
        self.makerRemaining = makerRemaining
    }
}

/// An order left the book or the engine before filling: canceled by its user, or expired.
///
/// `price` is the order's limit (`.absent` for a market order); `remaining` is what it leaves
/// unfilled, which clearing releases.
public struct OrderEnded: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID
    public var side: OrderSide
    public var price: Price
    public var remaining: Quantity

    public init(orderID: OrderID, userID: UserID, symbolID: SymbolID, side: OrderSide, price: Price, remaining: Quantity) {
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
        self.side = side
        self.price = price
        self.remaining = remaining
    }
}

/// A resting order's original quantity was lowered; `remaining` is its new open quantity.
public struct OrderAmended: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbolID: SymbolID
    public var side: OrderSide
    public var price: Price
    public var newQuantity: Quantity
    public var remaining: Quantity
    /// How much open quantity the amend removed (clearing releases it).
    public var released: Quantity

    public init(
        orderID: OrderID, userID: UserID, symbolID: SymbolID, side: OrderSide, price: Price,
        newQuantity: Quantity, remaining: Quantity, released: Quantity
    ) {
        self.orderID = orderID
        self.userID = userID
        self.symbolID = symbolID
        self.side = side
        self.price = price
        self.newQuantity = newQuantity
        self.remaining = remaining
        self.released = released
    }
}

/// An L2 price level's new total open quantity; zero means the level is gone.
public struct LevelChanged: Hashable, Sendable {
    public var symbolID: SymbolID
    public var side: OrderSide
    public var price: Price
    public var totalQuantity: Quantity

    public init(symbolID: SymbolID, side: OrderSide, price: Price, totalQuantity: Quantity) {
        self.symbolID = symbolID
        self.side = side
        self.price = price
        self.totalQuantity = totalQuantity
    }
}

/// Everything the matching state machine emits.
///
/// Order of events within one command: `accepted`, then trades and the level changes they
/// cause, then the taker's end (rest as a level change, or `expired`).
public enum MatchingEvent: Hashable, Sendable {
    case accepted(OrderAccepted)
    case rejected(CommandRejected)
    case traded(TradeExecuted)
    case canceled(OrderEnded)
    case expired(OrderEnded, ExpiryReason)
    case amended(OrderAmended)
    case levelChanged(LevelChanged)
    /// The `addSymbol` command's spec is now known by this id (the spec is in the input log).
    case symbolAdded(SymbolID)
    /// A symbol was halted or resumed.
    case symbolStatusChanged(SymbolID, SymbolStatus)
    /// A symbol's quantity and notional filters changed (the new ones are in the input log).
    case symbolFiltersChanged(SymbolID)
}
