/// Which side of the book an order is on.
public enum OrderSide: UInt8, Sendable, CaseIterable {
    case buy = 0
    case sell = 1

    /// The side an order of this side trades against.
    @inlinable public var opposite: OrderSide { self == .buy ? .sell : .buy }
}

/// Whether an order has a limit price.
public enum OrderType: UInt8, Sendable, CaseIterable {
    /// Trades at its limit price or better; may rest.
    case limit = 0
    /// Trades at any price; never rests (always `ioc`).
    case market = 1
}

/// How long an order's unfilled remainder lives.
public enum TimeInForce: UInt8, Sendable, CaseIterable {
    /// Good till canceled: the remainder rests.
    case goodTillCanceled = 0
    /// Immediate or cancel: the remainder expires.
    case immediateOrCancel = 1
    /// Fill or kill: fills completely at once or expires with no effect.
    case fillOrKill = 2
    /// Rests without taking liquidity; rejected if it would cross.
    case postOnly = 3
}

/// What happens when a taker would trade with a maker of the same user.
public enum SelfTradePrevention: UInt8, Sendable, CaseIterable {
    /// Self trades are allowed.
    case none = 0
    /// The taker's remainder expires when it reaches its own maker.
    case expireTaker = 1
    /// The own maker expires and matching goes on.
    case expireMaker = 2
    /// Both expire.
    case expireBoth = 3
}
