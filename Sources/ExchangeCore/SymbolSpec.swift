/// A dense per-engine symbol number, assigned in the order symbols are added.
public struct SymbolID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public static func < (lhs: SymbolID, rhs: SymbolID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// Whether a symbol accepts orders.
public enum SymbolStatus: UInt8, Sendable, CaseIterable {
    /// Accepts every command.
    case trading = 0
    /// Places are rejected (`symbolHalted`); cancels and amends, which only reduce, go on.
    case halted = 1
    /// A trading break (Binance's BREAK: delisting, or a listing not open yet): to matching
    /// and clearing the same as `halted`; what differs is what the venue tells traders.
    case `break` = 2

    /// Binance's name of the status (`exchangeInfo`'s `status`).
    public var binanceName: String {
        switch self {
        case .trading: "TRADING"
        case .halted: "HALT"
        case .break: "BREAK"
        }
    }

    /// The status named `binanceName`, if any.
    public init?(binanceName: String) {
        guard let status = Self.allCases.first(where: { $0.binanceName == binanceName }) else { return nil }
        self = status
    }
}

/// In JSON (listings, the admin API) a status is its Binance name.
extension SymbolStatus: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let status = SymbolStatus(binanceName: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown symbol status '\(name)'")
        }
        self = status
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(binanceName)
    }
}

/// A market's trading rules: the fixed-point scales of its prices and quantities and its filters.
///
/// Invariants: `tickSize` and `stepSize` are positive; `1 <= minimumQuantity <= maximumQuantity`
/// (in lots); `name` is 1 to 20 of `A-Z`, `0-9`, `-`, `_`, `.` (Binance's symbol pattern).
public struct SymbolSpec: Hashable, Sendable {
    public static let maximumNameLength = 20
    /// No limit beyond `Int64` lots.
    public static let defaultMaximumQuantity = Quantity(lots: .max)

    public var name: String
    /// Price increment; every price is a whole number of ticks.
    public var tickSize: DecimalNumber
    /// Quantity increment; every quantity is a whole number of lots.
    public var stepSize: DecimalNumber
    /// Smallest order quantity, in lots.
    public var minimumQuantity: Quantity
    /// Largest order quantity, in lots. (Level totals are guarded separately: an order that
    /// would push its level's total past `Int64.max` is rejected.)
    public var maximumQuantity: Quantity
    /// Smallest price × quantity of a limit order, in the quote asset; zero means none.
    public var minimumNotional: DecimalNumber
    public var status: SymbolStatus

    /// Creates a spec, checking its invariants.
    public init(
        name: String,
        tickSize: DecimalNumber,
        stepSize: DecimalNumber,
        minimumQuantity: Quantity = Quantity(lots: 1),
        maximumQuantity: Quantity = SymbolSpec.defaultMaximumQuantity,
        minimumNotional: DecimalNumber = DecimalNumber(units: 0, scale: 0),
        status: SymbolStatus = .trading
    ) throws(SymbolSpecError) {
        guard Self.isValidName(name) else { throw .invalidName(name) }
        guard tickSize.isPositive else { throw .nonPositiveTickSize }
        guard stepSize.isPositive else { throw .nonPositiveStepSize }
        guard minimumQuantity.lots >= 1, minimumQuantity <= maximumQuantity else {
            throw .invalidQuantityRange
        }
        guard minimumNotional.units >= 0 else { throw .negativeMinimumNotional }
        self.name = name
        self.tickSize = tickSize
        self.stepSize = stepSize
        self.minimumQuantity = minimumQuantity
        self.maximumQuantity = maximumQuantity
        self.minimumNotional = minimumNotional
        self.status = status
    }

    /// Whether `name` is 1 to 20 characters of `A-Z`, `0-9`, `-`, `_` and `.`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...maximumNameLength).contains(bytes.count)
            && bytes.allSatisfy {
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
    }

    /// Parses a price given as plain decimal text into ticks.
    ///
    /// Rejects malformed text, zero, more decimals than the tick size has, and a value that
    /// is not a whole number of ticks.
    public func price(parsing text: Substring) throws(FixedPointParseError) -> Price {
        Price(ticks: try Self.wholeMultiple(text, of: tickSize))
    }

    /// Parses a quantity given as plain decimal text into lots; rules as for `price(parsing:)`.
    public func quantity(parsing text: Substring) throws(FixedPointParseError) -> Quantity {
        Quantity(lots: try Self.wholeMultiple(text, of: stepSize))
    }

    private static func wholeMultiple(_ text: Substring, of increment: DecimalNumber) throws(FixedPointParseError) -> Int64 {
        let value: DecimalNumber
        do {
            value = try DecimalNumber(parsing: text)
        } catch {
            throw .malformed(error)
        }
        guard value.isPositive else { throw .notPositive }
        guard value.scale <= increment.scale else { throw .tooManyDecimals(allowed: increment.scale) }
        guard let count = value.multiples(of: increment) else { throw .notMultipleOfIncrement(increment) }
        return count
    }

    /// The decimal value of `price`, exactly.
    public func decimal(_ price: Price) -> String {
        DecimalText.format(units: Int128(price.ticks) * Int128(tickSize.units), scale: tickSize.scale)
    }

    /// The decimal value of `quantity`, exactly.
    public func decimal(_ quantity: Quantity) -> String {
        DecimalText.format(units: Int128(quantity.lots) * Int128(stepSize.units), scale: stepSize.scale)
    }

    /// `price × quantity` in the quote asset, exactly; `nil` only if it exceeds 128 bits.
    public func notional(price: Price, quantity: Quantity) -> Notional? {
        let (priceUnits, o1) = Int128(price.ticks).multipliedReportingOverflow(by: Int128(tickSize.units))
        let (quantityUnits, o2) = Int128(quantity.lots).multipliedReportingOverflow(by: Int128(stepSize.units))
        let (product, o3) = priceUnits.multipliedReportingOverflow(by: quantityUnits)
        if o1 || o2 || o3 { return nil }
        return Notional(units: product, scale: tickSize.scale + stepSize.scale)
    }
}

/// Why a symbol spec is invalid.
public enum SymbolSpecError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case nonPositiveTickSize
    case nonPositiveStepSize
    case invalidQuantityRange
    case negativeMinimumNotional

    public var description: String {
        switch self {
        case .invalidName(let name): "invalid symbol name '\(name)': 1 to 20 of A-Z, 0-9, -, _, ."
        case .nonPositiveTickSize: "tick size must be positive"
        case .nonPositiveStepSize: "step size must be positive"
        case .invalidQuantityRange: "minimum quantity must be at least one lot and at most the maximum"
        case .negativeMinimumNotional: "minimum notional must not be negative"
        }
    }
}

/// Why a price or quantity string was refused for a symbol.
public enum FixedPointParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(DecimalParseError)
    case notPositive
    case tooManyDecimals(allowed: Int)
    case notMultipleOfIncrement(DecimalNumber)

    public var description: String {
        switch self {
        case .malformed(let error): error.description
        case .notPositive: "must be positive"
        case .tooManyDecimals(let allowed): "more than \(allowed) decimals"
        case .notMultipleOfIncrement(let increment): "not a multiple of \(increment)"
        }
    }
}
