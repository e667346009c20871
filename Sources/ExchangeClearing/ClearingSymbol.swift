import ExchangeCore

/// A market as clearing sees it: which assets it exchanges, how a price in ticks and a
/// quantity in lots become units of those assets, the minimum notional and the fees.
///
/// Invariants (checked by `init`): `baseUnitsPerLot >= 1` and `quoteUnitsPerTickLot >= 1`
/// are exact (a tick times a lot is a whole number of quote units; a lot a whole number of
/// base units), so every trade moves exact integers; fees are `0...maximumFeeBasisPoints`.
public struct ClearingSymbol: Hashable, Sendable {
    /// 10%: a fee above is a configuration mistake.
    public static let maximumFeeBasisPoints = 1_000

    public let name: String
    public let base: AssetCode
    public let quote: AssetCode
    /// Base units in one lot (`stepSize × 10^baseScale`).
    public let baseUnitsPerLot: Int64
    /// Quote units in one tick times one lot (`tickSize × stepSize × 10^quoteScale`).
    public let quoteUnitsPerTickLot: Int64
    /// The smallest order value, in quote units.
    public private(set) var minimumNotionalUnits: Int64
    public private(set) var makerFeeBasisPoints: Int
    public private(set) var takerFeeBasisPoints: Int
    public var status: SymbolStatus

    public init(
        name: String, base: AssetSpec, quote: AssetSpec, tickSize: DecimalNumber, stepSize: DecimalNumber,
        minimumNotional: DecimalNumber, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int, status: SymbolStatus = .trading
    ) throws(ClearingConfigError) {
        guard SymbolSpec.isValidName(name) else { throw .invalidSymbolName(name) }
        guard base.code != quote.code else { throw .sameBaseAndQuote(base.code) }
        guard tickSize.isPositive else { throw .invalidIncrement("tick size") }
        guard stepSize.isPositive else { throw .invalidIncrement("step size") }
        guard minimumNotional.units >= 0 else { throw .invalidIncrement("minimum notional") }
        for fee in [makerFeeBasisPoints, takerFeeBasisPoints] where !(0...Self.maximumFeeBasisPoints).contains(fee) {
            throw .invalidFee(fee)
        }
        guard let perLot = base.units(of: stepSize) else { throw .notWholeUnits("step size \(stepSize) of \(base.code)") }
        guard let perTickLot = Self.exactUnits(tickSize, times: stepSize, scale: quote.scale) else {
            throw .notWholeUnits("tick size \(tickSize) × step size \(stepSize) of \(quote.code)")
        }
        guard let notional = quote.units(of: minimumNotional) else { throw .notWholeUnits("minimum notional \(minimumNotional) of \(quote.code)") }
        self.name = name
        self.base = base.code
        self.quote = quote.code
        baseUnitsPerLot = perLot
        quoteUnitsPerTickLot = perTickLot
        minimumNotionalUnits = notional
        self.makerFeeBasisPoints = makerFeeBasisPoints
        self.takerFeeBasisPoints = takerFeeBasisPoints
        self.status = status
    }

    /// Changes the fees (for trades from now on) and the minimum notional (for orders from now
    /// on), checking them as `init` does.
    public mutating func setParameters(makerBasisPoints: Int, takerBasisPoints: Int, minimumNotionalUnits: Int64) throws(ClearingConfigError) {
        for fee in [makerBasisPoints, takerBasisPoints] where !(0...Self.maximumFeeBasisPoints).contains(fee) { throw .invalidFee(fee) }
        guard minimumNotionalUnits >= 0 else { throw .invalidIncrement("minimum notional") }
        makerFeeBasisPoints = makerBasisPoints
        takerFeeBasisPoints = takerBasisPoints
        self.minimumNotionalUnits = minimumNotionalUnits
    }

    /// A symbol as a snapshot recorded it (its values were checked when it was first made;
    /// `ClearingState.restore` checks them again).
    init(
        name: String, base: AssetCode, quote: AssetCode, baseUnitsPerLot: Int64, quoteUnitsPerTickLot: Int64,
        minimumNotionalUnits: Int64, makerFeeBasisPoints: Int, takerFeeBasisPoints: Int, status: SymbolStatus
    ) {
        self.name = name
        self.base = base
        self.quote = quote
        self.baseUnitsPerLot = baseUnitsPerLot
        self.quoteUnitsPerTickLot = quoteUnitsPerTickLot
        self.minimumNotionalUnits = minimumNotionalUnits
        self.makerFeeBasisPoints = makerFeeBasisPoints
        self.takerFeeBasisPoints = takerFeeBasisPoints
        self.status = status
    }

    /// Whether the recorded values keep the invariants `init` checks.
    var isValid: Bool {
        SymbolSpec.isValidName(name) && base != quote && baseUnitsPerLot >= 1 && quoteUnitsPerTickLot >= 1 && minimumNotionalUnits >= 0
            && (0...Self.maximumFeeBasisPoints).contains(makerFeeBasisPoints) && (0...Self.maximumFeeBasisPoints).contains(takerFeeBasisPoints)
    }

    /// `a × b` in units of `10^-scale`, if whole and fitting `Int64`.
    static func exactUnits(_ a: DecimalNumber, times b: DecimalNumber, scale: Int) -> Int64? {
        let exponent = scale - a.scale - b.scale
        var value = Int128(a.units) * Int128(b.units)
        if exponent >= 0 {
            for _ in 0..<exponent {
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = product
            }
        } else {
            for _ in 0..<(-exponent) {
                guard value % 10 == 0 else { return nil }
                value /= 10
            }
        }
        return Int64(exactly: value)
    }

    /// Quote units of `lots` at `ticks`, or nil on overflow.
    public func quoteUnits(ticks: Int64, lots: Int64) -> Int64? {
        let (perLot, overflow) = ticks.multipliedReportingOverflow(by: quoteUnitsPerTickLot)
        guard !overflow else { return nil }
        let (total, overflowTotal) = perLot.multipliedReportingOverflow(by: lots)
        return overflowTotal ? nil : total
    }

    /// Base units of `lots`, or nil on overflow.
    public func baseUnits(lots: Int64) -> Int64? {
        let (total, overflow) = lots.multipliedReportingOverflow(by: baseUnitsPerLot)
        return overflow ? nil : total
    }

    /// The fee on `received` units at `basisPoints`, rounded up to a whole unit (the venue
    /// never undercharges; a fee is never more than what is received, since bps <= 10,000).
    public static func fee(on received: Int64, basisPoints: Int) -> Int64 {
        precondition(received >= 0 && (0...10_000).contains(basisPoints))
        let product = Int128(received) * Int128(basisPoints)
        let (quotient, remainder) = product.quotientAndRemainder(dividingBy: 10_000)
        return Int64(quotient + (remainder > 0 ? 1 : 0))
    }
}
