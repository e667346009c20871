import ExchangeCore
import Testing

/// A decimal from text known to be valid.
private func decimal(_ text: String) throws -> DecimalNumber {
    try DecimalNumber(parsing: text)
}

/// A spec with the default filters.
private func spec(_ name: String = "BTCUSDT", tick: String, step: String) throws -> SymbolSpec {
    try SymbolSpec(name: name, tickSize: decimal(tick), stepSize: decimal(step))
}

@Suite struct SymbolSpecTests {
    // MARK: Parsing prices and quantities

    @Test("Prices parse into whole ticks", arguments: [
        ("0.01", "100.00", Int64(10_000)),
        ("0.01", "42000.5", 4_200_050),
        ("0.05", "1.05", 21),
        ("0.05", "1.0500", 21),
        ("0.05", "0.05", 1),
        ("0.00000001", "0.00002489", 2_489),
        ("5", "15", 3),
        ("1", "9223372036854775807", Int64.max),
    ])
    func parsesPrices(tick: String, text: String, ticks: Int64) throws {
        let spec = try spec(tick: tick, step: "1")
        #expect(try spec.price(parsing: text[...]) == Price(ticks: ticks))
    }

    @Test("Quantities parse into whole lots", arguments: [
        ("0.001", "1.5", Int64(1_500)),
        ("0.001", "0.001", 1),
        ("1", "1000", 1_000),
        ("0.25", "0.75", 3),
    ])
    func parsesQuantities(step: String, text: String, lots: Int64) throws {
        let spec = try spec(tick: "1", step: step)
        #expect(try spec.quantity(parsing: text[...]) == Quantity(lots: lots))
    }

    @Test("Invalid prices are rejected with their exact reason", arguments: [
        ("1.03", FixedPointParseError.notMultipleOfIncrement(DecimalNumber(units: 5, scale: 2))),
        ("0.01", .notMultipleOfIncrement(DecimalNumber(units: 5, scale: 2))),
        ("1.001", .tooManyDecimals(allowed: 2)),
        ("1.051", .tooManyDecimals(allowed: 2)),
        ("0", .notPositive),
        ("0.00", .notPositive),
        ("-1", .malformed(.sign)),
        ("", .malformed(.empty)),
        ("1e2", .malformed(.exponent)),
        ("1,05", .malformed(.invalidCharacter)),
        (".05", .malformed(.missingIntegerPart)),
        ("99999999999999999999", .malformed(.outOfRange)),
    ])
    func rejectsPrices(text: String, error: FixedPointParseError) throws {
        let spec = try spec(tick: "0.05", step: "0.001")
        #expect(throws: error) { try spec.price(parsing: text[...]) }
    }

    @Test("Invalid quantities are rejected with their exact reason", arguments: [
        ("0.0015", FixedPointParseError.tooManyDecimals(allowed: 3)),
        ("0", .notPositive),
        ("0.000", .notPositive),
        ("0.0005", .tooManyDecimals(allowed: 3)),
        ("abc", .malformed(.invalidCharacter)),
        ("1.", .malformed(.missingFractionPart)),
    ])
    func rejectsQuantities(text: String, error: FixedPointParseError) throws {
        let spec = try spec(tick: "0.01", step: "0.001")
        #expect(throws: error) { try spec.quantity(parsing: text[...]) }
    }

