/// An exact decimal number: `units × 10^-scale`, as written in an API parameter or a flow file.
///
/// Invariants: `0 <= scale <= DecimalNumber.maximumScale`; the value is normalized, so
/// `units` has no trailing decimal zero when `scale > 0` (`1.50` and `1.5` are the same
/// value with equal representations, and `==` compares values).
///
/// This is the edge type between text and the fixed-point `Price` / `Quantity` of a symbol;
/// the matching hot path never sees it.
public struct DecimalNumber: Hashable, Sendable, CustomStringConvertible {
    /// The largest number of decimals accepted; 10^18 is the largest power of ten in `Int64`.
    public static let maximumScale = 18

    /// The value in units of `10^-scale`.
    public let units: Int64
    /// How many decimals `units` carries.
    public let scale: Int

    /// Creates a normalized decimal from `units × 10^-scale`.
    ///
    /// - Precondition: `0 <= scale <= maximumScale`.
    public init(units: Int64, scale: Int) {
        precondition((0...Self.maximumScale).contains(scale), "decimal scale out of range")
        var units = units
        var scale = scale
        while scale > 0, units % 10 == 0 {
            units /= 10
            scale -= 1
        }
        self.units = units
        self.scale = scale
    }

    /// Parses a plain decimal: digits, optionally one `.` followed by digits.
    ///
    /// Rejected, each with its reason: an empty string, a sign, an exponent, any other
    /// character, a missing integer or fraction part (`.5`, `5.`), more than
    /// `maximumScale` significant decimals, a value that does not fit `Int64` units.
    /// Trailing fraction zeros are accepted and dropped (`1.500` parses as `1.5`).
    public init(parsing text: Substring) throws(DecimalParseError) {
        var utf8 = text.utf8[...]
        guard let first = utf8.first else { throw .empty }
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { throw .sign }
        var units: Int64 = 0
        var scale = 0
        var integerDigits = 0
        var fractionDigits = 0
        var pendingZeros = 0
        var seenPoint = false
        while let byte = utf8.popFirst() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int64(byte &- UInt8(ascii: "0"))
                if seenPoint {
                    fractionDigits += 1
                    // Trailing zeros are held back so `1.5000000000000000000` still fits.
                    if digit == 0 {
                        pendingZeros += 1
                        continue
                    }
                    for _ in 0..<pendingZeros {
                        units = try Self.appending(0, to: units)
                    }
                    scale += pendingZeros + 1
                    pendingZeros = 0
                    guard scale <= Self.maximumScale else { throw .tooManyDecimals }
                } else {
                    integerDigits += 1
                }
                units = try Self.appending(digit, to: units)
            case UInt8(ascii: "."):
                if seenPoint { throw .multiplePoints }
                if integerDigits == 0 { throw .missingIntegerPart }
                seenPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                throw .exponent
            case UInt8(ascii: "-"), UInt8(ascii: "+"):
                throw .sign
            default:
                throw .invalidCharacter
            }
        }
        if integerDigits == 0 { throw .missingIntegerPart }
        if seenPoint, fractionDigits == 0 { throw .missingFractionPart }
        self.init(units: units, scale: scale)
    }

    /// Parses a plain decimal from a `String`; see `init(parsing:)` taking a `Substring`.
    public init(parsing text: String) throws(DecimalParseError) {
        try self.init(parsing: text[...])
    }

    private static func appending(_ digit: Int64, to units: Int64) throws(DecimalParseError) -> Int64 {
        let (shifted, overflowShift) = units.multipliedReportingOverflow(by: 10)
        let (sum, overflowAdd) = shifted.addingReportingOverflow(digit)
        if overflowShift || overflowAdd { throw .outOfRange }
        return sum
    }

    /// Whether the value is greater than zero.
    public var isPositive: Bool { units > 0 }

    /// How many whole multiples of `increment` this value is, or `nil` when it is not a
    /// whole multiple or the count does not fit `Int64`.
    ///
    /// - Precondition: `increment` is positive.
    public func multiples(of increment: DecimalNumber) -> Int64? {
        precondition(increment.isPositive, "an increment must be positive")
        // Bring both to the larger scale; values are exact so a 128-bit product cannot lose digits.
        let commonScale = max(scale, increment.scale)
        let value = Int128(units) * Self.powerOfTen(commonScale - scale)
        let step = Int128(increment.units) * Self.powerOfTen(commonScale - increment.scale)
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: step)
        guard remainder == 0, let count = Int64(exactly: quotient) else { return nil }
        return count
    }

    /// `10^exponent` for `0 <= exponent <= 36`.
    static func powerOfTen(_ exponent: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<exponent { result &*= 10 }
        return result
    }

    /// The plain decimal text: no exponent, no trailing fraction zeros, `-` for negatives.
    public var description: String {
        DecimalText.format(units: Int128(units), scale: scale)
    }

    public static func == (lhs: DecimalNumber, rhs: DecimalNumber) -> Bool {
        lhs.units == rhs.units && lhs.scale == rhs.scale
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(units)
        hasher.combine(scale)
    }
}

extension DecimalNumber: Comparable {
    public static func < (lhs: DecimalNumber, rhs: DecimalNumber) -> Bool {
        let scale = max(lhs.scale, rhs.scale)
        return Int128(lhs.units) * powerOfTen(scale - lhs.scale) < Int128(rhs.units) * powerOfTen(scale - rhs.scale)
    }
}

/// Why a decimal string was refused.
public enum DecimalParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case sign
    case exponent
    case invalidCharacter
    case multiplePoints
    case missingIntegerPart
    case missingFractionPart
    case tooManyDecimals
    case outOfRange

    public var description: String {
        switch self {
        case .empty: "empty number"
        case .sign: "signs are not allowed"
        case .exponent: "exponents are not allowed"
        case .invalidCharacter: "invalid character in number"
        case .multiplePoints: "more than one decimal point"
        case .missingIntegerPart: "missing digits before the decimal point"
        case .missingFractionPart: "missing digits after the decimal point"
        case .tooManyDecimals: "more than \(DecimalNumber.maximumScale) decimals"
        case .outOfRange: "number out of range"
        }
    }
}

/// Formats fixed-point integers as plain decimal text.
enum DecimalText {
    /// `units × 10^-scale` as text without exponent or trailing fraction zeros.
    static func format(units: Int128, scale: Int) -> String {
        var magnitude = units.magnitude
        var scale = scale
        while scale > 0, magnitude % 10 == 0 {
            magnitude /= 10
            scale -= 1
        }
        var digits = String(magnitude)
        if scale > 0 {
            if digits.count <= scale {
                digits = String(repeating: "0", count: scale - digits.count + 1) + digits
            }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return units < 0 ? "-" + digits : digits
    }
}
