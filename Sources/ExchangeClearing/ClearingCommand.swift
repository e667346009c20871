import ExchangeCore

/// Who appended an input to a clearing log: a gateway, an admin tool, a matching shard.
/// Each producer numbers its inputs with increasing positions; clearing drops an input whose
/// position is not above the last it applied from the same producer.
public struct ProducerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
    public static func < (lhs: ProducerID, rhs: ProducerID) -> Bool { lhs.name < rhs.name }
}

/// An order as a producer asks clearing to place it: what the matcher needs, with the
/// symbol by name, plus the quote budget of a market buy.
public struct ClearingOrder: Hashable, Sendable {
    public var orderID: OrderID
    public var userID: UserID
    public var symbol: String
    public var side: OrderSide
    public var type: OrderType
    public var timeInForce: TimeInForce
    /// Ticks; `.absent` for market orders.
    public var price: Price
    /// Lots.
    public var quantity: Quantity
    public var selfTradePrevention: SelfTradePrevention
    /// Quote units a market buy may spend at most (Binance `quoteOrderQty`); nil for a
    /// market buy by quantity, for which clearing freezes the user's whole available quote
    /// balance as its budget and releases what is left when the order ends. Ignored for
    /// limits and sells.
    public var quoteBudget: Int64?

    public init(
        orderID: OrderID, userID: UserID, symbol: String, side: OrderSide, type: OrderType, timeInForce: TimeInForce,
        price: Price, quantity: Quantity, selfTradePrevention: SelfTradePrevention = .none, quoteBudget: Int64? = nil
    ) {
        self.orderID = orderID
        self.userID = userID
        self.symbol = symbol
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.price = price
        self.quantity = quantity
        self.selfTradePrevention = selfTradePrevention
        self.quoteBudget = quoteBudget
    }
}

/// One side of one trade, as the matcher reports it to the clearing partition of the user.
public struct TradeLeg: Hashable, Sendable {
    public var tradeID: UInt64
    public var orderID: OrderID
    public var userID: UserID
    /// The trade price in ticks and quantity in lots.
    public var price: Price
    public var quantity: Quantity
    /// Whether this side rested (maker fee) or arrived (taker fee).
    public var isMaker: Bool

    public init(tradeID: UInt64, orderID: OrderID, userID: UserID, price: Price, quantity: Quantity, isMaker: Bool) {
        self.tradeID = tradeID
        self.orderID = orderID
        self.userID = userID
        self.price = price
        self.quantity = quantity
        self.isMaker = isMaker
    }
}

/// Everything a clearing partition accepts. Amounts are units of their asset.
public enum ClearingCommand: Hashable, Sendable {
    case addAsset(AssetSpec)
    case addSymbol(ClearingSymbol)
    case setSymbolStatus(symbol: String, status: SymbolStatus)
    /// New maker and taker fees of a listed symbol (for trades settled from this command on)
    /// and its minimum notional in quote units (for orders from this command on).
    case setSymbolParameters(symbol: String, makerBasisPoints: Int, takerBasisPoints: Int, minimumNotionalUnits: Int64)
    /// Funds arrived for `user` (a confirmed deposit; `reference` is the wallet's id).
    case deposit(user: UserID, asset: AssetCode, amount: Int64, reference: UInt64)
    /// Moves `amount` from available to frozen for withdrawal `id`.
    case holdWithdrawal(id: UInt64, user: UserID, asset: AssetCode, amount: Int64)
    /// The withdrawal went out: its frozen amount leaves.
    case completeWithdrawal(id: UInt64)
    /// The withdrawal failed or was refused: its frozen amount returns to available.
    case releaseWithdrawal(id: UInt64)
    /// Freeze the order's funds and forward it to its shard, or reject it.
    case place(ClearingOrder)
    /// Forward a cancel of `user`'s open order to its shard, or reject it (`unknownOrder`).
    /// Going through the user's partition orders a cancel after the place it names: both are
    /// forwarded to the shard's log in this log's order.
    case cancel(orderID: OrderID, userID: UserID)
    /// The matcher ended the order (filled, canceled, expired, rejected): release what stays frozen.
    case orderEnded(orderID: OrderID, userID: UserID)
    /// The matcher lowered a resting order by `releasedLots` (an amend): release their share.
    case orderAmended(orderID: OrderID, userID: UserID, releasedLots: Int64)
    case tradeLeg(TradeLeg)
    /// An operator's correction of `user`'s available balance, with why.
    case adjust(user: UserID, asset: AssetCode, amount: Int64, reason: String)
}

extension ClearingCommand {
    /// The order the command concerns; nil for those about no order.
    public var orderID: OrderID? {
        switch self {
        case .place(let order): order.orderID
        case .cancel(let orderID, _), .orderEnded(let orderID, _), .orderAmended(let orderID, _, _): orderID
        case .tradeLeg(let leg): leg.orderID
        case .addAsset, .addSymbol, .setSymbolStatus, .setSymbolParameters, .deposit, .holdWithdrawal, .completeWithdrawal, .releaseWithdrawal, .adjust: nil
        }
    }
}

/// One log entry of a clearing input: a producer's commands at one of its positions.
public struct ClearingInput: Hashable, Sendable {
    /// Producer names of the order path's forwards: `me-S` for what shard S sent back
    /// (trade legs, ends, amends), `clr-P` for what partition P ended itself.
    public static let shardProducerPrefix = "me-"
    public static let partitionProducerPrefix = "clr-"

    public var producer: ProducerID
    public var position: UInt64
    public var commands: [ClearingCommand]

    public init(producer: ProducerID, position: UInt64, commands: [ClearingCommand]) {
        self.producer = producer
        self.position = position
        self.commands = commands
    }
}
