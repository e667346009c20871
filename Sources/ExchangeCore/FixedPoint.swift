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

/// A quote-asset amount: `units × 10^-scale` in 128 bits (a price × quantity that does not
/// fit is reported as `nil` by `SymbolSpec.notional`).
///
/// Invariant: `scale = tickSize.scale + stepSize.scale` of the symbol that produced it.
public struct Notional: Hashable, Sendable, CustomStringConvertible {
    public let units: Int128
    public let scale: Int

    public init(units: Int128, scale: Int) {
        self.units = units
        self.scale = scale
    }

    /// Whether this amount is at least `minimum`. Exact for every scale: a side that does
    /// not fit 128 bits once rescaled is larger in magnitude than any side that does.
    public func isAtLeast(_ minimum: DecimalNumber) -> Bool {
        let common = max(scale, minimum.scale)
        let (left, leftOverflow) = units.multipliedReportingOverflow(by: DecimalNumber.powerOfTen(common - scale))
        let (right, rightOverflow) = Int128(minimum.units).multipliedReportingOverflow(by: DecimalNumber.powerOfTen(common - minimum.scale))
        // Only the side with the smaller scale is multiplied (by more than 1), so at most one overflows.
        if leftOverflow { return units > 0 }
        if rightOverflow { return minimum.units < 0 }
        return left >= right
    }

    public var description: String { DecimalText.format(units: units, scale: scale) }
}
