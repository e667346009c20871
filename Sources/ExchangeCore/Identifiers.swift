/// An order's id: unique per exchange, assigned by the gateway (snowflake) or by a flow file.
public typealias OrderID = UInt64

/// A user's id.
public typealias UserID = UInt64
