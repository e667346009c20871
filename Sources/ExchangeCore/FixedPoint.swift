/// A price in whole ticks of one symbol (`price = ticks × tickSize`).
///
/// Only meaningful together with its symbol's `SymbolSpec`. Zero (`absent`) means no price
/// (market orders); a valid limit price is positive.
public struct Price: Hashable, Comparable, Sendable {
    public var ticks: Int64

    @inlinable public init(ticks: Int64) { self.ticks = ticks }

    /// The absent price of a market order.
    public static let absent = Price(ticks: 0)

    @inlinable public static func < (lhs: Price, rhs: Price) -> Bool { lhs.ticks < rhs.ticks }
}

/// A base-asset quantity in whole lots of one symbol (`quantity = lots × stepSize`).
public struct Quantity: Hashable, Comparable, Sendable {
    public var lots: Int64

    @inlinable public init(lots: Int64) { self.lots = lots }

    public static let zero = Quantity(lots: 0)

    @inlinable public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.lots < rhs.lots }
}

/// A quote-asset amount: `units × 10^-scale`, wide enough for any price × quantity.
///
/// Invariant: `scale = tickSize.scale + stepSize.scale` of the symbol that produced it.
public struct Notional: Hashable, Sendable, CustomStringConvertible {
    public let units: Int128
    public let scale: Int

    public init(units: Int128, scale: Int) {
        self.units = units
        self.scale = scale
    }

    /// Whether this amount is at least `minimum`.
    public func isAtLeast(_ minimum: DecimalNumber) -> Bool {
        let common = max(scale, minimum.scale)
        let (left, leftOverflow) = units.multipliedReportingOverflow(by: DecimalNumber.powerOfTen(common - scale))
        if leftOverflow { return units > 0 }
        let right = Int128(minimum.units) * DecimalNumber.powerOfTen(common - minimum.scale)
        return left >= right
    }

    public var description: String { DecimalText.format(units: units, scale: scale) }
}