    @Test("A quantity off the step is not a multiple of the increment")
    func rejectsQuantityOffStep() throws {
        let spec = try spec(tick: "0.01", step: "0.25")
        #expect(try spec.quantity(parsing: "0.5"[...]) == Quantity(lots: 2))
        #expect(throws: FixedPointParseError.notMultipleOfIncrement(DecimalNumber(units: 25, scale: 2))) {
            try spec.quantity(parsing: "0.3"[...])
        }
    }

    @Test("Fixed-point parse errors describe themselves")
    func parseErrorDescriptions() throws {
        #expect(FixedPointParseError.notPositive.description == "must be positive")
        #expect(FixedPointParseError.tooManyDecimals(allowed: 2).description == "more than 2 decimals")
        #expect(FixedPointParseError.notMultipleOfIncrement(try decimal("0.05")).description == "not a multiple of 0.05")
        #expect(FixedPointParseError.malformed(.sign).description == "signs are not allowed")
    }

    // MARK: Formatting

    @Test("Prices format exactly from ticks", arguments: [
        ("0.05", Int64(21), "1.05"),
        ("0.05", 20, "1"),
        ("0.01", 10_000, "100"),
        ("0.01", 4_200_050, "42000.5"),
        ("0.00000001", 2_489, "0.00002489"),
        ("0.000000000000000001", 1, "0.000000000000000001"),
        ("5", 3, "15"),
        ("0.25", 3, "0.75"),
        ("0.01", Int64.max, "92233720368547758.07"),
        ("1000000000", Int64.max, "9223372036854775807000000000"),
    ])
    func formatsPrices(tick: String, ticks: Int64, text: String) throws {
        #expect(try spec(tick: tick, step: "1").decimal(Price(ticks: ticks)) == text)
    }

    @Test("Quantities format exactly from lots", arguments: [
        ("0.001", Int64(1_500), "1.5"),
        ("0.001", 1, "0.001"),
        ("0.001", 0, "0"),
        ("1", 1_000, "1000"),
        ("0.25", 3, "0.75"),
        ("0.00000001", Int64.max, "92233720368.54775807"),
    ])
    func formatsQuantities(step: String, lots: Int64, text: String) throws {
        #expect(try spec(tick: "1", step: step).decimal(Quantity(lots: lots)) == text)
    }

    @Test("Parsing then formatting a price gives its plain text", arguments: ["100", "42000.5", "0.01", "1234567.89"])
    func priceRoundTrip(text: String) throws {
        let spec = try spec(tick: "0.01", step: "0.001")
        #expect(spec.decimal(try spec.price(parsing: text[...])) == text)
    }

    // MARK: Notional

    @Test("Notional is price times quantity, exactly")
    func notionalExact() throws {
        let spec = try spec(tick: "0.01", step: "0.001")
        let notional = try #require(spec.notional(
            price: spec.price(parsing: "42000.5"[...]), quantity: spec.quantity(parsing: "1.5"[...])))
        #expect(notional == Notional(units: 6_300_075_000, scale: 5))
        #expect(notional.description == "63000.75")
    }

    @Test("A notional beyond Int64 still fits Int128")
    func notionalBeyondInt64() throws {
        let spec = try spec(tick: "1", step: "1")
        // 3_037_000_500² is just above Int64.max.
        let notional = try #require(spec.notional(price: Price(ticks: 3_037_000_500), quantity: Quantity(lots: 3_037_000_500)))
        #expect(notional.units == 9_223_372_037_000_250_000)
        #expect(notional.units > Int128(Int64.max))
        #expect(notional.scale == 0)
        #expect(notional.description == "9223372037000250000")

        let largest = try #require(spec.notional(price: Price(ticks: .max), quantity: Quantity(lots: .max)))
        #expect(largest.units == Int128(Int64.max) * Int128(Int64.max))
    }

    @Test("A notional beyond Int128 is nil")
    func notionalOverflow() throws {
        let largeTick = try spec(tick: "1000000000", step: "1")
        #expect(largeTick.notional(price: Price(ticks: .max), quantity: Quantity(lots: .max)) == nil)
        let smallTick = try spec(tick: "10", step: "1")
        #expect(smallTick.notional(price: Price(ticks: .max), quantity: Quantity(lots: .max)) == nil)
    }

    @Test("Notional compares against a minimum across scales", arguments: [
        (Int128(150), 2, "1.5", true),
        (150, 2, "1.50", true),
        (150, 2, "1.49", true),
        (150, 2, "1.51", false),
        (150, 2, "0", true),
        (0, 0, "0", true),
        (0, 0, "0.000000000000000001", false),
        (1, 18, "0.000000000000000001", true),
        (1, 0, "1.000000000000000001", false),
        (1_000_000_000_000_000_001, 18, "1.000000000000000001", true),
        (-1, 0, "0", false),
        (Int128.max, 0, "0.000000000000000001", true),
        (Int128.min, 0, "0.1", false),
    ])
    func notionalIsAtLeast(units: Int128, scale: Int, minimum: String, expected: Bool) throws {
        #expect(Notional(units: units, scale: scale).isAtLeast(try decimal(minimum)) == expected)
    }

    // MARK: Construction

    @Test("A valid spec keeps its fields and defaults")
    func validSpec() throws {
        let spec = try spec("A1B2C3D4E5F6G7H8I9J0", tick: "0.10", step: "0.001")
        #expect(spec.name == "A1B2C3D4E5F6G7H8I9J0")
        #expect(spec.tickSize == DecimalNumber(units: 1, scale: 1))
        #expect(spec.stepSize == DecimalNumber(units: 1, scale: 3))
        #expect(spec.minimumQuantity == Quantity(lots: 1))
        #expect(spec.maximumQuantity == SymbolSpec.defaultMaximumQuantity)
        #expect(spec.minimumNotional == DecimalNumber(units: 0, scale: 0))
        #expect(spec.status == .trading)
    }

    @Test("Invalid symbol names are refused", arguments: [
        "", "btcusdt", "BTC/USDT", "BTC USDT", "BTC,USDT", "ÉTH", "A1B2C3D4E5F6G7H8I9J0K",
    ])
    func invalidNames(name: String) throws {
        let tick = try decimal("0.01")
        #expect(throws: SymbolSpecError.invalidName(name)) {
            try SymbolSpec(name: name, tickSize: tick, stepSize: tick)
        }
        #expect(!SymbolSpec.isValidName(name))
    }

    @Test("Non-positive increments are refused")
    func nonPositiveIncrements() throws {
        let one = try decimal("1")
        let zero = try decimal("0")
        let negative = DecimalNumber(units: -1, scale: 2)
        #expect(throws: SymbolSpecError.nonPositiveTickSize) { try SymbolSpec(name: "ABC", tickSize: zero, stepSize: one) }
        #expect(throws: SymbolSpecError.nonPositiveTickSize) { try SymbolSpec(name: "ABC", tickSize: negative, stepSize: one) }
        #expect(throws: SymbolSpecError.nonPositiveStepSize) { try SymbolSpec(name: "ABC", tickSize: one, stepSize: zero) }
        #expect(throws: SymbolSpecError.nonPositiveStepSize) { try SymbolSpec(name: "ABC", tickSize: one, stepSize: negative) }
    }

    @Test("A bad quantity range is refused", arguments: [
        (Int64(0), Int64(10)),
        (-1, 10),
        (11, 10),
        (1, 0),
    ])
    func invalidQuantityRange(minimum: Int64, maximum: Int64) throws {
        let one = try decimal("1")
        #expect(throws: SymbolSpecError.invalidQuantityRange) {
            try SymbolSpec(
                name: "ABC", tickSize: one, stepSize: one,
                minimumQuantity: Quantity(lots: minimum), maximumQuantity: Quantity(lots: maximum))
        }
    }

    @Test("A one-lot range and a negative minimum notional")
    func rangeEdgesAndMinimumNotional() throws {
        let one = try decimal("1")
        let single = try SymbolSpec(
            name: "ABC", tickSize: one, stepSize: one, minimumQuantity: Quantity(lots: 5), maximumQuantity: Quantity(lots: 5))
        #expect(single.minimumQuantity == single.maximumQuantity)
        #expect(throws: SymbolSpecError.negativeMinimumNotional) {
            try SymbolSpec(name: "ABC", tickSize: one, stepSize: one, minimumNotional: DecimalNumber(units: -1, scale: 1))
        }
    }

    @Test("Spec errors describe themselves for flow error messages")
    func specErrorDescriptions() {
        #expect(SymbolSpecError.invalidName("btc").description == "invalid symbol name 'btc': 1 to 20 of A-Z, 0-9, -, _, .")
        #expect(SymbolSpecError.nonPositiveTickSize.description == "tick size must be positive")
        #expect(SymbolSpecError.nonPositiveStepSize.description == "step size must be positive")
    }
}
