import ExchangeCore

/// An asset's code, such as `BTC` or `USDT`: 1 to 10 characters `A-Z` and `0-9`.
public struct AssetCode: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maximumLength = 10
    public let text: String

    /// Nil unless `text` is a valid code.
    public init?(_ text: String) {
        guard (1...Self.maximumLength).contains(text.utf8.count),
              text.utf8.allSatisfy({ (65...90).contains($0) || (48...57).contains($0) }) else { return nil }
        self.text = text
    }

    public var description: String { text }
    public static func < (lhs: AssetCode, rhs: AssetCode) -> Bool { lhs.text < rhs.text }
}

/// An asset and its precision: amounts of it are whole *units* of `10^-scale` (satoshis for
/// BTC at scale 8). Every balance, freeze, fee and ledger entry is an `Int64` of units.
public struct AssetSpec: Hashable, Sendable {
    public static let maximumScale = 18
    public let code: AssetCode
    /// Decimal places of one unit, `0...18`.
    public let scale: Int

    public init(code: AssetCode, scale: Int) throws(ClearingConfigError) {
        guard (0...Self.maximumScale).contains(scale) else { throw .invalidScale(code, scale) }
        self.code = code
        self.scale = scale
    }

    /// `amount` in units, or nil when it is not a whole number of units or does not fit.
    public func units(of amount: DecimalNumber) -> Int64? {
        amount.multiples(of: DecimalNumber(units: 1, scale: scale))
    }
}

/// Why a clearing configuration (asset or symbol) was refused.
public enum ClearingConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidScale(AssetCode, Int)
    case invalidSymbolName(String)
    case sameBaseAndQuote(AssetCode)
    case notWholeUnits(String)
    case invalidFee(Int)
    case invalidIncrement(String)

    public var description: String {
        switch self {
        case .invalidScale(let code, let scale): "asset \(code): scale \(scale) is not within 0...\(AssetSpec.maximumScale)"
        case .invalidSymbolName(let name): "invalid symbol name '\(name)'"
        case .sameBaseAndQuote(let code): "base and quote are both \(code)"
        case .notWholeUnits(let what): "\(what) is not a whole number of the asset's units"
        case .invalidFee(let bps): "fee of \(bps) basis points is not within 0...\(ClearingSymbol.maximumFeeBasisPoints)"
        case .invalidIncrement(let what): "\(what) must be positive"
        }
    }
}
