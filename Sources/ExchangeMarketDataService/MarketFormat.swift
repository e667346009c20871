import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI

/// Turns one symbol's fixed-point amounts into Binance's decimal text: prices padded to the
/// quote asset's digits, quantities to the base asset's, at least 8 (`"0.10000000"`).
/// Amounts are exact; one beyond 128 bits (10^38 units: not reachable from 64-bit trades
/// within any ring the market keeps) stops the process rather than print a wrong number.
struct MarketFormat: Sendable {
    let tickSize: DecimalNumber
    let stepSize: DecimalNumber
    let quoteDigits: Int
    let baseDigits: Int

    /// The symbol's increments from its spec; the assets' digits from its listing, or the
    /// increments' own digits for a symbol fed without one (`exchange feed`).
    init(spec: SymbolSpec, listing: MarketListing?) {
        tickSize = spec.tickSize
        stepSize = spec.stepSize
        quoteDigits = listing?.quoteScale ?? spec.tickSize.scale
        baseDigits = listing?.baseScale ?? spec.stepSize.scale
    }

    /// `ticks × tickSize`.
    func price(_ ticks: Int64) -> String { amount(Int128(ticks), unit: tickSize, digits: quoteDigits) }

    /// `lots × stepSize`.
    func quantity(_ lots: Int64) -> String { amount(Int128(lots), unit: stepSize, digits: baseDigits) }

    /// A volume in lots (a sum: 128 bits).
    func volume(_ lots: Int128) -> String { amount(lots, unit: stepSize, digits: baseDigits) }

    /// A quote amount in tick·lots (`Σ ticks × lots`): × tickSize × stepSize.
    func quote(_ tickLots: Int128) -> String {
        let (perTickLot, overflow) = Int128(tickSize.units).multipliedReportingOverflow(by: Int128(stepSize.units))
        let (units, overflow2) = tickLots.multipliedReportingOverflow(by: perTickLot)
        precondition(!overflow && !overflow2, "a quote amount beyond 128 bits")
        return BinanceDecimal.pad(Notional(units: units, scale: tickSize.scale + stepSize.scale).description, scale: quoteDigits)
    }

    /// A price in ticks × 10^-`digits` (a weighted average): × tickSize.
    func price(scaledTicks: Int128, digits: Int) -> String {
        let (units, overflow) = scaledTicks.multipliedReportingOverflow(by: Int128(tickSize.units))
        precondition(!overflow, "a price beyond 128 bits")
        return BinanceDecimal.pad(Notional(units: units, scale: tickSize.scale + digits).description, scale: quoteDigits)
    }

    /// A percentage in thousandths of a percent: `"-1.234"`, as Binance writes it.
    static func percent(thousandths: Int128) -> String {
        let text = Notional(units: thousandths, scale: 3).description
        guard let dot = text.firstIndex(of: ".") else { return text + ".000" }
        return text + String(repeating: "0", count: 3 - text.distance(from: text.index(after: dot), to: text.endIndex))
    }

    private func amount(_ count: Int128, unit: DecimalNumber, digits: Int) -> String {
        let (units, overflow) = count.multipliedReportingOverflow(by: Int128(unit.units))
        precondition(!overflow, "an amount beyond 128 bits")
        return BinanceDecimal.pad(Notional(units: units, scale: unit.scale).description, scale: digits)
    }
}
